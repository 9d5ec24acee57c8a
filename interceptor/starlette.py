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
import logging
import sys
from collections.abc import Awaitable, Callable, Iterator, Mapping
from types import CodeType, MappingProxyType
from typing import Any, TypeGuard

try:
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException
    from starlette.middleware.exceptions import ExceptionMiddleware
    from starlette.requests import HTTPConnection, Request
    from starlette.responses import Response
    from starlette.routing import BaseRoute, Router
    from starlette.types import ASGIApp, Message, Receive, Scope, Send
    from starlette.websockets import WebSocket, WebSocketState
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    # Before any module of ours that needs what Starlette brings (anyio), so a
    # missing extra is named as such.
    raise ImportError(
        "interceptor.starlette needs Starlette: pip install 'exception-interceptor[starlette]'"
    ) from exc

from interceptor._asgi import (
    WebSocketProgress,
    answer_websocket,
    call_handlers,
    can_deny,
    first_called,
    flush_at_shutdown,
    send_outcome,
)
from interceptor._callables import is_async_callable
from interceptor._core import Interceptor
from interceptor._render import Outcome
from interceptor._request import RequestInfo
from interceptor._resolve import Pending, first
from interceptor._values import is_mark_of, mark_of

try:  # the exception handling that records whether a response started
    from starlette._exception_handler import wrap_app_handling_exceptions
except ImportError:  # pragma: no cover - a Starlette without it: the middleware keeps its own
    wrap_app_handling_exceptions = None  # type: ignore[assignment]
try:  # how Starlette decides to await its own handlers, at the installed version
    from starlette._utils import is_async_callable as _starlette_is_async
except ImportError:  # pragma: no cover - a Starlette without it: the same rule, ours
    _starlette_is_async = is_async_callable  # type: ignore[assignment]

__all__ = [
    "InterceptorMiddleware",
    "ScopeTable",
    "claimed_after_start",
    "observe_after_start",
    "outcome_response",
    "resolve",
]

logger = logging.getLogger("interceptor")

# Starlette's per-request handler table: (exception handlers, status handlers).
# Starlette's ExceptionMiddleware sets it, and every route consults it, inside
# the route's own response-start tracking, with the route's own Request.
_HANDLERS_KEY = "starlette.exception_handlers"
_NO_TABLES: tuple[Mapping[Any, Any], Mapping[int, Any]] = (
    MappingProxyType({}),
    MappingProxyType({}),
)
# The exception the route-level dispatcher tried with every interceptor in
# scope and left unanswered, with those interceptors: the middleware fallbacks
# among them pass it on untouched.
_TRIED_KEY = "interceptor.tried"
# Starlette's words when a handled exception comes after the response started.
_LATE_AT_ROUTE = ("Caught handled exception, but response already started.",)


def _starlette_sender() -> tuple[CodeType | None, int]:
    """The code of the send Starlette's exception handling hands the app under it.

    Starlette's ExceptionMiddleware (like each route) gives the app a
    ``sender`` that records in a closure cell whether the response started.
    Returned with that cell's place; ``None`` if the installed Starlette
    keeps no such record, and then the middleware keeps its own.
    """
    wrapped = getattr(wrap_app_handling_exceptions, "__code__", None)
    for outer in wrapped.co_consts if wrapped is not None else ():
        for code in outer.co_consts if isinstance(outer, CodeType) else ():
            if isinstance(code, CodeType) and "response_started" in code.co_freevars:
                return code, code.co_freevars.index("response_started")
    return None, 0


_STARLETTE_SENDER, _STARTED_CELL = _starlette_sender()
_NO_CODE = object()  # what a send that is no function has for code: never Starlette's


def _started_by(sender: Any) -> bool:
    """What Starlette's ``sender`` recorded: whether the response started."""
    return bool(sender.__closure__[_STARTED_CELL].cell_contents)


