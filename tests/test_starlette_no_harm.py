"""Do no harm under Starlette and FastAPI: with and without an interceptor that matches nothing.

Every case runs the same app twice, once bare and once with an interceptor
(registered only for an exception nobody raises) at the app, the Mount or the
route, and asserts the two behave alike: Starlette's handlers run at the route
with the route's own ``Request``/``WebSocket``, and their answers pass out
through the middleware of the Mount they came from. The cases with an
interceptor that does match check that its answer takes the same way out.
"""

from __future__ import annotations

import gc
import inspect
import json
import logging
import time
import weakref
from collections.abc import Callable
from typing import Any, ClassVar

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException, WebSocketException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Mount, Route, Router, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from interceptor import Interceptor, Problem
from interceptor import starlette as interceptor_starlette
from interceptor._delivery import delivery
from interceptor.starlette import InterceptorMiddleware
from tests.conftest import http_scope
from tests.late_apps import HAS_BODY_LIMIT


class NeverRaised(Exception):
    """What the do-no-harm interceptor is registered for: nothing raises it."""


class Boom(Exception):
    pass


def noop_mw() -> Middleware:
    return Middleware(InterceptorMiddleware, interceptor=Interceptor({NeverRaised: 500}))


def mw(errors: Interceptor) -> Middleware:
    return Middleware(InterceptorMiddleware, interceptor=errors)


class Tag:
    """A request-id style middleware: stamps every response that passes it."""

    def __init__(self, app: ASGIApp, name: str = "mount") -> None:
        self.app = app
        self.name = name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-tag", self.name.encode())]
            await send(message)

        await self.app(scope, receive, stamped)


# Where the do-no-harm interceptor goes: nowhere (the reference), the app, the Mount, the route.
PLACES = ["bare", "app", "mount", "route"]


def build(
    place: str,
    endpoint: Callable[..., Any],
    handlers: dict[Any, Any],
    *,
    websocket: bool = False,
    methods: list[str] | None = None,
    errors: Interceptor | None = None,
) -> Starlette:
    placed = noop_mw() if errors is None else mw(errors)
    route_mw = [placed] if place == "route" else []
    route: Route | WebSocketRoute
    if websocket:
        route = WebSocketRoute("/x", endpoint, middleware=route_mw)
    else:
        route = Route("/x", endpoint, methods=methods, middleware=route_mw)
    mount_mw = [Middleware(Tag)] + ([placed] if place == "mount" else [])
    return Starlette(
        routes=[Mount("/m", routes=[route], middleware=mount_mw)],
        middleware=[placed] if place == "app" else [],
        exception_handlers=handlers,
    )


def client_for(app: ASGIApp) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.mark.parametrize("place", PLACES)
async def test_a_handler_reading_the_body_after_the_endpoint_answers(place: str) -> None:
    # An app handler that reads the body the endpoint already read: with a
    # fresh Request it would wait for the body forever.
    async def endpoint(request: Request) -> Response:
        await request.body()
        raise Boom("bad")

    async def on_boom(request: Request, exc: Exception) -> Response:
        return PlainTextResponse(b"logged " + await request.body(), status_code=400)

    app = build(place, endpoint, {Boom: on_boom}, methods=["POST"])
    async with client_for(app) as client:
        with anyio.fail_after(5):
            response = await client.post("/m/x", content=b"payload")
    assert (response.status_code, response.text) == (400, "logged payload")
    assert response.headers["x-tag"] == "mount"


@pytest.mark.parametrize("place", PLACES)
async def test_handlers_get_the_endpoints_own_request(place: str) -> None:
    seen: list[Request] = []

    def endpoint(request: Request) -> Response:
        seen.append(request)
        raise Boom("bad")

    def on_boom(request: Request, exc: Exception) -> Response:
        seen.append(request)
        return PlainTextResponse("handled", status_code=409)

    app = build(place, endpoint, {Boom: on_boom})
    async with client_for(app) as client:
        response = await client.get("/m/x")
    assert response.status_code == 409
    assert seen[0] is seen[1]


@pytest.mark.parametrize("place", PLACES)
async def test_starlettes_answers_pass_through_the_mounts_middleware(place: str) -> None:
    def endpoint(request: Request) -> Response:
        raise HTTPException(418, "teapot")

    app = build(place, endpoint, {})
    async with client_for(app) as client:
        response = await client.get("/m/x")
    assert (response.status_code, response.text) == (418, "teapot")
    assert response.headers["x-tag"] == "mount"


@pytest.mark.parametrize("place", PLACES)
async def test_status_handlers_still_answer_at_the_route(place: str) -> None:
    def endpoint(request: Request) -> Response:
        raise HTTPException(409, "conflict")

    def on_409(request: Request, exc: Exception) -> Response:
        return PlainTextResponse("status handler", status_code=409)

    app = build(place, endpoint, {409: on_409})
    async with client_for(app) as client:
        response = await client.get("/m/x")
    assert (response.status_code, response.text) == (409, "status handler")
    assert response.headers["x-tag"] == "mount"


@pytest.mark.parametrize("place", PLACES)
async def test_an_unhandled_exception_is_the_same_object_at_the_server(place: str) -> None:
    error = Boom("nobody handles me")

    def endpoint(request: Request) -> Response:
        raise error

    app = build(place, endpoint, {})
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        with pytest.raises(Boom) as caught:
            await client.get("/m/x")
    assert caught.value is error


