"""The ASGI adapter under Starlette, driven through httpx.ASGITransport."""

from __future__ import annotations

import asyncio
import copy
import functools
import json
import logging
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from typing import Any

import anyio.to_thread
import httpx
import pytest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Mount, Route, Router, WebSocketRoute
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from interceptor import ApiError, Interceptor, Problem
from interceptor._delivery import delivery
from interceptor.starlette import InterceptorMiddleware
from tests.conftest import TUPLE_ANSWERS, http_scope, split_error_id


class Shared(Exception):
    """Every interceptor in the precedence app handles this one."""


class OnlyStarlette(Exception):
    """Only Starlette's own exception_handlers handle this one."""


class Nobody(Exception):
    """No handler anywhere: the server sees it."""


def mw(errors: Interceptor) -> list[Middleware]:
    return [Middleware(InterceptorMiddleware, interceptor=errors)]


def scope_problem(name: str) -> Problem:
    return Problem(status=409, code=name)


def raiser(exc: BaseException) -> Any:
    def endpoint(request: Request) -> Response:
        raise exc

    return endpoint


def starlette_handler(request: Request, exc: Exception) -> Response:
    return PlainTextResponse(f"starlette:{type(exc).__name__}", status_code=418)


def precedence_app() -> Starlette:
    def route_errors() -> Interceptor:
        return Interceptor({Shared: scope_problem("ROUTE"), 409: scope_problem("ROUTE")})

    mount = Interceptor({Shared: scope_problem("MOUNT"), 409: scope_problem("MOUNT")})
    app_level = Interceptor({Shared: scope_problem("APP"), 409: scope_problem("APP")})

    async def dispatch(request: Request) -> Response:
        kind = request.query_params["raise"]
        if kind == "shared":
            raise Shared("shared")
        if kind == "http":
            raise HTTPException(409, "conflict")
        if kind == "starlette":
            raise OnlyStarlette("only starlette")
        raise Nobody("nobody")

    return Starlette(
        routes=[
            Route("/top/plain", dispatch),
            Route("/top/routed", dispatch, middleware=mw(route_errors())),
            Mount(
                "/api",
                routes=[
                    Route("/plain", dispatch),
                    Route("/routed", dispatch, middleware=mw(route_errors())),
                ],
                middleware=mw(mount),
            ),
        ],
        middleware=mw(app_level),
        exception_handlers={OnlyStarlette: starlette_handler, 409: starlette_handler},
    )


@pytest.fixture
async def precedence_client() -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(precedence_app()) as client:
        yield client


def client_for(app: Any, *, raise_app_exceptions: bool = True) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.mark.parametrize(
    ("path", "kind", "status", "answer"),
    [
        ("/api/routed", "shared", 409, "ROUTE"),
        ("/api/plain", "shared", 409, "MOUNT"),
        ("/top/routed", "shared", 409, "ROUTE"),
        ("/top/plain", "shared", 409, "APP"),
        ("/api/routed", "http", 409, "ROUTE"),
        ("/api/plain", "http", 409, "MOUNT"),
        ("/top/plain", "http", 409, "APP"),
        ("/api/routed", "starlette", 418, "starlette:OnlyStarlette"),
        ("/top/plain", "starlette", 418, "starlette:OnlyStarlette"),
    ],
)
async def test_nearest_scope_wins(
    precedence_client: httpx.AsyncClient, path: str, kind: str, status: int, answer: str
) -> None:
    response = await precedence_client.get(path, params={"raise": kind})
    assert response.status_code == status
    if response.headers["content-type"] == "application/problem+json":
        assert response.json()["code"] == answer
    else:
        assert response.text == answer


async def test_unmatched_exception_reaches_the_server_as_the_same_object() -> None:
    error = Nobody("nobody")
    app = Starlette(
        routes=[Mount("/api", routes=[Route("/x", raiser(error))], middleware=mw(Interceptor()))],
        middleware=mw(Interceptor({KeyError: 404})),
    )
    async with client_for(app) as client:
        with pytest.raises(Nobody) as caught:
            await client.get("/api/x")
    assert caught.value is error
    assert error.__traceback__ is not None


async def test_unmatched_exception_gets_starlettes_server_error_response() -> None:
    app = Starlette(
        routes=[Route("/x", raiser(Nobody("x")))], middleware=mw(Interceptor({KeyError: 404}))
    )
    async with client_for(app, raise_app_exceptions=False) as client:
        response = await client.get("/x")
    assert response.status_code == 500
    assert response.text == "Internal Server Error"


async def test_app_level_interceptor_beats_starlettes_default_http_handler() -> None:
    app = Starlette(
        routes=[Route("/x", raiser(HTTPException(403, "no entry")))],
        middleware=mw(Interceptor({403: Problem(code="FORBIDDEN")})),
    )
    async with client_for(app) as client:
        response = await client.get("/x")
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "about:blank",
        "title": "Forbidden",
        "status": 403,
        "detail": "no entry",
        "code": "FORBIDDEN",
        "retryable": False,
    }


