"""One exception object raised on many requests (a module-level constant, as
FastAPI's security examples define ``credentials_exception``): what a request
did with it must not change how the next request is answered, and nothing may
pile up on it.

A handler that raises such an object once (re-raising ``exc`` to decline, or
translating into a shared constant) used to mark it for good: the interceptor
never handled it again in any later request, and the mark grew by one entry
per request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from flask import Blueprint, Flask
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.types import Receive, Scope, Send
from werkzeug.test import Client

from interceptor import Interceptor
from interceptor.flask import init_app
from interceptor.starlette import InterceptorMiddleware
from interceptor.wsgi import InterceptorMiddleware as WSGIInterceptorMiddleware


class Denied(Exception):
    """The application's own error, raised as one shared object."""


REQUESTS = 40


def _interceptor(shared: Denied) -> Interceptor:
    """KeyError's handler raises ``shared``; a second KeyError-free path raises it directly."""

    def translate(request: object, exc: Exception) -> None:
        raise shared

    return Interceptor({KeyError: translate, Denied: 451})


def _starlette(shared: Denied, *, routed: bool) -> Starlette:
    def raise_key(request: Request) -> Response:
        raise KeyError("k")

    def raise_shared(request: Request) -> Response:
        raise shared

    async def plain(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"].endswith("/key"):
            raise KeyError("k")
        raise shared

    errors = _interceptor(shared)
    at_mount = [Middleware(InterceptorMiddleware, interceptor=errors)]
    if routed:  # answered at the route, through Starlette's table
        routes = [Route("/key", raise_key), Route("/shared", raise_shared)]
        api = Mount("/api", routes=routes, middleware=at_mount)
    else:  # a plain ASGI app: the middleware answers, once at the Mount, once outside
        api = Mount("/api", app=plain, middleware=at_mount)
    outside = [Middleware(InterceptorMiddleware, interceptor=errors)]
    return Starlette(routes=[api], middleware=outside)


def _flask(shared: Denied) -> Flask:
    app = Flask(__name__)
    api = Blueprint("api", __name__, url_prefix="/api")

    @api.route("/key")
    def raise_key() -> str:
        raise KeyError("k")

    @api.route("/shared")
    def raise_shared() -> str:
        raise shared

    errors = _interceptor(shared)
    init_app(api, errors)
    app.register_blueprint(api)
    init_app(app, errors)  # the same interceptor at two scopes
    return app


def _wsgi(shared: Denied) -> Any:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        if environ["PATH_INFO"] == "/api/key":
            raise KeyError("k")
        raise shared

    errors = _interceptor(shared)
    inner = WSGIInterceptorMiddleware(app, interceptor=errors)
    return WSGIInterceptorMiddleware(inner, interceptor=errors)


def _statuses_asgi(app: Starlette) -> Callable[[str], int]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)

    def get(path: str) -> int:
        async def one() -> int:
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                return (await client.get(path)).status_code

        return asyncio.run(one())

    return get


def _statuses_wsgi(app: Any) -> Callable[[str], int]:
    client = Client(app)

    def get(path: str) -> int:
        try:
            return client.get(path).status_code
        except Exception:  # what reaches the server: a 500 there
            return 500

    return get


APPS: dict[str, Callable[[Denied], Callable[[str], int]]] = {
    "starlette route": lambda shared: _statuses_asgi(_starlette(shared, routed=True)),
    "starlette plain ASGI": lambda shared: _statuses_asgi(_starlette(shared, routed=False)),
    "flask": lambda shared: _statuses_wsgi(_flask(shared)),
    "wsgi": lambda shared: _statuses_wsgi(_wsgi(shared)),
}


@pytest.mark.parametrize("framework", APPS)
def test_a_shared_exception_a_handler_raised_is_still_handled_on_later_requests(
    framework: str,
) -> None:
    shared = Denied("denied")
    get = APPS[framework](shared)
    assert get("/api/shared") == 451
    for _ in range(3):
        # The handler's exception goes to the next scope out, where the same
        # interceptor does not handle it again: it reaches the server.
        assert get("/api/key") == 500
    assert get("/api/shared") == 451  # this request raised it itself


@pytest.mark.parametrize("framework", APPS)
def test_nothing_piles_up_on_a_shared_exception(framework: str) -> None:
    shared = Denied("denied")
    get = APPS[framework](shared)
    before = set(vars(shared))
    for _ in range(REQUESTS):
        get("/api/key")
    assert set(vars(shared)) == before
