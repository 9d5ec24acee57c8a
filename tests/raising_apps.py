"""One app per framework whose routes each raise what a function raises, for tests
that compare the answers of Starlette and Flask to the same exceptions."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from flask import Flask
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from interceptor import Interceptor
from interceptor.flask import init_app
from interceptor.starlette import InterceptorMiddleware

Raises = Callable[[], None]


def starlette_app(raising: Mapping[str, Raises], errors: Interceptor) -> Starlette:
    """A Starlette app with ``errors`` at app level, a route per path calling its function."""

    def route(raise_: Raises) -> Callable[[Request], Response]:
        def endpoint(request: Request) -> Response:
            raise_()
            return Response("unreachable")

        return endpoint

    return Starlette(
        routes=[Route(path, route(fn)) for path, fn in raising.items()],
        middleware=[Middleware(InterceptorMiddleware, interceptor=errors)],
    )


def flask_app(raising: Mapping[str, Raises], errors: Interceptor) -> Flask:
    """The same for Flask, with ``init_app(app, errors)``."""
    app = Flask(__name__)
    for path, fn in raising.items():

        def view(fn: Raises = fn) -> str:
            fn()
            return "unreachable"

        app.add_url_rule(path, path, view)
    init_app(app, errors)
    return app