@pytest.mark.parametrize("place", ["app", "mount", "route"])
@pytest.mark.parametrize("keys", [{HTTPException: Problem(code="NEAR")}, {Exception: 500}])
async def test_a_nearer_interceptor_beats_starlettes_status_handler(
    place: str, keys: dict[Any, Any]
) -> None:
    # Starlette asks its status handlers before its class handlers: its
    # status handler must lose to an interceptor, as a class handler does.
    def app_404(request: Request, exc: Exception) -> Response:
        return PlainTextResponse("app's own 404", status_code=404)

    near = mw(Interceptor(keys))
    at_route = near if place == "route" else []
    route = Route("/x", raiser(HTTPException(404, "nope")), middleware=at_route)
    app = Starlette(
        routes=[Mount("/m", routes=[route], middleware=near if place == "mount" else [])],
        middleware=near if place == "app" else [],
        exception_handlers={404: app_404},
    )
    async with client_for(app) as client:
        response = await client.get("/m/x")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "nope"


async def test_starlettes_status_handler_answers_what_the_interceptor_declines() -> None:
    def app_404(request: Request, exc: Exception) -> Response:
        return PlainTextResponse("app's own 404", status_code=404)

    def declines(request: Request, exc: Exception) -> None:
        return None

    near = mw(Interceptor({HTTPException: declines}))
    app = Starlette(
        routes=[Mount("/m", routes=[Route("/x", raiser(HTTPException(404)))], middleware=near)],
        exception_handlers={404: app_404},
    )
    async with client_for(app) as client:
        response = await client.get("/m/x")
    assert (response.status_code, response.text) == (404, "app's own 404")


async def test_http_exception_without_a_handler_keeps_starlettes_behaviour() -> None:
    app = Starlette(
        routes=[Route("/x", raiser(HTTPException(401, "who?", headers={"WWW-Authenticate": "B"})))],
        middleware=mw(Interceptor({KeyError: 404})),
    )
    async with client_for(app) as client:
        response = await client.get("/x")
    assert response.status_code == 401
    assert response.text == "who?"
    assert response.headers["www-authenticate"] == "B"


async def test_sibling_mounts_use_their_own_interceptors() -> None:
    app = Starlette(
        routes=[
            Mount(
                "/a",
                routes=[Route("/x", raiser(Shared()))],
                middleware=mw(Interceptor({Shared: scope_problem("A")})),
            ),
            Mount(
                "/b",
                routes=[Route("/x", raiser(Shared()))],
                middleware=mw(Interceptor({Shared: scope_problem("B")})),
            ),
        ]
    )
    async with client_for(app) as client:
        assert (await client.get("/a/x")).json()["code"] == "A"
        assert (await client.get("/b/x")).json()["code"] == "B"


async def test_nested_mounts_inner_first_then_outer() -> None:
    inner = Interceptor({KeyError: scope_problem("INNER")})
    outer = Interceptor({KeyError: scope_problem("OUTER-KEY"), Shared: scope_problem("OUTER")})
    app = Starlette(
        routes=[
            Mount(
                "/outer",
                routes=[
                    Mount(
                        "/inner",
                        routes=[
                            Route("/key", raiser(KeyError("k"))),
                            Route("/shared", raiser(Shared())),
                        ],
                        middleware=mw(inner),
                    )
                ],
                middleware=mw(outer),
            )
        ]
    )
    async with client_for(app) as client:
        assert (await client.get("/outer/inner/key")).json()["code"] == "INNER"
        assert (await client.get("/outer/inner/shared")).json()["code"] == "OUTER"


async def test_routing_errors_belong_to_the_mount_whose_url_space_they_fall_in() -> None:
    async def ok(request: Request) -> Response:
        return PlainTextResponse("ok")

    mount_errors = Interceptor({404: Problem(code="API_NOT_FOUND"), 405: Problem(code="API_405")})
    app = Starlette(
        routes=[
            Route("/page", ok),
            Mount(
                "/api", routes=[Route("/items", ok, methods=["GET"])], middleware=mw(mount_errors)
            ),
        ]
    )
    async with client_for(app) as client:
        inside = await client.get("/api/nope")
        assert inside.status_code == 404
        assert inside.json()["code"] == "API_NOT_FOUND"
        not_allowed = await client.post("/api/items")
        assert not_allowed.status_code == 405
        assert not_allowed.json()["code"] == "API_405"
        assert set(not_allowed.headers["allow"].split(", ")) == {"GET", "HEAD"}
        outside = await client.get("/nope")
        assert outside.status_code == 404
        assert outside.headers["content-type"].startswith("text/plain")
        assert outside.text == "Not Found"