@pytest.mark.parametrize("place", PLACES)
async def test_a_websocket_handler_uses_the_accepted_socket(place: str) -> None:
    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        raise Boom("bad")

    async def on_boom(websocket: WebSocket, exc: Exception) -> None:
        await websocket.send_text("sorry")
        await websocket.close(code=4321)

    app = build(place, endpoint, {Boom: on_boom}, websocket=True)
    sent = await run_ws(app)
    assert [m["type"] for m in sent] == ["websocket.accept", "websocket.send", "websocket.close"]
    assert sent[-1]["code"] == 4321


@pytest.mark.parametrize("accepted", [False, True])
@pytest.mark.parametrize("place", PLACES)
async def test_a_catch_all_leaves_a_websocket_exceptions_close_to_starlette(
    place: str, accepted: bool, caplog: pytest.LogCaptureFixture
) -> None:
    # WebSocketException is how an endpoint closes with a code of its own
    # choosing: like an HTTPException's status, {Exception: 500} keeps it.
    async def endpoint(websocket: WebSocket) -> None:
        if accepted:
            await websocket.accept()
        raise WebSocketException(code=1008, reason="policy")

    reports: list[Any] = []
    errors = Interceptor({Exception: 500}, reporter=reports.append)
    app = build(place, endpoint, {}, websocket=True, errors=errors)
    with caplog.at_level(logging.INFO, logger="interceptor"):
        sent = await run_ws(app)
        assert errors.flush(5)
    assert sent[-1] == {"type": "websocket.close", "code": 1008, "reason": "policy"}
    assert reports == []
    assert caplog.records == []


