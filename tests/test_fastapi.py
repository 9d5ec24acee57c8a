"""Router scope for FastAPI through the intercepted route class."""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

fastapi = pytest.importorskip("fastapi")

from fastapi import (  # noqa: E402
    APIRouter,
    BackgroundTasks,
    Depends,
    FastAPI,
    HTTPException,
    Request,
    Response,
)
from fastapi.exceptions import RequestValidationError  # noqa: E402
from fastapi.responses import JSONResponse, StreamingResponse  # noqa: E402
from fastapi.routing import APIRoute  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402
from starlette.types import Receive, Scope, Send  # noqa: E402

from interceptor import Interceptor, Problem  # noqa: E402
from interceptor._delivery import delivery  # noqa: E402
from interceptor.fastapi import intercepted_route  # noqa: E402
from interceptor.starlette import InterceptorMiddleware  # noqa: E402


class Shared(Exception):
    pass


def client_for(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


def build_app() -> FastAPI:
    users_errors = Interceptor(
        {
            Shared: Problem(status=409, code="USERS"),
            RequestValidationError: Problem(status=422, code="INVALID"),
        }
    )
    admin_errors = Interceptor({Shared: Problem(status=409, code="ADMIN")})
    app_errors = Interceptor(
        {Shared: Problem(status=409, code="APP"), 404: Problem(code="APP_404")}
    )

    users = APIRouter(prefix="/users", route_class=intercepted_route(users_errors))
    admin = APIRouter(
        prefix="/admin", route_class=intercepted_route(admin_errors, base=users.route_class)
    )

    @users.get("/{user_id}")
    async def get_user(user_id: int) -> dict[str, int]:
        if user_id == 0:
            raise Shared("zero")
        if user_id == 1:
            raise HTTPException(status_code=403, detail="not you")
        if user_id == 2:
            raise KeyError("unmatched")
        return {"id": user_id}

    @admin.get("/shared")
    def admin_shared() -> None:
        raise Shared("admin")

    @admin.get("/validated")
    def admin_validated(limit: int) -> dict[str, int]:
        return {"limit": limit}

    users.include_router(admin)

    app = FastAPI(middleware=[Middleware(InterceptorMiddleware, interceptor=app_errors)])

    @app.exception_handler(KeyError)
    async def on_key_error(request: Request, exc: KeyError) -> JSONResponse:
        return JSONResponse({"fastapi": "key"}, status_code=400)

    @app.get("/top")
    def top() -> None:
        raise Shared("top")

    @app.get("/plain-validated")
    def plain_validated(limit: int) -> dict[str, int]:
        return {"limit": limit}

    app.include_router(users)
    return app


@pytest.fixture
def app() -> FastAPI:
    return build_app()


async def test_router_interceptor_survives_include_router(app: FastAPI) -> None:
    async with client_for(app) as client:
        response = await client.get("/users/0")
    assert (response.status_code, response.json()["code"]) == (409, "USERS")


async def test_nested_router_tries_its_own_interceptor_first(app: FastAPI) -> None:
    async with client_for(app) as client:
        response = await client.get("/users/admin/shared")
        validated = await client.get("/users/admin/validated", params={"limit": "x"})
    assert response.json()["code"] == "ADMIN"
    # Not matched by admin's interceptor: the enclosing router's one answers.
    assert (validated.status_code, validated.json()["code"]) == (422, "INVALID")
    assert validated.headers["content-type"] == "application/problem+json"


async def test_app_interceptor_covers_routes_outside_the_router(app: FastAPI) -> None:
    async with client_for(app) as client:
        response = await client.get("/top")
        missing = await client.get("/nowhere")
    assert response.json()["code"] == "APP"
    assert (missing.status_code, missing.json()["code"]) == (404, "APP_404")


async def test_fastapi_handlers_still_answer_what_no_interceptor_matches(app: FastAPI) -> None:
    async with client_for(app) as client:
        forbidden = await client.get("/users/1")
        key = await client.get("/users/2")
        invalid = await client.get("/plain-validated", params={"limit": "x"})
        ok = await client.get("/users/7")
    assert (forbidden.status_code, forbidden.json()) == (403, {"detail": "not you"})
    assert (key.status_code, key.json()) == (400, {"fastapi": "key"})
    assert invalid.status_code == 422
    assert invalid.headers["content-type"] == "application/json"
    assert invalid.json()["detail"][0]["loc"] == ["query", "limit"]
    assert (ok.status_code, ok.json()) == (200, {"id": 7})


def test_intercepted_route_rejects_bad_arguments() -> None:
    with pytest.raises(TypeError, match="Interceptor"):
        intercepted_route({KeyError: 404})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="APIRoute"):
        intercepted_route(Interceptor(), base=object)  # type: ignore[arg-type]