class _Claims(Mapping[Any, Any]):
    """The exception-handler table the routes of one request see.

    It claims the exception types that some interceptor in scope may answer,
    handing Starlette `dispatch` for them, and is Starlette's own table for
    every other type, so what no interceptor may answer is looked up, called
    and re-raised by Starlette exactly as without us.

    Starlette walks an exception's MRO asking ``cls in table``, most specific
    first. The walk starts at the exception's own type, and `may_handle` is
    monotonic (a type no interceptor may answer has no base one may answer),
    so the claim is decided at the first step and the rest of the walk is
    Starlette's own.

    Two kinds of exception break that: a group resolves by its leaf, so its
    type says too little, and what passes through (a client disconnect,
    Starlette's body limiter unwinding) is refused at its own type although
    ``Exception``, a base, may be registered. Starlette asks inside its
    ``except`` clause, so for a group type and for ``Exception`` (which both
    walks reach) the claim is that of the exception being handled: claimed
    only if an interceptor has something to try for it. Once the response
    has started, Starlette raises its RuntimeError for whatever is claimed,
    so a claim must mean an answer.
    """

    __slots__ = ("_last_claimed", "chain", "handlers", "statuses", "tables")

    def __init__(
        self,
        chain: tuple[Interceptor, ...],
        handlers: Mapping[Any, Any],
        statuses: Mapping[int, Any],
    ) -> None:
        self.chain = chain  # innermost first
        self.handlers = handlers  # Starlette's own
        self.statuses = statuses
        self.tables = (self, _StatusClaims(self))
        # Starlette asks `cls in table`, then `table[cls]`: the second question
        # is answered from the first. A registration never withdraws a claim.
        self._last_claimed: object = None

    def _claimed(self, cls: Any) -> bool:
        if isinstance(cls, type):
            for errors in self.chain:
                if errors.may_handle(cls):
                    if cls is Exception or issubclass(cls, BaseExceptionGroup):
                        return self._claims_handled(cls)  # not remembered: per instance
                    self._last_claimed = cls
                    return True
        return False

    def _claims_handled(self, cls: type[BaseException]) -> bool:
        """The claim for a group type or ``Exception``: the handled exception's own."""
        exc = sys.exception()  # Starlette's lookup runs in its except clause
        if isinstance(exc, cls):
            return self.answers(exc)
        return True  # asked outside a lookup: the type decides

    def answers(self, exc: BaseException) -> bool:
        """Whether an interceptor in scope has something to try for ``exc``."""
        return any(errors.candidates(exc)[1] for errors in self.chain)

    # Both ask about the last claimed type first, without a call: Starlette
    # asks them once each per exception, on the error path of every request.
    def __contains__(self, cls: object) -> bool:
        return cls is self._last_claimed or self._claimed(cls) or cls in self.handlers

    def __getitem__(self, cls: Any) -> Any:
        if cls is self._last_claimed or self._claimed(cls):
            return self.dispatch
        return self.handlers[cls]

    def __iter__(self) -> Iterator[Any]:
        return iter(self.handlers)

    def __len__(self) -> int:
        return len(self.handlers)

    async def dispatch(self, conn: HTTPConnection, exc: Exception) -> Any:
        """Starlette's handler for what the interceptors claim: they answer, inner first.

        A handler's own exception goes on to the next interceptor out. What
        none of them answers goes to Starlette's own handler, if it has one,
        called as Starlette calls it; else it is raised again, as it is.
        """
        scope = conn.scope
        if scope["type"] == "websocket":  # not isinstance(): connections are ABCs, slow to test
            return await self._dispatch_websocket(conn, exc)  # type: ignore[arg-type]
        found = None  # the leaf (`exc`, or its group's) and the values to try
        for errors in self.chain:
            found = errors.candidates(exc)
            if not found[1]:
                continue  # nothing to try, the common case in nested scopes
            try:
                answer = first_called(errors, exc, found, conn, _is_response)
                if isinstance(answer, Pending):
                    answer = await call_handlers(answer, conn, _is_response)
            except Exception as new:  # noqa: BLE001 - a handler's error goes to the next scope
                exc = new
                continue
            if answer is not None:
                if isinstance(answer, Response):
                    return answer
                return functools.partial(send_outcome, answer)  # type: ignore[arg-type] # as an ASGI app
        try:
            return await self._starlette_answer(conn, exc)
        finally:
            del exc, found  # raised again: see `_starlette_answer`

    async def _dispatch_websocket(self, websocket: WebSocket, exc: Exception) -> Any:
        for errors in self.chain:
            closed_before = _progress_of(websocket).closed
            try:
                answer = await resolve(errors, exc, websocket.scope, lambda: websocket)
            except Exception as new:  # noqa: BLE001 - a handler's error goes to the next scope
                exc = new
                continue
            if answer is not None:
                await _answer_on_websocket(
                    answer,
                    websocket.scope,
                    websocket.receive,
                    _progress_of(websocket),
                    websocket.send,
                )
                return None
            if not closed_before and _progress_of(websocket).closed:
                return None  # a handler closed the socket itself
        try:
            return await self._starlette_answer(websocket, exc)
        finally:
            del exc  # raised again: see `_starlette_answer`

    async def _starlette_answer(self, conn: HTTPConnection, exc: Exception) -> Any:
        # Starlette's handler, called exactly as Starlette's route calls it.
        handler = self.starlette_handler(exc)
        if handler is None:
            # Raised for Starlette to raise again, as without us. Neither the
            # scope nor a frame of ours keeps it: its traceback holds both, and
            # the request's data would wait for the cyclic collector.
            conn.scope[_TRIED_KEY] = (mark_of(exc), self.chain)
            try:
                raise exc
            finally:
                del exc
        if _starlette_is_async(handler):
            return await handler(conn, exc)
        return await run_in_threadpool(handler, conn, exc)

    def starlette_handler(self, exc: Exception) -> Any:
        # Starlette's own lookup: the status first for its HTTPException, then the MRO.
        if isinstance(exc, HTTPException):
            handler = self.statuses.get(exc.status_code)
            if handler is not None:
                return handler
        for cls in type(exc).__mro__:
            if cls in self.handlers:
                return self.handlers[cls]
        return None


