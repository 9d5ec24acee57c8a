"""Router scope for FastAPI through the intercepted route class."""

from __future__ import annotations

import httpx
import pytest

fastapi = pytest.importorskip("fastapi")

from fastapi import APIRouter, FastAPI, HTTPException, Request  # noqa: E402
from fastapi.exceptions import RequestValidationError  # noqa: E402
from fastapi.responses import JSONResponse  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402

from interceptor import Interceptor, Problem  # noqa: E402
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
