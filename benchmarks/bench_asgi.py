"""ASGI overhead, as ratios measured in one process.

- a request that raises nothing: Mount + interceptor / the same Mount without it
- a mapped error: interceptor / Starlette's own async exception handler doing
  the same mapping
- a declarative ``int`` mapping / Starlette's sync handler (run in a thread)
- for reference, the same app against a copy of itself: how far from 1.0 a
  ratio of two equal workloads lands on this machine
- for reference, what any middleware on the Mount costs a request that
  raises nothing: one that only awaits the app, and one that also tracks
  whether the response started (what an error handler needs, so that it
  never starts a response twice), each / the bare Mount
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import interleaved_ratio

from interceptor import Interceptor
from interceptor.starlette import InterceptorMiddleware

REQUESTS_PER_ROUND = 4000


async def ok(request: Request) -> Response:
    return PlainTextResponse("ok")


async def fail(request: Request) -> Response:
    raise KeyError("missing")


def problem(exc: Exception) -> JSONResponse:
    body = {"type": "about:blank", "title": "Not Found", "status": 404, "detail": str(exc)}
    return JSONResponse(body, status_code=404, media_type="application/problem+json")


async def async_handler(request: Request, exc: Exception) -> Response:
    return problem(exc)


def sync_handler(request: Request, exc: Exception) -> Response:
    return problem(exc)


class PassThrough:
    """The least a middleware can do: await the app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


class TracksStart(PassThrough):
    """The least an error-handling middleware can do: also know if the response started."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        def tracked(message: Message) -> Awaitable[None]:
            nonlocal started
            started = True
            return send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception:
            if started:
                raise
            await send({"type": "http.response.start", "status": 500, "headers": []})
            await send({"type": "http.response.body", "body": b""})


def app(
    *,
    interceptor: Interceptor | None = None,
    handlers: dict[Any, Any] | None = None,
    middleware: list[Middleware] | None = None,
) -> Starlette:
    if interceptor:
        middleware = [Middleware(InterceptorMiddleware, interceptor=interceptor)]
    return Starlette(
        routes=[
            Mount(
                "/api", routes=[Route("/ok", ok), Route("/fail", fail)], middleware=middleware or []
            )
        ],
        exception_handlers=handlers or {},
    )


def scope(path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"bench")],
        "client": ("127.0.0.1", 1),
        "server": ("bench", 80),
    }


def runner(loop: asyncio.AbstractEventLoop, target: Starlette, path: str) -> Callable[[], None]:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        pass

    async def batch() -> None:
        for _ in range(REQUESTS_PER_ROUND):
            await target(scope(path), receive, send)

    return lambda: loop.run_until_complete(batch())


def ratios(rounds: int = 31) -> dict[str, float]:
    """Every ratio of this module, by name, each the median of ``rounds`` rounds."""
    loop = asyncio.new_event_loop()
    try:
        mapped = Interceptor({KeyError: 404})
        with_interceptor = app(interceptor=mapped)
        bare = app()
        with_async_handler = app(handlers={KeyError: async_handler})
        with_sync_handler = app(handlers={KeyError: sync_handler})
        return {
            "ASGI no error: Mount + interceptor / bare Mount": interleaved_ratio(
                runner(loop, with_interceptor, "/api/ok"),
                runner(loop, bare, "/api/ok"),
                rounds=rounds,
            ),
            "ASGI mapped error: interceptor / Starlette async handler": interleaved_ratio(
                runner(loop, with_interceptor, "/api/fail"),
                runner(loop, with_async_handler, "/api/fail"),
                rounds=rounds,
            ),
            "ASGI int mapping / Starlette sync handler (threadpool)": interleaved_ratio(
                runner(loop, with_interceptor, "/api/fail"),
                runner(loop, with_sync_handler, "/api/fail"),
                rounds=max(rounds // 3, 5),  # each round waits on the threadpool
            ),
            "ASGI reference: bare Mount / itself (the method's noise)": interleaved_ratio(
                runner(loop, bare, "/api/ok"), runner(loop, app(), "/api/ok"), rounds=rounds
            ),
            "ASGI reference: pass-through middleware / bare Mount": interleaved_ratio(
                runner(loop, app(middleware=[Middleware(PassThrough)]), "/api/ok"),
                runner(loop, bare, "/api/ok"),
                rounds=rounds,
            ),
            "ASGI reference: start-tracking middleware / bare Mount": interleaved_ratio(
                runner(loop, app(middleware=[Middleware(TracksStart)]), "/api/ok"),
                runner(loop, bare, "/api/ok"),
                rounds=rounds,
            ),
        }
    finally:
        loop.close()


def main() -> None:
    for name, ratio in ratios().items():
        print(f"{name:60} {ratio:6.3f}")


if __name__ == "__main__":
    main()
