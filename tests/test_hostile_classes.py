"""Exception classes that lie about themselves, and classes made by the thousand.

The interceptor is the last line of defence on the error path, so an odd
exception class must not break it: its answer is still a problem+json 5xx
with an ``error_id``, and its report still goes out. ``isinstance()``
believes an object's ``__class__``, which a property can fake; ``type()``
cannot be faked, so what decides behaviour goes by ``type()``, as Python's
own ``except`` does.
"""

from __future__ import annotations

import gc
import json
import logging
import threading
import traceback
import tracemalloc
import weakref
from collections import Counter
from typing import Any

import httpx
import pytest
import werkzeug.exceptions
from flask import Flask
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.routing import Route

from interceptor import ApiError, Category, Interceptor, Problem, classified, classify
from interceptor import _classify as classify_module
from interceptor import _validation as validation_module
from interceptor._classify import register_classifier
from interceptor._http import KINDS_BY_TYPE, HttpKind, http_kind, http_status
from interceptor._render import Outcome
from interceptor._request import RequestInfo
from interceptor._resolve import handle_sync
from interceptor._typecache import CLEARS, MAX_TYPES
from interceptor._values import single_leaf
from interceptor.flask import init_app
from interceptor.starlette import InterceptorMiddleware
from tests.conftest import record_figure

# -- the hostile classes ------------------------------------------------------------


class Teapot(ApiError):
    status = 418
    code = "TEAPOT"


class ClaimsApiError(Exception):
    """``isinstance(exc, ApiError)`` is true, but it has none of an ApiError's attributes."""

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # the lie is the point
        return Teapot


class ClaimsGroup(Exception):
    """``isinstance(exc, ExceptionGroup)`` is true, but it has no ``exceptions``."""

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        return ExceptionGroup


# A class statement always sets a str ``__module__``; type() takes what it is given.
ModuleIsInt = type("ModuleIsInt", (Exception,), {"__module__": 42})
ModuleIsUnhashable = type("ModuleIsUnhashable", (Exception,), {"__module__": ["not", "hashable"]})


class _ModuleRaises(type):
    @property
    def __module__(cls) -> str:  # type: ignore[override]
        raise RuntimeError("no module for you")


class ModuleRaises(Exception, metaclass=_ModuleRaises):
    """Reading ``ModuleRaises.__module__`` raises."""


class BareApiError(ApiError):
    """An ApiError whose ``__init__`` never calls ``super().__init__()``."""

    status = 409

    def __init__(self, thing: str) -> None:
        self.thing = thing


class GetattrRaises(Exception):
    """A ``__getattr__`` that raises ``KeyError``, so ``getattr(exc, name, None)`` raises."""

    def __getattr__(self, name: str) -> Any:
        raise KeyError(name)


class CodeRaises(werkzeug.exceptions.HTTPException):
    """A Werkzeug HTTP exception whose ``code`` property raises."""

    @property
    def code(self) -> int:  # type: ignore[override]
        raise RuntimeError("no code")


class ResponseRaises(werkzeug.exceptions.HTTPException):
    """A Werkzeug HTTP exception whose ``response`` property raises."""

    code = 409

    @property
    def response(self) -> Any:  # type: ignore[override]
        raise RuntimeError("no response")

    @response.setter
    def response(self, value: Any) -> None:  # HTTPException.__init__ sets it
        pass


HOSTILE = [
    ClaimsApiError,
    ClaimsGroup,
    ModuleIsInt,
    ModuleIsUnhashable,
    ModuleRaises,
    GetattrRaises,
    CodeRaises,
]


class _MroRaises(type):
    @property
    def __mro__(cls) -> tuple[type, ...]:  # type: ignore[override]
        raise RuntimeError("no mro for you")


class MroRaises(Exception, metaclass=_MroRaises):
    """Reading ``MroRaises.__mro__`` raises (``except`` still matches it: C reads the slot).

    Starlette and Flask walk ``type(exc).__mro__`` themselves, so only
    `classify` is asked to survive it.
    """


def make(cls: type[Exception]) -> Exception:
    return BareApiError("x") if cls is BareApiError else cls("secret message")


@pytest.fixture(autouse=True)
def _restore_registry(restore_classifiers: None) -> None:
    """User registrations are global: undo the ones a test makes."""


