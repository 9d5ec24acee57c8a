"""A FastAPI app with router-scoped interceptors and an app-level one.

Its OpenAPI document (/openapi.json, /docs, /redoc) lists the errors each
operation can answer, as problem details.

Run it:  uvicorn examples.fastapi_app:app
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.middleware import Middleware

from interceptor import ApiError, Interceptor, Problem
from interceptor.fastapi import (
    declare_answers,
    error_responses,
    install_openapi,
    intercepted_route,
)
from interceptor.starlette import InterceptorMiddleware


class UserNotFound(ApiError):
    status = 404
    code = "USER_NOT_FOUND"


class AccountLocked(Exception):
    pass


# Router scope: the users router answers validation errors as problem details.
users_errors = Interceptor({AccountLocked: Problem(status=423, code="ACCOUNT_LOCKED")})


@users_errors.handler(RequestValidationError)
@declare_answers(Problem(status=422, code="INVALID_REQUEST"))  # for the OpenAPI document
def on_invalid(request: Request, exc: RequestValidationError) -> Problem:
    fields = [".".join(map(str, error["loc"])) for error in exc.errors()]
    return Problem(
        status=422, code="INVALID_REQUEST", detail=f"invalid: {', '.join(fields)}", fields=fields
    )


# A nested router inside /users with its own, nearer mapping.
billing_errors = Interceptor({AccountLocked: Problem(status=402, code="BILLING_LOCKED")})
# App scope.
app_errors = Interceptor({PermissionError: 403, 404: Problem(code="NO_SUCH_ROUTE")})

users = APIRouter(prefix="/users", route_class=intercepted_route(users_errors))
billing = APIRouter(
    prefix="/billing", route_class=intercepted_route(billing_errors, base=users.route_class)
)


@users.get("/{user_id}", responses=error_responses(UserNotFound))
async def get_user(user_id: int) -> dict[str, object]:
    if user_id == 7:
        raise AccountLocked("account 7 is locked")
    if user_id != 1:
        raise UserNotFound(f"user {user_id} not found")
    return {"id": 1, "name": "Ada"}


@billing.get("/{user_id}")
async def get_invoice(user_id: int) -> dict[str, object]:
    raise AccountLocked(f"account {user_id} is locked")


users.include_router(billing)

app = FastAPI(middleware=[Middleware(InterceptorMiddleware, interceptor=app_errors)])


@app.exception_handler(HTTPException)
async def fastapi_http_handler(request: Request, exc: HTTPException) -> JSONResponse:
    return JSONResponse({"fastapi_handler": exc.detail}, status_code=exc.status_code)


@app.get("/admin")
async def admin() -> None:
    raise PermissionError("admins only")


@app.get("/teapot")
async def teapot() -> None:
    raise HTTPException(418, "short and stout")


@app.get("/items")
async def items(limit: int) -> dict[str, int]:
    return {"limit": limit}


app.include_router(users)
install_openapi(app)  # after the routes: /openapi.json lists each operation's errors

DEMO_REQUESTS = [
    ("GET", "/users/1", "no error"),
    ("GET", "/users/2", "ApiError, rendered by the users router interceptor"),
    ("GET", "/users/abc", "RequestValidationError, users router interceptor"),
    ("GET", "/users/7", "AccountLocked, users router interceptor"),
    ("GET", "/users/billing/7", "AccountLocked, nested billing router (nearer)"),
    ("GET", "/items?limit=x", "validation outside the router: FastAPI's own 422"),
    ("GET", "/admin", "PermissionError -> 403, app interceptor"),
    ("GET", "/teapot", "no interceptor matches: FastAPI exception handler"),
    ("GET", "/nowhere", "routing 404, app interceptor"),
]
