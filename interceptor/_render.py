"""Turning an exception and a `Problem` template into plain response data.

No I/O: adapters send the `Outcome` this module builds. `interceptor._plans`
renders registered values ahead of time through the same `Renderer` steps.
"""

from __future__ import annotations

import math
import re
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, Protocol, cast

from interceptor._delivery import log_failure
from interceptor._errors import ApiError
from interceptor._http import (
    HttpKind,
    http_detail_value,
    http_headers,
    http_kind,
    http_status,
    module_name,
)
from interceptor._problem import Problem, seconds
from interceptor._request import RequestInfo
from interceptor._status import is_error_status, new_error_id, reason_phrase, retryable_for_status
from interceptor._wire import encode_json, header_items, raw_headers, safe_headers

__all__ = [
    "BODY_SHAPES",
    "EMPTY_PROBLEM",
    "JSON",
    "PROBLEM_JSON",
    "BodyBuilder",
    "BodyShape",
    "ErrorInfo",
    "Outcome",
    "OutcomeParts",
    "Renderer",
    "ShapeSpec",
    "flat_body",
    "problem_body",
    "response_headers",
]

PROBLEM_JSON = "application/problem+json"
JSON = "application/json"

_TRUNCATED_MARK = "…"
_BODILESS = frozenset({204, 304})
EMPTY_PROBLEM = Problem()  # the template an int status value renders with


class ErrorInfo(NamedTuple):
    """Everything known about one error response, handed to body builders.

    ``detail`` is already filtered: empty for a 5xx unless ``debug=True``.
    """

    status: int
    title: str
    # A str; a JSON object, array or number where a Starlette HTTPException's
    # own detail is one (FastAPI users write HTTPException(400, detail={...})).
    detail: Any
    type: str
    instance: str | None
    code: str | None
    error_id: str | None
    retryable: bool | None
    retry_after: float | None
    user_message: str | None
    extensions: Mapping[str, Any]
    exception: BaseException
    debug: bool


BodyBuilder = Callable[[ErrorInfo], Mapping[str, Any]]


class OutcomeParts(Protocol):
    """What an `Outcome` rendered ahead (`interceptor._plans`) builds only when read."""

    def headers(self) -> tuple[tuple[str, str], ...]: ...

    def raw_headers(self) -> list[tuple[bytes, bytes]]: ...

    def info(self, error_id: str | None) -> ErrorInfo: ...


class Outcome:
    """A finished error response: status, headers (with content type and length), body.

    ``error_id`` is the one in the body (5xx), ``info`` the `ErrorInfo` the
    body was rendered from (``None`` for a handler's own body). ``slo`` is
    what the template or `ApiError` said of the availability SLO (``None``:
    nothing, the status and category decide).
    """

    __slots__ = ("_headers", "_info", "_parts", "body", "error_id", "slo", "status")

    def __init__(
        self,
        status: int,
        headers: tuple[tuple[str, str], ...],
        body: bytes,
        error_id: str | None = None,
        info: ErrorInfo | None = None,
        *,
        slo: bool | None = None,
    ) -> None:
        self.status = status
        self._headers: tuple[tuple[str, str], ...] | None = headers
        self.body = body
        self.error_id = error_id
        self._info = info
        self._parts: OutcomeParts | None = None
        self.slo = slo

    @classmethod
    def deferred(
        cls,
        status: int,
        body: bytes,
        error_id: str | None,
        parts: OutcomeParts,
        slo: bool | None,
    ) -> Outcome:
        """An outcome whose headers and `ErrorInfo` ``parts`` builds only if read."""
        outcome = cls.__new__(cls)
        outcome.status = status
        outcome.slo = slo
        outcome._headers = None
        outcome.body = body
        outcome.error_id = error_id
        outcome._info = None
        outcome._parts = parts
        return outcome

    @property
    def headers(self) -> tuple[tuple[str, str], ...]:
        """(name, value) pairs, Content-Type and Content-Length last where a body may go."""
        headers = self._headers
        if headers is None and self._parts is not None:
            headers = self._headers = self._parts.headers()
        return headers or ()

    @property
    def info(self) -> ErrorInfo | None:
        """The `ErrorInfo` the body was rendered from; ``None`` for a handler's own body."""
        info = self._info
        if info is None and self._parts is not None:
            info = self._info = self._parts.info(self.error_id)
        return info

    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        """The headers as ASGI sends them: lowercase names, Latin-1 bytes."""
        if self._parts is not None:
            return self._parts.raw_headers()
        return raw_headers(self.headers)

    def __repr__(self) -> str:
        return f"Outcome(status={self.status!r}, headers={self.headers!r}, body={self.body!r})"


