"""An app whose sync handler gets stuck past ``handler_timeout``, for a test under uvicorn.

Served by ``examples.serving.serve`` as ``tests.reliability.handler_apps:app``:

- ``/stuck`` raises `DependencyStuck`, whose sync handler waits on a gate
  (at most 60 s) and then answers 503; the interceptor gives up on it after
  0.2 s. ``/gate/close`` and ``/gate/open`` close and open the gate.
- ``/lookup`` raises ``LookupError``, whose sync handler answers 404 at once.
- ``/stats`` gives the process's thread count, the sync handler calls still
  running past their timeout, how many times each handler was started, and
  the interceptor's delivery counters (with ``handlers_skipped``).

Every endpoint but the failing ones is async, so no request but a handler's
takes a worker thread.
"""

from __future__ import annotations

import collections
import threading
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from interceptor import Interceptor
from interceptor._asgi import stuck_handlers
from interceptor.starlette import InterceptorMiddleware

GATE_SECONDS = 60  # the longest a stuck handler waits: the test opens the gate at its end

_gate = threading.Event()
_started: collections.Counter[str] = collections.Counter()
_started_lock = threading.Lock()


class DependencyStuck(Exception):
    """What ``/stuck`` raises."""


def _start(name: str) -> None:
    with _started_lock:
        _started[name] += 1


def on_stuck(request: Request, exc: DependencyStuck) -> int:
    _start("stuck")
    _gate.wait(GATE_SECONDS)  # a dependency that does not answer while the gate is closed
    return 503


def on_lookup(request: Request, exc: LookupError) -> int:
    _start("lookup")
    return 404


errors = Interceptor({DependencyStuck: on_stuck, LookupError: on_lookup}, handler_timeout=0.2)


async def stuck(request: Request) -> Response:
    raise DependencyStuck("the dependency does not answer")


async def lookup(request: Request) -> Response:
    raise LookupError("no such thing")


async def gate(request: Request) -> Response:
    if request.path_params["how"] == "open":
        _gate.set()
    else:
        _gate.clear()
    return JSONResponse({"open": _gate.is_set()})


async def stats(request: Request) -> Response:
    with _started_lock:
        started: dict[str, Any] = dict(_started)
    return JSONResponse(
        {
            "threads": threading.active_count(),
            "stuck": stuck_handlers(errors).count,
            "started": started,
            "deliveries": dict(errors.deliveries.snapshot()),
        }
    )


app = Starlette(
    routes=[
        Route("/stuck", stuck),
        Route("/lookup", lookup),
        Route("/gate/{how}", gate),
        Route("/stats", stats),
    ],
    middleware=[Middleware(InterceptorMiddleware, interceptor=errors)],
)
