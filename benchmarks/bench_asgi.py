"""ASGI overhead, as ratios measured in one process.

- a request that raises nothing: Mount + interceptor / the same Mount without it
- a mapped error: interceptor / Starlette's own async exception handler doing
  the same mapping
- a declarative ``int`` mapping / Starlette's sync handler (run in a thread)
- for reference, Starlette's own async handler reached through one more
  await (the least a layer between Starlette's lookup and the handler costs),
  and the same handler put in the route table by a middleware on the Mount
  (the least answering at the route costs: the floor of every
  error row); the same handler after as many Python calls that do nothing as
  the interceptor makes to resolve an error with a callable handler (what
  those calls cost, whatever they do); and a sync handler within a timeout
  scope (the floor of the sync-handler row, since handlers are bounded by
  ``handler_timeout``)
- for reference, the same app against a copy of itself: how far from 1.0 a
  ratio of two equal workloads lands on this machine
- for reference, what any middleware on the Mount costs a request that
  raises nothing: one that only awaits the app, and one that also tracks
  whether the response started (what an error handler needs, so that it
  never starts a response twice), each / the bare Mount, and the
  start-tracking one at app level / the bare app; and one that only sets the
  table Starlette's routes consult, asking Starlette's own record of the
  start on an error (the least an interceptor under Starlette does: the
  floor of the no-error rows), on the Mount and at app level
- an app-level interceptor / the bare app, on a request that raises nothing
- a mapped error answered by an async callable handler / Starlette's async
  handler returning the same response; the same for sync handlers (both run
  in the threadpool)
- FastAPI: a router scoped through ``intercepted_route`` / the bare router on
  a request that raises nothing, and its async handler / FastAPI's async
  exception handler on a mapped error
- 16 nested Mounts each with an interceptor / 16 bare Mounts, on a request
  that raises nothing, and on an error answered by the outermost interceptor
  after the 15 inner ones matched nothing / the same error answered by
  Starlette's own handler under 16 bare Mounts; for reference, the same two
  with the least each level's layer does instead (a middleware that sets the
  route table, the outermost one also claiming the error)
- for reference, FastAPI: a route class that puts the handler, behind one
  await, in the table Starlette consults around the route, as
  ``intercepted_route`` does / FastAPI's async exception handler
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import interleaved_ratio

from interceptor import Interceptor
from interceptor.starlette import _STARLETTE_SENDER as STARLETTE_SENDER
from interceptor.starlette import _STARTED_CELL as STARTED_CELL
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


async def behind_one_await(request: Request, exc: Exception) -> Response:
    """The least any layer between Starlette and the handler costs: one more await."""
    return await async_handler(request, exc)


class PassThrough:
    """The least a middleware can do: await the app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


class TracksStart(PassThrough):
    """The least an error-handling middleware can do where no layer above it records
    whether the response started: track that itself, so it never starts one twice."""

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
            await answer_500(send)


async def answer_500(send: Send) -> None:
    await send({"type": "http.response.start", "status": 500, "headers": []})
    await send({"type": "http.response.body", "body": b""})


class SetsTable(PassThrough):
    """The least an interceptor's middleware under Starlette can do: set the table
    Starlette's routes consult, claiming ``claimed`` for ``claim`` (built once per
    incoming table, as the interceptor does; with no ``claim``, that costs one
    attribute read), and on an error from outside a route, ask the send
    Starlette's exception handling handed down whether the response started.
    """

    claim: Any = None
    claimed: tuple[type[Exception], ...] = (KeyError,)

    def __init__(self, app: ASGIApp) -> None:
        super().__init__(app)
        self.under: tuple[object, tuple[dict[Any, Any], object]] = (None, ({}, {}))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.claim is not None:
            above = scope["starlette.exception_handlers"]
            under = self.under
            if under[0] is not above[0]:
                table = {**above[0], **dict.fromkeys(self.claimed, self.claim)}
                under = self.under = (above[0], (table, above[1]))
            scope["starlette.exception_handlers"] = under[1]
        if getattr(send, "__code__", None) is not STARLETTE_SENDER:
            raise RuntimeError("the reference runs under Starlette's exception handling")
        try:
            await self.app(scope, receive, send)
        except Exception:
            if send.__closure__[STARTED_CELL].cell_contents:  # type: ignore[index]
                raise
            await answer_500(send)


class Registers(SetsTable):
    """`SetsTable` claiming nothing, as an interceptor in an inner scope that
    matches nothing does."""

    claim = staticmethod(behind_one_await)
    claimed = ()


class ClaimsAtRoute(SetsTable):
    """The least an interceptor answering at the route can do: put its handler in
    the table Starlette's routes consult."""

    claim = staticmethod(behind_one_await)


