"""Whose words a 4xx body's ``detail`` is: only the application's.

A library's message (the standard library's, an installed package's, the
interpreter's own for ``d[key]`` or ``int(text)``) never reaches a body
unless ``debug=True``; what the application raised with its own words does.
Through real clients: Starlette over httpx.ASGITransport, Flask over its test
client, with the handlers registered as a README reader would.
"""

from __future__ import annotations

import contextvars
import json
import sqlite3
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import itsdangerous
import pytest
from flask import Flask
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from interceptor import ApiError, Interceptor, Problem
from interceptor._origin import (
    ClassOrigin,
    class_origin,
    is_library_file,
    raised_by_application,
)
from interceptor.flask import init_app
from interceptor.starlette import InterceptorMiddleware
from tests import raising_apps

SECRET = "sk_live_SECRET"  # noqa: S105 - made up, to look for in bodies
CURRENT_TENANT: contextvars.ContextVar[str] = contextvars.ContextVar("current_tenant")


def duplicate_user() -> None:
    """The stdlib's driver: its message names the table and column."""
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE users (email TEXT UNIQUE)")
    db.execute("INSERT INTO users VALUES ('alice@example.test')")
    db.execute("INSERT INTO users VALUES ('alice@example.test')")


def open_internal_url() -> None:
    """The stdlib raising a built-in ValueError whose message is the internal URL."""
    urllib.request.urlopen(f"billing.internal/charge?api_key={SECRET}")  # noqa: S310


def unsign() -> None:
    """An installed package's error: its message quotes the forged signature."""
    itsdangerous.Signer("key").unsign(b"user=admin.forged-" + SECRET.encode())


def parse_limit() -> None:
    """The interpreter's message for ``int(text)`` quotes the client's input."""
    int(f"limit-{SECRET}")


def look_up_user() -> None:
    """The interpreter's KeyError for ``d[key]``: its message is the key looked up."""
    users: dict[str, str] = {}
    users[f"user-{SECRET}"]  # the lookup is what raises


def read_tenant() -> None:
    """A ContextVar's LookupError: a repr with a memory address."""
    CURRENT_TENANT.get()


def read_settings() -> None:
    """open()'s FileNotFoundError names the server's path."""
    Path(f"/srv/app/{SECRET}/settings.json").read_text()


LIBRARY_TEXT: dict[str, tuple[Callable[[], None], int]] = {
    "/duplicate": (duplicate_user, 409),
    "/url": (open_internal_url, 400),
    "/unsign": (unsign, 400),
    "/limit": (parse_limit, 400),
    "/user": (look_up_user, 404),
    "/tenant": (read_tenant, 404),
    "/settings": (read_settings, 404),
}


FIXED_DETAILS = {"/settings": "The requested resource was not found."}


class Conflict(Exception):
    """The application's own exception class."""


def raise_value() -> None:
    raise ValueError("The email address is not valid.")


def raise_key() -> None:
    raise KeyError("user 42 not found")


def raise_conflict() -> None:
    raise Conflict("That name is taken.")


def _helper_raises() -> None:
    raise ValueError("The date is in the past.")


def raise_in_helper() -> None:
    _helper_raises()


def reraise_with_own_words() -> None:
    try:
        int("x")
    except ValueError:
        raise ValueError("The page number must be a number.") from None


def exec_raises() -> None:
    exec('raise ValueError("Written in a template.")')  # noqa: S102 - the application's own code


OWN_TEXT: dict[str, tuple[Callable[[], None], int, str]] = {
    "/own-value": (raise_value, 400, "The email address is not valid."),
    "/own-key": (raise_key, 404, "user 42 not found"),
    "/own-class": (raise_conflict, 409, "That name is taken."),
    "/own-helper": (raise_in_helper, 400, "The date is in the past."),
    "/own-reraise": (reraise_with_own_words, 400, "The page number must be a number."),
    "/own-exec": (exec_raises, 400, "Written in a template."),
}


def errors_for(debug: bool = False) -> Interceptor:
    return Interceptor(
        {
            sqlite3.IntegrityError: 409,
            itsdangerous.BadSignature: 400,
            ValueError: Problem(status=400, code="BAD_INPUT"),
            (LookupError, FileNotFoundError): 404,
            Conflict: 409,
        },
        debug=debug,
    )


def all_routes() -> dict[str, Callable[[], None]]:
    routes = {path: fn for path, (fn, _) in LIBRARY_TEXT.items()}
    routes.update({path: fn for path, (fn, _, _) in OWN_TEXT.items()})
    return routes


def starlette_app(debug: bool) -> Starlette:
    return raising_apps.starlette_app(all_routes(), errors_for(debug))


def flask_app(debug: bool) -> Flask:
    return raising_apps.flask_app(all_routes(), errors_for(debug))


