"""The OpenAPI document of a FastAPI app lists what its interceptors answer."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from typing import Any

import httpx
import pytest

pytest.importorskip("fastapi")
openapi_spec_validator = pytest.importorskip("openapi_spec_validator")

from fastapi import APIRouter, FastAPI, HTTPException, Request  # noqa: E402
from fastapi.exceptions import RequestValidationError  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from openapi_schema_validator import OAS31Validator  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402

from interceptor import ApiError, Interceptor, Problem, classified, validation_problem  # noqa: E402
from interceptor.fastapi import (  # noqa: E402
    declare_answers,
    error_responses,
    install_openapi,
    intercepted_route,
)
from interceptor.starlette import InterceptorMiddleware  # noqa: E402

PROBLEM = "application/problem+json"
REF = {"$ref": "#/components/schemas/Problem"}


class UserNotFound(ApiError):
    status = 404
    code = "USER_NOT_FOUND"


class OrderLocked(ApiError):
    status = 423
    code = "ORDER_LOCKED"


class QuotaExceeded(ApiError):
    status = 429
    code = "QUOTA_EXCEEDED"


class AccountLocked(Exception):
    pass


class Conflict(Exception):
    pass


class Teapot(Exception):
    pass


@declare_answers(Problem(status=418, code="TEAPOT"))
def on_teapot(request: Request, exc: Teapot) -> Problem:
    return Problem(status=418, code="TEAPOT", detail="short and stout")


def undeclared(request: Request, exc: Exception) -> Problem:
    return Problem(status=499, code="NEVER_DOCUMENTED")


def client_for(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


# What the endpoints raise, by name; the status keys are raised as HTTPException.
RAISABLE: dict[str, Callable[[], Exception]] = {
    "PermissionError": PermissionError,
    "TimeoutError": TimeoutError,
    "ConnectionError": ConnectionError,
    "FileNotFoundError": FileNotFoundError,
    "Conflict": Conflict,
    "AccountLocked": AccountLocked,
    "LookupError": LookupError,
    "Teapot": Teapot,
    "ValueError": ValueError,
    "UserNotFound": UserNotFound,
    "OrderLocked": OrderLocked,
    "QuotaExceeded": QuotaExceeded,
    "404": lambda: HTTPException(404),
    "401": lambda: HTTPException(401),
}


def build_app(*, app_errors: Interceptor | None = None) -> FastAPI:
    users_errors = Interceptor(
        {
            RequestValidationError: validation_problem,
            AccountLocked: Problem(status=423, code="ACCOUNT_LOCKED"),
            LookupError: 404,
            Teapot: on_teapot,
            ValueError: undeclared,
            QuotaExceeded: Problem(retry_after=60),
        }
    )
    billing_errors = Interceptor(
        {AccountLocked: Problem(status=402, code="BILLING_LOCKED"), OSError: classified}
    )
    users = APIRouter(prefix="/users", route_class=intercepted_route(users_errors))
    billing = APIRouter(
        prefix="/billing", route_class=intercepted_route(billing_errors, base=users.route_class)
    )

    @users.get("/{user_id}", responses=error_responses(UserNotFound, OrderLocked))
    async def get_user(user_id: int) -> dict[str, int]:
        if user_id == 0:
            raise UserNotFound(f"user {user_id} not found")
        if user_id == 1:
            raise OrderLocked("locked")
        return {"id": user_id}

    @users.get("/raise/{name}")
    async def users_raise(name: str, n: int = 0) -> None:
        raise RAISABLE[name]()

    @users.get("/declared/{name}", responses={404: {"description": "Mine, as I wrote it"}})
    async def users_declared(name: str) -> None:
        raise RAISABLE[name]()

    @billing.get("/raise/{name}")
    async def billing_raise(name: str, n: int = 0) -> None:
        raise RAISABLE[name]()

    users.include_router(billing)
    middleware = (
        [] if app_errors is None else [Middleware(InterceptorMiddleware, interceptor=app_errors)]
    )
    app = FastAPI(middleware=middleware)

    @app.get("/raise/{name}")
    async def top_raise(name: str, n: int = 0) -> None:
        raise RAISABLE[name]()

    @app.get("/items")
    async def items(limit: int) -> dict[str, int]:
        return {"limit": limit}

    app.include_router(users)
    return app


def app_interceptor() -> Interceptor:
    return Interceptor(
        {
            PermissionError: 403,
            TimeoutError: classified,
            ConnectionError: classified,
            Conflict: Problem(status=409, code="CONFLICT"),
            404: Problem(code="NO_SUCH_THING"),
            401: Problem(code="SIGN_IN"),
        }
    )


def sample_app() -> FastAPI:
    return install_openapi(build_app(app_errors=app_interceptor()))


def responses_of(document: dict[str, Any], path: str, method: str = "get") -> dict[str, Any]:
    return document["paths"][path][method]["responses"]  # type: ignore[no-any-return]


# -- the document ---------------------------------------------------------------------


def test_document_is_valid_openapi_3_1() -> None:
    document = sample_app().openapi()
    assert document["openapi"].startswith("3.1")
    openapi_spec_validator.validate(document)


def test_error_responses_alone_make_a_valid_document() -> None:
    app = FastAPI()

    @app.get("/u", responses=error_responses(UserNotFound, QuotaExceeded))
    async def u() -> None: ...

    document = app.openapi()  # no install_openapi: self-contained entries
    openapi_spec_validator.validate(document)
    entry = responses_of(document, "/u")["404"]["content"][PROBLEM]
    assert entry["schema"]["allOf"][1]["properties"]["code"]["enum"] == ["USER_NOT_FOUND"]


def test_router_operation_lists_its_scopes_answers() -> None:
    responses = responses_of(sample_app().openapi(), "/users/raise/{name}")
    assert {"403", "404", "409", "418", "423", "429", "500", "502", "503", "504"} <= set(responses)
    assert "499" not in responses  # an undeclared callable contributes nothing
    for status, entry in responses.items():
        if status != "200":
            assert set(entry["content"]) == {PROBLEM}, status
    # classified: 429 carries Retry-After, 5xx require error_id, codes are enums.
    assert "Retry-After" in responses["429"]["headers"]
    schema_504 = responses["504"]["content"][PROBLEM]["schema"]
    assert schema_504["allOf"][0] == REF
    assert schema_504["allOf"][1]["required"] == ["error_id"]
    assert schema_504["allOf"][1]["properties"]["code"]["enum"] == ["TIMEOUT"]
    codes_429 = responses["429"]["content"][PROBLEM]["schema"]["allOf"][1]["properties"]
    assert codes_429["code"]["enum"] == ["QUOTA_EXCEEDED", "THROTTLED"]
    # the app's status key, reached by an HTTPException(404) the router does not map
    examples_404 = responses["404"]["content"][PROBLEM]["examples"]
    assert {e["value"].get("code") for e in examples_404.values()} == {None, "NO_SUCH_THING"}


def test_validation_rendering_replaces_fastapis_422() -> None:
    document = sample_app().openapi()
    users = responses_of(document, "/users/raise/{name}")["422"]
    assert set(users["content"]) == {PROBLEM}
    schema = users["content"][PROBLEM]["schema"]
    assert schema["allOf"][1]["required"] == ["errors"]
    (example,) = users["content"][PROBLEM]["examples"].values()
    assert example["value"]["errors"] == [
        {"detail": "Field required", "pointer": "/name"},
        {
            "detail": "Input should be a valid integer, unable to parse string as an integer",
            "parameter": "limit",
        },
    ]
    # Outside the router, no validation rendering is in scope: FastAPI's own stays.
    items = responses_of(document, "/items")["422"]
    assert items["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/HTTPValidationError"
    }
    assert "HTTPValidationError" in document["components"]["schemas"]


def test_error_responses_document_that_operation_only() -> None:
    document = sample_app().openapi()
    get_user = responses_of(document, "/users/{user_id}")
    enum_423 = get_user["423"]["content"][PROBLEM]["schema"]["allOf"][1]["properties"]["code"]
    assert "ORDER_LOCKED" in enum_423["enum"]
    enum_404 = get_user["404"]["content"][PROBLEM]["schema"]["allOf"][1]["properties"]["code"]
    assert "USER_NOT_FOUND" in enum_404["enum"]
    other = responses_of(document, "/users/raise/{name}")
    assert "ORDER_LOCKED" not in str(other)
    assert "USER_NOT_FOUND" not in str(other)


def test_error_responses_move_to_the_status_the_scope_answers() -> None:
    # The router answers UserNotFound 410: the self-contained 404 entry of
    # error_responses would list a status the operation never sends.
    router = APIRouter(route_class=intercepted_route(Interceptor({UserNotFound: 410})))

    @router.get("/users/{user_id}", responses=error_responses(UserNotFound))
    async def user(user_id: int) -> None:
        raise UserNotFound("gone")

    app = FastAPI()
    app.include_router(router)
    document = install_openapi(app).openapi()
    openapi_spec_validator.validate(document)
    assert asyncio.run(get(app, "/users/1")).status_code == 410
    responses = responses_of(document, "/users/{user_id}")
    assert "404" not in responses
    schema = responses["410"]["content"][PROBLEM]["schema"]
    assert schema["allOf"][0] == REF
    assert schema["allOf"][1]["properties"]["code"]["enum"] == ["USER_NOT_FOUND"]


@declare_answers(Problem(status=400, code="BAD_LIMIT"))
def on_bad_limit(request: Request, exc: RequestValidationError) -> Problem | None:
    if any(error["loc"][-1] == "limit" for error in exc.errors()):
        return Problem(status=400, code="BAD_LIMIT")
    return None  # declines: FastAPI's own 422 goes out


def test_fastapis_422_stays_where_the_validation_handler_may_decline() -> None:
    router = APIRouter(
        route_class=intercepted_route(Interceptor({RequestValidationError: on_bad_limit}))
    )

    @router.get("/items/{item_id}")
    async def item(item_id: int, limit: int = 10) -> None: ...

    app = FastAPI()
    app.include_router(router)
    document = install_openapi(app).openapi()
    openapi_spec_validator.validate(document)
    declined = asyncio.run(get(app, "/items/x"))
    assert declined.status_code == 422
    assert asyncio.run(get(app, "/items/1?limit=x")).status_code == 400
    responses = responses_of(document, "/items/{item_id}")
    assert "400" in responses
    assert responses["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/HTTPValidationError"
    }


def test_pydantics_validation_error_with_a_status_less_problem_documents_no_500() -> None:
    # It answers at the validation rendering's status, never at 500: a stand-in
    # of no validation error gave the document a 500 the operation never answers.
    from pydantic import ValidationError  # noqa: PLC0415

    errors = Interceptor({ValidationError: Problem()})
    app = FastAPI(middleware=[Middleware(InterceptorMiddleware, interceptor=errors)])

    @app.get("/p")
    async def p() -> None: ...

    install_openapi(app)
    assert "500" not in responses_of(app.openapi(), "/p")


def test_what_the_user_declares_wins() -> None:
    responses = responses_of(sample_app().openapi(), "/users/declared/{name}")
    assert responses["404"] == {"description": "Mine, as I wrote it"}
    assert PROBLEM in responses["423"]["content"]  # the rest is still generated


def test_one_shared_problem_component() -> None:
    document = sample_app().openapi()
    schema = document["components"]["schemas"]["Problem"]
    assert {
        "type",
        "title",
        "status",
        "detail",
        "instance",
        "code",
        "error_id",
        "retryable",
        "errors",
    } <= set(schema["properties"])
    assert set(schema["properties"]["errors"]["items"]["properties"]) == {
        "detail",
        "pointer",
        "parameter",
        "header",
    }


def test_no_change_where_no_interceptor_is_in_scope() -> None:
    plain = FastAPI()
    matches_nothing = Interceptor({Teapot: undeclared})
    covered = FastAPI(middleware=[Middleware(InterceptorMiddleware, interceptor=matches_nothing)])
    # An interceptor with nothing status-bearing (only ApiError's default) adds nothing.
    empty = FastAPI(middleware=[Middleware(InterceptorMiddleware, interceptor=Interceptor())])
    for app in (plain, covered, empty):

        @app.get("/items/{item_id}")
        async def item(item_id: int, q: str | None = None) -> dict[str, int]:
            return {"id": item_id}

    expected = copy.deepcopy(plain.openapi())
    assert install_openapi(covered).openapi() == expected
    assert install_openapi(empty).openapi() == expected


def test_document_is_built_once_and_install_is_idempotent() -> None:
    app = sample_app()
    first = app.openapi()
    assert install_openapi(app).openapi() is first
    assert app.openapi_schema is first
    assert list(first["paths"]["/users/raise/{name}"]["get"]["responses"]).count("422") == 1


async def test_docs_and_redoc_still_work() -> None:
    app = sample_app()
    async with client_for(app) as client:
        docs = await client.get("/docs")
        redoc = await client.get("/redoc")
        served = await client.get("/openapi.json")
    assert docs.status_code == redoc.status_code == served.status_code == 200
    assert "swagger-ui" in docs.text
    assert "redoc" in redoc.text
    assert served.json() == app.openapi()


def test_error_responses_rejects_what_is_no_api_error() -> None:
    with pytest.raises(TypeError, match="ApiError"):
        error_responses(KeyError)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Interceptor"):
        error_responses(UserNotFound, interceptor={})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Problem"):
        declare_answers("418")  # type: ignore[arg-type]


def test_error_responses_follow_the_interceptors_body_shape() -> None:
    flat = error_responses(UserNotFound, interceptor=Interceptor(body="flat"))
    (media,) = flat[404]["content"]
    assert media == "application/json"


# -- the property: every answer is one the document lists ------------------------------

ROUTES = ["/raise/{name}", "/users/raise/{name}", "/users/billing/raise/{name}"]
_APP = sample_app()
_DOCUMENT = _APP.openapi()


def _mapped(path: str) -> list[str]:
    """The names of what the chain in scope of ``path`` has registered."""
    from interceptor.fastapi import _api_routes, _app_interceptors, _InterceptedRoute  # noqa: PLC0415

    chain: list[Interceptor] = list(_app_interceptors(_APP))
    for original, route in _api_routes(_APP):
        if route.path_format == path and isinstance(original, _InterceptedRoute):
            chain = [*original.interceptors, *chain]
    names = []
    for interceptor in chain:
        by_class, by_status = interceptor.registered()
        names += [str(status) for status in by_status]
        names += [
            cls.__name__
            for cls, value in by_class.items()
            if cls.__name__ in RAISABLE and value is not undeclared  # promises nothing
        ]
    return sorted(set(names))


CASES = [(path, name) for path in ROUTES for name in _mapped(path)]


@settings(max_examples=len(CASES) * 2, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(case=st.sampled_from(CASES), invalid=st.booleans())
def test_every_answer_is_listed_for_its_operation(case: tuple[str, str], invalid: bool) -> None:
    path, name = case

    async def call() -> httpx.Response:
        async with client_for(_APP) as client:
            # An invalid query parameter: what FastAPI refuses, before the endpoint runs.
            params = {"n": "x"} if invalid else {}
            return await client.get(path.replace("{name}", name), params=params)

    response = asyncio.run(call())
    listed = responses_of(_DOCUMENT, path)
    status = str(response.status_code)
    assert status in listed, (path, name, invalid, status, sorted(listed))
    content_type = response.headers["content-type"].split(";")[0]
    assert content_type in listed[status]["content"], (path, name, status, content_type)
    if content_type == PROBLEM:  # and the body fits the schema listed for it
        schema = listed[status]["content"][PROBLEM]["schema"]
        OAS31Validator({**schema, "components": _DOCUMENT["components"]}).validate(response.json())


# -- registrations on a base class -------------------------------------------------------


async def get(app: FastAPI, path: str) -> httpx.Response:
    async with client_for(app) as client:
        return await client.get(path)


def test_a_key_on_a_base_class_of_the_probes_is_documented() -> None:
    # The validation sample and the ApiError samples are Exceptions too, but
    # they get other answers (a validation error keeps its 422, an ApiError its
    # status): a plain exception still gets the Exception key's 500.
    errors = Interceptor({Exception: 500})
    app = FastAPI(middleware=[Middleware(InterceptorMiddleware, interceptor=errors)])

    @app.get("/items/{item_id}", responses=error_responses(UserNotFound))
    async def item(item_id: int) -> None:
        raise RuntimeError("boom")

    document = install_openapi(app).openapi()
    openapi_spec_validator.validate(document)
    responses = responses_of(document, "/items/{item_id}")
    assert PROBLEM in responses["500"]["content"]
    assert asyncio.run(get(app, "/items/1")).status_code == 500


def test_classified_lists_what_the_keys_subclasses_classify_as() -> None:
    # OSError: classified answers a PermissionError 403 and a FileNotFoundError
    # 404, by classification's rules for those subclasses of the key.
    raised = {"denied": PermissionError, "missing": FileNotFoundError, "timeout": TimeoutError}
    errors = Interceptor({OSError: classified})
    app = FastAPI(middleware=[Middleware(InterceptorMiddleware, interceptor=errors)])

    @app.get("/files/{name}")
    async def read(name: str) -> None:
        raise raised[name]()

    document = install_openapi(app).openapi()
    openapi_spec_validator.validate(document)
    responses = responses_of(document, "/files/{name}")
    for name in raised:
        response = asyncio.run(get(app, f"/files/{name}"))
        assert str(response.status_code) in responses, (name, response.status_code)
    codes = responses["403"]["content"][PROBLEM]["schema"]["allOf"][1]["properties"]["code"]
    assert codes["enum"] == ["PERMISSION_DENIED"]
    # Where a key of its own answers the subclass, classification's 403 is not sent.
    errors.add_handler(PermissionError, 400)
    app.openapi_schema = None
    responses = responses_of(app.openapi(), "/files/{name}")
    assert asyncio.run(get(app, "/files/denied")).status_code == 400
    assert "400" in responses
    assert "403" not in responses


def test_a_value_shared_by_two_keys_is_documented_for_each() -> None:
    # One Problem for both keys: the validation sample gets it through its own
    # key (at 422), which says nothing of what a RuntimeError gets (500).
    rejected = Problem(code="REJECTED")
    errors = Interceptor({RequestValidationError: rejected, Exception: rejected})
    app = FastAPI(middleware=[Middleware(InterceptorMiddleware, interceptor=errors)])

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> None:
        raise RuntimeError("boom")

    document = install_openapi(app).openapi()
    openapi_spec_validator.validate(document)
    sent = {asyncio.run(get(app, path)).status_code for path in ("/items/1", "/items/x")}
    assert {str(status) for status in sent} <= set(responses_of(document, "/items/{item_id}"))


def test_a_key_the_nearer_scope_always_answers_is_not_listed() -> None:
    # The router answers every LookupError, so the app's KeyError: 503 is never
    # sent from its routes; the app's RuntimeError: 500 still is.
    app_errors = Interceptor({KeyError: 503, RuntimeError: 500})
    app = FastAPI(middleware=[Middleware(InterceptorMiddleware, interceptor=app_errors)])
    router = APIRouter(route_class=intercepted_route(Interceptor({LookupError: 404})))
    raised = {"key": KeyError, "index": IndexError, "runtime": RuntimeError}

    @router.get("/items/{name}")
    async def item(name: str) -> None:
        raise raised[name]()

    app.include_router(router)
    document = install_openapi(app).openapi()
    openapi_spec_validator.validate(document)
    sent = {asyncio.run(get(app, f"/items/{name}")).status_code for name in raised}
    assert sent == {404, 500}
    assert {"404", "500"} <= set(responses_of(document, "/items/{name}"))
    assert "503" not in responses_of(document, "/items/{name}")


def test_a_sample_a_nearer_scope_answered_does_not_hide_a_key() -> None:
    # The HTTPException(404) probing the router's status key is answered there
    # (409), so it says nothing of the app's HTTPException key: a 401 gets 410.
    app_errors = Interceptor({HTTPException: 410})
    app = FastAPI(middleware=[Middleware(InterceptorMiddleware, interceptor=app_errors)])
    router = APIRouter(route_class=intercepted_route(Interceptor({404: 409})))

    @router.get("/items/{status}")
    async def item(status: int) -> None:
        raise HTTPException(status)

    app.include_router(router)
    document = install_openapi(app).openapi()
    openapi_spec_validator.validate(document)
    sent = {asyncio.run(get(app, f"/items/{status}")).status_code for status in (401, 404)}
    assert sent == {409, 410}
    assert {"409", "410"} <= set(responses_of(document, "/items/{status}"))


def test_operations_in_one_scope_share_its_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    # Rendering every answer again for each operation made a first /openapi.json
    # of 50 routes under 3,000 ApiError classes take 12 s, on the event loop.
    classes = [type(f"E{i}", (ApiError,), {"status": 400 + i, "code": f"E{i}"}) for i in range(12)]
    errors = Interceptor({cls: cls.status for cls in classes})
    app = FastAPI(middleware=[Middleware(InterceptorMiddleware, interceptor=errors)])
    for n in range(4):
        app.add_api_route(f"/items{n}/{{item_id}}", item_endpoint)
    rendered: list[tuple[Any, ...]] = []
    outcome = Interceptor.outcome
    monkeypatch.setattr(
        Interceptor, "outcome", lambda *a, **k: rendered.append(a) or outcome(*a, **k)
    )
    document = install_openapi(app).openapi()
    openapi_spec_validator.validate(document)
    assert len(rendered) < 2 * len(classes)  # once for the scope, not once per operation
    first, second = (responses_of(document, f"/items{n}/{{item_id}}") for n in (0, 3))
    # The error answers are the scope's; FastAPI 0.115's own 200 (the lowest we support) is
    # titled after each operation.
    assert {s: r for s, r in first.items() if s != "200"} == {
        s: r for s, r in second.items() if s != "200"
    }
    # Each operation has its own copy, for a user's changes to one of them.
    first["400"]["content"][PROBLEM]["examples"]["E0"]["value"]["x"] = 1
    assert "x" not in second["400"]["content"][PROBLEM]["examples"]["E0"]["value"]


async def item_endpoint(item_id: int) -> None: ...


def wrapped(body: dict[str, Any], info: object) -> dict[str, Any]:
    return {"error": body}


def test_a_rewritten_body_is_not_documented_as_a_problem() -> None:
    # rewrite_body keeps the problem+json content type but the body is no
    # longer a Problem: the schema must fit what is sent, and its examples.
    errors = Interceptor({KeyError: 404, RuntimeError: 500}, rewrite_body=wrapped)
    app = FastAPI(middleware=[Middleware(InterceptorMiddleware, interceptor=errors)])
    raised = {"key": KeyError, "runtime": RuntimeError}

    @app.get("/items/{name}")
    async def item(name: str) -> None:
        raise raised[name]()

    document = install_openapi(app).openapi()
    openapi_spec_validator.validate(document)
    responses = responses_of(document, "/items/{name}")
    for name in raised:
        response = asyncio.run(get(app, f"/items/{name}"))
        media = responses[str(response.status_code)]["content"][PROBLEM]
        validator = OAS31Validator({**media["schema"], "components": document["components"]})
        validator.validate(response.json())
        for example in media["examples"].values():
            validator.validate(example["value"])


class UserMissing(ApiError):
    # Its __new__ wants the user id: no bare sample can be made.
    status = 404
    code = "USER_MISSING"

    def __new__(cls, user_id: int) -> UserMissing:
        return super().__new__(cls, user_id)

    def __init__(self, user_id: int) -> None:
        super().__init__(f"user {user_id} not found")


def test_an_api_error_that_cannot_be_sampled_does_not_break_the_document() -> None:
    errors = Interceptor({UserMissing: 410, KeyError: 404})
    app = FastAPI(middleware=[Middleware(InterceptorMiddleware, interceptor=errors)])

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> None:
        raise UserMissing(item_id)

    install_openapi(app)
    served = asyncio.run(get(app, "/openapi.json"))
    assert served.status_code == 200
    openapi_spec_validator.validate(served.json())
    assert "404" in responses_of(served.json(), "/items/{item_id}")
    assert asyncio.run(get(app, "/items/1")).status_code == 410


# -- what the user declares --------------------------------------------------------------


def test_a_declared_status_range_is_left_as_declared() -> None:
    # "4XX" declared says what every 4xx body is; a generated "404" would
    # override it for 404 (an explicit code beats a range). FastAPI itself
    # leaves out its 422 for the same reason.
    errors = Interceptor({KeyError: 404, RuntimeError: 500})
    app = FastAPI(middleware=[Middleware(InterceptorMiddleware, interceptor=errors)])
    declared = {"description": "Mine, for every 4xx"}

    @app.get("/items/{item_id}", responses={"4XX": declared})
    async def item(item_id: int) -> None: ...

    document = install_openapi(app).openapi()
    openapi_spec_validator.validate(document)
    responses = responses_of(document, "/items/{item_id}")
    assert responses["4XX"] == declared
    assert "404" not in responses
    assert PROBLEM in responses["500"]["content"]  # outside the range: still generated
