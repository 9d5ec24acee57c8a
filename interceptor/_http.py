"""What the core knows of framework HTTP exceptions, without importing a framework.

Starlette's and Werkzeug's ``HTTPException`` are recognised by the module and
name of a class in the exception's MRO, once per type. An exception of theirs
exists only if the framework is imported already, so nothing is imported here.
"""

from __future__ import annotations

import enum
from typing import Any

from interceptor._errors import ApiError
from interceptor._status import is_error_status, is_int
from interceptor._typecache import remember
from interceptor._validation import (
    VALIDATION_DETAIL,
    is_request_validation_type,
    is_validation_names,
)

__all__ = [
    "KINDS_BY_TYPE",
    "HttpKind",
    "declares_no_error_status",
    "http_detail",
    "http_detail_value",
    "http_headers",
    "http_kind",
    "http_status",
    "is_framework_unwind",
    "is_http_exception_type",
    "is_plain",
    "is_websocket_close_type",
    "kind_of_type",
    "module_name",
]


class HttpKind(enum.Enum):
    PLAIN = enum.auto()
    API_ERROR = enum.auto()
    STARLETTE = enum.auto()
    WERKZEUG = enum.auto()
    # Werkzeug redirects and exceptions carrying a ready `.response`,
    # Starlette's ClientDisconnect and WebSocketDisconnect (no one is left to
    # answer) and a framework unwinding after it sent its own response
    # (`is_framework_unwind`): never turned into error bodies, and never
    # claimed, whatever is registered.
    PASSTHROUGH = enum.auto()
    # FastAPI's and pydantic's validation errors: the client's input was
    # wrong, 422, rendered with an ``errors`` array (`interceptor._validation`).
    VALIDATION = enum.auto()


_STARLETTE_HTTP = ("starlette.exceptions", "HTTPException")
_WERKZEUG_HTTP = ("werkzeug.exceptions", "HTTPException")
_WERKZEUG_ROUTING = ("werkzeug.routing.exceptions", "RoutingException")
_STARLETTE_DISCONNECT = ("starlette.requests", "ClientDisconnect")
_STARLETTE_WEBSOCKET_CLOSE = ("starlette.exceptions", "WebSocketException")
_STARLETTE_WEBSOCKET_GONE = ("starlette.websockets", "WebSocketDisconnect")
# Starlette's request body limiter (1.6 on), once it has sent its 413 itself:
# how it unwinds the app it wraps, caught again where it was raised.
_STARLETTE_SENT = ("starlette.middleware.body_limit", "_RequestBodyLimitResponseSent")
# What passes through: a redirect, a client that left (HTTP or websocket), an unwind.
_PASSING_THROUGH = frozenset(
    {_WERKZEUG_ROUTING, _STARLETTE_DISCONNECT, _STARLETTE_WEBSOCKET_GONE, _STARLETTE_SENT}
)

# http_kind's cache: the kind of each exception type seen, before a Werkzeug
# exception's own ``.response`` makes one instance pass through. Bounded to
# `interceptor._typecache.MAX_TYPES` types, process-wide.
KINDS_BY_TYPE: dict[type, HttpKind] = {}


def http_kind(exc: BaseException) -> HttpKind:
    """Which framework's HTTP exception `exc` is, if any."""
    tp = type(exc)
    kind = KINDS_BY_TYPE.get(tp)
    if kind is None:
        kind = remember(KINDS_BY_TYPE, tp, kind_of_type(tp), "http_kind")
    if kind is HttpKind.WERKZEUG and _own_response(exc) is not None:
        return HttpKind.PASSTHROUGH
    return kind


def _own_response(exc: BaseException) -> object:
    """A Werkzeug HTTP exception's ready response, if any (none where reading it raises)."""
    try:
        return getattr(exc, "response", None)
    except Exception:  # noqa: BLE001 - a subclass's broken property: no response of its own
        return None


def is_plain(exc: BaseException) -> bool:
    """Whether ``exc`` is no framework's HTTP exception: `http_kind` is ``PLAIN``."""
    return (KINDS_BY_TYPE.get(type(exc)) or http_kind(exc)) is HttpKind.PLAIN  # PLAIN is per type


def kind_of_type(tp: type) -> HttpKind:
    """`http_kind` for a class: what every instance of it is, before ``.response``."""
    if issubclass(tp, ApiError):
        return HttpKind.API_ERROR
    names = _names(tp)
    if not _PASSING_THROUGH.isdisjoint(names):
        return HttpKind.PASSTHROUGH
    if _WERKZEUG_HTTP in names:
        return HttpKind.WERKZEUG
    if _STARLETTE_HTTP in names:
        return HttpKind.STARLETTE
    if is_validation_names(names):
        return HttpKind.VALIDATION
    return HttpKind.PLAIN


def _names(tp: type) -> set[tuple[str, str]]:
    """(module, qualname) of every class in ``tp``'s MRO."""
    try:
        return {(module_name(cls), cls.__qualname__) for cls in tp.__mro__}
    except Exception:  # noqa: BLE001 - a metaclass's broken __qualname__: no framework's class
        return set()


def is_framework_unwind(exc: BaseException) -> bool:
    """Whether ``exc`` is a framework leaving the app after it sent its own response.

    Starlette's request body limiter sends its 413, then raises an exception
    of its own to unwind the app it wraps and catches it there: control flow
    of a request already answered, never an error to log or report.
    """
    return _STARLETTE_SENT in _names(type(exc))


