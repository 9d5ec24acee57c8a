"""ASGI plumbing shared by the ASGI adapters, with no framework import.

Sending an `Outcome` as ASGI messages, and calling a handler the way
Starlette calls its own (async ones awaited on the loop, sync ones in a
worker thread) within the interceptor's ``handler_timeout`` (`call_handlers`).

A sync handler past its timeout is abandoned in its thread (Python cannot
stop one), which anyio's limiter then no longer counts. So that such threads
cannot grow with traffic, at most `MAX_STUCK_HANDLERS` of one interceptor's
are left running, plus those already running when that many got stuck
(anyio's limiter caps them): while that many are, none of that interceptor's
sync handlers starts (the others' do), and the request gets the 500 of
a handler that timed out (`HANDLER_SKIPPED`), counted as ``handlers_skipped``
in `Interceptor.deliveries` and logged once for the episode.
"""

from __future__ import annotations

import logging
import os
import threading
import types
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Generator, Mapping, MutableMapping
from typing import Any, TypeGuard, TypeVar

import anyio
import anyio.to_thread

from interceptor._callables import is_awaitable
from interceptor._core import Interceptor
from interceptor._delivery import EXIT_FLUSH_SECONDS, DeliveryCounts, delivery
from interceptor._render import Outcome
from interceptor._request import RequestInfo
from interceptor._resolve import DONE_KEY, NOT_CALLED, Pending, advance, is_done
from interceptor._values import (
    HANDLER_SKIPPED,
    HANDLER_TIMED_OUT,
    INLINE_TYPES,
    Handler,
    HandlerValue,
)

__all__ = [
    "MAX_STUCK_HANDLERS",
    "WebSocketProgress",
    "answer_websocket",
    "call_handlers",
    "call_started",
    "can_deny",
    "first_called",
    "flush_at_shutdown",
    "send_outcome",
    "stuck_handlers",
]

logger = logging.getLogger("interceptor")

MAX_STUCK_HANDLERS = 4  # threads left inside sync handlers that overran handler_timeout

Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Message = MutableMapping[str, Any]

# The ASGI extension that lets an app deny a websocket with an HTTP response.
_WS_DENIAL = "websocket.http.response"
_CLOSE_REASON_BYTES = 123  # the WebSocket protocol's limit for a close reason
R = TypeVar("R")  # what a handler's response is, for `call_handlers`


async def send_outcome(outcome: Outcome, scope: object, receive: object, send: Send) -> None:
    """Send ``outcome`` as one ``http.response.start`` and one ``http.response.body``.

    An ASGI app's signature, so that ``functools.partial(send_outcome, outcome)``
    is the outcome as an app (what Starlette sends a handler's response through).
    """
    await send(
        {"type": "http.response.start", "status": outcome.status, "headers": outcome.raw_headers()}
    )
    await send({"type": "http.response.body", "body": outcome.body})


class WebSocketProgress:
    """What the application has sent on a websocket so far."""

    __slots__ = ("accepted", "closed", "sent")

    def __init__(self) -> None:
        self.sent = 0
        self.accepted = False
        self.closed = False

    def saw(self, message: Message) -> None:
        """Note one message the application sends."""
        self.sent += 1
        kind = message["type"]
        if kind == "websocket.accept":
            self.accepted = True
        elif kind == "websocket.close" or kind.startswith("websocket.http.response"):
            self.closed = True


def can_deny(scope: Mapping[str, Any], progress: WebSocketProgress) -> bool:
    """Whether a websocket can still be denied with an HTTP response: not accepted, not
    closed, and the server offers the ``websocket.http.response`` extension."""
    return not (progress.accepted or progress.closed) and _WS_DENIAL in scope.get("extensions", {})


async def answer_websocket(
    answer: Outcome, scope: Mapping[str, Any], progress: WebSocketProgress, send: Send
) -> None:
    """Answer on a websocket: an HTTP denial before accept where the server can, else a close.

    The close code is 4000 + a 4xx status, or 1011 for a 5xx; its reason the
    body's code or title, cut to the protocol's 123 bytes. Nothing is sent on
    a socket that is closed already.
    """
    if progress.closed:
        return
    if can_deny(scope, progress):
        await send(
            {
                "type": "websocket.http.response.start",
                "status": answer.status,
                "headers": answer.raw_headers(),
            }
        )
        await send({"type": "websocket.http.response.body", "body": answer.body})
        return
    status = answer.status
    info = answer.info
    reason = "" if info is None else info.code or info.title
    await send(
        {
            "type": "websocket.close",
            "code": 4000 + status if 400 <= status < 500 else 1011,
            "reason": reason.encode("utf-8")[:_CLOSE_REASON_BYTES].decode("utf-8", "ignore"),
        }
    )


