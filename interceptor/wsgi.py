"""WSGI adapter: `InterceptorMiddleware` around any PEP 3333 application.

The middleware holds back the inner application's ``start_response`` until the
first non-empty body chunk, or the application's first ``write()`` call (which
PEP 3333 has send the headers, empty or not). Until then nothing has reached
the server, so an exception becomes the error response through a plain first
``start_response``.
After that the status line may be on the wire already: the exception is
re-raised through ``start_response(status, headers, exc_info)``, as PEP 3333
asks, and the server aborts the response.

Handlers receive a ``werkzeug.wrappers.Request``. Werkzeug is imported only
when a handler function is about to be called; values the core renders itself
(an ``int`` status, a `Problem`) work without it. Async handlers run to
completion on an event loop of their own, as Flask's ``ensure_sync`` runs them.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import sys
from collections.abc import Awaitable, Callable, Generator, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeGuard

from interceptor._core import Interceptor
from interceptor._render import Outcome
from interceptor._request import RequestInfo
from interceptor._resolve import handle_sync
from interceptor._status import reason_phrase
from interceptor._validation import note_missing_key
from interceptor._values import Handler

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["InterceptorMiddleware"]

_ExcInfo = tuple[type[BaseException], BaseException, TracebackType] | tuple[None, None, None]
_Write = Callable[[bytes], object]
_MATERIALISED = frozenset({list, tuple})
_INSTALL_HINT = (
    "interceptor.wsgi passes handlers a werkzeug Request; install Werkzeug with: "
    "pip install 'exception-interceptor[werkzeug]'"
)


class InterceptorMiddleware:
    """Intercept exceptions raised by a WSGI application with ``interceptor``.

    Exceptions raised before the first non-empty body chunk are resolved by
    ``interceptor``; unmatched ones are re-raised unchanged, so an outer
    middleware or the server sees them. Exceptions after that chunk are
    re-raised through ``start_response`` with ``exc_info``. A list or tuple
    body, and the server's own ``wsgi.file_wrapper``, go to the server as they
    are (what reading that file raises is the server's); any other body is
    wrapped, keeping its ``len()`` for the server. The inner iterable's
    ``close()`` is always called, once, when the server closes the response
    (or, if an error response replaces it, before the handlers run). Wrap one
    mounted sub-app of a ``DispatcherMiddleware`` to give it its own scope.

    Raises ``TypeError`` if ``interceptor`` is not an `Interceptor` or ``app``
    is not callable. At request time, calling a handler function needs
    Werkzeug and raises ``ImportError`` with an install hint without it.

    Example::

        errors = Interceptor({LookupError: 404})
        application = InterceptorMiddleware(application, interceptor=errors)
    """

    __slots__ = ("app", "interceptor")

    def __init__(self, app: WSGIApplication, *, interceptor: Interceptor) -> None:
        if not isinstance(interceptor, Interceptor):
            raise TypeError(f"interceptor must be an interceptor.Interceptor, got {interceptor!r}")
        if not callable(app):
            raise TypeError(f"app must be a WSGI application (a callable), got {app!r}")
        self.app = app
        self.interceptor = interceptor

    def __repr__(self) -> str:
        return f"InterceptorMiddleware({self.app!r}, interceptor={self.interceptor!r})"

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        deferred = _DeferredStart(start_response)
        try:
            inner = self.app(environ, deferred)
        except Exception:
            if deferred.committed:  # the app wrote body through write() first
                _abort_started(self.interceptor, environ, start_response)
                raise
            response = self._error_response(environ, start_response)
            if response is None:
                raise  # unmatched: the same object, on to the next scope out
            return response
        if (
            type(inner) in _MATERIALISED or _is_servers_file(inner, environ)
        ) and deferred.status is not None:
            # Every chunk exists already, so nothing can raise while the server
            # iterates, or the server reads the file itself: pass the response
            # on as it is, for the server to recognise.
            if not deferred.committed:
                deferred.commit()
            return inner
        if hasattr(inner, "__len__"):  # a server may ask, as of the app's own body
            return _SizedBody(self, environ, start_response, deferred, inner)
        return _Body(self, environ, start_response, deferred, inner)

    def _error_response(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes] | None:
        """Start the error response for the exception being handled, or ``None``."""
        exc = sys.exc_info()[1]
        assert exc is not None  # noqa: S101 - only called inside `except`
        note_missing_key(exc, environ)
        caller = _HandlerCaller(environ)
        result = handle_sync(
            self.interceptor,
            exc,
            lambda: RequestInfo.from_environ(environ),
            caller,
            caller.is_response,
            marks=environ,
        )
        if result is None:
            return None
        if isinstance(result, Outcome):
            start_response(_status_line(result.status), list(result.headers))
            return [result.body]
        return result(environ, start_response)


class _DeferredStart:
    """The ``start_response`` the inner app sees: records, commits on the first body or write()."""

    __slots__ = ("_start", "_write", "headers", "status")

    def __init__(self, start_response: StartResponse) -> None:
        self._start = start_response
        self._write: _Write | None = None
        self.status: str | None = None
        self.headers: list[tuple[str, str]] = []

    @property
    def committed(self) -> bool:
        return self._write is not None

    def __call__(
        self,
        status: str,
        headers: list[tuple[str, str]],
        exc_info: _ExcInfo | None = None,
    ) -> _Write:
        # Not positional-only: PEP 3333 names the arguments, and apps pass
        # ``exc_info=`` by keyword.
        if exc_info is not None and exc_info[0] is not None:
            try:
                if self._write is not None:
                    # Passed on already: the server decides, and re-raises when
                    # the headers are out. What it raises goes up untouched.
                    self._write = self._start(status, headers, exc_info)
            finally:
                exc_info = None  # no frame <-> traceback cycle
        elif self.status is not None:
            raise AssertionError("start_response() called a second time without exc_info")
        self.status, self.headers = status, headers
        return self.write

    def commit(self) -> None:
        if self.status is None:
            raise AssertionError("the WSGI app sent body data before calling start_response()")
        self._write = self._start(self.status, self.headers)

    def write(self, data: bytes) -> object:
        if self._write is None:
            # PEP 3333: the headers go out on the first write() call, empty or
            # not. An app writing has committed to its response.
            self.commit()
        return self._write(data)  # type: ignore[misc]  # commit() set it


class _Body:
    """The iterable handed to the server; its ``close()`` closes the inner iterable once.

    PEP 3333 gives ``close()`` to the server, after the body: the inner
    iterable is closed there, and what its ``close()`` raises comes from there,
    never from the server's last ``next()``. Only when an error response
    replaces the body is the inner iterable closed first (the app is done,
    before handlers run); the error response is then what ``close()`` closes.
    """

    __slots__ = ("_close_error", "_inner", "_inner_open", "_stream")

    def __init__(
        self,
        middleware: InterceptorMiddleware,
        environ: WSGIEnvironment,
        start_response: StartResponse,
        deferred: _DeferredStart,
        inner: Iterable[bytes],
    ) -> None:
        self._inner = inner
        self._inner_open = True
        # What the inner iterable's close() raised when it was closed early.
        self._close_error: Exception | None = None
        self._stream = self._run(middleware, environ, start_response, deferred)

    def __iter__(self) -> Iterator[bytes]:
        return self._stream

    def close(self) -> None:
        try:
            self._stream.close()  # a stream stopped at a `yield` ends there
        finally:
            self._close_inner()
            error, self._close_error = self._close_error, None
            if error is not None:
                raise error

    def _close_inner(self) -> None:
        if self._inner_open:
            self._inner_open = False
            _close(self._inner)

    def _close_inner_early(self) -> None:
        """Close the inner iterable before the handlers run; what that raises waits for close().

        The server gets it from its close() call, where it would have come
        without the middleware, and the error being handled goes on.
        """
        try:
            self._close_inner()
        except Exception as error:  # noqa: BLE001 - kept, raised from close()
            self._close_error = error

    def _run(
        self,
        middleware: InterceptorMiddleware,
        environ: WSGIEnvironment,
        start_response: StartResponse,
        deferred: _DeferredStart,
    ) -> Generator[bytes, None, None]:
        try:
            for chunk in self._inner:
                if deferred._write is None:  # still held back
                    if not chunk:
                        # Not passed on: a server may send the headers on an
                        # empty chunk, and then no error response is possible.
                        continue
                    deferred.commit()
                yield chunk
            if deferred._write is None:
                deferred.commit()
            return
        except Exception:
            if deferred.committed:
                _abort_started(middleware.interceptor, environ, start_response)
                raise
            self._close_inner_early()  # the app is done; close it before handlers run
            response = middleware._error_response(environ, start_response)
            if response is None:
                raise
        self._inner, self._inner_open = response, True  # what close() closes now
        for chunk in response:
            yield chunk


class _SizedBody(_Body):
    """A `_Body` whose inner iterable has a ``len()``, which it answers for.

    Servers read ``len(body) == 1`` as one block, whose length is then the
    Content-Length (waitress, wsgiref). An error response without a
    ``len()`` that replaced the body answers 0: not known to be one block.
    """

    __slots__ = ()

    def __len__(self) -> int:
        inner = self._inner
        return len(inner) if hasattr(inner, "__len__") else 0  # type: ignore[arg-type]


class _HandlerCaller:
    """Calls handlers with a Werkzeug ``Request``, built once and only when needed."""

    __slots__ = ("_environ", "_request", "_response_type")

    def __init__(self, environ: WSGIEnvironment) -> None:
        self._environ = environ
        self._request: Any = None
        self._response_type: type | None = None

    def __call__(self, handler: Handler, exc: BaseException) -> object:
        if self._request is None:
            try:
                from werkzeug.wrappers import Request, Response  # noqa: PLC0415 - optional
            except ImportError as error:
                raise ImportError(_INSTALL_HINT) from error
            self._request = Request(self._environ)
            self._response_type = Response
        result = handler(self._request, exc)
        if inspect.isawaitable(result):  # async def, async __call__, a partial of either
            result = _run_to_completion(result)
        return result

    def is_response(self, value: object) -> TypeGuard[Callable[..., Iterable[bytes]]]:
        return self._response_type is not None and isinstance(value, self._response_type)


def _abort_started(
    interceptor: Interceptor, environ: WSGIEnvironment, start_response: StartResponse
) -> None:
    """Hand the exception being handled to the server after the response started.

    If ``interceptor`` matches it, it is logged and reported as a 500 with an
    ``error_id`` (once per request: an outer one passes it on); what it does
    not match is left to an outer one, or to the server, untouched. PEP 3333:
    the server re-raises ``exc_info`` once the headers are out, and whatever
    it raises goes up untouched. If it returns, the caller re-raises.
    """
    exc_info = sys.exc_info()
    try:
        # (No local for the exception: start_response raises it from this frame.)
        if exc_info[1] is not None and interceptor.candidates(exc_info[1])[1]:
            interceptor.observe_late(exc_info[1], RequestInfo.from_environ(environ), environ)
        start_response("500 Internal Server Error", [("Content-Type", "text/plain")], exc_info)
    finally:
        del exc_info


def _run_to_completion(awaitable: Awaitable[object]) -> object:
    """What an async handler's ``awaitable`` gives, run from this sync code.

    On a new event loop in this thread, which is not made the thread's
    current loop, so one the thread had set stays set. When a loop already
    runs in this thread (a WSGI app called straight from async code), it
    cannot be entered again: the awaitable runs on a new loop in a thread of
    its own, with this thread's context, while this thread waits, as
    asgiref's ``async_to_sync`` does. Like a sync handler under WSGI, it has
    no time limit.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        running = False
    else:
        running = True
    # Not run inside that `except`: its RuntimeError would become the
    # __context__ of whatever the handler raises.
    if not running:
        return _run_on_new_loop(awaitable, None)
    context = contextvars.copy_context()
    with ThreadPoolExecutor(1, thread_name_prefix="interceptor-async-handler") as thread:
        return thread.submit(_run_on_new_loop, awaitable, context).result()


def _run_on_new_loop(awaitable: Awaitable[object], context: contextvars.Context | None) -> object:
    with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
        return runner.run(_settled(awaitable), context=context)


async def _settled(awaitable: Awaitable[object]) -> object:
    result = await awaitable
    while inspect.isawaitable(result):  # a coroutine may hand back another one
        result = await result
    return result


def _is_servers_file(inner: Iterable[bytes], environ: WSGIEnvironment) -> bool:
    """Whether ``inner`` is the server's own ``wsgi.file_wrapper``, which it sends itself.

    waitress, gunicorn and wsgiref recognise their wrapper by its class, and
    send the file from it (waitress with the file's length): they must get
    the object itself. What reading the file raises is then the server's, as
    without the middleware.
    """
    wrapper = environ.get("wsgi.file_wrapper")
    return isinstance(wrapper, type) and isinstance(inner, wrapper)


def _close(iterable: object) -> None:
    close = getattr(iterable, "close", None)
    if close is not None:
        close()


def _status_line(status: int) -> str:
    return f"{status} {reason_phrase(status)}"
