"""`ApiError`, the base for errors an application raises on purpose.

Hierarchy::

    Exception
     └── ApiError                 status 500 unless a subclass says otherwise
          └── your classes        e.g. UserNotFound(status=404, code="USER_NOT_FOUND")

Every `Interceptor` renders `ApiError` subclasses by their declared `status`
and `code`, as if `ApiError` itself were registered with an empty `Problem`.
"""

from __future__ import annotations

import keyword
import sys
from collections.abc import Iterable, Mapping
from datetime import timedelta
from types import MappingProxyType
from typing import Any, ClassVar

from interceptor._problem import (
    RESERVED_MEMBERS,
    check_error_status,
    check_slo,
    header_map,
    seconds,
)

__all__ = ["ApiError", "define_errors"]


class ApiError(Exception):
    """Base class for errors raised on purpose, each with its HTTP status and code.

    Subclasses declare ``status`` (400 to 599) and a stable ``code`` (and
    ``slo = False`` for 5xx that must not count against the availability SLO,
    or ``True`` for 4xx that must); instances
    carry the ``detail`` (the message), an optional ``user_message``, response
    ``headers``, ``retry_after`` seconds and extension members for the body.
    A bad ``status`` fails when the class is defined (``ValueError``).

    Example::

        class UserNotFound(ApiError):
            status = 404
            code = "USER_NOT_FOUND"

        raise UserNotFound("user 42 not found", user_message="We don't know you")
    """

    status: ClassVar[int] = 500
    code: ClassVar[str | None] = None
    title: ClassVar[str | None] = None
    # Whether these errors count against the availability SLO; None: a 5xx does.
    slo: ClassVar[bool | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        check_error_status(cls.status, what=f"{cls.__qualname__}.status")
        check_slo(cls.slo, what=f"{cls.__qualname__}.slo")
        if cls.code is not None and not isinstance(cls.code, str):
            raise TypeError(f"{cls.__qualname__}.code must be a str, got {cls.code!r}")

    def __init__(
        self,
        detail: str | None = None,
        *,
        user_message: str | None = None,
        headers: Mapping[str, str] | None = None,
        retry_after: float | timedelta | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(*(() if detail is None else (detail,)))
        shadowed = RESERVED_MEMBERS.intersection(extensions)
        if shadowed:
            raise ValueError(
                f"{type(self).__qualname__} extension members {sorted(shadowed)} "
                "shadow standard members"
            )
        if "slo" in extensions:
            raise ValueError(
                f"slo is no body member of {type(self).__qualname__}: set it on the class "
                "(slo = False), or answer with Problem(slo=...)"
            )
        self.detail = detail
        self.user_message = user_message
        self.headers: Mapping[str, str] = header_map(
            headers, what=f"{type(self).__qualname__} headers"
        )
        self.retry_after = seconds(retry_after, what="retry_after")
        self.extensions: Mapping[str, Any] = MappingProxyType(extensions)

    def __str__(self) -> str:
        # A subclass whose __init__ skips ours has no detail: its args then, as
        # any exception's, so tracebacks and log lines still read.
        detail = getattr(self, "detail", _NO_DETAIL)
        if detail is _NO_DETAIL:
            return super().__str__()
        return "" if detail is None else str(detail)

    # Pickle (process pools, task queues) cannot take the read-only mapping
    # views, so they travel as dicts and are wrapped again on arrival.
    def __reduce__(self) -> tuple[Any, ...]:
        state = {
            name: dict(value) if isinstance(value, MappingProxyType) else value
            for name, value in vars(self).items()
        }
        return (type(self), self.args, state)

    def __setstate__(self, state: dict[str, Any] | None) -> None:
        for name, value in (state or {}).items():
            wrap = name in _READ_ONLY and isinstance(value, Mapping)
            setattr(self, name, MappingProxyType(dict(value)) if wrap else value)


_READ_ONLY = frozenset({"headers", "extensions"})
_NO_DETAIL = object()


def define_errors(
    specs: Iterable[tuple[str, str, int]],
    *,
    base: type[ApiError] = ApiError,
    module: str | None = None,
) -> dict[str, type[ApiError]]:
    """Make `ApiError` subclasses in bulk from ``(name, code, status)`` triples.

    Returns the classes by name; their ``__module__`` is ``module``, by default
    the caller's. Nothing is made unless the whole batch is valid: raises
    ``ValueError`` when a code appears twice, in ``specs`` or among ``base``
    and its existing subclasses, or when a name is not an identifier or is
    repeated; raises like a class definition for a bad status, and
    ``TypeError`` for a spec that is no triple or a ``module`` that is no str.

    Example::

        errors = define_errors([
            ("UserNotFound", "USER_NOT_FOUND", 404),
            ("QuotaExceeded", "QUOTA_EXCEEDED", 429),
        ], module=__name__)
        raise errors["UserNotFound"]("user 42 not found")
    """
    if not (isinstance(base, type) and issubclass(base, ApiError)):
        raise TypeError(f"base must be ApiError or a subclass of it, got {base!r}")
    if module is None:
        # Like namedtuple: the classes belong to the caller's module, so
        # tracebacks and pickle name them where they are defined.
        module = sys._getframe(1).f_globals.get("__name__", "__main__")
    elif not isinstance(module, str):
        raise TypeError(f"module must be a str, got {module!r}")
    existing = (base, *_subclasses(base))
    taken = {cls.code: cls.__qualname__ for cls in existing if cls.code is not None}
    checked: dict[str, tuple[str, int]] = {}
    # Check the whole batch before making any class: a refused batch leaves
    # nothing behind that would make its corrected retry fail as a duplicate.
    for spec in specs:
        name, code, status = _triple(spec)
        _check_spec(name, code, status, checked=checked, taken=taken)
        checked[name] = (code, status)
        taken[code] = name
    return {
        name: type(name, (base,), {"status": status, "code": code, "__module__": module})
        for name, (code, status) in checked.items()
    }


def _triple(spec: object) -> tuple[str, str, int]:
    """``spec`` as ``(name, code, status)``; not unpacked blind, or a 3-letter str
    would make a class named by its first letter."""
    if not (isinstance(spec, tuple | list) and len(spec) == 3):
        raise TypeError(f"each spec must be a (name, code, status) triple, got {spec!r}")
    name, code, status = spec
    return name, code, status


def _check_spec(
    name: str,
    code: str,
    status: int,
    *,
    checked: Mapping[str, object],
    taken: Mapping[str, str],
) -> None:
    """Raise for a `define_errors` triple that cannot join the batch.

    ``checked`` has the names of the batch so far, ``taken`` the codes in
    use, each with the name of the class that has it.
    """
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise ValueError(f"error class name must be an identifier, got {name!r}")
    if name in checked:
        raise ValueError(f"error class {name!r} is defined twice")
    if not isinstance(code, str) or not code:
        raise ValueError(f"error code must be a non-empty str, got {code!r} for {name}")
    if code in taken:
        raise ValueError(f"error code {code!r} for {name} is already used by {taken[code]}")
    check_error_status(status, what=f"{name}.status")


def _subclasses(cls: type[ApiError]) -> Iterable[type[ApiError]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)