def problem_body(info: ErrorInfo) -> dict[str, Any]:
    """The default body: an RFC 9457 problem-details object."""
    body: dict[str, Any] = {"type": info.type, "title": info.title, "status": info.status}
    if info.detail:
        body["detail"] = info.detail
    if info.instance is not None:
        body["instance"] = info.instance
    if info.code is not None:
        body["code"] = info.code
    if info.user_message is not None:
        body["user_message"] = info.user_message
    return _with_shared_members(body, info)


def flat_body(info: ErrorInfo) -> dict[str, Any]:
    """The flat shape: ``{"error", "error_description", "user_message", "status"}``."""
    body: dict[str, Any] = {
        "error": info.code or _code_from_title(info.title),
        "error_description": info.detail or info.title,
        "user_message": info.user_message,
        "status": info.status,
    }
    return _with_shared_members(body, info)


def _with_shared_members(body: dict[str, Any], info: ErrorInfo) -> dict[str, Any]:
    """``body`` with what every built-in shape ends with: error_id, retryable, extensions."""
    if info.error_id is not None:
        body["error_id"] = info.error_id
    if info.retryable is not None:
        body["retryable"] = info.retryable
    body.update(info.extensions)
    return body


def _code_from_title(title: str) -> str:
    return re.sub(r"[^A-Z0-9]+", "_", title.upper()).strip("_") or "ERROR"


class ShapeSpec(NamedTuple):
    """A built-in body shape: its builder, its content type, and whether it may be planned.

    ``plannable`` promises that the builder returns a new dict on every call
    and depends on the exception only through ``info.detail`` and on the
    request only through ``info.error_id``: `interceptor._plans` then renders
    it once per registered value, with holes for those two (a test checks
    every shape, byte for byte, against a full render).
    """

    builder: BodyBuilder
    content_type: str
    plannable: bool


BODY_SHAPES: Mapping[str, ShapeSpec] = {
    "problem": ShapeSpec(builder=problem_body, content_type=PROBLEM_JSON, plannable=True),
    "flat": ShapeSpec(builder=flat_body, content_type=JSON, plannable=True),
}

BodyShape = Literal["problem", "flat"] | BodyBuilder


def response_headers(
    asked: object, template: Problem, retry_after: float | None
) -> list[tuple[str, str]]:
    """The exception's own headers and the template's, kept safe, with Retry-After for a delay."""
    headers = (
        safe_headers([*header_items(asked), *template.headers.items()])
        if asked or template.headers
        else []
    )
    if retry_after is not None and not any(name.lower() == "retry-after" for name, _ in headers):
        headers.append(("Retry-After", str(math.ceil(retry_after))))
    return headers