# -- what fails after the endpoint returned ------------------------------------------


class Gone(Exception):
    pass


class Unrelated(Exception):
    pass


class RenderingFails(Response):
    """A response that fails before it sends anything, as a missing file's does."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise Gone("rendering")


_FUNCTION_SCOPED = "scope" in inspect.signature(Depends).parameters  # FastAPI 0.121+


def after_the_endpoint(
    errors: Interceptor | None, *, at: str = "route", fastapi_handler: bool = False
) -> FastAPI:
    """Routes whose failure comes after the endpoint returned, with ``errors`` at ``at``."""
    scoped = errors is not None and at == "route"
    router = APIRouter(route_class=intercepted_route(errors) if scoped else APIRoute)  # type: ignore[arg-type]

    async def closes_late() -> AsyncIterator[None]:
        yield
        raise Gone("teardown")

    if _FUNCTION_SCOPED:

        @router.get("/teardown")
        async def teardown(dep: None = Depends(closes_late, scope="function")) -> dict[str, int]:  # type: ignore[call-arg]
            return {"ok": 1}

    @router.get("/render")
    async def render() -> Response:
        return RenderingFails()

    @router.get("/background")
    async def background(tasks: BackgroundTasks) -> dict[str, int]:
        def fail() -> None:
            raise Gone("background")

        tasks.add_task(fail)
        return {"ok": 1}

    middleware = []
    if errors is not None and at == "app":
        middleware = [Middleware(InterceptorMiddleware, interceptor=errors)]
    app = FastAPI(middleware=middleware)
    if fastapi_handler:

        @app.exception_handler(Gone)
        async def on_gone(request: Request, exc: Gone) -> JSONResponse:
            return JSONResponse({"fastapi": "gone"}, status_code=410)

    app.include_router(router)
    return app


def _answers(app: FastAPI, paths: list[str]) -> list[tuple[int, bytes] | str]:
    """Each path's status and body, or the type of what reached the server."""

    async def all_of() -> list[tuple[int, bytes] | str]:
        transport = httpx.ASGITransport(app=app)
        out: list[tuple[int, bytes] | str] = []
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            for path in paths:
                try:
                    response = await client.get(path)
                except Exception as exc:  # what reached the server
                    out.append(type(exc).__name__)
                else:
                    out.append((response.status_code, response.content))
        return out

    return asyncio.run(all_of())


BEFORE_START = ["/render", *(["/teardown"] if _FUNCTION_SCOPED else [])]


@pytest.mark.parametrize("at", ["route", "app"])
def test_the_route_class_answers_what_fails_after_the_endpoint_returned(at: str) -> None:
    # A function-scoped dependency's teardown, a response that fails before
    # it starts: no longer in the endpoint's call, still the route's.
    errors = Interceptor({Gone: Problem(status=409, code="GONE")})
    answers = _answers(after_the_endpoint(errors, at=at), BEFORE_START)
    assert all(
        isinstance(a, tuple) and a[0] == 409 and json.loads(a[1])["code"] == "GONE"
        for a in answers
    ), answers


@pytest.mark.parametrize("fastapi_handler", [False, True])
def test_a_route_class_that_matches_nothing_changes_nothing_after_the_endpoint(
    fastapi_handler: bool,
) -> None:
    paths = [*BEFORE_START, "/background"]
    bare = _answers(after_the_endpoint(None, fastapi_handler=fastapi_handler), paths)
    unmatched = Interceptor({Unrelated: 400})
    scoped = _answers(after_the_endpoint(unmatched, fastapi_handler=fastapi_handler), paths)
    assert scoped == bare