async def test_declining_handler_falls_through_to_less_specific_then_outer_scope() -> None:
    calls: list[str] = []

    def decline(request: Request, exc: Exception) -> None:
        calls.append(f"decline:{type(exc).__name__}")

    def lookup(request: Request, exc: Exception) -> Problem | None:
        calls.append("lookup")
        return None if isinstance(exc, IndexError) else Problem(status=404, code="LOOKUP")

    inner = Interceptor({KeyError: decline, IndexError: decline, LookupError: lookup})
    outer = Interceptor({IndexError: Problem(status=410, code="OUTER")})
    app = Starlette(
        routes=[
            Mount(
                "/api",
                routes=[
                    Route("/key", raiser(KeyError("k"))),
                    Route("/index", raiser(IndexError("i"))),
                ],
                middleware=mw(inner),
            )
        ],
        middleware=mw(outer),
    )
    async with client_for(app) as client:
        key = await client.get("/api/key")
        assert (key.status_code, key.json()["code"]) == (404, "LOOKUP")
        assert calls == ["decline:KeyError", "lookup"]
        calls.clear()
        index = await client.get("/api/index")
        assert (index.status_code, index.json()["code"]) == (410, "OUTER")
        assert calls == ["decline:IndexError", "lookup"]


async def test_a_handler_that_raises_sends_the_new_exception_outward_chained() -> None:
    original = KeyError("k")
    seen: list[BaseException] = []

    class Translated(Exception):
        pass

    def translate(request: Request, exc: Exception) -> None:
        raise Translated("translated")

    async def outer_handler(request: Request, exc: Exception) -> Problem:
        seen.append(exc)
        return Problem(status=422, code="OUTER")

    shared = Interceptor({KeyError: translate, Translated: Problem(status=400, code="LOOP")})
    app = Starlette(
        routes=[
            Mount(
                "/api",
                routes=[Route("/x", raiser(original))],
                middleware=mw(shared),
            )
        ],
        # The same interceptor again, then another one: the same one must not
        # handle its own handler's exception, the other one must.
        middleware=[*mw(Interceptor({Translated: outer_handler})), *mw(shared)],
    )
    async with client_for(app) as client:
        response = await client.get("/api/x")
    assert (response.status_code, response.json()["code"]) == (422, "OUTER")
    assert len(seen) == 1
    assert isinstance(seen[0], Translated)
    assert seen[0].__context__ is original


async def test_a_handler_that_raises_with_no_outer_scope_reaches_the_server() -> None:
    def broken(request: Request, exc: Exception) -> None:
        raise RuntimeError("handler bug")

    app = Starlette(
        routes=[Route("/x", raiser(KeyError("k")))], middleware=mw(Interceptor({KeyError: broken}))
    )
    async with client_for(app) as client:
        with pytest.raises(RuntimeError, match="handler bug") as caught:
            await client.get("/x")
    assert isinstance(caught.value.__context__, KeyError)


async def test_single_leaf_group_resolves_by_leaf_and_handler_gets_the_leaf() -> None:
    leaf = KeyError("deep")
    received: list[BaseException] = []

    def on_key(request: Request, exc: Exception) -> Problem:
        received.append(exc)
        return Problem(status=404, code="LEAF")

    group = ExceptionGroup("outer", [ExceptionGroup("inner", [leaf])])
    app = Starlette(
        routes=[Route("/x", raiser(group))], middleware=mw(Interceptor({KeyError: on_key}))
    )
    async with client_for(app) as client:
        response = await client.get("/x")
    assert (response.status_code, response.json()["code"]) == (404, "LEAF")
    assert received == [leaf]


async def test_multi_leaf_group_resolves_by_the_group_itself() -> None:
    group = ExceptionGroup("two", [KeyError("a"), KeyError("b")])
    by_leaf = Starlette(
        routes=[Route("/x", raiser(group))], middleware=mw(Interceptor({KeyError: 404}))
    )
    async with client_for(by_leaf) as client:
        with pytest.raises(ExceptionGroup) as caught:
            await client.get("/x")
    assert caught.value is group

    by_group = Starlette(
        routes=[Route("/x", raiser(group))], middleware=mw(Interceptor({ExceptionGroup: 422}))
    )
    async with client_for(by_group) as client:
        assert (await client.get("/x")).status_code == 422


async def test_api_error_is_rendered_by_every_interceptor() -> None:
    class UserNotFound(ApiError):
        status = 404
        code = "USER_NOT_FOUND"

    app = Starlette(
        routes=[Route("/u", raiser(UserNotFound("user 42 not found", user_message="Who?")))],
        middleware=mw(Interceptor()),
    )
    async with client_for(app) as client:
        response = await client.get("/u")
    assert response.status_code == 404
    assert response.json() == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "user 42 not found",
        "code": "USER_NOT_FOUND",
        "user_message": "Who?",
        "retryable": False,
    }


