"""The small apps the load runs, the benchmarks and the reliability tests serve.

Served by name (``module:attribute``) under uvicorn or waitress through
``examples.serving.serve``:

- ``benchmarks.apps:intercepted`` and ``benchmarks.apps:native``: the same two
  routes, ``/ok`` (200) and ``/missing`` (404 problem+json), the error mapped
  by an app-level interceptor in one and by Starlette's own
  ``exception_handlers`` in the other. ``benchmarks/run.py`` compares their
  throughput.
- ``benchmarks.apps:starlette_load``: the Starlette example, plus under
  ``/extra`` the cases it lacks: a mapped 5xx (503 with ``Retry-After``), a
  sync handler run in the threadpool (500 with an ``error_id``), an unmatched
  error, and a slow stream behind a catch-all interceptor for the
  client-disconnect test, with ``/extra/active`` counting streams in flight.
- ``benchmarks.apps:flask_load``: the Flask example, plus under ``/extra`` a
  plain WSGI app behind ``interceptor.wsgi.InterceptorMiddleware`` with a
  mapped 5xx, a sync handler, an unmatched error and a stream that fails
  after its first chunk.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from werkzeug.middleware.dispatcher import DispatcherMiddleware

from examples import flask_app, starlette_app
from interceptor import Interceptor, Problem
from interceptor.starlette import InterceptorMiddleware
from interceptor.wsgi import InterceptorMiddleware as WSGIInterceptor

# -- throughput comparison: interceptor against Starlette's own handlers -----------


class ItemMissing(LookupError):
    """Raised by ``/missing`` in both throughput apps."""


async def ok(request: Request) -> Response:
    return JSONResponse({"item": "apple"})


async def missing(request: Request) -> Response:
    raise ItemMissing("no such item")


async def native_missing(request: Request, exc: Exception) -> Response:
    body = {"type": "about:blank", "title": "Not Found", "status": 404, "detail": str(exc)}
    return JSONResponse(body, status_code=404, media_type="application/problem+json")


_ROUTES = [Route("/ok", ok), Route("/missing", missing)]

intercepted = Starlette(
    routes=_ROUTES,
    middleware=[Middleware(InterceptorMiddleware, interceptor=Interceptor({ItemMissing: 404}))],
)
native = Starlette(routes=_ROUTES, exception_handlers={ItemMissing: native_missing})

# The request mixes for the throughput comparison: (method, path, status, body kind).
THROUGHPUT_PATHS = {
    "success": ("GET", "/ok", 200, "json"),
    "error": ("GET", "/missing", 404, "problem"),
}


# -- the Starlette load target ------------------------------------------------------


class Unavailable(Exception):
    """Mapped to a 503 with a retry delay."""


class NeedsHandler(Exception):
    """Mapped by a sync handler, which Starlette runs in its threadpool."""


def on_needs_handler(request: Request, exc: NeedsHandler) -> Problem:
    return Problem(status=500, code="SYNC_HANDLER")


_extra_errors = Interceptor(
    {
        Unavailable: Problem(status=503, code="UNAVAILABLE", retry_after=2),
        NeedsHandler: on_needs_handler,
    }
)

_catch_all = Interceptor({Exception: 500})
_streams_in_flight = 0
SLOW_STREAM_CHUNKS = 2000


async def unavailable(request: Request) -> Response:
    raise Unavailable("the warehouse is down")


async def needs_handler(request: Request) -> Response:
    raise NeedsHandler("secret detail that a 5xx never shows")


async def crash(request: Request) -> Response:
    raise RuntimeError("unmatched: no interceptor maps RuntimeError")


async def slow_stream(request: Request) -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        global _streams_in_flight  # noqa: PLW0603 - a counter the test reads through /extra/active
        _streams_in_flight += 1
        try:
            for index in range(SLOW_STREAM_CHUNKS):
                yield f"chunk {index}\n".encode()
                await asyncio.sleep(0.005)
        finally:
            _streams_in_flight -= 1

    return StreamingResponse(chunks(), media_type="text/plain")


async def active(request: Request) -> Response:
    return JSONResponse({"active": _streams_in_flight})


_extras = Starlette(
    routes=[
        Route("/extra/unavailable", unavailable),
        Route("/extra/handler", needs_handler),
        Route("/extra/crash", crash),
        # A catch-all interceptor: it must still leave a client's disconnect alone.
        Route(
            "/extra/slow-stream",
            slow_stream,
            middleware=[Middleware(InterceptorMiddleware, interceptor=_catch_all)],
        ),
        Route("/extra/active", active),
    ],
    middleware=[Middleware(InterceptorMiddleware, interceptor=_extra_errors)],
)


def _log_with_levels() -> None:
    """Give the interceptor's log records a level prefix, so tests can count them.

    Called when a server starts the app (lifespan), never on import, so that
    importing this module changes no logging.
    """
    logger = logging.getLogger("interceptor")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False


async def starlette_load(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The Starlette example, with the extra routes under ``/extra``."""
    if scope["type"] == "lifespan":
        _log_with_levels()
    if scope["type"] != "lifespan" and scope.get("path", "").startswith("/extra/"):
        await _extras(scope, receive, send)
    else:
        await starlette_app.app(scope, receive, send)


# Requests beyond the example's DEMO_REQUESTS: (method, path, status, body kind, abort).
STARLETTE_EXTRA_REQUESTS = [
    ("GET", "/api/stream", 200, "any", True),  # the example's own mid-body failure
    ("HEAD", "/admin", 403, "none", False),
    ("GET", "/extra/unavailable", 503, "problem", False),
    ("GET", "/extra/handler", 500, "problem", False),
    ("GET", "/extra/crash", 500, "any", False),
]


# -- the Flask load target ------------------------------------------------------------

StartResponse = Callable[..., Any]


def _wsgi_extras(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    path = environ.get("PATH_INFO", "")
    if path == "/unavailable":
        raise Unavailable("the warehouse is down")
    if path == "/handler":
        raise NeedsHandler("secret detail that a 5xx never shows")
    if path == "/crash":
        raise RuntimeError("unmatched: no interceptor maps RuntimeError")
    if path == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return _failing_stream()
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"no such extra\n"]


def _failing_stream() -> Iterator[bytes]:
    yield b"first chunk\n"
    raise ValueError("failed mid-stream")


def _wsgi_handler(request: Any, exc: NeedsHandler) -> Problem:
    return Problem(status=500, code="SYNC_HANDLER")


def _flask_load() -> Callable[..., Iterable[bytes]]:
    extras = WSGIInterceptor(
        _wsgi_extras,
        interceptor=Interceptor(
            {
                Unavailable: Problem(status=503, code="UNAVAILABLE", retry_after=2),
                NeedsHandler: _wsgi_handler,
                # ValueError is mapped, but /stream raises it after its first
                # chunk: the connection must be aborted, not answered twice.
                ValueError: 422,
            }
        ),
    )
    return DispatcherMiddleware(flask_app.app, {"/extra": extras})  # type: ignore[no-any-return]


flask_load = _flask_load()

FLASK_EXTRA_REQUESTS = [
    ("GET", "/extra/stream", 200, "any", True),
    ("GET", "/extra/unavailable", 503, "problem", False),
    ("GET", "/extra/handler", 500, "problem", False),
    ("GET", "/extra/crash", 500, "any", False),
]
