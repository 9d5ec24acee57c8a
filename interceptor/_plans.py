"""Registered values' responses, rendered once ahead with holes: the only module that knows.

A registered ``int`` or `Problem` answers every plain exception it matches
with the same bytes but for one hole: the exception's message (a 4xx's
detail) or a fresh ``error_id`` (a 5xx). `PlanCache` renders that response
the first time through the ordinary `Renderer` steps, splits it at the hole,
and afterwards only fills the hole in. Where a response could differ in any
other way (debug, a rewrite hook, a user's body builder, an exception that
is not plain, an empty or overlong detail), there is no plan and the caller
renders in full; a property test checks, for every body shape and value
kind, that a planned answer equals the full render byte for byte.
"""

from __future__ import annotations

from json.encoder import encode_basestring
from types import MappingProxyType
from typing import Literal, NamedTuple

from interceptor._http import KINDS_BY_TYPE, HttpKind, http_detail, is_plain
from interceptor._problem import Problem
from interceptor._render import EMPTY_PROBLEM, ErrorInfo, Outcome, Renderer, response_headers
from interceptor._request import RequestInfo
from interceptor._status import is_error_status, new_error_id
from interceptor._wire import encode_json, raw_headers

__all__ = ["MAX_PLANS", "PlanCache"]

# How many registered values one snapshot of the tables keeps a plan for (a
# bound, should a caller pass values that are not registered ones).
MAX_PLANS = 1024

# What a plan leaves open: a string no exception message or template holds.
_HOLE = "\x00interceptor-hole\x00"
_HOLE_EXCEPTION = Exception(_HOLE)
_ENCODED_HOLE = encode_json(_HOLE)

_Hole = Literal["detail", "error_id"] | None


class _Plan(NamedTuple):
    """A registered value's response, rendered once."""

    status: int
    headers: tuple[tuple[str, str], ...]  # all but Content-Length
    raw_headers: tuple[tuple[bytes, bytes], ...]  # the same, as ASGI sends them
    pieces: tuple[bytes, ...]  # the body, split where the hole goes
    hole: _Hole
    info: ErrorInfo  # with the hole's own text where the detail or error_id goes
    slo: bool | None  # the template's


class _Filled:
    """One planned answer's parts, which its `Outcome` builds only if read."""

    __slots__ = ("detail", "exc", "length", "plan")

    def __init__(self, plan: _Plan, detail: str | None, exc: BaseException, length: int) -> None:
        self.plan = plan
        self.detail = detail
        self.exc = exc
        self.length = length

    def headers(self) -> tuple[tuple[str, str], ...]:
        return (*self.plan.headers, ("Content-Length", str(self.length)))

    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        return [*self.plan.raw_headers, (b"content-length", b"%d" % self.length)]

    def info(self, error_id: str | None) -> ErrorInfo:
        return self.plan.info._replace(detail=self.detail, error_id=error_id, exception=self.exc)


class PlanCache:
    """Plans by registered value, for one snapshot of an interceptor's tables.

    Keyed by the value's id, each entry holding the value itself, which keeps
    the id from being reused while the entry lives; at most `MAX_PLANS`.
    """

    __slots__ = ("_entries",)

    def __init__(self) -> None:
        self._entries: dict[int, tuple[object, _Plan | None]] = {}

    def outcome(
        self, renderer: Renderer, value: object, exc: BaseException, request: RequestInfo
    ) -> Outcome | None:
        """The planned answer of ``value`` for ``exc``; ``None`` when it needs a full render.

        ``value`` must be one the interceptor holds (a registered one).
        """
        if renderer.debug:
            return None  # a debug body shows the exception: never planned
        entry = self._entries.get(id(value))
        if entry is None:
            entry = (value, _plan_for(renderer, value))
            if len(self._entries) < MAX_PLANS:
                self._entries[id(value)] = entry
        plan = entry[1]
        if plan is None:
            return None
        if KINDS_BY_TYPE.get(type(exc)) is not HttpKind.PLAIN and not is_plain(exc):
            return None  # (PLAIN is per type: the lookup settles the common case without a call)
        return _fill(plan, renderer, exc, request)


def _plan_for(renderer: Renderer, value: object) -> _Plan | None:
    if not renderer.plannable:
        return None
    if isinstance(value, Problem):
        return _plan(renderer, value, value.status or 500)
    if is_error_status(value):
        return _plan(renderer, EMPTY_PROBLEM, value)
    return None  # rendered some other way, if at all


def _plan(renderer: Renderer, template: Problem, status: int) -> _Plan | None:
    """``template``'s response at ``status`` for plain exceptions, with a hole for what varies."""
    info = renderer.error_info(
        template=template, exc=_HOLE_EXCEPTION, kind=HttpKind.PLAIN, status=status, retryable=None
    )
    hole = _hole_of(template, status, info)
    if hole == "error_id":
        info = info._replace(error_id=_HOLE)
    pieces = encode_json(renderer.build_body(info)).split(_ENCODED_HOLE)
    if hole == "unplannable" or len(pieces) != (1 if hole is None else 2):
        return None
    headers = response_headers(None, template, info.retry_after)
    headers.append(("Content-Type", renderer.content_type))
    return _Plan(
        status=status,
        headers=tuple(headers),
        raw_headers=tuple(raw_headers(headers)),
        pieces=tuple(pieces),
        hole=hole,
        info=info._replace(extensions=MappingProxyType(info.extensions)),
        slo=template.slo,
    )


def _hole_of(
    template: Problem, status: int, info: ErrorInfo
) -> Literal["detail", "error_id", "unplannable"] | None:
    if status >= 500:
        return "error_id"
    if template.detail is not None:
        return None  # the template's own detail: nothing varies
    # A detail_limit shorter than the hole itself truncates it: no plan then.
    return "detail" if info.detail == _HOLE else "unplannable"


def _fill(
    plan: _Plan, renderer: Renderer, exc: BaseException, request: RequestInfo
) -> Outcome | None:
    detail = plan.info.detail
    error_id = None
    hole = plan.hole
    if hole == "detail":
        detail = http_detail(exc, HttpKind.PLAIN)
        if not detail or len(detail) > renderer.detail_limit:
            return None  # the body drops an empty detail, or marks a truncated one
        # encode_json for a str, without the encoder's dispatch.
        text = encode_basestring(detail).encode("utf-8", "backslashreplace")
        payload = plan.pieces[0] + text + plan.pieces[1]
    elif hole == "error_id":
        error_id = new_error_id()
        payload = plan.pieces[0] + b'"' + error_id.encode("ascii") + b'"' + plan.pieces[1]
    else:
        payload = plan.pieces[0]
    return Outcome.deferred(
        plan.status,
        b"" if request.method == "HEAD" else payload,
        error_id,
        _Filled(plan, detail, exc, len(payload)),
        plan.slo,
    )