async def test_five_hundreds_hide_the_message_and_carry_an_error_id() -> None:
    app = Starlette(
        routes=[Route("/x", raiser(RuntimeError("secret dsn=postgres://u:p@h")))],
        middleware=mw(Interceptor({RuntimeError: 500})),
    )
    async with client_for(app) as client:
        response = await client.get("/x")
    body = response.json()
    assert response.status_code == 500
    assert "secret" not in response.text
    assert "detail" not in body
    assert len(body["error_id"]) == 32


async def test_head_gets_headers_and_no_body() -> None:
    async def endpoint(request: Request) -> Response:
        raise KeyError("k")

    app = Starlette(
        routes=[Route("/x", endpoint, methods=["GET", "HEAD"])],
        middleware=mw(Interceptor({KeyError: 404})),
    )
    async with client_for(app) as client:
        get = await client.get("/x")
        head = await client.head("/x")
    assert head.status_code == 404
    assert head.content == b""
    assert head.headers["content-type"] == "application/problem+json"
    assert head.headers["content-length"] == get.headers["content-length"] != "0"


async def test_sync_handlers_run_in_a_worker_thread_async_on_the_loop() -> None:
    threads: dict[str, int] = {}

    def sync_handler(request: Request, exc: Exception) -> int:
        threads["sync"] = threading.get_ident()
        return 404

    async def async_handler(request: Request, exc: Exception) -> int:
        threads["async"] = threading.get_ident()
        return 400

    async def endpoint(request: Request) -> Response:
        threads["loop"] = threading.get_ident()
        raise (KeyError if request.query_params.get("k") else ValueError)("x")

    app = Starlette(
        routes=[Route("/x", endpoint)],
        middleware=mw(Interceptor({KeyError: sync_handler, ValueError: async_handler})),
    )
    async with client_for(app) as client:
        assert (await client.get("/x", params={"k": "1"})).status_code == 404
        assert (await client.get("/x")).status_code == 400
    assert threads["sync"] != threads["loop"]
    assert threads["async"] == threads["loop"]


async def test_declarative_values_render_inline_without_a_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def no_threads(*args: object) -> object:
        raise AssertionError("a declarative value went to the thread pool")

    async def key_error(request: Request) -> Response:
        raise KeyError

    async def value_error(request: Request) -> Response:
        raise ValueError

    # Async endpoints: Starlette itself sends sync ones to the thread pool.
    monkeypatch.setattr(anyio.to_thread, "run_sync", no_threads)
    app = Starlette(
        routes=[Route("/int", key_error), Route("/problem", value_error)],
        middleware=mw(Interceptor({KeyError: 404, ValueError: Problem(status=422)})),
    )
    async with client_for(app) as client:
        assert (await client.get("/int")).status_code == 404
        assert (await client.get("/problem")).status_code == 422


async def test_stateful_callable_object_and_partial_handlers() -> None:
    class Counting:
        def __init__(self) -> None:
            self.count = 0

        async def __call__(self, request: Request, exc: Exception) -> tuple[dict[str, int], int]:
            self.count += 1
            return {"seen": self.count}, 429

    def with_code(code: str, request: Request, exc: Exception) -> Problem:
        return Problem(status=400, code=code)

    counter = Counting()
    app = Starlette(
        routes=[Route("/count", raiser(KeyError())), Route("/partial", raiser(ValueError()))],
        middleware=mw(
            Interceptor({KeyError: counter, ValueError: functools.partial(with_code, "P")})
        ),
    )
    async with client_for(app) as client:
        first = await client.get("/count")
        second = await client.get("/count")
        partial = await client.get("/partial")
    assert (first.status_code, first.json()) == (429, {"seen": 1})
    assert second.json() == {"seen": 2}
    assert first.headers["content-type"] == "application/json"
    assert partial.json()["code"] == "P"


async def test_a_handler_object_with_a_func_attribute_is_called_by_its_own_call() -> None:
    # Only functools.partial is unwrapped: an object's ``.func`` is not what is called.
    class SyncWithAsyncFunc:
        async def func(self) -> None:
            pass

        def __call__(self, request: Request, exc: Exception) -> tuple[dict[str, bool], int]:
            return {"in_thread": threading.current_thread() is not threading.main_thread()}, 409

    app = Starlette(
        routes=[Route("/x", raiser(KeyError()))],
        middleware=mw(Interceptor({KeyError: SyncWithAsyncFunc()})),
    )
    async with client_for(app) as client:
        response = await client.get("/x")
    assert (response.status_code, response.json()) == (409, {"in_thread": True})


async def test_handler_may_return_a_starlette_response() -> None:
    def handler(request: Request, exc: Exception) -> Response:
        return JSONResponse({"custom": request.url.path}, status_code=451, headers={"X-Why": "law"})

    app = Starlette(
        routes=[Route("/x", raiser(KeyError()))], middleware=mw(Interceptor({KeyError: handler}))
    )
    async with client_for(app) as client:
        response = await client.get("/x")
    assert (response.status_code, response.json()) == (451, {"custom": "/x"})
    assert response.headers["x-why"] == "law"