@pytest.mark.parametrize("at", ["route", "app"])
def test_a_failure_after_the_response_started_is_reported_once_by_the_route_class(
    caplog: pytest.LogCaptureFixture, at: str
) -> None:
    reports: list[Any] = []
    errors = Interceptor({Gone: 409}, reporter=reports.append)
    with caplog.at_level(logging.ERROR, logger="interceptor"):
        answers = _answers(after_the_endpoint(errors, at=at), ["/background"])
        assert delivery.flush(5)
    # The client got its 200 before the task ran; the server sees Starlette's
    # error for a claimed exception after the start, as with its own handler.
    assert answers == ["RuntimeError"]
    assert [type(r.exception) for r in reports] == [Gone]
    lines = [r for r in caplog.records if reports[0].error_id in r.getMessage()]
    assert len(lines) == 1


@pytest.mark.parametrize("route_class", ["bare", "matching-nothing"])
def test_a_late_failure_a_route_class_does_not_match_is_the_app_level_interceptors(
    route_class: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Failures after the response started, an HTTPException (FastAPI's own handler's)
    and an exception of the app's: a route class that matches neither leaves both to
    the app-level interceptor, which reports each once."""
    reports: list[Any] = []
    scoped = intercepted_route(Interceptor({Unrelated: 400}))
    router = APIRouter(route_class=scoped if route_class != "bare" else APIRoute)

    def stream(error: Exception) -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            yield b"first"
            raise error

        return StreamingResponse(chunks())

    router.add_api_route("/http", lambda: stream(HTTPException(400, "late")))
    router.add_api_route("/gone", lambda: stream(Gone("late")))
    everything = Interceptor({Exception: 500}, reporter=reports.append, name="app")
    app = FastAPI(middleware=[Middleware(InterceptorMiddleware, interceptor=everything)])
    app.include_router(router)
    with caplog.at_level(logging.ERROR, logger="interceptor"):
        answers = _answers(app, ["/http", "/gone"])
        assert delivery.flush(5)
    # Starlette's error for what is claimed at the route (the catch-all claims both).
    assert answers == ["RuntimeError", "RuntimeError"]
    assert [type(r.exception) for r in reports] == [HTTPException, Gone]
    assert {r.scope for r in caplog.records if "started" in r.getMessage()} == {"app"}


def test_an_exception_the_route_class_declined_is_not_tried_again_at_the_route() -> None:
    calls: list[str] = []

    def decline(request: Request, exc: Exception) -> None:
        calls.append(type(exc).__name__)

    router = APIRouter(route_class=intercepted_route(Interceptor({Gone: decline})))

    @router.get("/gone")
    async def gone() -> None:
        raise Gone("endpoint")

    app = FastAPI()

    @app.exception_handler(Gone)
    async def on_gone(request: Request, exc: Gone) -> JSONResponse:
        return JSONResponse({"fastapi": "gone"}, status_code=410)

    app.include_router(router)
    assert _answers(app, ["/gone"]) == [(410, b'{"fastapi":"gone"}')]
    assert calls == ["Gone"]


@pytest.mark.parametrize("dependency_scope", ["function", "request"])
@pytest.mark.parametrize("at", ["route", "app"])
def test_a_yield_dependency_sees_the_endpoints_exception_before_the_interceptor(
    at: str, dependency_scope: str
) -> None:
    # FastAPI throws the endpoint's exception into its yield dependencies (a
    # session's rollback, an exception they turn into another): a catch-all
    # answers what comes out of them, as an app-level one does.
    seen: list[str] = []

    def session() -> Any:
        try:
            yield "session"
        except Gone as exc:
            seen.append("rolled back")
            raise HTTPException(status_code=409, detail="from the dependency") from exc

    errors = Interceptor({Exception: 500})
    router = APIRouter(route_class=intercepted_route(errors) if at == "route" else APIRoute)

    scoped = {"scope": dependency_scope} if _FUNCTION_SCOPED else {}  # older: request-scoped

    @router.get("/gone")
    async def gone(db: str = Depends(session, **scoped)) -> None:
        raise Gone("endpoint")

    app_mw = [Middleware(InterceptorMiddleware, interceptor=errors)] if at == "app" else []
    app = FastAPI(middleware=app_mw)
    app.include_router(router)
    [answer] = _answers(app, ["/gone"])
    assert isinstance(answer, tuple), answer
    assert answer[0] == 409, answer
    assert json.loads(answer[1])["detail"] == "from the dependency"
    assert seen == ["rolled back"]
