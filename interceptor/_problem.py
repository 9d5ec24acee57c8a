"""`Problem`, the RFC 9457 problem-details template handlers return or register."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from types import MappingProxyType
from typing import Any

from interceptor._status import is_int

__all__ = [
    "RESERVED_MEMBERS",
    "Problem",
    "check_error_status",
    "check_slo",
    "header_map",
    "replaced",
    "seconds",
]

_EMPTY: Mapping[str, Any] = MappingProxyType({})

# Members RFC 9457 defines, plus the ones this library writes itself. An
# extension may not shadow them: `Problem(status=404, status=...)` is impossible
# anyway, and `Problem(error_id="x")` would forge the id support looks up.
RESERVED_MEMBERS = frozenset(
    {"type", "title", "status", "detail", "instance", "code", "error_id", "retryable"}
)


@dataclass(frozen=True, slots=True, init=False)
class Problem:
    """An RFC 9457 problem-details template.

    Register it as a handler value, or return it from a handler. Members left
    as ``None`` are filled in when the error is rendered: ``status`` from the
    exception (its HTTP status, else 500), ``title`` from the status's reason
    phrase, ``detail`` from the exception's message for 4xx. Keyword arguments
    that are not fields become extension members of the JSON body;
    ``extensions=`` gives them as one mapping, as the field holds them, so
    ``dataclasses.replace`` copies a problem.

    ``retryable`` tells callers whether to retry; left ``None``, it follows
    from the status where the status alone decides it (408, 429, 502 to 504).
    ``slo`` says whether the errors it answers count against the availability
    SLO in counters, Prometheus and OpenTelemetry; left ``None``, a 5xx does
    and a 4xx does not (see `interceptor.Interceptor`'s ``slo_categories``).
    It is no body member.

    Raises ``ValueError`` for a status outside 400 to 599, an extension that
    shadows a standard member, or a negative ``retry_after``, and
    ``TypeError`` for an ``slo`` or ``retryable`` that is not a bool or
    ``None``, a ``type``, ``code`` or ``instance`` that is not a str, or
    ``headers`` that are neither a mapping nor ``(name, value)`` pairs.

    Example::

        Interceptor({UserNotFound: Problem(status=404, code="USER_NOT_FOUND")})
        return Problem(status=409, detail="already exists", user_id=42)
    """

    status: int | None
    title: str | None
    detail: str | None
    type: str
    instance: str | None
    code: str | None
    headers: Mapping[str, str]
    retry_after: float | None
    retryable: bool | None
    slo: bool | None
    extensions: Mapping[str, Any]

    def __init__(
        self,
        status: int | None = None,
        *,
        title: str | None = None,
        detail: str | None = None,
        type: str = "about:blank",  # noqa: A002 - the RFC 9457 member name
        instance: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
        retry_after: float | timedelta | None = None,
        retryable: bool | None = None,
        slo: bool | None = None,
        **extensions: Any,
    ) -> None:
        if status is not None:
            check_error_status(status, what="Problem status")
        check_slo(slo, what="Problem slo")
        check_slo(retryable, what="Problem retryable")
        # Members a client reads by machine: RFC 9457 makes type and instance URI
        # references, and a code is compared. (A title or detail may be a lazy
        # translation, or a FastAPI-style object.)
        _check_str(type, what="Problem type", or_none=False)
        _check_str(code, what="Problem code")
        _check_str(instance, what="Problem instance")
        extensions = _unnested(extensions)
        shadowed = RESERVED_MEMBERS.intersection(extensions)
        if shadowed:
            raise ValueError(
                f"Problem extension members {sorted(shadowed)} shadow standard members; "
                "pass them as the named arguments instead"
            )
        setattr_ = object.__setattr__
        setattr_(self, "status", status)
        setattr_(self, "title", title)
        setattr_(self, "detail", detail)
        setattr_(self, "type", type)
        setattr_(self, "instance", instance)
        setattr_(self, "code", code)
        setattr_(self, "headers", header_map(headers, what="Problem headers"))
        setattr_(self, "retry_after", seconds(retry_after, what="Problem retry_after"))
        setattr_(self, "retryable", retryable)
        setattr_(self, "slo", slo)
        setattr_(self, "extensions", MappingProxyType(extensions) if extensions else _EMPTY)

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickle and deepcopy cannot take the read-only mapping views: they
        # travel as plain dicts, and the constructor wraps them again.
        return (_rebuilt, (self.status, _members(self), dict(self.extensions)))

    def __repr__(self) -> str:
        # Only the members that are set, so a template reads like its definition.
        parts = [
            f"{name}={value!r}"
            for name, value, unset in (
                ("status", self.status, None),
                ("title", self.title, None),
                ("detail", self.detail, None),
                ("type", self.type, "about:blank"),
                ("instance", self.instance, None),
                ("code", self.code, None),
                ("headers", dict(self.headers), {}),
                ("retry_after", self.retry_after, None),
                ("retryable", self.retryable, None),
                ("slo", self.slo, None),
            )
            if value != unset
        ]
        odd = {k: v for k, v in self.extensions.items() if not k.isidentifier()}
        parts += [f"{k}={v!r}" for k, v in self.extensions.items() if k not in odd]
        if odd:
            parts.append(f"**{odd!r}")
        return f"Problem({', '.join(parts)})"


def check_error_status(status: object, *, what: str) -> int:
    """Return `status` if it is an int from 400 to 599, else raise naming it."""
    if not is_int(status):
        raise TypeError(f"{what} must be an int from 400 to 599, got {status!r}")
    if not 400 <= status <= 599:
        raise ValueError(f"{what} must be from 400 to 599, got {status!r}")
    return status


def check_slo(slo: object, *, what: str) -> bool | None:
    """Return ``slo`` if it is a bool or ``None`` (follow the status), else raise naming it."""
    if slo is not None and not isinstance(slo, bool):
        raise TypeError(f"{what} must be True, False or None (by the status), got {slo!r}")
    return slo


def _check_str(value: object, *, what: str, or_none: bool = True) -> None:
    if not (isinstance(value, str) or (or_none and value is None)):
        accepted = "a str or None" if or_none else "a str"
        raise TypeError(f"{what} must be {accepted}, got {value!r}")


def _unnested(extensions: dict[str, Any]) -> dict[str, Any]:
    """The extension members, ``extensions=`` taken as members, as the field holds them.

    So ``dataclasses.replace(problem, ...)``, which passes every field back to
    the constructor, copies the members instead of nesting them in one member
    named "extensions".
    """
    if "extensions" not in extensions:
        return extensions
    nested = extensions.pop("extensions")
    if not isinstance(nested, Mapping):
        raise TypeError(f"Problem extensions must be a mapping of members, got {nested!r}")
    if not all(isinstance(name, str) for name in nested):
        raise TypeError(f"Problem extension member names must be str, got {dict(nested)!r}")
    return {**nested, **extensions}


def header_map(headers: object, *, what: str) -> Mapping[str, str]:
    """``headers`` (a mapping or ``(name, value)`` pairs) as a read-only dict.

    Raises naming them when they are neither: ``dict()`` alone would say
    "dictionary update sequence element #0 has length 1" of a str.
    """
    if headers is None:
        return _EMPTY
    if not isinstance(headers, str | bytes):
        try:
            copied = dict(headers)  # type: ignore[call-overload]
        except (TypeError, ValueError):
            pass
        else:
            return MappingProxyType(copied) if copied else _EMPTY
    raise TypeError(f"{what} must be a mapping or (name, value) pairs, got {headers!r}")


def seconds(value: object, *, what: str) -> float | None:
    """A delay in seconds from a number or a `timedelta`; `None` stays `None`."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{what} must be seconds (a number or timedelta), got {value!r}")
    try:
        delay = float(value)
    except OverflowError:  # an int beyond float range
        delay = math.inf
    if not 0 <= delay < math.inf:  # also refuses NaN, and infinity (no Retry-After for it)
        raise ValueError(f"{what} must be a finite number of seconds, zero or more, got {value!r}")
    return delay


def replaced(problem: Problem, **changes: Any) -> Problem:
    """A copy of ``problem`` with ``changes`` to its named members (its extensions kept).

    ``changes`` may hold ``extensions``, merged into the ones kept.
    """
    members = {**_members(problem), **changes}
    status = members.pop("status", problem.status)
    extensions = {**problem.extensions, **members.pop("extensions", {})}
    return Problem(status, **members, **extensions)


def _members(problem: Problem) -> dict[str, Any]:
    """``problem``'s named members but ``status``, as its constructor takes them."""
    return {
        "title": problem.title,
        "detail": problem.detail,
        "type": problem.type,
        "instance": problem.instance,
        "code": problem.code,
        "headers": dict(problem.headers),
        "retry_after": problem.retry_after,
        "retryable": problem.retryable,
        "slo": problem.slo,
    }


def _rebuilt(status: int | None, members: dict[str, Any], extensions: dict[str, Any]) -> Problem:
    return Problem(status, **members, **extensions)