@pytest.fixture
def unformattable_logs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Logging as in production for exceptions the stdlib cannot format.

    ``traceback`` itself fails on ``ClaimsGroup`` and ``ModuleRaises``, so
    their log line cannot carry a traceback; ``logging`` then prints
    "--- Logging error ---" and goes on, where pytest's handler would raise.
    """
    monkeypatch.setattr(logging, "raiseExceptions", False)


# -- the core ---------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [*HOSTILE, BareApiError, MroRaises])
def test_classify_never_raises(cls: type[Exception]) -> None:
    found = classify(make(cls))
    if cls is BareApiError:
        assert (found.category, found.status) == (Category.CONFLICT, 409)
    else:
        assert (found.category, found.status) == (Category.PERMANENT, 500)


@pytest.mark.parametrize("cls", [ModuleIsInt, ModuleIsUnhashable, ModuleRaises])
def test_a_registration_still_classifies_a_class_with_an_odd_module(cls: type[Exception]) -> None:
    register_classifier(cls, Category.TEMPORARY)
    assert classify(cls()).category is Category.TEMPORARY


def test_kind_and_leaf_go_by_type_not_by_the_claimed_class() -> None:
    assert http_kind(ClaimsApiError()) is HttpKind.PLAIN
    assert http_kind(MroRaises()) is HttpKind.PLAIN
    assert http_status(CodeRaises(), HttpKind.WERKZEUG) is None
    liar = ClaimsGroup()
    assert single_leaf(liar) is liar
    assert Interceptor({Exception: 500}).candidates(liar) == (liar, (500,))
    # A real Teapot is an ApiError; a class that only claims to be one is not.
    assert Interceptor().candidates(ClaimsApiError())[1] == ()


class GroupClaimsItself(ExceptionGroup):
    """An exception group whose ``exceptions`` property answers the group itself."""

    @property
    def exceptions(self) -> tuple[Any, ...]:  # type: ignore[override]
        return (self,)


def test_a_group_claiming_to_hold_itself_is_taken_by_what_it_holds() -> None:
    # Walking the property's answer never ends: classify and resolution hung.
    group = GroupClaimsItself("x", [KeyError("k")])
    assert type(single_leaf(group)) is KeyError
    assert classify(group).category is Category.PERMANENT
    assert type(Interceptor({KeyError: 404}).candidates(group)[0]) is KeyError


def on_any(request: object, exc: BaseException) -> int:
    return 500


SETUPS: dict[str, Any] = {
    "int": lambda: Interceptor({Exception: 500}),
    "problem": lambda: Interceptor({Exception: Problem(code="BROKEN")}),
    "debug": lambda: Interceptor({Exception: 500}, debug=True),
    "classified": lambda: Interceptor({Exception: classified}),
    "callable": lambda: Interceptor({Exception: on_any}),
    "rewrite": lambda: Interceptor({Exception: 500}, rewrite_body=lambda body, info: body),
}


def resolve_sync(errors: Interceptor, exc: BaseException) -> Any:
    return handle_sync(
        errors, exc, RequestInfo, lambda handler, leaf: handler(None, leaf), lambda v: False
    )


@pytest.mark.usefixtures("unformattable_logs")
@pytest.mark.parametrize("setup", sorted(SETUPS))
@pytest.mark.parametrize("cls", HOSTILE)
def test_the_core_answers_a_problem_500_with_an_error_id(cls: type[Exception], setup: str) -> None:
    outcome = resolve_sync(SETUPS[setup](), make(cls))
    assert isinstance(outcome, Outcome)
    assert outcome.status == 500
    assert dict(outcome.headers)["Content-Type"] == "application/problem+json"
    body = json.loads(outcome.body)
    assert body["status"] == 500
    assert body["error_id"] == outcome.error_id
    assert "secret message" not in outcome.body.decode() or setup == "debug"
    if setup == "debug":
        assert body["exception"].endswith(cls.__qualname__)
        assert body["traceback"]


@pytest.mark.parametrize("setup", sorted(SETUPS))
def test_an_api_error_that_skips_super_init_gets_its_status(setup: str) -> None:
    outcome = resolve_sync(SETUPS[setup](), BareApiError("x"))
    assert isinstance(outcome, Outcome)
    body = json.loads(outcome.body)
    # ApiError's own default comes before a handler for Exception, so all give 409.
    assert outcome.status == body["status"] == 409


def test_an_api_error_that_skips_super_init_has_a_str() -> None:
    exc = BareApiError("x")
    # It has no detail of ours: its args, as any exception's. It used to raise
    # AttributeError, so tracebacks and log lines said "<exception str() failed>".
    assert str(exc) == "x"
    assert traceback.format_exception_only(exc)[-1].endswith("BareApiError: x\n")


def test_a_registration_gives_its_status_to_a_liar() -> None:
    errors = Interceptor({ClaimsApiError: 503, ModuleIsInt: Problem(status=502)})
    assert resolve_sync(errors, ClaimsApiError()).status == 503
    assert resolve_sync(errors, ModuleIsInt()).status == 502


# -- through the frameworks, with the report ----------------------------------------------


def reporting(reports: list[Any], done: threading.Event) -> Interceptor:
    def reporter(report: Any) -> None:
        reports.append(report)
        done.set()

    return Interceptor({Exception: 500}, reporter=reporter)


def check_answer(status: int, content_type: str, body: dict[str, Any]) -> str:
    assert status == 500
    assert content_type == "application/problem+json"
    assert body["status"] == 500
    assert "secret message" not in json.dumps(body)
    return str(body["error_id"])


async def starlette_get(
    errors: Interceptor | None, raising: Any, *, outer: tuple[Middleware, ...] = ()
) -> httpx.Response:
    """GET of a Starlette route that raises ``raising()``, under ``errors`` at app level
    (none if ``None``), with the ``outer`` middleware around it."""

    def endpoint(request: Request) -> None:
        raise raising()

    middleware = [*outer]
    if errors is not None:
        middleware.append(Middleware(InterceptorMiddleware, interceptor=errors))
    app = Starlette(routes=[Route("/x", endpoint)], middleware=middleware)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await client.get("/x")


def flask_get(errors: Interceptor, raising: Any) -> Any:
    """GET of a Flask view that raises ``raising()``, under ``errors`` with init_app."""
    app = Flask(__name__)

    @app.get("/x")
    def view() -> str:
        raise raising()

    init_app(app, errors)
    return app.test_client().get("/x")


@pytest.mark.usefixtures("unformattable_logs")
@pytest.mark.parametrize("cls", HOSTILE)
async def test_starlette_answers_and_reports(cls: type[Exception]) -> None:
    reports: list[Any] = []
    done = threading.Event()
    response = await starlette_get(reporting(reports, done), lambda: make(cls))
    error_id = check_answer(
        response.status_code, response.headers["content-type"], response.json()
    )
    assert done.wait(5)
    assert reports[0].error_id == error_id
    assert type(reports[0].exception) is cls  # not the interceptor's own crash


@pytest.mark.usefixtures("unformattable_logs")
@pytest.mark.parametrize("cls", HOSTILE)
def test_flask_answers_and_reports(cls: type[Exception]) -> None:
    reports: list[Any] = []
    done = threading.Event()
    response = flask_get(reporting(reports, done), lambda: make(cls))
    error_id = check_answer(response.status_code, response.content_type, response.get_json())
    assert done.wait(5)
    assert reports[0].error_id == error_id
    assert type(reports[0].exception) is cls


async def test_an_http_exception_whose_response_property_raises_keeps_its_own_status() -> None:
    # Reading `.response` tells whether the exception carries a ready response
    # (then it passes through); a property that raises carries none.
    errors = Interceptor({Exception: 500})
    response = await starlette_get(errors, lambda: ResponseRaises("a conflict"))
    assert (response.status_code, response.json()["title"]) == (409, "Conflict")
    flask_response = flask_get(errors, lambda: ResponseRaises("a conflict"))
    assert (flask_response.status_code, flask_response.get_json()["title"]) == (409, "Conflict")


def test_such_an_exception_under_an_interceptor_that_matches_nothing_is_flasks_alone() -> None:
    # Do no harm: Flask's own answer, byte for byte as without the interceptor.
    def answer(errors: Interceptor | None) -> tuple[int, bytes]:
        app = Flask(__name__)

        @app.get("/x")
        def view() -> str:
            raise ResponseRaises("a conflict")

        if errors is not None:
            init_app(app, errors)
        response = app.test_client().get("/x")
        return response.status_code, response.data

    assert answer(Interceptor({ZeroDivisionError: 500})) == answer(None)


class DebugUnreadable:
    """Stands for the app in an ASGI scope: reading its ``debug`` flag raises."""

    @property
    def debug(self) -> bool:
        raise RuntimeError("debug unreadable")


def test_request_data_of_a_scope_whose_debug_flag_raises_says_not_debug() -> None:
    info = RequestInfo.from_scope({"type": "http", "path": "/x", "app": DebugUnreadable()})
    assert (info.path, info.debug) == ("/x", False)


class SwapsApp:
    """Middleware that puts a `DebugUnreadable` in the scope, where Starlette puts itself."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app({**scope, "app": DebugUnreadable()}, receive, send)


