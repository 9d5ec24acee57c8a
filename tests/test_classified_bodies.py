"""`classified` bodies never carry a library's message: an upstream's URL and text, a
driver's SQL and parameters. Through real clients: Starlette over httpx.ASGITransport,
Flask over its test client. With ``debug=True`` the message may appear.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy
from flask import Flask, abort
from sqlalchemy import exc as sa_exc
from sqlalchemy.pool import StaticPool
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from interceptor import ApiError, Interceptor, Problem, classified, classify
from interceptor.flask import init_app
from interceptor.starlette import InterceptorMiddleware
from tests import raising_apps

BILLING = "http://billing.internal:8080/charge?api_key=SECRET"
UPSTREAM_TEXT = "quota exceeded for account 991"
PASSWORD_HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$SECRETHASH"  # noqa: S105 - made up
EMAIL = "alice@example.test"
# What no production body may carry: the upstream's host, credentials and text, the
# driver's SQL and bound parameters.
LEAKS = ("billing.internal", "SECRET", "api_key", UPSTREAM_TEXT, "INSERT", "users", EMAIL)


def assert_no_library_text(text: str) -> None:
    leaked = [leak for leak in LEAKS if leak in text]
    assert leaked == [], text


# -- what the endpoints raise: real library exceptions ------------------------------------


def _answer(status: int, headers: dict[str, str] | None = None) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers=headers, text=UPSTREAM_TEXT)

    return httpx.MockTransport(handler)


def call_billing(status: int, headers: dict[str, str] | None = None) -> None:
    """A real httpx call to the internal upstream, which answers ``status``."""
    with httpx.Client(transport=_answer(status, headers)) as client:
        client.get(BILLING).raise_for_status()


@pytest.fixture
def engine() -> Iterator[sqlalchemy.Engine]:
    # One in-memory database for every thread: Starlette runs sync endpoints in a worker.
    engine = sqlalchemy.create_engine(
        "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
    )
    with engine.begin() as conn:
        conn.execute(
            sqlalchemy.text("CREATE TABLE users (email TEXT UNIQUE, password_hash TEXT)")
        )
    try:
        yield engine
    finally:
        engine.dispose()


def sign_up(engine: sqlalchemy.Engine) -> None:
    """Insert the same user twice: the second violates the unique constraint."""
    insert = sqlalchemy.text("INSERT INTO users VALUES (:email, :password_hash)")
    for _ in range(2):
        with engine.begin() as conn:
            conn.execute(insert, {"email": EMAIL, "password_hash": PASSWORD_HASH})


def raising_endpoints(engine: sqlalchemy.Engine) -> dict[str, Callable[[], None]]:
    return {
        "/billing-429": lambda: call_billing(429, {"Retry-After": "7"}),
        "/billing-503": lambda: call_billing(503),
        "/billing-401": lambda: call_billing(401, {"WWW-Authenticate": "Bearer"}),
        "/signup": lambda: sign_up(engine),
        "/client-401": lambda: raise_shaped_like_aiohttp(401),
        "/taken": raise_taken,
    }


class Taken(ApiError):
    """The application's own error: its message is written for the client."""

    status = 409


def raise_taken() -> None:
    raise Taken("This email address is already registered.")


class RequestInfo:
    def __init__(self, url: str) -> None:
        self.url = url
        self.method = "GET"
        self.real_url = url


class ShapedLikeAiohttpError(Exception):
    """An HTTP client's error for an answer it received, as aiohttp's
    ``ClientResponseError`` carries one: ``status``, ``request_info``, ``headers``."""

    __module__ = "someclient.exceptions"

    def __init__(self, status: int, url: str, message: str) -> None:
        super().__init__(f"{status}, message={message!r}, url={url!r}")
        self.status = status
        self.message = message
        self.request_info = RequestInfo(url)
        self.headers = {"WWW-Authenticate": "Bearer"}


def raise_shaped_like_aiohttp(status: int) -> None:
    raise ShapedLikeAiohttpError(status, BILLING, UPSTREAM_TEXT)


def errors_for(debug: bool = False) -> Interceptor:
    return Interceptor(
        {
            httpx.HTTPError: classified,
            sa_exc.IntegrityError: classified,
            ApiError: classified,
            Exception: classified,
        },
        debug=debug,
    )


# -- the two frameworks -------------------------------------------------------------------


def starlette_app(engine: sqlalchemy.Engine, debug: bool) -> Starlette:
    return raising_apps.starlette_app(raising_endpoints(engine), errors_for(debug))


def flask_app(engine: sqlalchemy.Engine, debug: bool) -> Flask:
    return raising_apps.flask_app(raising_endpoints(engine), errors_for(debug))


Answer = tuple[int, dict[str, str], str]


@pytest.fixture(params=["starlette", "flask"])
def get(request: pytest.FixtureRequest, engine: sqlalchemy.Engine) -> Callable[..., Any]:
    """``await get(path, debug=False)`` -> (status, headers, body text), by either framework."""

    async def by_starlette(path: str, debug: bool = False) -> Answer:
        transport = httpx.ASGITransport(app=starlette_app(engine, debug))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            response = await c.get(path)
        return response.status_code, dict(response.headers), response.text

    async def by_flask(path: str, debug: bool = False) -> Answer:
        response = flask_app(engine, debug).test_client().get(path)
        return response.status_code, dict(response.headers), response.get_data(as_text=True)

    return by_starlette if request.param == "starlette" else by_flask