async def test_bad_handler_return_is_a_500_and_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    def bad(request: Request, exc: Exception) -> str:
        return "oops"

    app = Starlette(
        routes=[Route("/x", raiser(KeyError()))], middleware=mw(Interceptor({KeyError: bad}))
    )
    with caplog.at_level(logging.ERROR, logger="interceptor"):
        async with client_for(app) as client:
            response = await client.get("/x")
    assert response.status_code == 500
    assert "error_id" in response.json()
    assert any(
        "bad" in record.getMessage() and "'oops'" in record.getMessage()
        for record in caplog.records
    )


# -- raw ASGI: what exactly goes over the wire ------------------------------------------


class Recorder:
    def __init__(self, incoming: list[Message] | None = None) -> None:
        self.sent: list[Message] = []
        self.incoming = list(incoming or [])

    async def receive(self) -> Message:
        if self.incoming:
            return self.incoming.pop(0)
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    async def send(self, message: Message) -> None:
        self.sent.append(message)


async def test_response_already_started_never_sends_a_second_start(
    caplog: pytest.LogCaptureFixture,
) -> None:
    error = KeyError("late")

    async def streaming(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"part", "more_body": True})
        raise error

    app = InterceptorMiddleware(streaming, interceptor=Interceptor({KeyError: 404}))
    recorder = Recorder([{"type": "http.request", "body": b""}])
    with caplog.at_level(logging.ERROR, logger="interceptor"):
        with pytest.raises(KeyError) as caught:
            await app(http_scope(), recorder.receive, recorder.send)
        assert app.interceptor.flush(5)  # the worker emits lines with a traceback
    assert caught.value is error
    assert [m["type"] for m in recorder.sent] == ["http.response.start", "http.response.body"]
    [record] = [r for r in caplog.records if "started" in r.getMessage()]
    assert record.error_id in record.getMessage()  # type: ignore[attr-defined]


async def test_plain_asgi_app_sends_the_exact_messages() -> None:
    async def failing(scope: Scope, receive: Receive, send: Send) -> None:
        raise KeyError("k")

    app = InterceptorMiddleware(failing, interceptor=Interceptor({KeyError: 404}))
    recorder = Recorder()
    await app(http_scope(), recorder.receive, recorder.send)
    start, body = recorder.sent
    assert start["type"] == "http.response.start"
    assert start["status"] == 404
    headers = dict(start["headers"])
    assert headers[b"content-type"] == b"application/problem+json"
    assert int(headers[b"content-length"]) == len(body["body"])
    assert json.loads(body["body"])["status"] == 404
    assert body.get("more_body", False) is False