@pytest.mark.parametrize("place", PLACES)
async def test_a_catch_all_leaves_a_websocket_client_that_left_to_the_server(
    place: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Like ClientDisconnect: nobody is left to answer. A close sent to the
    # client that left fails (servers raise), and was answered again.
    left: list[WebSocketDisconnect] = []

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            await websocket.receive_text()
        except WebSocketDisconnect as exc:
            left.append(exc)
            raise

    class Gone(Recorder):
        async def send(self, message: Message) -> None:
            if message["type"] == "websocket.close":
                raise OSError("the client left")
            await super().send(message)

    reports: list[Any] = []
    errors = Interceptor({Exception: 500}, reporter=reports.append)
    app = build(place, endpoint, {}, websocket=True, errors=errors)
    scope = http_scope("/m/x")
    del scope["method"]
    scope.update(type="websocket", scheme="ws", subprotocols=[], extensions={})
    client = Gone([{"type": "websocket.connect"}, {"type": "websocket.disconnect", "code": 1001}])
    with caplog.at_level(logging.INFO, logger="interceptor"), anyio.fail_after(5):
        with pytest.raises(WebSocketDisconnect) as raised:
            await app(scope, client.receive, client.send)
        assert errors.flush(5)
    assert raised.value is left[0]
    assert [m["type"] for m in client.sent] == ["websocket.accept"]
    assert (reports, caplog.records) == ([], [])


async def test_a_websocket_exception_named_by_a_registration_is_answered() -> None:
    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        raise WebSocketException(code=1008, reason="policy")

    errors = Interceptor({WebSocketException: 403})
    sent = await run_ws(build("mount", endpoint, {}, websocket=True, errors=errors))
    assert sent[-1]["code"] == 4403


@pytest.mark.parametrize("place", PLACES)
async def test_a_failing_stream_after_its_first_chunk_is_left_to_the_server(place: str) -> None:
    async def chunks() -> Any:
        yield b"first"
        raise Boom("mid-stream")

    def endpoint(request: Request) -> Response:
        return StreamingResponse(chunks())

    app = build(place, endpoint, {})
    recorder = Recorder()
    with pytest.raises(Boom):
        await app(http_scope("/m/x"), recorder.receive, recorder.send)
    assert [m["type"] for m in recorder.sent].count("http.response.start") == 1


class AsyncAdapter:
    """A Starlette handler wrapping a sync function it keeps as ``.func``; its call is async."""

    def __init__(self, func: Callable[..., Any]) -> None:
        self.func = func

    async def __call__(self, request: Request, exc: Exception) -> Response:
        return await run_in_threadpool(self.func, request, exc)


class SyncWithAsyncFunc:
    """A sync Starlette handler that happens to carry an async function as ``.func``."""

    def __init__(self) -> None:
        async def func() -> None:
            pass

        self.func = func

    def __call__(self, request: Request, exc: Exception) -> Response:
        return PlainTextResponse("object", status_code=418)


def teapot(request: Request, exc: Exception) -> Response:
    return PlainTextResponse("adapter", status_code=418)


STARLETTE_OBJECT_HANDLERS = {
    "async_adapter": (lambda: AsyncAdapter(teapot), "adapter"),
    "sync_with_func": (SyncWithAsyncFunc, "object"),
}


@pytest.mark.parametrize("handler", list(STARLETTE_OBJECT_HANDLERS))
@pytest.mark.parametrize("place", PLACES)
async def test_starlettes_handler_objects_with_a_func_attribute_are_called_as_starlette_calls_them(
    place: str, handler: str
) -> None:
    # Only functools.partial is unwrapped to decide whether a handler is
    # async: an object's ``.func`` says nothing about its ``__call__``.
    make, text = STARLETTE_OBJECT_HANDLERS[handler]

    def endpoint(request: Request) -> Response:
        raise ExceptionGroup("two", [ValueError("a"), KeyError("b")])

    app = build(place, endpoint, {ExceptionGroup: make()})
    async with client_for(app) as client:
        response = await client.get("/m/x")
    assert (response.status_code, response.text) == (418, text)
    assert response.headers["x-tag"] == "mount"


@pytest.mark.parametrize("declining", [False, True])
@pytest.mark.parametrize("handler", list(STARLETTE_OBJECT_HANDLERS))
async def test_what_an_interceptor_declines_goes_to_starlettes_handler_object(
    handler: str, declining: bool
) -> None:
    make, text = STARLETTE_OBJECT_HANDLERS[handler]

    def endpoint(request: Request) -> Response:
        raise Boom("bad")

    def decline(request: Request, exc: Exception) -> None:
        return None

    app = Starlette(
        routes=[Route("/x", endpoint)],
        middleware=[mw(Interceptor({Boom: decline}))] if declining else [],
        exception_handlers={Boom: make()},
    )
    async with client_for(app) as client:
        response = await client.get("/x")
    assert (response.status_code, response.text) == (418, text)


def late_endpoint(kind: str, error: BaseException) -> Callable[[Request], Response]:
    """An endpoint that raises ``error`` after its response started: mid-stream or in
    a background task."""

    async def chunks() -> Any:
        yield b"first"
        raise error

    async def fail() -> None:
        raise error

    def endpoint(request: Request) -> Response:
        if kind == "stream":
            return StreamingResponse(chunks())
        return PlainTextResponse("ok", background=BackgroundTask(fail))

    return endpoint


async def raised_late(app: ASGIApp, path: str = "/x") -> BaseException:
    """What ``app`` raises to the server for a request whose response started."""
    recorder = Recorder()
    with pytest.raises(Exception) as caught:  # noqa: PT011 - the test looks at what it is
        await app(http_scope(path), recorder.receive, recorder.send)
    assert [m["type"] for m in recorder.sent].count("http.response.start") == 1
    return caught.value


def assert_as_raised(raised: BaseException, error: BaseException) -> None:
    """``raised`` is ``error`` itself, chained to nothing, as Starlette alone raises it."""
    assert raised is error
    assert (error.__cause__, error.__context__) == (None, None)


@pytest.mark.parametrize("kind", ["stream", "background"])
@pytest.mark.parametrize("place", PLACES)
async def test_a_late_exception_group_nobody_answers_reaches_the_server_as_itself(
    place: str, kind: str
) -> None:
    # A group is claimed only if an interceptor would answer it (by its one
    # leaf here): else Starlette, once the response started, would raise its
    # RuntimeError in the group's place.
    error = ExceptionGroup("late", [ValueError("in a task")])

    endpoint = late_endpoint(kind, error)

    app = build(place, endpoint, {})
    assert_as_raised(await raised_late(app, "/m/x"), error)


@pytest.mark.parametrize("grouped", [True, False])
@pytest.mark.parametrize("keys", ["none", "catchall"])
@pytest.mark.parametrize("kind", ["stream", "background"])
async def test_a_late_exception_that_passes_through_reaches_the_server_as_itself(
    kind: str, keys: str, grouped: bool
) -> None:
    # A catch-all does not answer what passes through, alone or as a group's
    # one leaf: the claim is the exception's own at every step of Starlette's
    # walk up its MRO, ``Exception`` included.
    error: Exception = ClientDisconnect()
    if grouped:
        error = ExceptionGroup("late", [error])

    endpoint = late_endpoint(kind, error)

    app = Starlette(
        routes=[Route("/x", endpoint)],
        middleware=[mw(Interceptor({Exception: 500}))] if keys == "catchall" else [],
    )
    assert_as_raised(await raised_late(app), error)


class BoomGroup(ExceptionGroup, Boom):  # type: ignore[misc]
    """A group type that is also a ``Boom``: claimed by its type, resolved by its leaf."""


@pytest.mark.parametrize("keys", ["none", "boom"])
async def test_a_late_exception_claimed_by_its_type_but_unanswered_reaches_the_server(
    keys: str,
) -> None:
    # Starlette's walk reaches ``Boom`` after the group types refused, and
    # claims it; the RuntimeError Starlette raises then is ours, not its own,
    # so the middleware raises the group itself, as Starlette alone would.
    error = BoomGroup("late", [ValueError("not a Boom")])

    endpoint = late_endpoint("stream", error)

    app = Starlette(
        routes=[Mount("/m", routes=[Route("/x", endpoint)])],
        middleware=[mw(Interceptor({Boom: 409}))] if keys == "boom" else [],
    )
    assert_as_raised(await raised_late(app, "/m/x"), error)


@pytest.mark.parametrize("place", PLACES)
async def test_a_late_exception_starlettes_own_handler_claims_keeps_starlettes_error(
    place: str,
) -> None:
    # Starlette's own RuntimeError, for what its own handler would have answered.
    error = ExceptionGroup("late", [ValueError("in a task")])

    endpoint = late_endpoint("stream", error)

    app = build(place, endpoint, {ExceptionGroup: lambda request, exc: PlainTextResponse("")})
    raised = await raised_late(app, "/m/x")
    assert (type(raised), raised.__cause__) == (RuntimeError, error)


async def test_a_late_exception_a_registered_callable_may_answer_keeps_starlettes_error() -> None:
    # What remains: a callable is not called once the response started, so
    # whether it would have declined is not known; Starlette raises its
    # RuntimeError, as for a handler of its own.
    error = Boom("late")

    endpoint = late_endpoint("stream", error)

    app = Starlette(
        routes=[Route("/x", endpoint)],
        middleware=[mw(Interceptor({Boom: lambda request, exc: None}))],
    )
    raised = await raised_late(app)
    assert (type(raised), raised.__cause__) == (RuntimeError, error)


needs_body_limit = pytest.mark.skipif(
    not HAS_BODY_LIMIT, reason="Starlette limits request bodies from 1.6 on"
)


@needs_body_limit
@pytest.mark.parametrize("limit_at", ["app", "route"])
@pytest.mark.parametrize("keys", ["noop", "catchall"])
@pytest.mark.parametrize("place", ["bare", "app", "mount"])
async def test_starlettes_own_413_for_a_body_too_large_is_all_there_is(
    place: str, keys: str, limit_at: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Starlette's body limiter sends its 413 itself, then unwinds the app with
    # an exception of its own that it catches: no interceptor claims, logs or
    # reports it, a catch-all included.
    reports: list[object] = []
    errors = Interceptor(
        {Exception: 500} if keys == "catchall" else {NeverRaised: 500}, reporter=reports.append
    )
    limit: dict[str, Any] = {"max_body_size": 10}
    route = Route(
        "/x",
        lambda request: PlainTextResponse("ok"),
        methods=["POST"],
        **(limit if limit_at == "route" else {}),
    )
    app = Starlette(
        routes=[Mount("/m", routes=[route], middleware=[mw(errors)] if place == "mount" else [])],
        middleware=[mw(errors)] if place == "app" else [],
        **(limit if limit_at == "app" else {}),
    )
    transport = httpx.ASGITransport(app=app)  # what the app raises, the test raises
    with caplog.at_level(logging.DEBUG, logger="interceptor"):
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.post("/m/x", content=b"x" * 100)
        delivery.flush(10)
    assert (response.status_code, response.text) == (413, "Content Too Large")
    assert (caplog.records, reports) == ([], [])


@needs_body_limit
@pytest.mark.parametrize("keys", ["bare", "noop", "catchall"])
async def test_fastapis_own_413_for_a_body_too_large_is_all_there_is(
    keys: str, caplog: pytest.LogCaptureFixture
) -> None:
    fastapi = pytest.importorskip("fastapi")
    if "max_body_size" not in inspect.signature(fastapi.FastAPI).parameters:
        pytest.skip("this FastAPI takes no max_body_size")
    errors = Interceptor({Exception: 500} if keys == "catchall" else {NeverRaised: 500})
    app = fastapi.FastAPI(middleware=[] if keys == "bare" else [mw(errors)], max_body_size=10)

    @app.post("/x")
    async def ignores_body() -> dict[str, bool]:
        return {"ok": True}

    transport = httpx.ASGITransport(app=app)
    with caplog.at_level(logging.DEBUG, logger="interceptor"):
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.post("/x", content=b"x" * 100)
        delivery.flush(10)
    assert response.status_code == 413
    assert caplog.records == []


# -- an interceptor that matches: its answer takes the same way out -------------------


async def test_an_app_interceptors_answer_passes_through_the_mounts_middleware() -> None:
    def endpoint(request: Request) -> Response:
        raise Boom("bad")

    app = Starlette(
        routes=[Mount("/m", routes=[Route("/x", endpoint)], middleware=[Middleware(Tag)])],
        middleware=[mw(Interceptor({Boom: Problem(status=409, code="APP")}))],
    )
    async with client_for(app) as client:
        response = await client.get("/m/x")
    assert response.status_code == 409
    assert response.json()["code"] == "APP"
    assert response.headers["x-tag"] == "mount"


async def test_an_outer_mounts_answer_passes_through_the_inner_mounts_middleware() -> None:
    def endpoint(request: Request) -> Response:
        raise Boom("bad")

    inner = Mount("/in", routes=[Route("/x", endpoint)], middleware=[Middleware(Tag, "inner")])
    app = Starlette(
        routes=[
            Mount(
                "/out",
                routes=[inner],
                middleware=[mw(Interceptor({Boom: Problem(status=409, code="OUTER")}))],
            )
        ]
    )
    async with client_for(app) as client:
        response = await client.get("/out/in/x")
    assert response.json()["code"] == "OUTER"
    assert response.headers["x-tag"] == "inner"


async def test_an_interceptor_handler_gets_the_endpoints_request_with_its_body() -> None:
    seen: list[Request] = []

    async def endpoint(request: Request) -> Response:
        seen.append(request)
        await request.json()
        raise Boom("bad")

    async def on_boom(request: Request, exc: Exception) -> Response:
        seen.append(request)
        return JSONResponse({"echo": await request.json()}, status_code=400)

    app = Starlette(
        routes=[Mount("/m", routes=[Route("/x", endpoint, methods=["POST"])])],
        middleware=[mw(Interceptor({Boom: on_boom}))],
    )
    async with client_for(app) as client:
        with anyio.fail_after(5):
            response = await client.post("/m/x", json={"a": 1})
    assert response.json() == {"echo": {"a": 1}}
    assert seen[0] is seen[1]


async def test_an_interceptor_websocket_handler_gets_the_accepted_socket() -> None:
    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        raise Boom("bad")

    async def on_boom(websocket: WebSocket, exc: Exception) -> None:
        await websocket.send_text("sorry")
        await websocket.close(code=4321)

    app = Starlette(
        routes=[Mount("/m", routes=[WebSocketRoute("/x", endpoint)])],
        middleware=[mw(Interceptor({Boom: on_boom}))],
    )
    sent = await run_ws(app)
    assert [m["type"] for m in sent] == ["websocket.accept", "websocket.send", "websocket.close"]


async def test_a_router_scoped_interceptor_answers_at_the_route() -> None:
    def endpoint(request: Request) -> Response:
        raise Boom("bad")

    router = Router(
        routes=[Mount("/m", routes=[Route("/x", endpoint)], middleware=[Middleware(Tag)])],
        middleware=[mw(Interceptor({Boom: Problem(status=409, code="ROUTER")}))],
    )
    app = Starlette(routes=[Mount("/r", app=router)])
    async with client_for(app) as client:
        response = await client.get("/r/m/x")
    assert response.json()["code"] == "ROUTER"
    assert response.headers["x-tag"] == "mount"


async def test_nested_catch_alls_never_start_a_failing_stream_twice() -> None:
    # An outer catch-all, an inner interceptor, and a stream that fails after
    # its first chunk: the response has started, so nothing may be sent again.
    async def chunks() -> Any:
        yield b"first"
        raise Boom("mid-stream")

    def endpoint(request: Request) -> Response:
        return StreamingResponse(chunks())

    app = Starlette(
        routes=[
            Mount(
                "/m",
                routes=[Route("/x", endpoint, middleware=[mw(Interceptor({Boom: 409}))])],
                middleware=[mw(Interceptor({Exception: 500}))],
            )
        ],
        middleware=[mw(Interceptor({Exception: 500}))],
    )
    recorder = Recorder()
    with pytest.raises(Exception):  # noqa: B017, PT011 - Starlette's RuntimeError or Boom
        await app(http_scope("/m/x"), recorder.receive, recorder.send)
    assert [m["type"] for m in recorder.sent].count("http.response.start") == 1


# -- the send an app under the interceptor gets -----------------------------------------


def mounted_raw(place: str, raw: ASGIApp, errors: Interceptor | None = None) -> Starlette:
    """A plain ASGI app mounted at ``/m/raw``, with ``errors`` (or one matching nothing)
    at ``place``: the app, the Mount, or (``spied``) the Mount under `Spy`."""
    interceptor = mw(errors) if errors is not None else noop_mw()
    mount_mw = {"mount": [interceptor], "spied": [Middleware(Spy), interceptor]}.get(place, [])
    return Starlette(
        routes=[Mount("/m", routes=[Mount("/raw", app=raw)], middleware=mount_mw)],
        middleware=[interceptor] if place == "app" else [],
    )


class Spy:
    """A middleware that hands the app the very send it got, and keeps it."""

    sends: ClassVar[list[Send]] = []

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        Spy.sends.append(send)
        await self.app(scope, receive, send)


@pytest.mark.parametrize("place", ["bare", "app", "mount"])
async def test_an_app_under_the_interceptor_gets_the_send_it_gets_without_one(place: str) -> None:
    # Under Starlette the response's start is already known to Starlette's own
    # exception handling, so the interceptor wraps nothing on the way in.
    sends: list[Send] = []

    async def raw(scope: Scope, receive: Receive, send: Send) -> None:
        sends.append(send)
        await PlainTextResponse("ok")(scope, receive, send)

    async with client_for(mounted_raw(place, raw)) as client:
        response = await client.get("/m/raw/")
    assert (response.status_code, response.text) == (200, "ok")
    [send] = sends
    assert send.__qualname__ == "wrap_app_handling_exceptions.<locals>.wrapped_app.<locals>.sender"


async def test_an_interceptor_under_starlette_passes_on_the_very_send_it_got() -> None:
    sends: list[Send] = []

    async def raw(scope: Scope, receive: Receive, send: Send) -> None:
        sends.append(send)
        await PlainTextResponse("ok")(scope, receive, send)

    Spy.sends.clear()
    async with client_for(mounted_raw("spied", raw)) as client:
        assert (await client.get("/m/raw/")).status_code == 200
    assert sends == Spy.sends
    assert sends[0] is Spy.sends[0]


def failing_after_start(error: Exception) -> ASGIApp:
    """A plain ASGI app that starts its response, sends a chunk, then raises ``error``."""

    async def raw(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"first", "more_body": True})
        raise error

    return raw


@pytest.mark.parametrize("record", ["starlettes", "none"])
@pytest.mark.parametrize("keys", ["catchall", "boom"])
@pytest.mark.parametrize("place", ["app", "mount", "spied"])
async def test_a_mounted_app_failing_after_its_start_is_logged_once_and_never_started_twice(
    place: str,
    keys: str,
    record: str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Not a route: Starlette does not claim it, so the interceptor itself
    # must know the response started, from what Starlette knows of it, or
    # (under a Starlette that keeps no record it can read) from its own.
    if record == "none":
        monkeypatch.setattr(interceptor_starlette, "_STARLETTE_SENDER", None)
    error = Boom("mid-stream")
    errors = Interceptor({Exception: 500} if keys == "catchall" else {Boom: 409})
    app = mounted_raw(place, failing_after_start(error), errors)
    with caplog.at_level(logging.ERROR, logger="interceptor"):
        assert_as_raised(await raised_late(app, "/m/raw/"), error)
        assert errors.flush(5)
    [record] = [r for r in caplog.records if "started" in r.getMessage()]
    assert record.error_id in record.getMessage()  # type: ignore[attr-defined]


@pytest.mark.parametrize("record", ["starlettes", "none"])
@pytest.mark.parametrize("place", ["app", "mount", "spied"])
async def test_a_debug_message_before_the_start_leaves_the_response_unstarted(
    place: str, record: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Starlette's TemplateResponse sends http.response.debug (TestClient's
    # extension) before its start. That is no start: Starlette's record
    # and the interceptor's own tracking must agree.
    if record == "none":
        monkeypatch.setattr(interceptor_starlette, "_STARLETTE_SENDER", None)

    async def raw(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.debug", "info": {"template": "page.html"}})
        raise Boom("before the start")

    app = mounted_raw(place, raw, Interceptor({Exception: 500}))
    scope = {**http_scope("/m/raw/"), "extensions": {"http.response.debug": {}}}
    recorder = Recorder()
    await app(scope, recorder.receive, recorder.send)
    starts = [m for m in recorder.sent if m["type"] == "http.response.start"]
    assert [m["status"] for m in starts] == [500]


# -- helpers ---------------------------------------------------------------------------


class Recorder:
    def __init__(self, incoming: list[Message] | None = None) -> None:
        self.incoming = incoming or [{"type": "http.request", "body": b""}]
        self.sent: list[Message] = []

    async def receive(self) -> Message:
        if self.incoming:
            return self.incoming.pop(0)
        await anyio.sleep(3600)
        raise AssertionError("unreachable")

    async def send(self, message: Message) -> None:
        self.sent.append(message)


async def run_ws(app: ASGIApp) -> list[Message]:
    scope = http_scope("/m/x")
    del scope["method"]
    scope.update(type="websocket", scheme="ws", subprotocols=[], extensions={})
    recorder = Recorder([{"type": "websocket.connect"}])
    with anyio.fail_after(5):
        await app(scope, recorder.receive, recorder.send)
    return recorder.sent


def _decoded(body: bytes) -> Any:
    return json.loads(body)


@pytest.mark.parametrize("place", PLACES)
async def test_routing_errors_and_head_are_unchanged(place: str) -> None:
    def endpoint(request: Request) -> Response:
        return PlainTextResponse("ok")

    app = build(place, endpoint, {}, methods=["GET"])
    async with client_for(app) as client:
        missing = await client.get("/m/nope")
        wrong_method = await client.post("/m/x")
        head = await client.head("/m/x")
    assert (missing.status_code, missing.text) == (404, "Not Found")
    assert wrong_method.status_code == 405
    assert set(wrong_method.headers["allow"].split(", ")) == {"GET", "HEAD"}
    assert (head.status_code, head.content) == (200, b"")


async def test_a_claimed_exception_after_the_response_started_is_reported_once() -> None:
    reports: list[Any] = []

    async def chunks() -> Any:
        yield b"first"
        raise Boom("mid-stream")

    def endpoint(request: Request) -> Response:
        return StreamingResponse(chunks())

    inner = Interceptor({Boom: 409}, reporter=reports.append)
    outer = Interceptor({Exception: 500}, reporter=reports.append)
    app = Starlette(
        routes=[Mount("/m", routes=[Route("/x", endpoint)], middleware=[mw(inner)])],
        middleware=[mw(outer)],
    )
    recorder = Recorder()
    with pytest.raises(RuntimeError) as caught:
        await app(http_scope("/m/x"), recorder.receive, recorder.send)
    assert isinstance(caught.value.__cause__, Boom)  # Starlette's own words for it
    for _ in range(100):  # reports are delivered off the response path
        if reports:
            break
        await anyio.sleep(0.02)
    await anyio.sleep(0.1)  # time for a second report, which must not come
    assert len(reports) == 1
    assert isinstance(reports[0].exception, Boom)
    assert reports[0].error_id


async def late_reports(app: ASGIApp, path: str, reports: list[Any]) -> list[type[BaseException]]:
    """The types reported for one request of ``app`` whose response fails once started."""
    await raised_late(app, path)
    assert delivery.flush(5)
    return [type(report.exception) for report in reports]


@pytest.mark.parametrize("kind", ["stream", "background"])
@pytest.mark.parametrize("inner", [None, "mount", "route"])
async def test_an_inner_interceptor_matching_nothing_leaves_a_late_failure_to_the_app_level_one(
    inner: str | None, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A failure after the response started is observed by the innermost interceptor
    that matches it: one inside that matches nothing neither logs it nor keeps it
    from the app-level reporter."""
    reports: list[Any] = []
    noop = [mw(Interceptor({NeverRaised: 404}))]
    endpoint = late_endpoint(kind, Boom("late"))
    route = Route("/x", endpoint, middleware=noop if inner == "route" else [])
    app = Starlette(
        routes=[Mount("/m", routes=[route], middleware=noop if inner == "mount" else [])],
        middleware=[mw(Interceptor({Exception: 500}, reporter=reports.append, name="app"))],
    )
    with caplog.at_level(logging.ERROR, logger="interceptor"):
        assert await late_reports(app, "/m/x", reports) == [Boom]
    [record] = [r for r in caplog.records if "started" in r.getMessage()]
    assert record.scope == "app"  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", ["stream", "background"])
@pytest.mark.parametrize("place", PLACES)
async def test_a_late_failure_no_interceptor_matches_is_neither_logged_nor_reported(
    place: str, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    reports: list[Any] = []
    error = Boom("late")
    errors = Interceptor({NeverRaised: 500}, reporter=reports.append)
    app = build(place, late_endpoint(kind, error), {}, errors=errors)
    with caplog.at_level(logging.DEBUG, logger="interceptor"):
        assert_as_raised(await raised_late(app, "/m/x"), error)
        assert errors.flush(5)
    assert reports == []
    assert [r.getMessage() for r in caplog.records] == []


@pytest.mark.parametrize("keys", ["boom", "catchall"])
async def test_a_stream_failing_behind_a_middleware_holding_the_start_back_is_answered(
    keys: str,
) -> None:
    """GZip holds the response start back until the first chunk: a stream failing
    before it has started at the route, not at the app. Starlette's error for the
    claim is no error to answer: the stream's own is answered, logged and reported."""
    from starlette.middleware.gzip import GZipMiddleware  # noqa: PLC0415

    async def chunks() -> Any:
        raise Boom("before the first chunk")
        yield b"never"  # pragma: no cover - a generator that fails first

    def endpoint(request: Request) -> Response:
        return StreamingResponse(chunks())

    reports: list[Any] = []
    errors = Interceptor({Boom: 404} if keys == "boom" else {Exception: 500},
                         reporter=reports.append)
    gzip = [Middleware(GZipMiddleware, minimum_size=1)]
    app = Starlette(
        routes=[Mount("/m", routes=[Route("/x", endpoint)], middleware=gzip)],
        middleware=[mw(errors)],
    )
    async with client_for(app) as client:
        response = await client.get("/m/x")
    assert errors.flush(5)
    assert response.headers["content-type"] == "application/problem+json"
    if keys == "boom":
        assert (response.status_code, reports) == (404, [])
        return
    assert response.status_code == 500
    [report] = reports
    assert (type(report.exception), report.error_id) == (Boom, response.json()["error_id"])


@pytest.mark.parametrize("inner", [None, "declining", "matching-nothing"])
async def test_a_mounted_apps_interceptor_leaves_what_it_tried_to_the_apps_around_it(
    inner: str | None,
) -> None:
    """A Starlette app mounted in another has a table of its own: what its interceptor
    tried and left, the outer app's interceptor, which was not in that table, still
    sees (after the mounted app's own 500, as without the inner interceptor)."""
    reports: list[Any] = []

    async def endpoint(request: Request) -> Response:
        raise Boom("in the mounted app")

    registered: dict[Any, Any] = {Boom: lambda request, exc: None, NeverRaised: 404}
    inner_errors = {"declining": Interceptor(registered), "matching-nothing": Interceptor()}
    sub = Starlette(
        routes=[Route("/x", endpoint)],
        middleware=[mw(inner_errors[inner])] if inner else [],
    )
    app = Starlette(
        routes=[Mount("/sub", app=sub)],
        middleware=[mw(Interceptor({Exception: 500}, reporter=reports.append))],
    )
    raised = await raised_late(app, "/sub/x")
    assert isinstance(raised, Boom)
    assert delivery.flush(5)
    assert [type(report.exception) for report in reports] == [Boom]


async def test_the_table_cache_of_a_middleware_is_bounded() -> None:
    # One middleware instance called under ever new outer tables keeps one.
    errors = Interceptor({Boom: 409})

    async def ok(scope: Scope, receive: Receive, send: Send) -> None:
        await PlainTextResponse("ok")(scope, receive, send)

    middleware = InterceptorMiddleware(ok, interceptor=errors)
    outer: dict[Any, Any] = {}
    for _ in range(100):
        scope = http_scope()
        outer = {}
        scope["starlette.exception_handlers"] = (outer, {})
        await middleware(scope, Recorder().receive, Recorder().send)
    assert middleware._under[0] is outer  # only the last outer table is kept
    tables: list[object] = []
    for _ in range(3):
        scope = http_scope()
        await middleware(scope, Recorder().receive, Recorder().send)
        tables.append(scope["starlette.exception_handlers"])
    assert tables[0] is tables[1] is tables[2]  # the same outer table: built once



@pytest.mark.parametrize("place", ["bare", "app", "route_class"])
async def test_fastapi_validation_handler_reading_the_body_answers(place: str) -> None:
    fastapi = pytest.importorskip("fastapi")
    from fastapi.exceptions import RequestValidationError  # noqa: PLC0415

    from interceptor.fastapi import intercepted_route  # noqa: PLC0415

    noop = Interceptor({NeverRaised: 500})
    router = fastapi.APIRouter(
        route_class=intercepted_route(noop) if place == "route_class" else fastapi.routing.APIRoute
    )

    @router.post("/items")
    async def create(item: dict[str, int]) -> dict[str, int]:
        return item

    app = fastapi.FastAPI(middleware=[mw(noop)] if place == "app" else [])
    logged: list[bytes] = []

    @app.exception_handler(RequestValidationError)
    async def log_body(request: Request, exc: Exception) -> Response:
        logged.append(await request.body())
        return JSONResponse({"invalid": True}, status_code=422)

    app.include_router(router)
    async with client_for(app) as client:
        with anyio.fail_after(5):
            response = await client.post("/items", content=b'{"a": "x"}')
    assert (response.status_code, response.json()) == (422, {"invalid": True})
    assert logged == [b'{"a": "x"}']


class WeakScope(dict[str, Any]):
    """A scope that can be weakly referenced, to see when it is freed."""


async def freed_by_refcount(
    apps: list[ASGIApp], raises: type[Exception], *, warm: bool = True
) -> list[bool]:
    """For each app, whether a request that ends in ``raises`` (as the server sees
    it) leaves its scope to be freed by reference counting alone, with the cyclic
    collector off: what its traceback holds must not hold it back. ``warm`` sends
    each app a request first, for whatever it builds on its first one."""

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        pass

    async def serve_one(app: ASGIApp) -> weakref.ref[WeakScope]:
        scope = WeakScope(http_scope("/"))
        with pytest.raises(raises):  # the server logs it and aborts the connection
            await app(scope, receive, send)
        return weakref.ref(scope)

    for app in apps if warm else ():
        await serve_one(app)
    gc.collect()
    gc.disable()
    logging.disable(logging.CRITICAL)  # pytest's log capture would keep the traceback
    try:
        return [(await serve_one(app))() is None for app in apps]
    finally:
        logging.disable(logging.NOTSET)
        gc.enable()


async def test_an_error_after_the_response_started_leaves_no_reference_cycle() -> None:
    # Reported once, but the scope must not keep the exception: its traceback's
    # frames refer to the scope, which would then wait for the cyclic collector.
    async def streams_then_fails(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"a", "more_body": True})
        raise Boom("mid-body")

    seen: list[tuple[int, type[BaseException]]] = []
    errors = Interceptor({Boom: 409})
    errors.add_observer(lambda event: seen.append((event.status, type(event.exception))))
    wrapped = InterceptorMiddleware(
        InterceptorMiddleware(streams_then_fails, interceptor=errors), interceptor=errors
    )
    freed = await freed_by_refcount([streams_then_fails, wrapped], Boom, warm=False)
    assert freed == [True, True]
    assert seen == [(500, Boom)]


# -- what a real server sees ------------------------------------------------------------


def logged_traceback(log: Any, ending: str, seconds: float = 10) -> str:
    """The server's log once it shows ``ending``, waited for within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and ending not in log.read_text():
        time.sleep(0.05)
    time.sleep(0.2)  # whatever else the server writes about the same error
    return str(log.read_text())


@pytest.mark.server
@pytest.mark.parametrize("app", ["bare", "noop"])
def test_under_uvicorn_a_late_group_is_logged_as_itself(app: str) -> None:
    from examples.serving import serve  # noqa: PLC0415

    with serve(f"tests.late_apps:{app}", "uvicorn") as (base_url, log):
        response = httpx.get(f"{base_url}/m/bg", timeout=10)
        assert (response.status_code, response.text) == (200, "ok")
        text = logged_traceback(log, "ExceptionGroup: in the background")
    assert "ExceptionGroup: in the background" in text
    assert "RuntimeError" not in text


@pytest.mark.server
@needs_body_limit
@pytest.mark.parametrize("app", ["bare", "noop", "catchall"])
def test_under_uvicorn_starlettes_own_413_is_all_the_server_sees(app: str) -> None:
    from examples.serving import serve  # noqa: PLC0415

    with serve(f"tests.late_apps:{app}", "uvicorn") as (base_url, log):
        response = httpx.post(f"{base_url}/m/big", content=b"x" * 100, timeout=10)
        assert httpx.get(f"{base_url}/m/mark", timeout=10).text == "marked"
        text = logged_traceback(log, "MARK")
    assert (response.status_code, response.text) == (413, "Content Too Large")
    assert "_RequestBodyLimitResponseSent" not in text
    assert "RuntimeError" not in text


async def test_an_error_every_interceptor_declined_leaves_no_reference_cycle() -> None:
    # Claimed at the route, declined by every handler, raised again for Starlette
    # to raise: neither the scope nor a frame of the interceptor's may keep it.
    async def fail(request: Request) -> Response:
        raise Boom("declined")

    async def declines(request: Request, exc: Boom) -> None:
        return None

    def app(errors: Interceptor | None) -> Starlette:
        return Starlette(routes=[Route("/", fail)], middleware=[mw(errors)] if errors else [])

    apps = [
        app(None),
        app(Interceptor({NeverRaised: 500})),
        # Async: a sync handler's worker thread holds its last call's arguments
        # until its next job, which is anyio's, with or without the interceptor.
        app(Interceptor({Boom: declines})),
    ]
    assert await freed_by_refcount(apps, Boom) == [True, True, True]