class _StatusClaims(Mapping[int, Any]):
    """The status-handler half of `_Claims`: claims the statuses interceptors key on.

    Starlette asks it before the exception table, so where Starlette has a
    status handler of its own, an interceptor that answers the exception
    being handled (Starlette asks in its ``except`` clause) claims it too:
    the interceptors come before Starlette's handlers, status or class.
    """

    __slots__ = ("claims",)

    def __init__(self, claims: _Claims) -> None:
        self.claims = claims

    def get(self, status: int, default: Any = None) -> Any:
        claims = self.claims
        for errors in claims.chain:
            if errors.has_status_key(status):
                return claims.dispatch
        handler = claims.statuses.get(status)
        if handler is None:
            return default
        exc = sys.exception()
        if isinstance(exc, HTTPException) and exc.status_code == status and claims.answers(exc):
            return claims.dispatch
        return handler

    def __getitem__(self, status: int) -> Any:
        handler = self.get(status)
        if handler is None:
            raise KeyError(status)
        return handler

    def __iter__(self) -> Iterator[int]:
        return iter(self.claims.statuses)

    def __len__(self) -> int:
        return len(self.claims.statuses)


class InterceptorMiddleware:
    """Intercepts exceptions raised under one ASGI scope; see the module docstring.

    ``interceptor`` is the `Interceptor` whose handlers apply here. Raises
    ``TypeError`` if it is not one.

    Under Starlette the interceptor answers at the route: on every request it
    adds itself to the handler table Starlette's routes consult, so handlers
    get the route's own ``Request`` or ``WebSocket`` and its answer passes out
    through every middleware in between. The middleware itself answers only
    what does not come out of a Starlette route (a plain ASGI app, a
    middleware inside the scope, a routing 404 or 405). The app under it
    gets the very ``send`` it would get without it: whether the response
    started, Starlette's own exception handling records already, so the
    middleware asks that record when an error comes, and tracks the start
    itself only under a server or middleware that keeps none.

    At app level (``Starlette(middleware=[Middleware(InterceptorMiddleware,
    interceptor=errors)])``) the interceptor places itself just inside
    Starlette's ``ExceptionMiddleware``, so that it also beats Starlette's
    own handlers for the exceptions it matches. Given an app that leads to
    that ``ExceptionMiddleware`` through middleware only (what Starlette
    builds its stack with), the constructor puts the instance there and
    returns ``app`` itself.

    Example::

        app = InterceptorMiddleware(asgi_app, interceptor=Interceptor({KeyError: 404}))
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> InterceptorMiddleware:
        # Whatever a subclass's __init__ takes, the app comes first (Starlette
        # passes it so); copy and pickle call __new__ with no arguments.
        app = args[0] if args else kwargs.get("app")
        exception_middleware = _exception_middleware_within(app)
        if exception_middleware is None or isinstance(app, InterceptorMiddleware):
            return super().__new__(cls)
        # Starlette runs its ExceptionMiddleware inside the user middleware,
        # so here the interceptor would see exceptions only after Starlette's
        # handlers, and its table would be replaced by Starlette's. It moves
        # inside, next to the router, made with the same arguments, and
        # Starlette's middleware stack gets ``app`` back as it was: not an
        # instance, so no __init__, and the request pays no call for this
        # place in the stack.
        if args:
            inner = cls(exception_middleware.app, *args[1:], **kwargs)
        else:
            inner = cls(**{**kwargs, "app": exception_middleware.app})
        exception_middleware.app = inner
        return app  # type: ignore[return-value]

    def __init__(self, app: ASGIApp, *, interceptor: Interceptor) -> None:
        if not isinstance(interceptor, Interceptor):
            raise TypeError(f"interceptor must be an Interceptor, got {interceptor!r}")
        self.app = app
        self.interceptor = interceptor
        # The table this scope sets, under the table the last request came in
        # with: one pair, read and replaced as one reference (a Mount shared
        # by two apps alternates, and builds its table again each time).
        self._under = _tables_under((interceptor,), _NO_TABLES)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            if kind == "lifespan":
                send = flush_at_shutdown(send)
            await self.app(scope, receive, send)
            return
        # `ScopeTable.enter`, inlined: every request pays for it.
        above = scope.get(_HANDLERS_KEY, _NO_TABLES)
        under = self._under
        if under[0] is not above[0]:
            under = self._under = _tables_under((self.interceptor,), above)
        scope[_HANDLERS_KEY] = under[1]
        if kind == "websocket":
            await self._websocket(scope, receive, send)
            return
        # Knowing whether the response has started, so that an error from
        # outside a route never starts it twice. Under Starlette its own
        # exception handling keeps that record in the send it hands down.
        started: bool | None = None  # None: ask Starlette's sender
        if getattr(send, "__code__", _NO_CODE) is _STARLETTE_SENDER:
            inner_send = send
        else:
            started = False

            def tracked_send(message: Message) -> Awaitable[None]:
                # A plain function handing back send's awaitable: no extra coroutine per message.
                # Only the start starts it, as in Starlette's record (not http.response.debug).
                nonlocal started
                if message["type"] == "http.response.start":
                    started = True
                return send(message)

            inner_send = tracked_send
        try:
            await self.app(scope, receive, inner_send)
        except Exception as exc:
            unanswered = await self._answer_http(exc, started, scope, receive, send)
            if unanswered is None:
                return
            if unanswered is exc:
                del unanswered  # exc's traceback holds this frame: no cycle through a local
                raise
        else:
            return
        try:
            raise unanswered  # outside the except clause: its __context__ stays its own
        finally:
            del unanswered  # its traceback holds this frame

    async def _answer_http(
        self, exc: Exception, started: bool | None, scope: Scope, receive: Receive, send: Send
    ) -> BaseException | None:
        """What to raise for ``exc`` (itself, or what it stands for), or ``None``: answered.

        ``started`` is whether the response started, or ``None`` if ``send``
        is Starlette's sender, which knows.
        """
        # Not inlined in __call__: the exception's traceback holds __call__'s
        # frame, so an answer (which refers to the exception) held among its
        # locals would make a reference cycle per error, left to the collector.
        if _tried(scope, exc, self.interceptor):
            return exc
        if started is None:
            started = _started_by(send)
        if started:  # e.g. a streaming body or a background task failed
            return observe_after_start(self.interceptor, exc, scope)
        failed: BaseException = exc
        ours = False
        if claimed_after_start(exc):
            # Started at the route, not here: a middleware in between held the
            # start back (GZip waits for the first chunk). Nothing reached the
            # server, so what failed can still be answered; Starlette's error
            # for its claim is no error of the application's.
            failed, ours = _late(exc, scope)
        answer = await resolve(
            self.interceptor, failed, scope, lambda: Request(scope, receive, send)
        )
        if answer is None:
            return failed if ours else exc
        if isinstance(answer, Outcome):
            await send_outcome(answer, scope, receive, send)
        else:
            await answer(scope, receive, send)
        return None

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        progress = WebSocketProgress()

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
            if _tried(scope, exc, self.interceptor):
                raise
            before = progress.sent
            answer = await resolve(self.interceptor, exc, scope, connection)
            if answer is None:
                if progress.sent != before and progress.closed:
                    return  # a handler closed the socket itself
                raise
            await _answer_on_websocket(answer, scope, receive, progress, tracked_send)


def _tried(scope: Scope, exc: BaseException, interceptor: Interceptor) -> bool:
    """Whether the route's dispatcher tried ``exc`` with ``interceptor`` and every other
    in its table, and left it unanswered: not the table of a mounted app's own routes,
    which holds none of the interceptors around that app."""
    tried = scope.get(_TRIED_KEY)
    return (
        tried is not None
        and is_mark_of(tried[0], exc)
        and any(errors is interceptor for errors in tried[1])
    )


_ScopeTables = tuple[object, tuple[_Claims, _StatusClaims]]


def _tables_under(interceptors: tuple[Interceptor, ...], above: Any) -> _ScopeTables:
    """The table a scope of ``interceptors`` (innermost first) sets for its routes.

    ``above`` is the table the request came in with: Starlette's own, none,
    or an outer scope's. Returned with the handlers it was built under, so
    that a scope builds it again only when a request comes in with another.
    """
    handlers = above[0]
    if isinstance(handlers, _Claims):  # an outer interceptor's table
        outer, own, statuses = handlers.chain, handlers.handlers, handlers.statuses
    else:  # Starlette's own, or none
        outer, own, statuses = (), handlers, above[1]
    chain = (*interceptors, *(e for e in outer if e not in interceptors))
    return handlers, _Claims(chain, own, statuses).tables


class ScopeTable:
    """What a scope of ``interceptors`` (innermost first) puts in the table its routes consult.

    `enter` sets it in a request's scope, built once per table the requests
    come in with. (`InterceptorMiddleware` does the same inline.)
    """

    __slots__ = ("_under", "interceptors")

    def __init__(self, interceptors: tuple[Interceptor, ...]) -> None:
        self.interceptors = interceptors
        self._under = _tables_under(interceptors, _NO_TABLES)

    def enter(self, scope: Scope) -> None:
        above = scope.get(_HANDLERS_KEY, _NO_TABLES)
        under = self._under
        if under[0] is not above[0]:
            under = self._under = _tables_under(self.interceptors, above)
        scope[_HANDLERS_KEY] = under[1]


def observe_after_start(interceptor: Interceptor, exc: Exception, scope: Scope) -> BaseException:
    """``exc`` escaped ``interceptor``'s scope after the response started: observed once,
    by the innermost interceptor in scope that matches it, and what to raise for it.

    What none of them matches passes untouched, as without them: an interceptor
    that matches nothing never logs or reports it, nor keeps it from an outer
    one (`Interceptor({Exception: 500})` at app level sees every such failure).
    """
    late, ours = _late(exc, scope)
    table = scope.get(_HANDLERS_KEY, _NO_TABLES)[0]
    chain = table.chain if isinstance(table, _Claims) else ()
    # From this one outwards: those inside it saw the exception first, or
    # never had it in their scope (a middleware between them raised it).
    start = next((at for at, errors in enumerate(chain) if errors is interceptor), None)
    for errors in (interceptor,) if start is None else chain[start:]:
        if errors.candidates(late)[1]:
            errors.observe_late(late, RequestInfo.from_scope(scope), scope)
            break
    return late if ours else exc


def claimed_after_start(exc: BaseException) -> bool:
    """Whether ``exc`` is Starlette's error for what a route claimed after its response started."""
    return type(exc) is RuntimeError and exc.args == _LATE_AT_ROUTE and exc.__cause__ is not None


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
    answer = first(interceptor, exc, lambda: RequestInfo.from_scope(scope), scope)
    if isinstance(answer, Pending):
        return await call_handlers(answer, connection(), _is_response)
    return answer  # type: ignore[return-value]