def inside_exception_middleware(app: Starlette, middleware: type[PassThrough]) -> Starlette:
    """``app`` with ``middleware`` just inside Starlette's ExceptionMiddleware, where an
    app-level interceptor places itself."""
    stack = app.middleware_stack = app.build_middleware_stack()
    while not isinstance(stack, ExceptionMiddleware):
        stack = stack.app  # type: ignore[attr-defined]
    stack.app = middleware(stack.app)
    return app


# The Python calls an error answered by an async callable handler makes beyond
# `ClaimsAtRoute`'s (cProfile; the interceptor's dispatcher stands where
# `behind_one_await` does): the table's two lookups, the first step and its
# candidates, the async check, the handler's first step, the count check
# and the count, logging's level check, and Starlette's second look at a
# bound method.
RESOLUTION_CALLS = 10


def one_call(value: object) -> object:
    """A Python call that does nothing."""
    return value


async def behind_calls(request: Request, exc: Exception) -> Response:
    """`behind_one_await`, after `RESOLUTION_CALLS` calls that do nothing: what that
    many calls cost in a request loop, whatever they would do."""
    for _ in range(RESOLUTION_CALLS):
        one_call(exc)
    return await async_handler(request, exc)


class ClaimsWithCalls(SetsTable):
    """`ClaimsAtRoute` whose handler first makes the resolution's number of calls."""

    claim = staticmethod(behind_calls)


async def sync_within_timeout(request: Request, exc: Exception) -> Response:
    """A sync handler in the threadpool, as Starlette runs it, within a timeout scope."""
    with anyio.move_on_after(30):
        return await run_in_threadpool(sync_handler, request, exc)
    raise TimeoutError


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


def app_level(
    *, interceptor: Interceptor | None = None, middleware: list[Middleware] | None = None
) -> Starlette:
    if interceptor:
        middleware = [Middleware(InterceptorMiddleware, interceptor=interceptor)]
    return Starlette(routes=[Route("/ok", ok), Route("/fail", fail)], middleware=middleware or [])


NESTING = 16


def nested(
    *, interceptors: bool, handlers: dict[Any, Any] | None = None, floor: bool = False
) -> Starlette:
    """``NESTING`` Mounts inside each other, each with an interceptor or none.

    The innermost interceptors match nothing; the outermost maps the error.
    With ``floor``, each Mount has instead the least such a layer does: a
    middleware that sets the route table (`Registers`), the
    outermost one also claiming the error (`ClaimsAtRoute`).
    """
    routes: list[Any] = [Route("/ok", ok), Route("/fail", fail)]
    for level in range(NESTING):
        outermost = level == NESTING - 1
        middleware = []
        if floor:
            middleware = [Middleware(ClaimsAtRoute if outermost else Registers)]
        elif interceptors:
            mapping: dict[Any, Any] = {KeyError: 404} if outermost else {ZeroDivisionError: 500}
            middleware = [Middleware(InterceptorMiddleware, interceptor=Interceptor(mapping))]
        routes = [Mount("/n", routes=routes, middleware=middleware)]
    return Starlette(routes=routes, exception_handlers=handlers or {})


def fastapi_app(*, intercepted: bool, handler: bool, floor: bool = False) -> Any:
    from fastapi import APIRouter, FastAPI  # noqa: PLC0415 - only this benchmark needs it
    from fastapi.routing import APIRoute  # noqa: PLC0415

    from interceptor.fastapi import intercepted_route  # noqa: PLC0415

    class ClaimingRoute(APIRoute):
        """The least a route class answering through Starlette's table does, as
        ``intercepted_route`` sits: claim the error there for `behind_one_await`,
        the table built once per incoming table."""

        under: tuple[object, tuple[dict[Any, Any], object]] = (None, ({}, {}))

        async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
            above = scope["starlette.exception_handlers"]
            under = ClaimingRoute.under
            if under[0] is not above[0]:
                table = {**above[0], KeyError: behind_one_await}
                under = ClaimingRoute.under = (above[0], (table, above[1]))
            scope["starlette.exception_handlers"] = under[1]
            await super().handle(scope, receive, send)

    route_class: type[APIRoute] = APIRoute
    if floor:
        route_class = ClaimingRoute
    elif intercepted:
        route_class = intercepted_route(Interceptor({KeyError: async_handler}))
    router = APIRouter(route_class=route_class)

    @router.get("/ok")
    async def fastapi_ok() -> Response:
        return PlainTextResponse("ok")

    @router.get("/fail")
    async def fastapi_fail() -> Response:
        raise KeyError("missing")

    api = FastAPI(exception_handlers={KeyError: async_handler} if handler else {})
    api.include_router(router, prefix="/api")
    return api


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


