"""Apps for the delivery tests under real servers: a crash collector that hangs, or is slow.

Served by ``examples.serving.serve`` as ``tests.reliability.delivery_apps:NAME``:

- ``asgi_hung`` (uvicorn) and ``wsgi_hung`` (waitress): ``/crash`` answers a
  mapped 500 whose sync reporter hangs for good; ``/stats`` gives the
  process's thread count and the interceptor's delivery counters;
  ``/resolve`` (ASGI) times a host-name lookup on the event loop.
- ``asgi_wedged`` (uvicorn): the same, with an async reporter that blocks
  its thread for good (a sync call inside ``async def``); ``/stats`` also
  counts the 5xx log lines that went out, with their traceback or with the
  note in its place.
- ``asgi_slowish``: a reporter taking 5 ms, slower than the storm's 5xx come.
- ``asgi_slow`` and ``wsgi_slow``: the reporter takes 0.3 s, then appends the
  report's ``error_id`` to the file named by ``INTERCEPTOR_REPORTS_FILE``, so
  a test can tell a report in flight at shutdown was delivered.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from interceptor import Interceptor
from interceptor._delivery import delivery
from interceptor.starlette import InterceptorMiddleware
from interceptor.wsgi import InterceptorMiddleware as WSGIInterceptor

_NEVER = threading.Event()


class CollectorDown(Exception):
    """What ``/crash`` raises."""


def hung_reporter(report: object) -> None:
    _NEVER.wait()  # a POST to a collector that never answers


async def wedging_reporter(report: object) -> None:
    _NEVER.wait()  # requests.post inside async def, to a collector that never answers


class _LogLines(logging.Handler):
    """Counts the interceptor's 5xx log lines: with their traceback, or with a note for it."""

    def __init__(self) -> None:
        super().__init__()
        self.counts = {"full": 0, "noted": 0}

    def emit(self, record: logging.LogRecord) -> None:  # called under the handler's lock
        if " -> 5" in record.getMessage():
            noted = (record.exc_text or "").startswith("[traceback left out")
            self.counts["noted" if noted else "full"] += 1


_lines = _LogLines()
logging.getLogger("interceptor").addHandler(_lines)


def slow_reporter(report: Any) -> None:
    time.sleep(0.3)
    with Path(os.environ["INTERCEPTOR_REPORTS_FILE"]).open("a") as out:
        out.write(report.error_id + "\n")


def _errors(reporter: Callable[[Any], Any], timeout: float) -> Interceptor:
    return Interceptor({CollectorDown: 500}, reporter=reporter, report_timeout=timeout)


def _stats(errors: Interceptor) -> dict[str, Any]:
    return {
        "threads": threading.active_count(),
        "pending": delivery.pending(),
        "deliveries": dict(errors.deliveries.snapshot()),
        "answered_5xx": sum(n for key, n in errors.counts.snapshot().items() if key[1] >= 500),
        "log_lines": dict(_lines.counts),
    }


def _asgi(errors: Interceptor) -> Starlette:
    async def crash(request: Request) -> Response:
        raise CollectorDown("the collector is down")

    async def stats(request: Request) -> Response:
        return JSONResponse(_stats(errors))

    async def resolve(request: Request) -> Response:
        started = time.monotonic()
        await asyncio.get_running_loop().getaddrinfo("localhost", 80)
        return JSONResponse({"seconds": time.monotonic() - started})

    return Starlette(
        routes=[Route("/crash", crash), Route("/stats", stats), Route("/resolve", resolve)],
        middleware=[Middleware(InterceptorMiddleware, interceptor=errors)],
    )


def _wsgi(errors: Interceptor) -> Callable[..., Iterable[bytes]]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ["PATH_INFO"] == "/stats":
            body = json.dumps(_stats(errors)).encode()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]
        raise CollectorDown("the collector is down")

    return WSGIInterceptor(app, interceptor=errors)


_hung_errors = _errors(hung_reporter, 0.2)
asgi_hung = _asgi(_hung_errors)
wsgi_hung = _wsgi(_hung_errors)
asgi_wedged = _asgi(_errors(wedging_reporter, 0.2))
asgi_slowish = _asgi(_errors(lambda report: time.sleep(0.005), 5.0))
_slow_errors = _errors(slow_reporter, 5.0)
asgi_slow = _asgi(_slow_errors)
wsgi_slow = _wsgi(_slow_errors)