def flush_at_shutdown(send: Send) -> Send:
    """``send`` for a lifespan scope: the queued reports go out before shutdown completes.

    Every message passes unchanged; the one that completes (or fails) the
    shutdown waits first, at most `EXIT_FLUSH_SECONDS`, in a worker thread,
    so the event loop keeps running meanwhile.
    """

    async def flushing_send(message: MutableMapping[str, Any]) -> None:
        if message.get("type") in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
            await anyio.to_thread.run_sync(delivery.flush, EXIT_FLUSH_SECONDS)
        await send(message)

    return flushing_send


async def call_handlers(
    answer: object, conn: object, is_response: Callable[[object], TypeGuard[R]]
) -> Outcome | R | None:
    """`finish_async` as Starlette calls handlers: ``handler(conn, exc)``, within a timeout.

    ``answer`` is what `first` (or `first_called`) gave.

    Async handlers run on the loop; sync ones in a worker thread, as Starlette
    runs sync endpoints and handlers, abandoned (not killed: Python cannot)
    past the interceptor's ``handler_timeout``, so that the client still gets
    its answer; while `MAX_STUCK_HANDLERS` abandoned ones still run, a sync
    handler is not started (`stuck_handlers`). A timeout scope costs about as
    much as a whole request, so an async handler's first step runs outside
    one (`call_started`): most answer without ever waiting, and their result
    is taken as it is. Only one that waits goes on inside the scope.
    """
    while isinstance(answer, Pending):
        errors, handler, leaf, result = answer.errors, answer.handler, answer.leaf, answer.result
        try:
            if result is NOT_CALLED and not errors.is_async(handler):
                call = _ThreadCall(handler, conn, leaf)
                result = await _in_thread(errors.handler_timeout, call, errors)
            else:
                if result is NOT_CALLED:
                    result = call_started(handler, conn, leaf)
                if not is_response(result) and is_awaitable(result):  # (a response: at once)
                    result = await _within(errors.handler_timeout, result)
        except Exception as new:
            answer.raised(new)
            raise
        answer = answer.settle(result, is_response)
    return answer  # type: ignore[return-value]


def first_called(
    errors: Interceptor,
    exc: BaseException,
    found: tuple[BaseException, tuple[HandlerValue, ...]],
    conn: Any,
    is_response: Callable[[object], bool],
) -> object:
    """`first` for Starlette's handler table, an async handler's first step taken at
    once: the answer, ``None`` or a `Pending` for `call_handlers`.

    ``found`` is what ``errors.candidates(exc)`` gave, with values to try: the
    caller passes over an interceptor with none without a call, the common case
    in nested scopes. The common answer comes straight: an async handler that
    answers without waiting, with a 4xx response that nothing but the count
    notes. Anything else goes on with the resolution from the handler's result
    (the `Pending`'s ``result``). What the handler raises is raised, marked as
    `Pending.raised` marks it.
    """
    leaf, values = found
    scope = conn.scope
    if DONE_KEY in scope and is_done(scope, errors, exc, leaf):
        return None
    value = values[0]
    if isinstance(value, INLINE_TYPES):
        return advance(errors, exc, leaf, values, 0, RequestInfo.from_scope(scope), scope)
    # The request as it came in: a handler may rewrite the scope's method and path.
    method, path = scope.get("method", "GET"), scope.get("path", "")
    result = NOT_CALLED
    if errors.is_async(value):
        try:
            result = call_started(value, conn, leaf)
        except Exception as new:
            request = RequestInfo.from_scope(scope, method=method, path=path)
            Pending(errors, exc, leaf, values, 0, request, scope).raised(new)
            raise
        if (
            is_response(result)
            and type(status := getattr(result, "status_code", None)) is int
            and errors.counted_alone(leaf, status)
        ):
            return result
    request = RequestInfo.from_scope(scope, method=method, path=path)
    pending = Pending(errors, exc, leaf, values, 0, request, scope)
    pending.result = result
    return pending


def call_started(handler: Handler, conn: object, leaf: BaseException) -> object:
    """``handler(conn, leaf)`` for an async handler, its first step taken outside any
    timeout scope: its result if it answered without waiting, else what is left to
    await (within the timeout)."""
    result = handler(conn, leaf)
    if type(result) is types.CoroutineType:
        try:
            waiting_on = result.send(None)
        except StopIteration as done:  # answered without waiting
            return done.value
        return _Resumed(result, waiting_on)
    return result


async def _in_thread(seconds: float | None, call: _ThreadCall, errors: Interceptor) -> object:
    """What ``call`` gives, run in a worker thread within ``seconds``.

    `HANDLER_TIMED_OUT` past them (the thread left to finish by itself), and
    `HANDLER_SKIPPED`, the handler never started, while `MAX_STUCK_HANDLERS`
    calls left that way still run.
    """
    stuck = stuck_handlers(errors)
    if not stuck.admits(errors.deliveries):
        return HANDLER_SKIPPED
    try:
        return await _within(
            seconds, anyio.to_thread.run_sync(stuck.run, call, abandon_on_cancel=True)
        )
    finally:
        stuck.leave(call)