def runner(loop: asyncio.AbstractEventLoop, target: Any, path: str) -> Callable[[], None]:
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
        path = "/api/fail"
        deep = "/n" * NESTING
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
            "ASGI no error: app-level interceptor / bare app": interleaved_ratio(
                runner(loop, app_level(interceptor=mapped), "/ok"),
                runner(loop, app_level(), "/ok"),
                rounds=rounds,
            ),
            "ASGI mapped error, async callable handler / Starlette async handler": (
                interleaved_ratio(
                    runner(loop, app(interceptor=Interceptor({KeyError: async_handler})), path),
                    runner(loop, with_async_handler, path),
                    rounds=rounds,
                )
            ),
            "ASGI mapped error, sync callable handler / Starlette sync handler": (
                interleaved_ratio(
                    runner(loop, app(interceptor=Interceptor({KeyError: sync_handler})), path),
                    runner(loop, with_sync_handler, path),
                    rounds=max(rounds // 3, 5),
                )
            ),
            "FastAPI no error: intercepted_route / bare router": interleaved_ratio(
                runner(loop, fastapi_app(intercepted=True, handler=False), "/api/ok"),
                runner(loop, fastapi_app(intercepted=False, handler=False), "/api/ok"),
                rounds=rounds,
            ),
            "FastAPI mapped error: intercepted_route / FastAPI async handler": interleaved_ratio(
                runner(loop, fastapi_app(intercepted=True, handler=False), path),
                runner(loop, fastapi_app(intercepted=False, handler=True), path),
                rounds=rounds,
            ),
            f"nesting, no error: {NESTING} Mounts with interceptors / {NESTING} bare": (
                interleaved_ratio(
                    runner(loop, nested(interceptors=True), deep + "/ok"),
                    runner(loop, nested(interceptors=False), deep + "/ok"),
                    rounds=rounds,
                )
            ),
            f"nesting, error: outermost of {NESTING} interceptors / Starlette handler": (
                interleaved_ratio(
                    runner(loop, nested(interceptors=True), deep + "/fail"),
                    runner(
                        loop, nested(interceptors=False, handlers={KeyError: async_handler}),
                        deep + "/fail",
                    ),
                    rounds=rounds,
                )
            ),
            f"nesting reference, no error: {NESTING} Mounts with table-setting middleware / bare": (
                interleaved_ratio(
                    runner(loop, nested(interceptors=False, floor=True), deep + "/ok"),
                    runner(loop, nested(interceptors=False), deep + "/ok"),
                    rounds=rounds,
                )
            ),
            f"nesting reference, error: outermost of {NESTING} claims / Starlette handler": (
                interleaved_ratio(
                    runner(loop, nested(interceptors=False, floor=True), deep + "/fail"),
                    runner(
                        loop, nested(interceptors=False, handlers={KeyError: async_handler}),
                        deep + "/fail",
                    ),
                    rounds=rounds,
                )
            ),
            "FastAPI reference: route class claiming in the route table / FastAPI handler": (
                interleaved_ratio(
                    runner(loop, fastapi_app(intercepted=False, handler=False, floor=True), path),
                    runner(loop, fastapi_app(intercepted=False, handler=True), path),
                    rounds=rounds,
                )
            ),
            "ASGI reference: Starlette handler behind one more await / Starlette handler": (
                interleaved_ratio(
                    runner(loop, app(handlers={KeyError: behind_one_await}), path),
                    runner(loop, with_async_handler, path),
                    rounds=rounds,
                )
            ),
            "ASGI reference: route-table claim, handler behind one await / Starlette handler": (
                interleaved_ratio(
                    runner(loop, app(middleware=[Middleware(ClaimsAtRoute)]), path),
                    runner(loop, with_async_handler, path),
                    rounds=rounds,
                )
            ),
            "ASGI reference: route-table claim and the resolution's calls / Starlette handler": (
                interleaved_ratio(
                    runner(loop, app(middleware=[Middleware(ClaimsWithCalls)]), path),
                    runner(loop, with_async_handler, path),
                    rounds=rounds,
                )
            ),
            "ASGI reference: sync handler within a timeout scope / Starlette sync handler": (
                interleaved_ratio(
                    runner(loop, app(handlers={KeyError: sync_within_timeout}), path),
                    runner(loop, with_sync_handler, path),
                    rounds=max(rounds // 3, 5),
                )
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
            "ASGI reference: start-tracking app middleware / bare app": interleaved_ratio(
                runner(loop, inside_exception_middleware(app_level(), TracksStart), "/ok"),
                runner(loop, app_level(), "/ok"),
                rounds=rounds,
            ),
            "ASGI reference: table-setting middleware / bare Mount": interleaved_ratio(
                runner(loop, app(middleware=[Middleware(Registers)]), "/api/ok"),
                runner(loop, bare, "/api/ok"),
                rounds=rounds,
            ),
            "ASGI reference: table-setting middleware at app level / bare app": interleaved_ratio(
                runner(loop, inside_exception_middleware(app_level(), Registers), "/ok"),
                runner(loop, app_level(), "/ok"),
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