@pytest.fixture(params=["starlette", "flask"])
def get(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """``await get(path, debug=False)`` -> (status, body), by either framework."""

    async def by_starlette(path: str, debug: bool = False) -> tuple[int, dict[str, Any]]:
        transport = httpx.ASGITransport(app=starlette_app(debug))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            response = await c.get(path)
        return response.status_code, response.json()

    async def by_flask(path: str, debug: bool = False) -> tuple[int, dict[str, Any]]:
        response = flask_app(debug).test_client().get(path)
        return response.status_code, json.loads(response.get_data(as_text=True))

    return by_starlette if request.param == "starlette" else by_flask


@pytest.mark.parametrize("path", list(LIBRARY_TEXT))
async def test_a_library_message_never_reaches_a_4xx_body(get: Any, path: str) -> None:
    status, body = await get(path)
    assert status == LIBRARY_TEXT[path][1], body
    text = json.dumps(body)
    for leak in (SECRET, "billing.internal", "users.email", "ContextVar", "/srv/app", "0x"):
        assert leak not in text, body
    # A fixed detail of ours: the classification's, where it has one.
    assert body["detail"] == FIXED_DETAILS.get(path, "The request could not be completed.")


@pytest.mark.parametrize("path", list(OWN_TEXT))
async def test_what_the_application_raised_with_its_own_words_is_shown(
    get: Any, path: str
) -> None:
    _, status, detail = OWN_TEXT[path]
    got_status, body = await get(path)
    assert (got_status, body["detail"]) == (status, detail)


@pytest.mark.parametrize("path", ["/url", "/user", "/duplicate"])
async def test_debug_shows_the_library_message(get: Any, path: str) -> None:
    _, body = await get(path, debug=True)
    assert body["detail"] != "The request could not be completed."
    assert body["detail"]


async def test_a_framework_http_exception_keeps_its_detail() -> None:
    """Starlette's HTTPException is raised inside Starlette's code for the app; its
    detail is what the application (or the framework for it) wrote for the client."""

    async def endpoint(request: Request) -> Response:
        raise HTTPException(409, detail="The order was already shipped.")

    app = Starlette(
        routes=[Route("/", endpoint)],
        middleware=[Middleware(InterceptorMiddleware, interceptor=Interceptor({409: 409}))],
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/")
    assert response.json()["detail"] == "The order was already shipped."


async def test_an_api_error_raised_by_library_code_keeps_its_message() -> None:
    """An ApiError's message is written for the client wherever it is raised."""

    class Locked(ApiError):
        status = 423

    def raise_from_library_frame() -> None:
        # The stdlib calling back into a function that raises it.
        sorted([1, 2], key=lambda _: (_ for _ in ()).throw(Locked("The account is locked.")))

    async def endpoint(request: Request) -> Response:
        raise_from_library_frame()
        return Response()

    app = Starlette(
        routes=[Route("/", endpoint)],
        middleware=[Middleware(InterceptorMiddleware, interceptor=Interceptor())],
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/")
    assert (response.status_code, response.json()["detail"]) == (423, "The account is locked.")


# -- the facts it is decided by -----------------------------------------------------------


def test_library_files_are_the_stdlib_site_packages_and_this_package() -> None:
    assert is_library_file(json.__file__)
    assert is_library_file(itsdangerous.__file__ or "")
    assert is_library_file(sys.modules["interceptor._core"].__file__ or "")
    assert is_library_file("<frozen importlib._bootstrap>")
    assert not is_library_file(__file__)
    assert not is_library_file("<string>")


def test_who_defines_a_class() -> None:
    assert class_origin(sqlite3.IntegrityError) is ClassOrigin.LIBRARY
    assert class_origin(json.JSONDecodeError) is ClassOrigin.LIBRARY
    assert class_origin(ValueError) is ClassOrigin.BUILTIN
    assert class_origin(Conflict) is ClassOrigin.APPLICATION
    made_up = type("MadeUp", (Exception,), {"__module__": "no.such.module"})
    assert class_origin(made_up) is ClassOrigin.APPLICATION


def _caught(fn: Callable[[], None]) -> BaseException:
    try:
        fn()
    except Exception as exc:  # whatever it raises is what is looked at
        return exc
    raise AssertionError(f"{fn.__name__} raised nothing")


def test_who_raised_a_builtin_exception() -> None:
    assert raised_by_application(_caught(raise_value))
    assert raised_by_application(_caught(raise_in_helper))
    assert raised_by_application(_caught(reraise_with_own_words))
    assert not raised_by_application(_caught(parse_limit))  # the interpreter
    assert not raised_by_application(_caught(look_up_user))
    assert not raised_by_application(_caught(open_internal_url))  # the stdlib
    assert raised_by_application(ValueError("never raised: handed over as it is"))


def test_what_a_template_expression_raises_is_not_the_applications() -> None:
    """Jinja2 makes a template's error look raised by a ``raise`` in the template's
    file; an interpreter's message from an expression there is still not ours."""
    from flask import render_template_string  # noqa: PLC0415

    def strict(value: str) -> str:
        raise ValueError("The name must not be empty.")

    app = Flask(__name__)
    app.jinja_env.filters["strict"] = strict

    @app.route("/pop")
    def pop() -> str:
        return render_template_string("{{ d.pop(q) }}", d={}, q=f"key-{SECRET}")

    @app.route("/filter")
    def filtered() -> str:
        return render_template_string("{{ '' | strict }}")

    init_app(app, errors_for())
    client = app.test_client()
    body = client.get("/pop").get_json()
    assert (body["status"], body["detail"]) == (404, "The request could not be completed.")
    assert client.get("/filter").get_json()["detail"] == "The name must not be empty."