async def _within(seconds: float | None, awaitable: Awaitable[object]) -> object:
    """What ``awaitable`` gives (awaited through), or `HANDLER_TIMED_OUT` past ``seconds``."""
    with anyio.move_on_after(seconds):
        result = await awaitable
        while is_awaitable(result):  # a sync handler may hand back a coroutine
            result = await result
        return result
    return HANDLER_TIMED_OUT


class _Resumed:
    """A coroutine whose first step ran already, awaited from where it stopped."""

    __slots__ = ("coro", "waiting_on")

    def __init__(self, coro: Coroutine[Any, Any, Any], waiting_on: object) -> None:
        self.coro = coro
        self.waiting_on = waiting_on

    def __await__(self) -> Generator[Any, Any, Any]:
        # What `await coro` would do from here on: hand the event loop what the
        # coroutine waits on, and pass back what the loop sends or throws.
        coro, waiting_on = self.coro, self.waiting_on
        while True:
            try:
                sent = yield waiting_on
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as thrown:  # noqa: BLE001 - cancellation goes in too
                try:
                    waiting_on = coro.throw(thrown)
                except StopIteration as done:
                    return done.value
            else:
                try:
                    waiting_on = coro.send(sent)
                except StopIteration as done:
                    return done.value


# A `_ThreadCall`'s states.
_WAITING, _RUNNING, _DONE, _LEFT = range(4)


class _ThreadCall:
    """One sync handler call, ``handler(conn, leaf)``, for a worker thread."""

    __slots__ = ("conn", "handler", "leaf", "state")

    def __init__(self, handler: Handler, conn: object, leaf: BaseException) -> None:
        self.handler = handler
        self.conn = conn
        self.leaf = leaf
        self.state = _WAITING


class _StuckHandlers:
    """How many of one interceptor's sync handler calls were given up on and still run.

    Thread-safe: calls are left on the event loop's thread and return in
    their worker threads. While `MAX_STUCK_HANDLERS` are running, `admits`
    says no; the first refusal of such an episode is logged, and the number
    refused when it ends.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0
        self._skipped = 0  # refused in this episode

    def admits(self, counts: DeliveryCounts) -> bool:
        """Whether a sync handler may start; a refusal is counted in ``counts``."""
        if self.count < MAX_STUCK_HANDLERS:  # an int read: no lock on the way in
            return True
        counts.add("handlers_skipped")
        with self._lock:
            self._skipped += 1
            first = self._skipped == 1
        if first:
            logger.error(
                "interceptor: %d sync handler calls are still running past handler_timeout; "
                "sync handlers are not started, and their requests are answered 500, until "
                "fewer than %d are (counted as handlers_skipped)",
                self.count,
                MAX_STUCK_HANDLERS,
            )
        return False

    def run(self, call: _ThreadCall) -> object:
        """``call``, in its worker thread; nothing if it was left before it began."""
        with self._lock:
            if call.state == _LEFT:
                return None  # nobody waits for it any more
            call.state = _RUNNING
        try:
            return call.handler(call.conn, call.leaf)
        finally:
            with self._lock:
                if call.state == _LEFT:
                    self.count -= 1
                call.state = _DONE
                ended = self._skipped if self.count < MAX_STUCK_HANDLERS else 0
                self._skipped -= ended
            if ended:
                logger.warning(
                    "interceptor: %d sync handler call(s) were not started while %d were "
                    "stuck past handler_timeout; handlers run again",
                    ended,
                    MAX_STUCK_HANDLERS,
                )

    def leave(self, call: _ThreadCall) -> None:
        """The request is done waiting for ``call``: one still running is stuck until it returns."""
        with self._lock:
            if call.state == _RUNNING:
                self.count += 1
            if call.state != _DONE:
                call.state = _LEFT


# Each interceptor's count, held no longer than the interceptor: a hung
# dependency behind one interceptor's handler leaves the others' handlers
# running (and one with no handler_timeout never abandons a call).
_STUCK: weakref.WeakKeyDictionary[object, _StuckHandlers] = weakref.WeakKeyDictionary()
_STUCK_LOCK = threading.Lock()


def stuck_handlers(errors: object) -> _StuckHandlers:
    """The count of ``errors``'s sync handler calls given up on that still run."""
    stuck = _STUCK.get(errors)
    if stuck is None:
        with _STUCK_LOCK:
            stuck = _STUCK.setdefault(errors, _StuckHandlers())
    return stuck


os.register_at_fork(after_in_child=_STUCK.clear)  # the threads stayed in the parent
