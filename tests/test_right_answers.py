"""Right answers by default, through the real frameworks.

A catch-all never turns an HTTP error into a 500; a validation error is a
422 (400 for a missing form field) with an ``errors`` array and no repr of
the input; a Starlette detail that JSON can carry goes out as JSON; and
``debug`` follows the framework's own flag unless it is given.
"""

from __future__ import annotations

import logging
import uuid
from typing import Annotated, Any, Literal

import httpx
import pytest
from fastapi import FastAPI, HTTPException
from fastapi.exceptions import RequestValidationError
from flask import Flask, abort, request
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)
from pydantic_core import PydanticCustomError, SchemaValidator, core_schema
from starlette.applications import Starlette
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from werkzeug.exceptions import HTTPException as WerkzeugHTTPException

from interceptor import Interceptor, Problem, classified, validation_problem
from interceptor.flask import init_app, intercept
from interceptor.starlette import InterceptorMiddleware
from interceptor.wsgi import InterceptorMiddleware as WsgiInterceptorMiddleware

PROBLEM = "application/problem+json"


def fastapi_app(errors: Interceptor | None, *, debug: bool = False) -> FastAPI:
    middleware = [Middleware(InterceptorMiddleware, interceptor=errors)] if errors else []
    app = FastAPI(middleware=middleware, debug=debug)

    @app.get("/forbidden")
    def forbidden() -> None:
        raise HTTPException(403, "no entry", headers={"WWW-Authenticate": "Bearer"})

    @app.get("/conflict")
    def conflict() -> None:
        raise HTTPException(409, "taken")

    @app.get("/field")
    def field() -> None:
        raise HTTPException(400, detail={"field": "email", "problem": "taken"})

    @app.get("/items")
    def items(limit: int) -> dict[str, int]:
        return {"limit": limit}

    @app.post("/items")
    def create(item: dict[str, int]) -> dict[str, int]:
        return item

    @app.get("/crash")
    def crash() -> None:
        raise RuntimeError("secret database detail")

    return app


