"""Apps for the tests that watch what a real server sees of an error after the response started.

Each attribute is the same Starlette app: ``bare`` has no interceptor,
``noop`` one that matches nothing, ``catchall`` one registered for
``Exception``. ``/bg`` answers, then its background task raises an exception
group; ``/big`` is an endpoint that never reads its body, under a 10-byte
request body limit where the installed Starlette has one; ``/mark`` writes
``MARK`` to the log once the interceptor's queued log lines are out, so a test
knows when what earlier requests made the server write is there.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route

from interceptor import Interceptor
from interceptor._delivery import delivery
from interceptor.starlette import InterceptorMiddleware

HAS_BODY_LIMIT = "max_body_size" in inspect.signature(Starlette).parameters


class NeverRaised(Exception):
    pass


async def fail_in_group() -> None:
    raise ExceptionGroup("in the background", [ValueError("task failed")])


def background(request: Request) -> Response:
    return PlainTextResponse("ok", background=BackgroundTask(fail_in_group))


def ignores_body(request: Request) -> Response:
    return PlainTextResponse("ok")


def mark(request: Request) -> Response:
    delivery.flush(5)
    logging.getLogger("tests.late_apps").warning("MARK")
    return PlainTextResponse("marked")


def build(keys: dict[Any, Any] | None) -> Starlette:
    middleware = [] if keys is None else [
        Middleware(InterceptorMiddleware, interceptor=Interceptor(keys))
    ]
    limit: dict[str, Any] = {"max_body_size": 10} if HAS_BODY_LIMIT else {}
    routes = [
        Route("/bg", background),
        Route("/big", ignores_body, methods=["POST"]),
        Route("/mark", mark),
    ]
    return Starlette(routes=[Mount("/m", routes=routes)], middleware=middleware, **limit)


bare = build(None)
noop = build({NeverRaised: 500})
catchall = build({Exception: 500})
