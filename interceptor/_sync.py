"""The resolution loop the WSGI adapters share, and the request data they hand the core.

`handle_sync` runs the loop for blocking code (Flask views and error handling,
plain WSGI); `handle_async` runs the very same steps inside a coroutine (Flask's
async views). Both drive `_steps`, so the order in which handler values are
tried, what counts as declining and what happens when a handler raises are
written once. Neither imports a framework: the adapter passes in how to call a
handler and how to recognise its framework's response objects.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Generator, Mapping
from typing import Any, TypeGuard, TypeVar, cast

from interceptor._core import Handler, Interceptor, is_inline
from interceptor._render import Outcome, RequestInfo

__all__ = ["environ_request_info", "handle_async", "handle_sync"]

R = TypeVar("R")

# What the loop asks its driver to do: call this handler with this exception.
_Step = Generator[tuple[Handler, BaseException], object, object]

# Request headers that never reach reports, logs or handlers' RequestInfo.
_SECRET_KEYS = frozenset(
    {
        "HTTP_AUTHORIZATION",
        "HTTP_PROXY_AUTHORIZATION",
        "HTTP_COOKIE",
        "HTTP_X_API_KEY",
        "HTTP_X_AUTH_TOKEN",
    }
)
_UNPREFIXED_HEADERS = {"CONTENT_TYPE": "Content-Type", "CONTENT_LENGTH": "Content-Length"}


def _steps(
    errors: Interceptor,
    exc: BaseException,
    info: Callable[[], RequestInfo],
    is_response: Callable[[object], bool],
) -> _Step:
    leaf, values = errors.candidates(exc)
    request: RequestInfo | None = None
    for value in values:
        if is_inline(value):
            return errors.outcome(value, leaf, info())
        result = yield cast("Handler", value), leaf  # not inline: a callable for the driver
        if is_response(result):
            return result
        if request is None:
            request = info()
        outcome = errors.outcome(result, leaf, request, handler=value)
        if outcome is not None:
            return outcome
    return None


def handle_sync(
    errors: Interceptor,
    exc: BaseException,
    info: Callable[[], RequestInfo],
    call: Callable[[Handler, BaseException], object],
    is_response: Callable[[object], TypeGuard[R]],
) -> Outcome | R | None:
    """Resolve ``exc`` with one interceptor, calling handlers with ``call(handler, leaf)``.

    Returns the `Outcome` to send, a framework response a handler returned
    (recognised by ``is_response``), or ``None`` when nothing matched or every
    match declined; the caller then re-raises the original exception. A
    handler that raises marks its exception as raised by ``errors`` and lets it
    propagate to the next scope out. ``info`` builds the request data once,
    only if a response is rendered.
    """
    steps = _steps(errors, exc, info, is_response)
    result: object = None
    while True:
        try:
            handler, leaf = steps.send(result)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        try:
            result = call(handler, leaf)
        except Exception as new:
            _handler_raised(errors, exc, new)
            raise


async def handle_async(
    errors: Interceptor,
    exc: BaseException,
    info: Callable[[], RequestInfo],
    call: Callable[[Handler, BaseException], object],
    is_response: Callable[[object], TypeGuard[R]],
) -> Outcome | R | None:
    """`handle_sync` for code already running in an event loop; awaits async handlers."""
    steps = _steps(errors, exc, info, is_response)
    result: object = None
    while True:
        try:
            handler, leaf = steps.send(result)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        try:
            result = call(handler, leaf)
            if inspect.isawaitable(result):
                result = await result
        except Exception as new:
            _handler_raised(errors, exc, new)
            raise


def _handler_raised(errors: Interceptor, original: BaseException, new: Exception) -> None:
    errors.mark_raised(new)
    if new is not original and new.__context__ is None:
        new.__context__ = original


def environ_request_info(environ: Mapping[str, Any]) -> RequestInfo:
    """The core's view of a WSGI request, without credentials or cookies.

    Called on the error path only. Text in the environ is PEP 3333 latin-1
    "bytes as str"; the path and headers are decoded as UTF-8 where they can be.
    """
    headers: list[tuple[str, str]] = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            if key in _SECRET_KEYS:
                continue
            name = key[5:].replace("_", "-").title()
        elif key in _UNPREFIXED_HEADERS:
            name = _UNPREFIXED_HEADERS[key]
        else:
            continue
        if isinstance(value, str):
            headers.append((name, _utf8(value)))
    return RequestInfo(
        method=str(environ.get("REQUEST_METHOD", "GET")).upper(),
        path=_utf8(f"{environ.get('SCRIPT_NAME', '')}{environ.get('PATH_INFO', '')}") or "/",
        query_string=_utf8(str(environ.get("QUERY_STRING", ""))),
        client=environ.get("REMOTE_ADDR") or None,
        headers=tuple(headers),
    )


def _utf8(text: str) -> str:
    try:
        return text.encode("latin-1").decode("utf-8", "replace")
    except UnicodeEncodeError:  # a server that already decoded it
        return text
