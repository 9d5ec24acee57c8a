"""Apps for the delivery tests under uvicorn whose reporter or log handler misbehaves.

Served by ``examples.serving.serve`` as ``tests.reliability.misbehaving_apps:NAME``:

- ``interrupting``: ``/crash`` answers a mapped 500 whose async reporter
  raises ``KeyboardInterrupt`` (a collector's client that treats its own
  failure as fatal); ``/stats`` counts, besides the delivery counters, the
  request exceptions still alive and the tasks left on the delivery
  runner's event loop.
- ``blocking_log``: the same 500s, with a healthy reporter, and a log handler
  on the ``interceptor`` logger that blocks for good (a network handler whose
  endpoint never answers); ``/ok`` answers 200, ``/stats`` as above.
"""

from __future__ import annotations

import gc
import logging
import threading
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from interceptor import Interceptor
from interceptor._delivery import delivery
from interceptor.starlette import InterceptorMiddleware


class CollectorDown(Exception):
    """What ``/crash`` raises."""


def _stats(errors: Interceptor) -> dict[str, Any]:
    gc.collect()
    runner = delivery._runner
    return {
        "threads": threading.active_count(),
        "pending": delivery.pending(),
        "deliveries": dict(errors.deliveries.snapshot()),
        "live_crashes": sum(1 for o in gc.get_objects() if isinstance(o, CollectorDown)),
        "runner_tasks": runner.pending_tasks() if runner is not None else 0,
    }


def _app(errors: Interceptor) -> Starlette:
    async def crash(request: Request) -> Response:
        raise CollectorDown("the collector is down")

    async def ok(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def stats(request: Request) -> Response:
        return JSONResponse(_stats(errors))

    return Starlette(
        routes=[Route("/crash", crash), Route("/ok", ok), Route("/stats", stats)],
        middleware=[Middleware(InterceptorMiddleware, interceptor=errors)],
    )


async def _interrupting_reporter(report: object) -> None:
    raise KeyboardInterrupt


def _healthy_reporter(report: object) -> None:
    return None


_NEVER = threading.Event()


class _Blocking(logging.Handler):
    """A handler whose endpoint never answers: every record it is given blocks for good."""

    def emit(self, record: logging.LogRecord) -> None:
        _NEVER.wait()


interrupting = _app(Interceptor({CollectorDown: 500}, reporter=_interrupting_reporter))
blocking_log = _app(
    Interceptor({CollectorDown: 500}, reporter=_healthy_reporter, report_timeout=0.2)
)


def _blocking_on_first_request() -> None:
    # Added when served, not at import: the other tests import this module too.
    logging.getLogger("interceptor").addHandler(_Blocking(logging.WARNING))


class _AddsHandler:
    def __init__(self, app: Starlette) -> None:
        self.app = app
        self.added = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if not self.added and scope["type"] == "http":
            self.added = True
            _blocking_on_first_request()
        await self.app(scope, receive, send)


blocking_log_served = _AddsHandler(blocking_log)