@dataclass(frozen=True, slots=True)
class Renderer:
    """One interceptor's rendering settings.

    ``plannable`` is the body shape's promise (see `ShapeSpec`); a user's own
    builder never makes it.
    """

    debug: bool
    body: BodyBuilder
    content_type: str
    rewrite: Callable[[dict[str, Any], ErrorInfo], Mapping[str, Any]] | None
    detail_limit: int
    plannable: bool = False

    @classmethod
    def for_shape(
        cls,
        body: BodyShape,
        *,
        rewrite: Callable[[dict[str, Any], ErrorInfo], Mapping[str, Any]] | None,
        detail_limit: int,
    ) -> Renderer:
        """The renderer for a body shape's name or builder; raises naming a bad one."""
        if callable(body):
            spec = ShapeSpec(builder=body, content_type=JSON, plannable=False)
        elif isinstance(body, str) and body in BODY_SHAPES:
            spec = BODY_SHAPES[body]
        else:
            raise ValueError(
                f"body must be 'problem', 'flat' or a callable taking ErrorInfo, got {body!r}"
            )
        return cls(
            debug=False,
            body=spec.builder,
            content_type=spec.content_type,
            rewrite=rewrite,
            detail_limit=detail_limit,
            plannable=spec.plannable and rewrite is None,
        )

    def render(
        self,
        template: Problem,
        exc: BaseException,
        request: RequestInfo,
        *,
        status: int | None = None,
        retryable: bool | None = None,
    ) -> Outcome:
        """Fill `template` in from `exc` and build the response."""
        kind = http_kind(exc)
        status = status or template.status or http_status(exc, kind) or 500
        if not is_error_status(status):  # a 3xx Werkzeug exception whose class is named, say
            status = 500
        info = self.error_info(
            template=template, exc=exc, kind=kind, status=status, retryable=retryable
        )
        headers = response_headers(http_headers(exc, kind), template, info.retry_after)
        payload = encode_json(self.build_body(info))
        return self.outcome(status, headers, payload, request, info=info, slo=template.slo)

    def outcome(
        self,
        status: int,
        headers: list[tuple[str, str]],
        payload: bytes,
        request: RequestInfo,
        *,
        info: ErrorInfo | None = None,
        content_type: str | None = None,
        error_id: str | None = None,
        slo: bool | None = None,
    ) -> Outcome:
        """The `Outcome` for a rendered body, or a handler's own with its ``error_id``."""
        if status in _BODILESS:  # RFC 9110: never content, so no content headers either
            payload = b""
        else:
            headers.append(("Content-Type", content_type or self.content_type))
            headers.append(("Content-Length", str(len(payload))))
        return Outcome(
            status,
            tuple(headers),
            b"" if request.method == "HEAD" else payload,
            info.error_id if info else error_id,
            info,
            slo=slo,
        )

    def build_body(self, info: ErrorInfo) -> dict[str, Any]:
        """The JSON object for ``info``: the shape's builder, then the rewrite hook."""
        # A body builder or rewrite hook that fails must not leave the client
        # without an answer: log it and fall back to the RFC 9457 body.
        try:
            body = self.body(info)
            if not self.plannable or not isinstance(body, dict):
                body = dict(body)  # a user's builder may hand back a dict it keeps
            if self.rewrite is not None:
                body = dict(self.rewrite(body, info))
        except Exception:  # noqa: BLE001 - logged by the worker (log_failure)
            log_failure(
                "interceptor body builder or rewrite_body failed; sending the default body",
                extra={"error_id": info.error_id},
            )
            body = problem_body(info)
        return body

    def error_info(
        self,
        *,
        template: Problem,
        exc: BaseException,
        kind: HttpKind,
        status: int,
        retryable: bool | None,
    ) -> ErrorInfo:
        """What body builders get for ``exc`` answered with ``template`` at ``status``."""
        server_error = status >= 500
        # By `kind`, which goes by type(): isinstance() believes a `__class__` property.
        api = cast("ApiError", exc) if kind is HttpKind.API_ERROR else None
        detail: Any = template.detail
        if detail is None and (self.debug or not server_error):
            detail = http_detail_value(exc, kind)
        extensions = _extensions(api, template)
        detail = self._limited(detail, extensions)
        if self.debug and server_error:
            extensions.update(_debug_members(exc))
        return ErrorInfo(
            status=status,
            title=_title(template, api, status),
            detail=detail or None,
            type=template.type,
            instance=template.instance,
            code=template.code or _api_member(api, "code"),
            error_id=new_error_id() if server_error else None,
            retryable=_retryable(retryable, template, status),
            retry_after=_retry_after(template, api),
            user_message=_api_member(api, "user_message"),
            extensions=extensions,
            exception=exc,
            debug=self.debug,
        )

    def _limited(self, detail: object, extensions: dict[str, Any]) -> object:
        """``detail`` cut to ``detail_limit`` characters, marked so in ``extensions``."""
        if isinstance(detail, str) and len(detail) > self.detail_limit:
            extensions["detail_truncated"] = True
            return detail[: self.detail_limit] + _TRUNCATED_MARK
        return detail


def _api_member(api: ApiError | None, name: str) -> Any:
    # An ApiError whose __init__ skips super().__init__() has no instance
    # attributes: getattr() with a default for those.
    return None if api is None else getattr(api, name, None)


def _extensions(api: ApiError | None, template: Problem) -> dict[str, Any]:
    extensions: dict[str, Any] = {}
    if api_extensions := _api_member(api, "extensions"):
        extensions.update(api_extensions)
    if template.extensions:
        extensions.update(template.extensions)
    return extensions


def _title(template: Problem, api: ApiError | None, status: int) -> str:
    if template.title:
        return template.title
    # An ApiError's own title describes its own status, not one a handler chose.
    if api is not None and api.title and status == api.status:
        return api.title
    return reason_phrase(status)


def _retryable(given: bool | None, template: Problem, status: int) -> bool | None:
    if given is not None:
        return given
    if template.retryable is not None:
        return template.retryable
    return retryable_for_status(status)


def _retry_after(template: Problem, api: ApiError | None) -> float | None:
    if template.retry_after is not None:
        return template.retry_after
    # Read as ApiError.__init__ reads it: the attribute may have been set since
    # (a timedelta, as __init__ takes), and a delay that is none leaves the
    # header out rather than the response.
    try:
        return seconds(_api_member(api, "retry_after"), what="retry_after")
    except (TypeError, ValueError):
        return None


def _debug_members(exc: BaseException) -> dict[str, Any]:
    """What a debug 5xx body adds: the exception's type and its traceback."""
    name = _type_name(type(exc))
    try:
        lines = traceback.format_exception(exc)
    except Exception:  # noqa: BLE001 - the stdlib's formatter believes a lying __class__
        frames = traceback.format_tb(exc.__traceback__)
        lines = ["Traceback (most recent call last):\n", *frames, name]
    return {"exception": name, "traceback": lines}


def _type_name(tp: type) -> str:
    """``module.qualname``, or the qualname alone for a class with no str module."""
    module = module_name(tp)
    return f"{module}.{tp.__qualname__}" if module else tp.__qualname__