# isinstance(value, Response) as a C callable, with no Python frame: asked on
# the error path of every request a handler answers.
_is_response: Callable[[object], TypeGuard[Response]] = Response.__instancecheck__  # type: ignore[assignment]


def outcome_response(outcome: Outcome) -> Response:
    """A Starlette ``Response`` carrying ``outcome``, for code that returns responses."""
    response = Response(outcome.body, status_code=outcome.status)
    response.raw_headers = outcome.raw_headers()
    return response


def _progress_of(websocket: WebSocket) -> WebSocketProgress:
    """What the route's own ``WebSocket`` knows of what it has sent."""
    progress = WebSocketProgress()
    state = websocket.application_state
    progress.accepted = state is WebSocketState.CONNECTED
    progress.closed = state is WebSocketState.DISCONNECTED or state is WebSocketState.RESPONSE
    return progress


async def _answer_on_websocket(
    answer: Outcome | Response,
    scope: Scope,
    receive: Receive,
    progress: WebSocketProgress,
    send: Send,
) -> None:
    if isinstance(answer, Response):
        if can_deny(scope, progress):
            # As WebSocket.send_denial_response does: the response is sent as
            # the denial, streamed ones too. Older Starlette's streamed responses
            # send plain http.response.* messages on a websocket scope (0.46's
            # do); those get the denial's websocket. prefix.
            async def denial_send(message: Message) -> None:
                kind = message["type"]
                if kind.startswith("http.response."):
                    message = {**message, "type": f"websocket.{kind}"}
                await send(message)

            await answer(scope, receive, denial_send)
            return
        answer = Outcome(answer.status_code, (), b"")  # a close needs only the status
    await answer_websocket(answer, scope, progress, send)