def is_http_exception_type(tp: type) -> bool:
    """Whether ``tp`` is a class that declares an HTTP status of its own.

    A framework's HTTP exception, an `ApiError` or a framework's error about
    the request's data (`is_request_validation_type`): one matched only
    through a base class that is none of these (``Exception``, ``KeyError``)
    keeps its own status, where a plain value is registered.
    """
    kind = kind_of_type(tp)
    if kind is HttpKind.VALIDATION:
        return is_request_validation_type(tp)
    return kind is not HttpKind.PLAIN and kind is not HttpKind.PASSTHROUGH


def is_websocket_close_type(tp: type) -> bool:
    """Whether ``tp`` is Starlette's ``WebSocketException``, or a subclass.

    An endpoint raises it to close the socket with a code of its own: like an
    HTTP exception's status, one matched only through a base class that is
    none of these (``Exception``) keeps that close, where a plain value is
    registered.
    """
    return _STARLETTE_WEBSOCKET_CLOSE in _names(tp)


def module_name(cls: type) -> str:
    """``cls.__module__`` when it is a str, else ``""``.

    ``type(name, bases, {"__module__": 42})`` stores whatever it is given, and
    a metaclass property can make reading it raise.
    """
    try:
        module = cls.__module__
    except Exception:  # noqa: BLE001 - a class with no readable module has none
        return ""
    return module if isinstance(module, str) else ""


def http_status(exc: BaseException, kind: HttpKind) -> int | None:
    """The HTTP status an exception declares, or ``None``."""
    try:
        status = _declared_status(exc, kind)
    except Exception:  # noqa: BLE001 - a subclass's broken property declares no status
        return None
    return status if is_int(status) else None


def declares_no_error_status(exc: BaseException, kind: HttpKind) -> bool:
    """Whether ``exc`` declares, readably, what is no error status: a redirect, a 2xx,
    ``None`` (Werkzeug's code for an exception standing for another answer).

    A validation error stands for no other answer: pydantic's own declares no
    status, and is answered as registered.
    """
    if kind is HttpKind.VALIDATION:
        return False
    try:
        return not is_error_status(_declared_status(exc, kind))
    except Exception:  # noqa: BLE001 - a subclass's broken property: a broken class, no say
        return False


def _declared_status(exc: BaseException, kind: HttpKind) -> Any:
    """What ``exc`` gives for its status, as it is; raises what reading it raises."""
    if kind is HttpKind.API_ERROR:
        return type(exc).status  # type: ignore[attr-defined]
    if kind is HttpKind.STARLETTE:
        return getattr(exc, "status_code", None)
    if kind is HttpKind.WERKZEUG:
        return getattr(exc, "code", None)
    if kind is HttpKind.VALIDATION:
        # FastAPI's about the request; pydantic's own, which the app's code
        # raises, may be about the server's data, and declares none.
        return 422 if is_request_validation_type(type(exc)) else None
    return None


def http_detail(exc: BaseException, kind: HttpKind) -> str:
    """The human-readable message: a framework's raw detail, never its HTML page."""
    try:
        if kind is HttpKind.PLAIN:
            return _plain_detail(exc)
        if kind is HttpKind.VALIDATION:
            return VALIDATION_DETAIL  # its str() is a repr of the client's input
        detail = _framework_detail(exc, kind)
        if detail is None:
            return ""
        return detail if isinstance(detail, str) else str(detail)
    except Exception:  # noqa: BLE001 - a broken __str__ must not break the error response
        return ""


def _plain_detail(exc: BaseException) -> str:
    if (
        issubclass(type(exc), KeyError)  # not isinstance(): __class__ can lie
        and type(exc).__str__ is KeyError.__str__
        and len(exc.args) == 1
    ):
        return str(exc.args[0])  # str(KeyError("k")) is "'k'", the key's repr
    return str(exc)


def _framework_detail(exc: BaseException, kind: HttpKind) -> object:
    if kind is HttpKind.STARLETTE or kind is HttpKind.API_ERROR:
        return getattr(exc, "detail", "")
    if kind is HttpKind.WERKZEUG:
        return getattr(exc, "description", "")
    return str(exc)


def http_detail_value(exc: BaseException, kind: HttpKind) -> object:
    """`http_detail`, but a Starlette ``detail`` that JSON can carry stays as it is.

    ``HTTPException(400, detail={"field": "email"})`` answers with that object,
    as FastAPI's own handler does, not with its repr.
    """
    if kind is HttpKind.STARLETTE:
        detail = getattr(exc, "detail", None)
        if isinstance(detail, dict | list) or (
            isinstance(detail, int | float) and not isinstance(detail, bool)
        ):
            return detail
    return http_detail(exc, kind)


def http_headers(exc: BaseException, kind: HttpKind) -> list[tuple[str, str]]:
    """Headers the exception asks for (``Allow``, ``WWW-Authenticate``, ...).

    Pairs, not a mapping: Werkzeug gives a name once per value, as a 401 with
    a challenge for each auth scheme it accepts does.
    """
    try:
        if kind is HttpKind.STARLETTE or kind is HttpKind.API_ERROR:
            headers = getattr(exc, "headers", None)
            return list(dict(headers).items()) if headers else []
        if kind is HttpKind.WERKZEUG:
            return [
                (name, value)
                for name, value in exc.get_headers()  # type: ignore[attr-defined]
                if name.lower() != "content-type"
            ]
    except Exception:  # noqa: BLE001 - headers are a courtesy; the status and body still go out
        return []
    return []