async def get_under_unreadable_debug(errors: Interceptor | None) -> httpx.Response:
    """GET of a route raising ``KeyError('secret detail')`` under a `SwapsApp`."""
    return await starlette_get(
        errors, lambda: KeyError("secret detail"), outer=(Middleware(SwapsApp),)
    )


@pytest.mark.parametrize("errors", [Interceptor({ZeroDivisionError: 500}), None])
async def test_under_an_interceptor_that_matches_nothing_such_a_scope_is_starlettes_alone(
    errors: Interceptor | None,
) -> None:
    with pytest.raises(KeyError, match="secret detail"):
        await get_under_unreadable_debug(errors)


@pytest.mark.parametrize("value", ["int", "callable"])
async def test_a_scope_whose_debug_flag_raises_is_answered_as_not_debug(value: str) -> None:
    # The interceptor follows the app's debug flag (debug=None): one that cannot
    # be read means no debug details, not a crash of the interceptor itself.
    reports: list[Any] = []
    done = threading.Event()

    async def handler(request: Request, exc: Exception) -> object:
        return {"handled": type(exc).__name__}, 500

    def reporter(report: Any) -> None:
        reports.append(report)
        done.set()

    errors = Interceptor(
        {KeyError: 500 if value == "int" else handler}, reporter=reporter, debug=None
    )
    response = await get_under_unreadable_debug(errors)
    assert response.status_code == 500
    body = response.json()
    assert "secret detail" not in response.text
    assert "traceback" not in json.dumps(body).lower()
    if value == "int":
        assert (body["status"], body["title"]) == (500, "Internal Server Error")
    else:
        assert body["handled"] == "KeyError"
    assert done.wait(5)
    assert reports[0].error_id == body["error_id"]
    assert type(reports[0].exception) is KeyError  # not the interceptor's own crash