def _late(exc: Exception, scope: Scope) -> tuple[BaseException, bool]:
    """What failed after the response started, and whether Starlette's error for it is ours.

    Starlette raises a RuntimeError from what its route claimed too late. When
    the route's table was an interceptor's, no interceptor there would have
    answered the cause and Starlette has no handler for it, only the claim
    made that error (a type claimed, an instance that resolves otherwise):
    the server gets the cause itself, as without the interceptor. (The
    layers between the route and here saw Starlette's error: a claim that
    is exact, as `_Claims` makes it for groups and what passes through,
    leaves this for what a type claims and its instance does not answer.)
    """
    cause = exc.__cause__
    if cause is None or not claimed_after_start(exc):
        return exc, False
    table = scope.get(_HANDLERS_KEY, _NO_TABLES)[0]
    ours = (
        isinstance(table, _Claims)
        and isinstance(cause, Exception)
        and not table.answers(cause)
        and table.starlette_handler(cause) is None
    )
    return cause, ours


def _exception_middleware_within(app: object) -> ExceptionMiddleware | None:
    """Starlette's ExceptionMiddleware, if ``app`` leads to it through middleware only."""
    for _ in range(64):  # a middleware chain, never a cycle; the bound is a guard
        if isinstance(app, ExceptionMiddleware):
            return app
        if app is None or isinstance(app, Router | BaseRoute) or not hasattr(app, "app"):
            return None
        app = app.app
    return None
