"""The ASGI adapter: `InterceptorMiddleware` for Starlette, FastAPI and any ASGI app.

Use it as Starlette ``Middleware`` on a ``Route``, ``WebSocketRoute``,
``Mount``, ``Router`` or the whole app, or wrap any ASGI app with it::

    from starlette.middleware import Middleware
    from interceptor.starlette import InterceptorMiddleware

    Mount("/api", routes=[...], middleware=[Middleware(InterceptorMiddleware, interceptor=errors)])

The nearest scope wins: a route's interceptor beats its Mount's, which beats
the app's, which beats Starlette's ``exception_handlers``. Exceptions no
interceptor matches get exactly Starlette's usual treatment.

Starlette raises a route's own 405 before that route's middleware runs, so a
route-scoped interceptor cannot see it; a Mount- or router-scoped one can.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import Any, TypeGuard, cast

from interceptor._callables import is_async_callable
from interceptor._core import HANDLER_TIMED_OUT, Handler, Interceptor
from interceptor._render import Outcome, RequestInfo
from interceptor._resolve import Pending, finish_async, first

try:
    import anyio
    import anyio.to_thread
    from starlette.middleware.exceptions import ExceptionMiddleware
    from starlette.requests import HTTPConnection, Request
    from starlette.responses import Response
    from starlette.routing import BaseRoute, Router
    from starlette.types import ASGIApp, Message, Receive, Scope, Send
    from starlette.websockets import WebSocket, WebSocketState
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "interceptor.starlette needs Starlette: pip install 'interceptor[starlette]'"
    ) from exc

__all__ = ["InterceptorMiddleware", "outcome_response", "resolve"]

logger = logging.getLogger("interceptor")

# Inside an interceptor's scope Starlette's own handlers must not run first, or
# they would beat the nearer interceptor. Routes find them through this scope
# key, so inside the scope it points at no handlers; exceptions the interceptor
# does not match still reach the app's ExceptionMiddleware, which looked up its
# handlers before calling in, and get Starlette's usual treatment there.
_HANDLERS_KEY = "starlette.exception_handlers"
_NO_HANDLERS: tuple[Mapping[Any, Any], Mapping[int, Any]] = (
    # "No handler" for Exception itself: Starlette's MRO walk stops there
    # rather than going on through BaseException and object.
    MappingProxyType({Exception: None}),
    MappingProxyType({}),
)

_WS_DENIAL = "websocket.http.response"
_CLOSE_REASON_BYTES = 123  # the WebSocket protocol's limit for a close reason


class InterceptorMiddleware:
    """Intercepts exceptions raised under one ASGI scope; see the module docstring.

    ``interceptor`` is the `Interceptor` whose handlers apply here. Raises
    ``TypeError`` if it is not one.

    At app level (``Starlette(middleware=[Middleware(InterceptorMiddleware,
    interceptor=errors)])``) the interceptor places itself just inside
    Starlette's ``ExceptionMiddleware``, so that it also beats Starlette's
    default ``HTTPException`` handler for the exceptions it matches.

    Example::

        app = InterceptorMiddleware(asgi_app, interceptor=Interceptor({KeyError: 404}))
    """

    def __init__(self, app: ASGIApp, *, interceptor: Interceptor) -> None:
        if not isinstance(interceptor, Interceptor):
            raise TypeError(f"interceptor must be an Interceptor, got {interceptor!r}")
        self.app = app
        self.interceptor = interceptor
        exception_middleware = _exception_middleware_within(app)
        # Starlette runs its ExceptionMiddleware inside the user middleware, so
        # here the interceptor would see exceptions only after Starlette's
        # handlers; move it inside, next to the router.
        self._passthrough = exception_middleware is not None
        if exception_middleware is not None:
            exception_middleware.app = InterceptorMiddleware(
                exception_middleware.app, interceptor=interceptor
            )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._passthrough:
            await self._not_http(scope, receive, send)
            return
        scope[_HANDLERS_KEY] = _NO_HANDLERS
        # The one cost a request that raises nothing pays: knowing whether the
        # response has started, so that an error never starts it twice.
        started = False

        def tracked_send(message: Message) -> Awaitable[None]:
            # A plain function handing back send's awaitable: no extra coroutine per message.
            nonlocal started
            started = True
            return send(message)

        try:
            await self.app(scope, receive, tracked_send)
        except Exception as exc:
            if not await self._answer_http(exc, started, scope, receive, send):
                raise

    async def _answer_http(
        self, exc: Exception, started: bool, scope: Scope, receive: Receive, send: Send
    ) -> bool:
        # Not inlined in __call__: the exception's traceback holds __call__'s
        # frame, so an answer (which refers to the exception) held among its
        # locals would make a reference cycle per error, left to the collector.
        if started:  # e.g. a streaming body or a background task failed
            self.interceptor.observe_late(exc, RequestInfo.from_scope(scope))
            return False
        # `resolve`, unrolled: an inline value's answer costs no coroutine of its own.
        answer = first(self.interceptor, exc, lambda: RequestInfo.from_scope(scope))
        if isinstance(answer, Pending):
            answer = await _finish(self.interceptor, answer, lambda: Request(scope, receive, send))
        if answer is None:
            return False
        if isinstance(answer, Outcome):
            await send(
                {
                    "type": "http.response.start",
                    "status": answer.status,
                    "headers": answer.raw_headers(),
                }
            )
            await send({"type": "http.response.body", "body": answer.body})
        else:
            await cast("Response", answer)(scope, receive, send)
        return True

    async def _not_http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket" or self._passthrough:  # lifespan, or moved inside
            await self.app(scope, receive, send)
            return
        scope[_HANDLERS_KEY] = _NO_HANDLERS
        await self._websocket(scope, receive, send)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        progress = _WebSocketProgress()

        async def tracked_send(message: Message) -> None:
            progress.saw(message)
            await send(message)

        def connection() -> WebSocket:
            websocket = WebSocket(scope, receive, tracked_send)
            if progress.accepted:  # a fresh object; tell it what the endpoint's one knew
                websocket.client_state = WebSocketState.CONNECTED
                websocket.application_state = WebSocketState.CONNECTED
            return websocket

        try:
            await self.app(scope, receive, tracked_send)
        except Exception as exc:
            before = progress.sent
            answer = await resolve(self.interceptor, exc, scope, connection)
            if answer is None:
                if progress.sent != before and progress.closed:
                    return  # a handler closed the socket itself
                raise
            await _answer_websocket(answer, scope, progress, tracked_send)


async def resolve(
    interceptor: Interceptor,
    exc: BaseException,
    scope: Scope,
    connection: Callable[[], HTTPConnection],
) -> Outcome | Response | None:
    """Resolve ``exc`` with ``interceptor``: what to send, or ``None``.

    Runs the shared resolution loop: sync handlers in a worker thread, async
    ones awaited, values that are not callables rendered inline. Handlers get
    ``connection()`` (a Starlette ``Request`` or ``WebSocket``), made only if
    a handler is called. A handler that raises sends its exception on,
    chained to ``exc``; the answer is logged, counted and reported.
    """
    answer = first(interceptor, exc, lambda: RequestInfo.from_scope(scope))
    if isinstance(answer, Pending):
        return await _finish(interceptor, answer, connection)
    return answer  # type: ignore[return-value]


def _finish(
    interceptor: Interceptor, pending: Pending, connection: Callable[[], HTTPConnection]
) -> Awaitable[Outcome | Response | None]:
    conn: HTTPConnection | None = None

    def call(handler: Handler, leaf: BaseException) -> object:
        nonlocal conn
        if conn is None:
            conn = connection()
        return _within(interceptor.handler_timeout, handler, conn, leaf)

    return finish_async(interceptor, pending, call, _is_response)


async def _within(
    seconds: float | None, handler: Handler, conn: HTTPConnection, leaf: BaseException
) -> object:
    """The handler's answer, or `HANDLER_TIMED_OUT` if it takes over ``seconds`` (if set).

    Async handlers are awaited; sync ones run in a worker thread, as Starlette
    runs sync endpoints, abandoned (not killed: Python cannot) when they
    overrun, so that the client still gets its answer.
    """
    with anyio.move_on_after(seconds):
        if is_async_callable(handler):
            result = await handler(conn, leaf)
        else:
            result = await anyio.to_thread.run_sync(
                functools.partial(handler, conn, leaf), abandon_on_cancel=True
            )
        while inspect.isawaitable(result):  # a sync handler may hand back a coroutine
            result = await result
        return result
    return HANDLER_TIMED_OUT


def _is_response(value: object) -> TypeGuard[Response]:
    return isinstance(value, Response)


def outcome_response(outcome: Outcome) -> Response:
    """A Starlette ``Response`` carrying ``outcome``, for code that returns responses."""
    response = Response(outcome.body, status_code=outcome.status)
    response.raw_headers = outcome.raw_headers()
    return response


class _WebSocketProgress:
    """What the application has sent on a websocket so far."""

    __slots__ = ("accepted", "closed", "sent")

    def __init__(self) -> None:
        self.sent = 0
        self.accepted = False
        self.closed = False

    def saw(self, message: Message) -> None:
        self.sent += 1
        kind = message["type"]
        if kind == "websocket.accept":
            self.accepted = True
        elif kind == "websocket.close" or kind.startswith("websocket.http.response"):
            self.closed = True


async def _answer_websocket(
    answer: Outcome | Response, scope: Scope, progress: _WebSocketProgress, send: Send
) -> None:
    if progress.closed:
        return
    status = answer.status if isinstance(answer, Outcome) else answer.status_code
    if not progress.accepted and _WS_DENIAL in scope.get("extensions", {}):
        if isinstance(answer, Response):
            answer = Outcome(answer.status_code, _decoded(answer.raw_headers), bytes(answer.body))
        await send(
            {
                "type": "websocket.http.response.start",
                "status": answer.status,
                "headers": answer.raw_headers(),
            }
        )
        await send({"type": "websocket.http.response.body", "body": answer.body})
        return
    code = 4000 + status if 400 <= status < 500 else 1011
    reason = ""
    if isinstance(answer, Outcome) and answer.info is not None:
        reason = answer.info.code or answer.info.title
    await send(
        {
            "type": "websocket.close",
            "code": code,
            "reason": reason.encode("utf-8")[:_CLOSE_REASON_BYTES].decode("utf-8", "ignore"),
        }
    )


def _decoded(raw: list[tuple[bytes, bytes]]) -> tuple[tuple[str, str], ...]:
    return tuple((name.decode("latin-1"), value.decode("latin-1")) for name, value in raw)


def _exception_middleware_within(app: object) -> ExceptionMiddleware | None:
    """Starlette's ExceptionMiddleware, if ``app`` leads to it through middleware only."""
    for _ in range(64):  # a middleware chain, never a cycle; the bound is a guard
        if isinstance(app, ExceptionMiddleware):
            return app
        if app is None or isinstance(app, Router | BaseRoute) or not hasattr(app, "app"):
            return None
        app = app.app
    return None