# -- classes made at run time ---------------------------------------------------------------


def test_classes_made_at_run_time_are_not_kept_alive() -> None:
    """100,000 classes raised once each: the per-type caches keep at most `MAX_TYPES`.

    Unbounded, they kept every class alive (about 160 MiB for these).
    """

    class Made(ValueError):
        pass

    errors = Interceptor({ValueError: 400})
    clears = dict(CLEARS)
    answers: Counter[tuple[object, ...]] = Counter()
    sample: list[weakref.ref[type]] = []
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(100_000):
            cls = type(f"Made{i}", (Made,), {})
            try:
                raise cls("x")
            except Made as exc:
                answers[
                    errors.candidates(exc)[1],
                    errors.resolve(cls),
                    errors.may_handle(cls),
                    classify(exc).status,
                    http_kind(exc),
                ] += 1
            if i % 100 == 0:
                sample.append(weakref.ref(cls))
        del cls
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert answers == {((400,), 400, True, 500, HttpKind.PLAIN): 100_000}
    alive = len(Made.__subclasses__())
    record_figure(
        f"100,000 classes made at run time: {alive} alive after gc, "
        f"+{grown / 2**20:.1f} MiB traced"
    )
    assert alive <= MAX_TYPES  # each cache holds the newest MAX_TYPES at most
    assert sum(ref() is None for ref in sample) >= 0.98 * len(sample)
    assert grown < 5 * 2**20
    for cache in (errors._snapshot().cache, KINDS_BY_TYPE, classify_module._tables.cache):
        assert len(cache) <= MAX_TYPES
    for name in ("candidates", "http_kind", "classify"):
        assert CLEARS[name] > clears.get(name, 0)


def test_the_missing_key_cache_of_keyerror_types_is_bounded() -> None:
    """Under Flask, each KeyError type is asked once whether it is Werkzeug's missing
    key: an app making KeyError classes at run time does not grow that cache."""
    app = Flask(__name__)
    init_app(app, Interceptor({KeyError: 404}))
    made: list[type[KeyError]] = []

    def view() -> str:
        made.append(type(f"MadeKey{len(made)}", (KeyError,), {}))
        raise made[-1]("k")

    app.add_url_rule("/k", "k", view)
    clears = CLEARS["missing_key"]
    http = app.test_client()
    statuses = Counter(http.get("/k").status_code for _ in range(3 * MAX_TYPES))
    assert statuses == {404: 3 * MAX_TYPES}
    sample = [weakref.ref(cls) for cls in made[:: MAX_TYPES // 8]]
    made.clear()
    gc.collect()
    assert len(validation_module._MISSING_BY_TYPE) <= MAX_TYPES
    assert CLEARS["missing_key"] > clears
    assert sum(ref() is None for ref in sample) >= len(sample) // 2  # the older ones freed