def problem(answer: Answer, status: int, code: str, retryable: bool) -> dict[str, Any]:
    got_status, headers, text = answer
    assert got_status == status, text
    body: dict[str, Any] = json.loads(text)
    assert (body["status"], body["code"], body["retryable"]) == (status, code, retryable)
    assert {k.lower(): v for k, v in headers.items()}["content-type"] == (
        "application/problem+json"
    )
    return body


# -- the leaks, one by one ----------------------------------------------------------------


async def test_an_upstream_429_shows_neither_its_url_nor_its_text(get: Any) -> None:
    answer = await get("/billing-429")
    body = problem(answer, 429, "THROTTLED", retryable=True)
    assert {k.lower(): v for k, v in answer[1].items()}["retry-after"] == "7"
    assert body["detail"] == "The upstream service answered 429 Too Many Requests."
    assert_no_library_text(answer[2])


async def test_an_upstream_5xx_has_a_fixed_detail(get: Any) -> None:
    answer = await get("/billing-503")
    body = problem(answer, 502, "TEMPORARY", retryable=True)
    assert body["detail"] == "The upstream service is unavailable."
    assert body["error_id"]
    assert_no_library_text(answer[2])


async def test_an_upstream_401_is_a_502_with_a_fixed_detail(get: Any) -> None:
    answer = await get("/billing-401")
    body = problem(answer, 502, "PERMANENT", retryable=False)
    assert body["detail"] == "The upstream service refused our credentials."
    assert "www-authenticate" not in {k.lower() for k in answer[1]}
    assert_no_library_text(answer[2])


async def test_an_integrity_error_shows_neither_sql_nor_parameters(get: Any) -> None:
    answer = await get("/signup")
    body = problem(answer, 409, "CONFLICT", retryable=False)
    assert body["detail"] == "A conflicting record already exists."
    assert_no_library_text(answer[2])
    assert "SECRETHASH" not in answer[2]
    assert "UNIQUE" not in answer[2]


async def test_a_client_error_carrying_its_upstream_401_is_not_our_401(get: Any) -> None:
    # Duck typing takes a foreign ``status`` as ours, except for an HTTP client's
    # error about an answer it received: that is the upstream's status.
    answer = await get("/client-401")
    body = problem(answer, 502, "PERMANENT", retryable=False)
    assert body["detail"] == "The upstream service refused our credentials."
    assert_no_library_text(answer[2])


async def test_an_api_errors_own_message_is_the_applications_and_stays(get: Any) -> None:
    body = problem(await get("/taken"), 409, "CONFLICT", retryable=False)
    assert body["detail"] == "This email address is already registered."


async def test_debug_may_show_the_library_message(get: Any) -> None:
    answer = await get("/billing-503", debug=True)
    body = problem(answer, 502, "TEMPORARY", retryable=True)
    assert body["exception"] == "httpx.HTTPStatusError"
    assert "billing.internal" in "".join(body["traceback"])


# -- the same details, for classify() users -----------------------------------------------


def test_classify_gives_the_fixed_detail_and_keeps_the_message_on_the_exception(
    engine: sqlalchemy.Engine,
) -> None:
    with pytest.raises(sa_exc.IntegrityError) as caught:
        sign_up(engine)
    assert classify(caught.value).detail == "A conflicting record already exists."
    assert "INSERT" in str(caught.value)  # the log and the report still get all of it


async def test_a_framework_http_exception_keeps_its_own_detail() -> None:
    def endpoint(request: Request) -> Response:
        raise HTTPException(409, detail="That name is taken.")

    errors = Interceptor({Exception: classified})
    app = Starlette(
        routes=[Route("/", endpoint)],
        middleware=[Middleware(InterceptorMiddleware, interceptor=errors)],
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get("/")
    assert (response.status_code, response.json()["detail"]) == (409, "That name is taken.")

    flask = Flask(__name__)

    @flask.get("/")
    def view() -> str:
        abort(409, "That name is taken.")

    init_app(flask, Interceptor({Exception: classified}))
    answer = flask.test_client().get("/")
    assert (answer.status_code, answer.get_json()["detail"]) == (409, "That name is taken.")


@pytest.mark.parametrize("value", [429, Problem(status=429, code="SLOW_DOWN")])
def test_a_registered_value_for_a_library_error_shows_no_library_text(value: object) -> None:
    # Not `classified`: a plain int or Problem registered for httpx's own error.
    request = httpx.Request("GET", BILLING)
    response = httpx.Response(429, request=request, text=UPSTREAM_TEXT)
    error = httpx.HTTPStatusError("429 from billing", request=request, response=response)
    errors = Interceptor({httpx.HTTPStatusError: value})

    def endpoint(req: Any) -> Any:
        raise error

    app = Starlette(
        routes=[Route("/x", endpoint)],
        middleware=[Middleware(InterceptorMiddleware, interceptor=errors)],
    )
    import anyio  # noqa: PLC0415

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.get("/x")

    answer = anyio.run(get)
    assert answer.status_code == 429
    assert "billing.internal" not in answer.text
    assert "SECRET" not in answer.text
    assert answer.json()["detail"] == "The upstream service answered 429 Too Many Requests."
