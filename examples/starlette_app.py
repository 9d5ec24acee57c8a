"""A Starlette app with interceptors at route, Mount and app scope.

Run it:  uvicorn examples.starlette_app:app
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Mount, Route

from interceptor import ApiError, Interceptor, Problem
from interceptor.starlette import InterceptorMiddleware


class UserNotFound(ApiError):
    status = 404
    code = "USER_NOT_FOUND"


class PaymentDeclined(Exception):
    """Only the route that takes payments knows what this means."""


class Maintenance(Exception):
    """Starlette's own app-level handler answers this one."""


# Route scope: one endpoint's own mapping.
payment_errors = Interceptor({PaymentDeclined: Problem(status=402, code="PAYMENT_DECLINED")})

# Mount scope: everything under /api, including its routing 404s and 405s.
api_errors = Interceptor({LookupError: 404, 405: Problem(code="METHOD_NOT_ALLOWED")})


@api_errors.handler(404)
def on_not_found(request: Request, exc: Exception) -> Problem | None:
    # Status keys match every 404 under /api, ApiErrors included: decline
    # those, so that they render with their own code.
    if isinstance(exc, ApiError):
        return None
    return Problem(code="NO_SUCH_API_ROUTE", detail=f"nothing at {request.url.path}")


@api_errors.handler(ValueError)
async def on_value_error(request: Request, exc: ValueError) -> Problem:
    return Problem(status=422, code="INVALID_INPUT", detail=f"{request.url.path}: {exc}")


# App scope: the outermost interceptor, beating Starlette's default handlers.
app_errors = Interceptor({PermissionError: 403, TimeoutError: 504})


async def user(request: Request) -> Response:
    user_id = request.path_params["user_id"]
    if user_id != 1:
        raise UserNotFound(f"user {user_id} not found", user_message="We don't know you")
    return JSONResponse({"id": 1, "name": "Ada"})


async def lookup(request: Request) -> Response:
    return JSONResponse({"value": {"a": 1}[request.query_params.get("key", "missing")]})


async def parse(request: Request) -> Response:
    return JSONResponse({"n": int(request.query_params.get("n", "x"))})


async def pay(request: Request) -> Response:
    raise PaymentDeclined("card declined")


async def admin(request: Request) -> Response:
    raise PermissionError("admins only")


async def maintenance(request: Request) -> Response:
    raise Maintenance("back soon")


async def teapot(request: Request) -> Response:
    raise HTTPException(418, "short and stout")


async def crash(request: Request) -> Response:
    raise RuntimeError("database password is hunter2")


async def stream(request: Request) -> Response:
    async def chunks():  # type: ignore[no-untyped-def]
        yield b"first chunk\n"
        raise ValueError("failed mid-stream")

    return StreamingResponse(chunks(), media_type="text/plain")


async def hello(request: Request) -> Response:
    return PlainTextResponse("hello")


async def on_maintenance(request: Request, exc: Exception) -> Response:
    return PlainTextResponse("maintenance (Starlette's own handler)", status_code=503)


app = Starlette(
    routes=[
        Route("/", hello),
        Route("/admin", admin),
        Route("/maintenance", maintenance),
        Route("/teapot", teapot),
        Route("/crash", crash),
        Mount(
            "/api",
            routes=[
                Route("/users/{user_id:int}", user),
                Route("/lookup", lookup),
                Route("/parse", parse),
                Route(
                    "/pay",
                    pay,
                    methods=["POST"],
                    middleware=[Middleware(InterceptorMiddleware, interceptor=payment_errors)],
                ),
                Route("/stream", stream),
            ],
            middleware=[Middleware(InterceptorMiddleware, interceptor=api_errors)],
        ),
    ],
    middleware=[Middleware(InterceptorMiddleware, interceptor=app_errors)],
    exception_handlers={Maintenance: on_maintenance},
)

# (method, path, what handles it) for the demo and the integration test.
DEMO_REQUESTS = [
    ("GET", "/", "no error"),
    ("GET", "/api/users/1", "no error"),
    ("GET", "/api/users/42", "ApiError, rendered by the /api interceptor"),
    ("GET", "/api/lookup", "LookupError -> 404, /api interceptor"),
    ("GET", "/api/parse?n=x", "ValueError -> async handler, /api interceptor"),
    ("POST", "/api/pay", "route interceptor of /api/pay"),
    ("GET", "/api/pay", "routing 405 under /api, /api interceptor"),
    ("GET", "/api/nowhere", "routing 404 under /api, /api interceptor"),
    ("GET", "/admin", "PermissionError -> 403, app interceptor"),
    ("GET", "/maintenance", "Starlette's own exception handler"),
    ("GET", "/teapot", "no interceptor matches: Starlette's HTTPException handler"),
    ("GET", "/crash", "unmatched: Starlette's 500"),
    ("GET", "/nowhere", "routing 404 outside /api: Starlette's default"),
]