async def test_lifespan_passes_through_untouched() -> None:
    # The same scope, the same receive, the same messages in the same order;
    # only the shutdown's completion waits for queued reports first.
    seen: list[tuple[Scope, Receive]] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append((scope, receive))
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.complete"})

    app = InterceptorMiddleware(inner, interceptor=Interceptor({KeyError: 404}))
    scope: Scope = {"type": "lifespan", "asgi": {"version": "3.0"}}
    recorder = Recorder([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    await app(scope, recorder.receive, recorder.send)
    assert seen == [(scope, recorder.receive)]
    assert scope == {"type": "lifespan", "asgi": {"version": "3.0"}}
    assert recorder.sent == [
        {"type": "lifespan.startup.complete"},
        {"type": "lifespan.shutdown.complete"},
    ]


def test_constructor_rejects_a_non_interceptor() -> None:
    with pytest.raises(TypeError, match="must be an Interceptor"):
        InterceptorMiddleware(Starlette(), interceptor={KeyError: 404})  # type: ignore[arg-type]
    stack = ExceptionMiddleware(Router())  # where an app-level one would move to
    with pytest.raises(TypeError, match="must be an Interceptor"):
        InterceptorMiddleware(stack, interceptor={KeyError: 404})  # type: ignore[arg-type]
    assert stack.app.__class__ is Router  # nothing moved in


class _Preset(InterceptorMiddleware):
    """A subclass that brings its own interceptor, and so takes only the app."""

    def __init__(self, app: Any) -> None:
        super().__init__(app, interceptor=Interceptor({KeyError: 404}))


class _Tagged(InterceptorMiddleware):
    """A subclass with an argument of its own, which adds a header to its answers."""

    def __init__(self, app: Any, *, interceptor: Interceptor, tag: str) -> None:
        super().__init__(app, interceptor=interceptor)
        self.tag = tag

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def tagged(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message["headers"], (b"x-tag", self.tag.encode())]
                message = {**message, "headers": headers}
            await send(message)

        await super().__call__(scope, receive, tagged)


@pytest.mark.parametrize("level", ["route", "mount", "app"])
async def test_subclasses_with_constructors_of_their_own_work_at_every_level(level: str) -> None:
    middleware = [
        Middleware(_Preset),
        Middleware(_Tagged, interceptor=Interceptor({ValueError: 400}), tag=level),
    ]
    routes: list[Any] = [Route("/k", raiser(KeyError("k"))), Route("/v", raiser(ValueError()))]
    if level == "route":
        routes = [
            Route("/k", raiser(KeyError("k")), middleware=middleware),
            Route("/v", raiser(ValueError()), middleware=middleware),
        ]
    elif level == "mount":
        routes = [Mount("", routes=routes, middleware=middleware)]
    app = Starlette(routes=routes, middleware=middleware if level == "app" else [])
    async with client_for(app) as client:
        k, v = await client.get("/k"), await client.get("/v")
    assert (k.status_code, v.status_code) == (404, 400)
    assert k.headers["x-tag"] == v.headers["x-tag"] == level


def test_a_copy_of_an_instance_is_an_instance() -> None:
    errors = Interceptor({KeyError: 404})
    original = InterceptorMiddleware(Router(), interceptor=errors)
    copied = copy.copy(original)
    assert type(copied) is InterceptorMiddleware
    assert (copied.app, copied.interceptor) == (original.app, errors)


def test_an_instance_rewired_onto_starlettes_stack_is_wrapped_not_reinitialised() -> None:
    first_errors, second_errors = Interceptor({KeyError: 404}), Interceptor({ValueError: 400})
    rewired = InterceptorMiddleware(Router(), interceptor=first_errors)
    rewired.app = ExceptionMiddleware(Router())  # after construction: never moved inside
    outer = InterceptorMiddleware(rewired, interceptor=second_errors)
    assert outer is not rewired
    assert (outer.app, outer.interceptor, rewired.interceptor) == (
        rewired,
        second_errors,
        first_errors,
    )


async def test_app_level_interceptor_leaves_no_layer_of_its_own_above_starlettes_handlers() -> None:
    # Starlette's stack gets back the app it gave, the interceptor inside its
    # ExceptionMiddleware next to the router: no call per request up there.
    errors, other = Interceptor({KeyError: 404}), Interceptor({ValueError: 400})
    app = Starlette(
        routes=[Route("/k", raiser(KeyError("k"))), Route("/v", raiser(ValueError("v")))],
        middleware=[*mw(errors), *mw(other)],
    )
    stack = app.build_middleware_stack()
    layers = []
    layer: Any = stack
    while layer is not None and not isinstance(layer, Router):
        layers.append(type(layer))
        layer = getattr(layer, "app", None)
    assert layers == [ServerErrorMiddleware, ExceptionMiddleware, *[InterceptorMiddleware] * 2]
    assert [stack.app.app.interceptor, stack.app.app.app.interceptor] == [errors, other]
    async with client_for(app) as client:
        assert (await client.get("/k")).status_code == 404
        assert (await client.get("/v")).status_code == 400


# -- websockets ---------------------------------------------------------------------


def ws_scope(path: str = "/ws", *, denial: bool) -> Scope:
    scope = http_scope(path)
    del scope["method"]
    scope.update(
        type="websocket",
        scheme="ws",
        subprotocols=[],
        extensions={"websocket.http.response": {}} if denial else {},
    )
    return scope


def ws_app(*, accept_first: bool, exc: Exception, errors: Interceptor) -> Starlette:
    async def endpoint(websocket: WebSocket) -> None:
        if accept_first:
            await websocket.accept()
        raise exc

    return Starlette(routes=[WebSocketRoute("/ws", endpoint, middleware=mw(errors))])


async def run_ws(app: Starlette, scope: Scope) -> list[Message]:
    recorder = Recorder([{"type": "websocket.connect"}])
    await app(scope, recorder.receive, recorder.send)
    return recorder.sent


async def test_websocket_after_accept_closes_with_4000_plus_status() -> None:
    app = ws_app(accept_first=True, exc=KeyError("k"), errors=Interceptor({KeyError: 404}))
    sent = await run_ws(app, ws_scope(denial=True))
    assert [m["type"] for m in sent] == ["websocket.accept", "websocket.close"]
    assert sent[1]["code"] == 4404
    assert sent[1]["reason"] == "Not Found"


async def test_websocket_server_error_closes_with_1011() -> None:
    app = ws_app(accept_first=True, exc=RuntimeError("x"), errors=Interceptor({RuntimeError: 500}))
    sent = await run_ws(app, ws_scope(denial=False))
    assert sent[-1] == {"type": "websocket.close", "code": 1011, "reason": "Internal Server Error"}


async def test_websocket_before_accept_sends_an_http_denial_when_supported() -> None:
    app = ws_app(
        accept_first=False, exc=PermissionError("no"), errors=Interceptor({PermissionError: 403})
    )
    sent = await run_ws(app, ws_scope(denial=True))
    assert [m["type"] for m in sent] == [
        "websocket.http.response.start",
        "websocket.http.response.body",
    ]
    assert sent[0]["status"] == 403
    assert json.loads(sent[1]["body"]) == {
        "type": "about:blank",
        "title": "Forbidden",
        "status": 403,
        "detail": "no",
        "retryable": False,
    }


@pytest.mark.parametrize("where", ["route", "plain ASGI app"])
async def test_a_handlers_streamed_response_denies_a_websocket_with_its_whole_body(
    where: str,
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"go "
        yield b"away"

    def handler(websocket: WebSocket, exc: Exception) -> Response:
        return StreamingResponse(chunks(), status_code=403, media_type="text/plain")

    errors = Interceptor({PermissionError: handler})
    if where == "route":
        app: Any = ws_app(accept_first=False, exc=PermissionError("no"), errors=errors)
    else:

        async def plain(scope: Scope, receive: Receive, send: Send) -> None:
            raise PermissionError("no")

        app = InterceptorMiddleware(plain, interceptor=errors)
    sent = await run_ws(app, ws_scope(denial=True))
    assert [m["type"] for m in sent][:2] == [
        "websocket.http.response.start",
        "websocket.http.response.body",
    ]
    assert sent[0]["status"] == 403
    assert b"".join(m.get("body", b"") for m in sent[1:]) == b"go away"


async def test_websocket_before_accept_without_denial_support_closes() -> None:
    app = ws_app(
        accept_first=False, exc=PermissionError("no"), errors=Interceptor({PermissionError: 403})
    )
    sent = await run_ws(app, ws_scope(denial=False))
    assert sent == [{"type": "websocket.close", "code": 4403, "reason": "Forbidden"}]


async def test_websocket_handlers_receive_the_websocket_and_may_close_it() -> None:
    received: list[object] = []

    async def handler(websocket: WebSocket, exc: Exception) -> None:
        received.append(websocket)
        await websocket.send_text("bye")
        await websocket.close(code=4321)

    app = ws_app(accept_first=True, exc=KeyError("k"), errors=Interceptor({KeyError: handler}))
    sent = await run_ws(app, ws_scope(denial=False))
    assert isinstance(received[0], WebSocket)
    assert [m["type"] for m in sent] == ["websocket.accept", "websocket.send", "websocket.close"]
    assert sent[-1]["code"] == 4321


async def test_a_handler_past_its_timeout_is_answered_500_and_named_in_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def slow_handler(request: Request, exc: Exception) -> int:
        await asyncio.sleep(30)
        return 404  # pragma: no cover - never reached

    errors = Interceptor({KeyError: slow_handler}, handler_timeout=0.1)
    app = Starlette(routes=[Route("/x", raiser(KeyError("k")))], middleware=mw(errors))
    with caplog.at_level(logging.ERROR, logger="interceptor"):
        async with client_for(app) as client:
            response = await client.get("/x")
    assert response.status_code == 500
    assert response.json()["error_id"]
    (record,) = [r for r in caplog.records if "did not answer" in r.getMessage()]
    assert "slow_handler" in record.getMessage()
    assert "0.1 s" in record.getMessage()


async def test_without_a_handler_timeout_a_slow_handler_still_answers() -> None:
    async def slowish(request: Request, exc: Exception) -> int:
        await asyncio.sleep(0.2)
        return 404

    def sync_slowish(request: Request, exc: Exception) -> int:
        threading.Event().wait(0.2)
        return 409

    errors = Interceptor({KeyError: slowish, ValueError: sync_slowish}, handler_timeout=None)
    app = Starlette(
        routes=[Route("/k", raiser(KeyError())), Route("/v", raiser(ValueError()))],
        middleware=mw(errors),
    )
    async with client_for(app) as client:
        assert (await client.get("/k")).status_code == 404
        assert (await client.get("/v")).status_code == 409


@pytest.mark.parametrize(("value", "error"), [(0, ValueError), (-1, ValueError), ("5", ValueError)])
def test_handler_timeout_must_be_positive_seconds_or_none(value: object, error: type) -> None:
    with pytest.raises(error, match="handler_timeout"):
        Interceptor(handler_timeout=value)  # type: ignore[arg-type]


# -- a handler's own 5xx tuple ------------------------------------------------------------

@pytest.mark.parametrize(("result", "body", "where", "chosen"), TUPLE_ANSWERS)
async def test_a_5xx_tuple_answer_shows_the_error_id_the_report_gets(
    result: Any, body: Any, where: str | None, chosen: str | None
) -> None:
    reports: list[Any] = []
    events: list[Any] = []
    reported = threading.Event()

    def reporter(report: Any) -> None:
        reports.append(report)
        reported.set()

    errors = Interceptor({KeyError: lambda request, exc: result}, reporter=reporter)
    errors.add_observer(events.append)
    app = Starlette(routes=[Route("/x", raiser(KeyError("k")))], middleware=mw(errors))
    async with client_for(app) as client:
        response = await client.get("/x")
    assert response.status_code == result[1]
    seen_body, seen_id = split_error_id(response.json(), response.headers, where)
    assert seen_body == body
    (event,) = events
    if where is None:
        assert seen_id is None
        assert event.error_id is None
        return
    assert seen_id == event.error_id == (chosen or seen_id)
    assert reported.wait(5)
    assert reports[0].error_id == seen_id


@pytest.mark.parametrize(
    ("response", "chosen"),
    [
        (PlainTextResponse("down", status_code=503), None),
        (PlainTextResponse("down", status_code=500, headers={"X-Error-Id": "mine-2"}), "mine-2"),
        (PlainTextResponse("gone", status_code=410), None),
    ],
)
async def test_a_5xx_response_a_handler_returned_shows_the_error_id_the_report_gets(
    response: Response, chosen: str | None
) -> None:
    # Sent as it is, but for an X-Error-Id header on a 5xx: support finds the
    # report from what the client saw, as for every other 5xx.
    reports: list[Any] = []
    events: list[Any] = []
    errors = Interceptor({KeyError: lambda request, exc: response}, reporter=reports.append)
    errors.add_observer(events.append)
    app = Starlette(routes=[Route("/x", raiser(KeyError("k")))], middleware=mw(errors))
    async with client_for(app) as client:
        sent = await client.get("/x")
    assert (sent.status_code, sent.text) == (response.status_code, response.body.decode())
    (event,) = events
    if response.status_code < 500:
        assert "x-error-id" not in sent.headers
        assert event.error_id is None
        return
    assert sent.headers["x-error-id"] == event.error_id == (chosen or event.error_id)
    assert delivery.flush(5)
    assert [report.error_id for report in reports] == [event.error_id]


async def test_one_interceptors_stuck_handlers_leave_the_others_running() -> None:
    """The bound on sync handlers left past ``handler_timeout`` is each interceptor's:
    a hung dependency behind one never turns another's healthy handler into a 500,
    and one with no timeout never abandons a call."""
    from interceptor._asgi import MAX_STUCK_HANDLERS, stuck_handlers  # noqa: PLC0415

    gate = threading.Event()

    class Hung(Exception):
        pass

    def hangs(request: Request, exc: Hung) -> int:
        gate.wait(30)  # released at the end of the test
        return 503

    def answers(request: Request, exc: KeyError) -> int:
        return 404

    payments = Interceptor({Hung: hangs}, handler_timeout=0.05)
    users = Interceptor({KeyError: answers}, handler_timeout=None)

    async def pay(request: Request) -> Response:
        raise Hung("the bank does not answer")

    async def user(request: Request) -> Response:
        raise KeyError("no such user")

    app = Starlette(
        routes=[
            Mount("/pay", routes=[Route("/", pay)], middleware=mw(payments)),
            Mount("/users", routes=[Route("/", user)], middleware=mw(users)),
        ]
    )
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            for _ in range(MAX_STUCK_HANDLERS + 2):
                assert (await client.get("/pay/")).status_code == 500
            assert stuck_handlers(payments).count == MAX_STUCK_HANDLERS
            assert payments.deliveries.snapshot()["handlers_skipped"] == 2
            assert (await client.get("/users/")).status_code == 404
            assert users.deliveries.snapshot()["handlers_skipped"] == 0
    finally:
        gate.set()
    for _ in range(200):  # the released handlers return, each within a moment
        if stuck_handlers(payments).count == 0:
            break
        await anyio.sleep(0.05)
    assert stuck_handlers(payments).count == 0


async def test_a_response_status_tuple_answer_sets_the_status() -> None:
    def on_key(request: Request, exc: Exception) -> object:
        return JSONResponse({"error": "taken"}), 409, {"X-Reason": "taken"}

    errors = Interceptor({KeyError: on_key})
    app = Starlette(routes=[Route("/", raiser(KeyError("k")))], middleware=mw(errors))
    async with client_for(app) as client:
        response = await client.get("/")
    assert (response.status_code, response.json()) == (409, {"error": "taken"})
    assert response.headers["x-reason"] == "taken"


@pytest.mark.parametrize("module", ["interceptor.starlette", "interceptor.fastapi"])
def test_missing_starlette_fails_with_an_install_hint(module: str) -> None:
    # Without the extra there is no Starlette, and no anyio either (Starlette brings it).
    code = f"import sys; sys.modules['starlette'] = sys.modules['anyio'] = None; import {module}"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode != 0
    extra = module.rpartition(".")[2]
    assert f"pip install 'exception-interceptor[{extra}]'" in result.stderr, result.stderr