def client_for(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_a_catch_all_keeps_fastapi_http_errors_at_their_status(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reports: list[Any] = []
    errors = Interceptor({Exception: 500}, reporter=reports.append)
    assert errors.flush(5)  # earlier tests' 5xx lines are emitted before this one listens
    caplog.clear()  # (they were, into this test's capture)
    with caplog.at_level(logging.INFO, logger="interceptor"):
        async with client_for(fastapi_app(errors)) as client:
            forbidden = await client.get("/forbidden")
            conflict = await client.get("/conflict")
            invalid = await client.get("/items", params={"limit": "many"})
            missing = await client.get("/nope")
        assert errors.flush(5)
    assert forbidden.status_code == 403
    assert forbidden.headers["content-type"] == PROBLEM
    assert forbidden.headers["www-authenticate"] == "Bearer"
    assert forbidden.json()["detail"] == "no entry"
    assert (conflict.status_code, conflict.json()["detail"]) == (409, "taken")
    assert invalid.status_code == 422
    assert invalid.json()["errors"] == [
        {"detail": "Input should be a valid integer, unable to parse string as an integer",
         "parameter": "limit"}
    ]
    assert missing.status_code == 404
    assert missing.headers["content-type"] == PROBLEM
    assert reports == []  # no 5xx: no crash report
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_validation_error_is_a_422_with_errors_and_no_repr_of_the_input() -> None:
    for value in (422, Problem(code="INVALID"), classified):
        errors = Interceptor({RequestValidationError: value})
        async with client_for(fastapi_app(errors)) as client:
            response = await client.post("/items", json={"a": "secret-input-x"})
        assert response.status_code == 422, value
        body = response.json()
        assert "secret-input-x" not in response.text
        assert ".py" not in response.text  # no source path of the server
        assert body["detail"] == "The request is not valid: 1 error."
        assert body["errors"] == [
            {"detail": "Input should be a valid integer, unable to parse string as an integer",
             "pointer": "/a"}
        ]
        if isinstance(value, Problem):
            assert body["code"] == "INVALID"


async def test_a_catch_all_classified_answers_validation_errors_with_422() -> None:
    errors = Interceptor({Exception: classified})
    async with client_for(fastapi_app(errors)) as client:
        response = await client.get("/items", params={"limit": "x"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["parameter"] == "limit"


async def test_a_starlette_detail_json_can_carry_goes_out_as_json() -> None:
    errors = Interceptor({HTTPException: Problem()})
    async with client_for(fastapi_app(errors)) as client:
        response = await client.get("/field")
    assert response.status_code == 400
    assert response.json()["detail"] == {"field": "email", "problem": "taken"}


async def test_the_one_liner_renders_every_starlette_http_error_as_problem_json() -> None:
    def gone(request: Request) -> Response:
        raise StarletteHTTPException(410, "gone")

    app = Starlette(
        routes=[Mount("/api", routes=[Route("/gone", gone)])],
        middleware=[
            Middleware(
                InterceptorMiddleware, interceptor=Interceptor({StarletteHTTPException: Problem()})
            )
        ],
    )
    async with client_for(app) as client:
        answers = [
            await client.get("/api/gone"),
            await client.get("/api/nope"),
            await client.post("/api/gone"),
            await client.get("/elsewhere"),
        ]
    assert [a.status_code for a in answers] == [410, 404, 405, 404]
    assert all(a.headers["content-type"] == PROBLEM for a in answers)
    assert answers[0].json()["detail"] == "gone"
    assert "allow" in answers[2].headers


@pytest.mark.parametrize(("app_debug", "given", "shown"), [
    (False, None, False), (True, None, True), (True, False, False), (False, True, True),
])
async def test_debug_follows_the_framework_unless_given(
    app_debug: bool, given: bool | None, shown: bool
) -> None:
    errors = Interceptor({RuntimeError: 500}, debug=given)
    async with client_for(fastapi_app(errors, debug=app_debug)) as client:
        body = (await client.get("/crash")).json()
    assert ("secret database detail" in str(body.get("detail"))) is shown
    assert ("traceback" in body) is shown


def test_debug_takes_only_a_bool_or_none() -> None:
    for value in ("no", 0, 1, "false"):
        with pytest.raises(TypeError, match="debug must be True, False or None"):
            Interceptor(debug=value)  # type: ignore[arg-type]


# -- validation messages that would quote the client's input -------------------------


class Cat(BaseModel):
    kind: Literal["cat"]


class Dog(BaseModel):
    kind: Literal["dog"]


class Pets(BaseModel):
    pet: Annotated[Cat | Dog, Field(discriminator="kind")] | None = None
    ref: uuid.UUID | None = None
    scores: dict[str, int] = {}
    count: Annotated[int, Field(gt=100)] = 101
    colour: str = "red"

    @field_validator("colour")
    @classmethod
    def known_colour(cls, value: str) -> str:
        if value != "red":
            raise ValueError(f"{value} is not a known colour")
        return value


def pets_app() -> FastAPI:
    errors = Interceptor({RequestValidationError: validation_problem})
    app = FastAPI(middleware=[Middleware(InterceptorMiddleware, interceptor=errors)])

    @app.post("/pets")
    def pets(body: Pets) -> None:
        return None

    return app


@pytest.mark.parametrize(("sent", "item"), [
    # The tag the client sent is left out; the schema's tags are not its input.
    ({"pet": {"kind": "SECRET-INPUT-1"}},
     {"detail": "Input tag found using 'kind' does not match any of the expected tags:"
                " 'cat', 'dog'", "pointer": "/pet"}),
    # pydantic's "invalid character: found `S` at 0"
    ({"ref": "SECRET-INPUT-2"}, {"detail": "Input should be a valid UUID", "pointer": "/ref"}),
    # The application's own validator quoting the value: pydantic's fixed part only.
    ({"colour": "SECRET-INPUT-3"}, {"detail": "Value error", "pointer": "/colour"}),
    # A bound that happens to equal the input is the schema's, not an echo.
    ({"count": 100}, {"detail": "Input should be greater than 100", "pointer": "/count"}),
])
async def test_a_validation_message_never_quotes_the_clients_input(
    sent: dict[str, object], item: dict[str, str]
) -> None:
    async with client_for(pets_app()) as client:
        response = await client.post("/pets", json=sent)
    assert response.status_code == 422
    assert "SECRET-INPUT" not in response.text
    assert response.json()["errors"] == [item]


async def test_a_pointer_keeps_the_object_key_the_client_sent_to_locate_the_error() -> None:
    # A pointer is where the error is in the client's own document: a key of
    # its object is part of that place, and the value is still never shown.
    async with client_for(pets_app()) as client:
        response = await client.post("/pets", json={"scores": {"a/b~KEY": "VALUE-SENT"}})
    assert response.json()["errors"] == [
        {"detail": "Input should be a valid integer, unable to parse string as an integer",
         "pointer": "/scores/a~1b~0KEY"}
    ]
    assert "VALUE-SENT" not in response.text


def _check_against_fraud_rules_v2(value: str) -> str:
    raise ValueError("rejected")


class InternalLedgerAccount(BaseModel):
    ledger_acct: int


class PublicCard(BaseModel):
    card_no: int


class Payment(BaseModel):
    ref: int | Annotated[str, AfterValidator(_check_against_fraud_rules_v2)]
    target: InternalLedgerAccount | PublicCard
    scores: dict[int, int] = {}
    lines: list[InternalLedgerAccount | PublicCard] = []


async def test_a_pointer_names_only_what_the_client_sent_never_pydantics_own_labels() -> None:
    """pydantic's loc names a union's member (its class, its type) and a validator
    function between the keys: a pointer into the client's body has the keys it
    sent, and a missing key where it belongs, nothing of the app's model."""
    errors = Interceptor({RequestValidationError: validation_problem})
    app = FastAPI(middleware=[Middleware(InterceptorMiddleware, interceptor=errors)])

    @app.post("/pay")
    async def pay(payment: Payment) -> None:
        return None

    async with client_for(app) as client:
        response = await client.post("/pay", json={
            "ref": "abc", "target": {"x": 1}, "scores": {"k": 1}, "lines": [{"z": 2}]})
        broken = await client.post(
            "/pay", content=b'{"ref": ', headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert [item["pointer"] for item in response.json()["errors"]] == [
        "/ref", "/ref", "/target/ledger_acct", "/target/card_no", "/scores/k",
        "/lines/0/ledger_acct", "/lines/0/card_no",
    ]
    for name in ("fraud", "InternalLedgerAccount", "PublicCard", "[key]", "function-after"):
        assert name not in response.text
    # Malformed JSON: the whole document, not a character offset.
    assert broken.status_code == 422
    assert [item["pointer"] for item in broken.json()["errors"]] == [""]


def test_pydantics_own_labels_are_left_out_of_its_validation_errors_pointers() -> None:
    # With no document to walk (pydantic's own error, raised by the app), what
    # can only be pydantic's is left out: a validator's label, a key's "[key]".
    # A union member's bare type name ("int") reads as a key would, and stays.
    with pytest.raises(ValidationError) as raised:
        Payment.model_validate({"ref": "abc", "target": {"card_no": 1}, "scores": {"k": 1}})
    pointers = [item["pointer"] for item in validation_problem(None, raised.value)
                .extensions["errors"]]
    assert pointers == ["/ref/int", "/ref", "/scores/k"]


def test_pydantics_own_validation_error_quotes_no_input_either() -> None:
    class Upload(BaseModel):
        model_config = ConfigDict(val_json_bytes="base64")
        data: bytes

    with pytest.raises(ValidationError) as bad_bytes:
        Upload.model_validate_json('{"data": "S$$$$"}')  # "Invalid symbol 36, offset 4."
    with pytest.raises(ValidationError) as bad_offset:  # "... required, got 18000"
        SchemaValidator(core_schema.datetime_schema(tz_constraint=0)).validate_python(
            "2020-01-01T00:00:00+05:00"
        )
    assert validation_problem(None, bad_bytes.value).extensions["errors"] == [
        {"detail": "Data should be valid base64", "pointer": "/data"}
    ]
    assert validation_problem(None, bad_offset.value).extensions["errors"] == [
        {"detail": "Timezone offset of 0 required", "pointer": ""}
    ]


def test_an_input_that_contains_itself_is_looked_through_within_bounds() -> None:
    cyclic: list[object] = ["SECRET-INPUT-5"]
    cyclic.append(cyclic)
    errors = [
        {"type": PydanticCustomError("no", template, {"value": "SECRET-INPUT-5"}),
         "loc": ("tags", index), "input": cyclic}
        for index, template in enumerate(["Not allowed, {value}", "{value} is not allowed, no"])
    ]
    exc = ValidationError.from_exception_data("Tags", errors)  # type: ignore[arg-type]
    assert validation_problem(None, exc).extensions["errors"] == [
        {"detail": "Not allowed", "pointer": "/tags/0"},
        {"detail": "This value is not valid.", "pointer": "/tags/1"},
    ]


# -- Flask -------------------------------------------------------------------------------


def flask_app(errors: Interceptor) -> Flask:
    app = Flask(__name__)
    init_app(app, errors)

    @app.get("/missing")
    def missing() -> str:
        abort(404)

    @app.get("/auth")
    def auth() -> str:
        abort(401)

    @app.post("/form")
    def form() -> str:
        return request.form["email"]

    @app.get("/crash")
    def crash() -> str:
        raise RuntimeError("secret database detail")

    return app


def test_a_catch_all_keeps_flask_abort_at_its_status(caplog: pytest.LogCaptureFixture) -> None:
    errors = Interceptor({Exception: 500})
    http = flask_app(errors).test_client()
    assert errors.flush(5)  # earlier tests' 5xx lines are emitted before this one listens
    caplog.clear()  # (they were, into this test's capture)
    with caplog.at_level(logging.INFO, logger="interceptor"):
        answers = {path: http.get(path) for path in ("/missing", "/auth", "/no-such-url")}
        assert errors.flush(5)
    assert {path: a.status_code for path, a in answers.items()} == {
        "/missing": 404,
        "/auth": 401,
        "/no-such-url": 404,
    }
    assert all(a.content_type == PROBLEM for a in answers.values())
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


class LoginRedirect(WerkzeugHTTPException):
    code = 302
    description = "Log in first."


class OddCode(WerkzeugHTTPException):
    code = 299


class TextCode(WerkzeugHTTPException):
    code = "404"  # type: ignore[assignment] # as a careless subclass has it


class NoCode(WerkzeugHTTPException):  # a proxy for another answer: code None
    description = "proxied"


NOT_ERROR_STATUSES = {
    "/redirect": LoginRedirect(response=None),
    "/odd": OddCode(),
    "/text": TextCode(),
    "/none": NoCode(),
}


@pytest.mark.parametrize(
    "registered",
    [{Exception: 500}, {Exception: Problem(code="CRASH")}, {WerkzeugHTTPException: Problem()}],
    ids=["catch-all-int", "catch-all-problem", "every-http-error-one-liner"],
)
def test_a_catch_all_leaves_a_werkzeug_exception_without_an_error_status_to_flask(
    registered: dict[Any, Any],
) -> None:
    """An HTTPException whose code is no error status (a redirect, 299, a str, None),
    matched only through Exception or by a Problem that renders at its own status,
    gets Flask's answer, as without the interceptor."""

    def app(errors: Interceptor | None) -> Flask:
        app = Flask(__name__)
        for path, exc in NOT_ERROR_STATUSES.items():
            app.add_url_rule(path, path, lambda exc=exc: raise_(exc))
        if errors is not None:
            init_app(app, errors)
        return app

    def answers(errors: Interceptor | None) -> dict[str, tuple[str, bytes]]:
        http = app(errors).test_client()
        return {path: (http.get(path).status, http.get(path).data) for path in NOT_ERROR_STATUSES}

    without = answers(None)
    assert answers(Interceptor(registered)) == without
    assert without["/redirect"][0] == "302 FOUND"


def test_an_http_exception_without_an_error_status_still_reaches_a_callable_or_its_class() -> None:
    """What the catch-all leaves to Flask, a callable on a base still receives, and
    a registration naming the class decides."""
    seen: list[Exception] = []

    def handler(request: Any, exc: Exception) -> Any:
        seen.append(exc)
        return {"seen": True}, 418

    app = Flask(__name__)
    app.add_url_rule("/redirect", "redirect", lambda: raise_(LoginRedirect()))
    app.add_url_rule("/odd", "odd", lambda: raise_(OddCode()))
    init_app(app, Interceptor({Exception: handler, OddCode: 404}))
    http = app.test_client()
    assert http.get("/redirect").status_code == 418
    assert [type(exc) for exc in seen] == [LoginRedirect]
    assert http.get("/odd").status_code == 404


@pytest.mark.parametrize(
    "registered",
    [{Exception: 500}, {StarletteHTTPException: Problem()}],
    ids=["catch-all", "every-http-error-one-liner"],
)
async def test_a_catch_all_leaves_a_starlette_http_exception_without_an_error_status_to_it(
    registered: dict[Any, Any],
) -> None:
    async def redirect(request: Request) -> Response:
        raise StarletteHTTPException(303, headers={"Location": "/login"})

    async def no_content(request: Request) -> Response:
        raise StarletteHTTPException(204)

    def app(errors: Interceptor | None) -> Starlette:
        middleware = [Middleware(InterceptorMiddleware, interceptor=errors)] if errors else []
        routes = [Route("/redirect", redirect), Route("/empty", no_content)]
        return Starlette(routes=[Mount("/m", routes=routes, middleware=middleware)])

    async def answers(errors: Interceptor | None) -> list[tuple[int, Any, bytes]]:
        async with client_for(app(errors)) as client:
            got = [await client.get(path) for path in ("/m/redirect", "/m/empty")]
        return [(r.status_code, r.headers.get("location"), r.content) for r in got]

    without = await answers(None)
    assert without[0][:2] == (303, "/login")
    assert await answers(Interceptor(registered)) == without


class LedgerEntry(BaseModel):
    internal_ledger_id: int
    payroll_account_iban: str


UPSTREAM_ROW = {"internal_ledger_id": "not-a-number"}  # the server's own data, not the client's


def ledger_of(row: dict[str, Any]) -> dict[str, Any]:
    return LedgerEntry.model_validate(row).model_dump()


@pytest.mark.parametrize(
    "registered",
    [{Exception: 500}, {Exception: Problem()}, {ValueError: 500}, {Exception: classified},
     {ValueError: classified}],
)
async def test_a_pydantic_error_about_the_servers_own_data_is_a_crash_not_the_clients_fault(
    registered: dict[Any, Any],
) -> None:
    """A pydantic ValidationError the endpoint raises while validating its own data (an
    upstream's answer, a database row) is a server bug, a 500 in FastAPI and Flask: a
    catch-all answers it as one, reported, never a 422 listing the internal model's
    fields. Only FastAPI's RequestValidationError, or a registration naming
    ValidationError, renders the validation body."""
    reports: list[Any] = []

    def fastapi_for(errors: Interceptor | None) -> FastAPI:
        app = FastAPI()

        @app.get("/ledger")
        async def ledger() -> Any:
            return LedgerEntry.model_validate(UPSTREAM_ROW)

        if errors is not None:
            app.add_middleware(InterceptorMiddleware, interceptor=errors)
        return app

    flask = Flask(__name__)
    flask.add_url_rule("/ledger", "ledger", lambda: ledger_of(UPSTREAM_ROW))
    errors = Interceptor(registered, reporter=reports.append)
    init_app(flask, errors)

    bare_transport = httpx.ASGITransport(app=fastapi_for(None), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=bare_transport, base_url="http://t") as bare, client_for(
        fastapi_for(errors)
    ) as ours:
        assert (await bare.get("/ledger")).status_code == 500
        got = [await ours.get("/ledger"), flask.test_client().get("/ledger")]
    assert errors.flush(5)
    for response in got:
        body = response.json() if isinstance(response, httpx.Response) else response.get_json()
        assert response.status_code == 500, body
        assert "errors" not in body
        assert "internal_ledger_id" not in str(body)
        assert "LedgerEntry" not in str(body)
    assert [r.status for r in reports] == [500, 500]
    assert all(isinstance(r.exception, ValidationError) for r in reports)
    assert [r.error_id for r in reports] == [
        got[0].json()["error_id"], got[1].get_json()["error_id"]]


async def test_a_status_key_leaves_pydantics_own_validation_error_to_the_framework() -> None:
    # It declares no status: {422: ...} is for HTTP exceptions and FastAPI's
    # RequestValidationError, never a crash of the app's.
    def flask_for(errors: Interceptor | None) -> Flask:
        app = Flask(__name__)
        app.add_url_rule("/ledger", "ledger", lambda: ledger_of(UPSTREAM_ROW))
        if errors is not None:
            init_app(app, errors)
        return app

    bare = flask_for(None).test_client().get("/ledger")
    for mapping in ({422: 422}, {422: Problem(title="Bad")}):
        response = flask_for(Interceptor(mapping)).test_client().get("/ledger")
        assert (response.status_code, response.data) == (bare.status_code, bare.data) == (
            500, bare.data)


async def test_a_registration_naming_pydantics_validation_error_still_renders_it() -> None:
    flask = Flask(__name__)
    flask.add_url_rule("/ledger", "ledger", lambda: ledger_of(UPSTREAM_ROW))
    init_app(flask, Interceptor({ValidationError: validation_problem, Exception: 500}))
    response = flask.test_client().get("/ledger")
    assert response.status_code == 422
    assert [item.get("pointer") for item in response.get_json()["errors"]] == [
        "/internal_ledger_id", "/payroll_account_iban"]


def raise_(exc: Exception) -> Any:
    raise exc


def test_a_missing_form_field_is_a_400_not_the_keyerror_mapping() -> None:
    app = flask_app(Interceptor({KeyError: Problem(status=404, code="NO_SUCH_ITEM")}))
    response = app.test_client().post("/form", data={"name": "x"})
    assert response.status_code == 400
    body = response.get_json()
    assert "code" not in body
    assert body["errors"] == [{"detail": "This field is required.", "pointer": "/email"}]


MISSING_KEYS = {
    "/query": ({"parameter": "q"}, lambda: request.args["q"]),
    "/cookie": ({"parameter": "sid"}, lambda: request.cookies["sid"]),
    "/form": ({"pointer": "/email"}, lambda: request.form["email"]),
    "/file": ({"pointer": "/upload"}, lambda: request.files["upload"]),
}


@pytest.mark.parametrize("scope", ["app", "view"])
def test_a_missing_query_or_cookie_value_points_where_it_was_looked_for(
    scope: str,
) -> None:
    """Werkzeug's BadRequestKeyError says only the key: the errors item says where the
    view looked for it, a parameter or a place in the body, as a FastAPI validation
    error does."""
    errors = Interceptor({WerkzeugHTTPException: Problem()})
    app = Flask(__name__)
    if scope == "app":
        init_app(app, errors)
    for path, (_, view) in MISSING_KEYS.items():
        app.add_url_rule(path, path, view if scope == "app" else intercept(errors)(view),
                         methods=["POST"])
    http = app.test_client()
    for path, (where, _) in MISSING_KEYS.items():
        response = http.post(path, data={"name": "x"})
        assert response.status_code == 400, path
        (item,) = response.get_json()["errors"]
        assert {k: v for k, v in item.items() if k != "detail"} == where, path


def test_a_missing_value_of_request_values_names_the_parameter() -> None:
    errors = Interceptor({WerkzeugHTTPException: Problem()})
    app = Flask(__name__)
    init_app(app, errors)
    app.add_url_rule("/values", "values", lambda: request.values["q"], methods=["GET", "POST"])
    http = app.test_client()
    for response in (http.get("/values"), http.post("/values", data={"name": "x"})):
        assert response.status_code == 400
        (item,) = response.get_json()["errors"]
        assert {k: v for k, v in item.items() if k != "detail"} == {"parameter": "q"}


def test_an_unhashable_missing_key_error_is_flasks_own_400_with_or_without_us() -> None:
    from flask import Request as FlaskRequest  # noqa: PLC0415
    from werkzeug.datastructures import ImmutableMultiDict  # noqa: PLC0415
    from werkzeug.exceptions import BadRequestKeyError  # noqa: PLC0415

    class Unhashable(BadRequestKeyError):
        __hash__ = None  # type: ignore[assignment]

        def __eq__(self, other: object) -> bool:
            return self is other

    class Params(ImmutableMultiDict[str, str]):
        def __getitem__(self, key: str) -> str:
            if key not in self:
                raise Unhashable(key)
            return super().__getitem__(key)

    class ParamsRequest(FlaskRequest):
        parameter_storage_class = Params

    def app_for(errors: Interceptor | None) -> Flask:
        app = Flask(__name__)
        app.request_class = ParamsRequest
        app.add_url_rule("/", "view", lambda: request.args["q"])
        if errors is not None:
            init_app(app, errors)
        return app

    bare = app_for(None).test_client().get("/")
    for errors in (Interceptor({}), Interceptor({ZeroDivisionError: 500})):
        got = app_for(errors).test_client().get("/")
        assert (got.status_code, got.data) == (bare.status_code, bare.data) == (400, bare.data)


def test_a_missing_key_of_the_apps_own_werkzeug_mapping_is_never_named_in_the_body() -> None:
    """A BadRequestKeyError from a MultiDict or Headers that is no part of the request
    (the app's settings, an outbound call's headers) names the app's key, not one the
    client sent: answered as Werkzeug's own 400, with its description, as without us."""
    from werkzeug.datastructures import Headers, MultiDict  # noqa: PLC0415
    from werkzeug.exceptions import BadRequest  # noqa: PLC0415

    def app_for(errors: Interceptor | None) -> Flask:
        app = Flask(__name__)
        app.add_url_rule("/settings", "settings",
                         lambda: MultiDict({"region": "eu"})["payroll_db_password"])
        app.add_url_rule("/outbound", "outbound",
                         lambda: Headers([("Content-Type", "x")])["X-Internal-Signature"])
        if errors is not None:
            init_app(app, errors)
        return app

    bare = app_for(None).test_client()
    for errors in (Interceptor({Exception: 500}), Interceptor({WerkzeugHTTPException: Problem()}),
                   Interceptor({KeyError: 404})):
        http = app_for(errors).test_client()
        for path in ("/settings", "/outbound"):
            response, without = http.get(path), bare.get(path)
            assert response.status_code == without.status_code == 400, path
            body = response.get_json()
            assert "errors" not in body, body
            assert "payroll" not in response.text
            assert "Internal-Signature" not in response.text
            assert body["detail"] == BadRequest.description  # Werkzeug's own text


def test_a_missing_query_value_points_at_the_parameter_under_the_wsgi_middleware() -> None:
    from werkzeug.test import Client  # noqa: PLC0415
    from werkzeug.wrappers import Request as WerkzeugRequest  # noqa: PLC0415
    from werkzeug.wrappers import Response as WerkzeugResponse  # noqa: PLC0415

    def app(environ: Any, start_response: Any) -> Any:
        page = WerkzeugRequest(environ).args["page"]
        return WerkzeugResponse(page)(environ, start_response)

    wrapped = WsgiInterceptorMiddleware(app, interceptor=Interceptor({LookupError: 404}))
    response = Client(wrapped).get("/")
    assert response.status_code == 400
    assert [{k: v for k, v in item.items() if k != "detail"}
            for item in response.get_json()["errors"]] == [{"parameter": "page"}]


def test_the_one_liner_renders_every_werkzeug_http_error_as_problem_json() -> None:
    app = flask_app(Interceptor({WerkzeugHTTPException: Problem()}))
    http = app.test_client()
    answers = [http.get("/missing"), http.get("/auth"), http.get("/nope"), http.put("/missing")]
    assert [a.status_code for a in answers] == [404, 401, 404, 405]
    assert all(a.content_type == PROBLEM for a in answers)


@pytest.mark.parametrize(("app_debug", "shown"), [(False, False), (True, True)])
def test_flask_debug_is_followed(app_debug: bool, shown: bool) -> None:
    app = flask_app(Interceptor({RuntimeError: 500}))
    app.debug = app_debug
    body = app.test_client().get("/crash").get_json()
    assert ("traceback" in body) is shown


# -- do no harm: an interceptor that matches nothing changes none of it --------------------


async def test_with_and_without_a_noop_interceptor_fastapi_answers_alike() -> None:
    class NeverRaised(Exception):
        pass

    bare = fastapi_app(None)
    noop = fastapi_app(Interceptor({NeverRaised: 500}))
    paths = ["/forbidden", "/conflict", "/field", "/items?limit=x", "/nope"]
    async with client_for(bare) as plain, client_for(noop) as wrapped:
        for path in paths:
            a, b = await plain.get(path), await wrapped.get(path)
            assert (a.status_code, a.text, a.headers.get("www-authenticate")) == (
                b.status_code,
                b.text,
                b.headers.get("www-authenticate"),
            ), path
