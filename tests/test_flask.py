"""`interceptor.flask`: scopes and precedence through Flask's own test client."""

from __future__ import annotations

import asyncio
import gc
import inspect
import subprocess
import sys
import threading
import weakref
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from flask import (
    Blueprint,
    Flask,
    Request,
    Response,
    abort,
    current_app,
    got_request_exception,
    jsonify,
    request,
    request_started,
)
from flask.views import View
from waitress.server import create_server
from werkzeug.datastructures import Headers, WWWAuthenticate
from werkzeug.exceptions import HTTPException, InternalServerError, MethodNotAllowed, NotFound
from werkzeug.routing import RequestRedirect

import interceptor.flask as adapter
from examples.flask_app import DEMO_REQUESTS
from examples.flask_app import app as example_app
from interceptor import ApiError, Interceptor, Problem
from interceptor._delivery import delivery
from interceptor.flask import init_app, intercept
from tests.conftest import TUPLE_ANSWERS, split_error_id

# -- an app with every scope ------------------------------------------------------------


class Shared(Exception):
    """Registered at every scope: the nearest one must win."""


class BlueprintOnly(Exception):
    pass


class AppOnly(Exception):
    pass


class FlaskOnly(Exception):
    """Only Flask's own app errorhandler knows it."""


class Unhandled(Exception):
    pass


class Teapot(ApiError):
    status = 418
    code = "TEAPOT"


def scope(name: str, status: int = 409) -> Any:
    def handler(req: Request, exc: Exception) -> tuple[dict[str, Any], int]:
        return {"scope": name, "exc": type(exc).__name__}, status

    handler.__qualname__ = f"scope_{name}"
    return handler


@pytest.fixture
def app() -> Flask:
    app = Flask(__name__)
    app.config["TESTING"] = False
    app.config["PROPAGATE_EXCEPTIONS"] = False

    api = Blueprint("api", __name__, url_prefix="/api")
    v1 = Blueprint("v1", __name__, url_prefix="/v1")
    init_app(
        api,
        Interceptor(
            {
                Shared: scope("api"),
                BlueprintOnly: scope("api"),
                NotFound: scope("api", 404),
                405: scope("api", 405),
                403: scope("api", 403),
            }
        ),
    )
    init_app(v1, Interceptor({Shared: scope("v1"), NotFound: scope("v1", 404)}))
    init_app(app, Interceptor({Shared: scope("app"), AppOnly: scope("app"), ValueError: 400}))

    # Flask's own handlers: app by code and by class, and one on the blueprint.
    @app.errorhandler(404)
    def flask_404(exc: HTTPException) -> tuple[dict[str, Any], int]:
        return {"scope": "flask", "exc": type(exc).__name__}, 404

    @app.errorhandler(FlaskOnly)
    def flask_only(exc: Exception) -> tuple[dict[str, Any], int]:
        return {"scope": "flask", "exc": type(exc).__name__}, 409

    @app.errorhandler(Shared)
    def flask_shared(exc: Exception) -> tuple[dict[str, Any], int]:
        return {"scope": "flask", "exc": type(exc).__name__}, 409

    @api.errorhandler(AppOnly)
    def flask_bp_app_only(exc: Exception) -> tuple[dict[str, Any], int]:
        return {"scope": "flask-blueprint", "exc": type(exc).__name__}, 409

    @api.get("/view-scoped")
    @intercept(Interceptor({Shared: scope("view")}))
    def view_scoped() -> str:
        raise Shared

    @api.get("/raise/<name>")
    def api_raise(name: str) -> str:
        raise EXCEPTIONS[name]()

    @api.get("/abort/<int:code>")
    def api_abort(code: int) -> str:
        abort(code, "told to abort")

    @api.get("/folder/")
    def folder() -> str:
        return "folder"

    @v1.get("/raise/<name>")
    def v1_raise(name: str) -> str:
        raise EXCEPTIONS[name]()

    @v1.before_request
    def v1_guard() -> None:
        if request.args.get("guard"):
            raise EXCEPTIONS[request.args["guard"]]()

    @api.before_request
    def api_guard() -> None:
        if request.args.get("api_guard"):
            raise EXCEPTIONS[request.args["api_guard"]]()

    @app.get("/raise/<name>")
    def app_raise(name: str) -> str:
        raise EXCEPTIONS[name]()

    @app.get("/abort/<int:code>")
    def app_abort(code: int) -> str:
        abort(code)

    api.register_blueprint(v1)
    app.register_blueprint(api)
    return app


EXCEPTIONS: dict[str, type[Exception]] = {
    "shared": Shared,
    "blueprint-only": BlueprintOnly,
    "app-only": AppOnly,
    "flask-only": FlaskOnly,
    "value": ValueError,
    "teapot": Teapot,
}


def get(app: Flask, path: str, method: str = "GET") -> tuple[int, Any]:
    response = app.test_client().open(path, method=method)
    return response.status_code, response.get_json(silent=True)


# -- the precedence matrix -------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status", "winner"),
    [
        # by class: view > blueprint > app interceptor > Flask errorhandler
        ("/api/view-scoped", 409, "view"),
        ("/api/raise/shared", 409, "api"),
        ("/api/v1/raise/shared", 409, "v1"),
        ("/api/v1/raise/blueprint-only", 409, "api"),  # nested: falls to the outer blueprint
        ("/raise/shared", 409, "app"),
        ("/api/raise/app-only", 409, "app"),  # app interceptor before Flask's blueprint handler
        ("/api/raise/flask-only", 409, "flask"),  # unmatched: still reaches Flask's handler
        ("/raise/flask-only", 409, "flask"),
        # by code: a blueprint interceptor's NotFound beats Flask's app errorhandler(404)
        ("/api/abort/404", 404, "api"),
        ("/abort/404", 404, "flask"),
        # routing errors under a prefix belong to the blueprint, innermost first
        ("/api/nope", 404, "api"),
        ("/api/v1/nope", 404, "v1"),
        ("/api", 404, "api"),
        ("/nope", 404, "flask"),
        ("/apiary", 404, "flask"),  # a prefix matches at a segment boundary only
        # before_request functions belong to their blueprint
        ("/api/v1/raise/x?guard=shared", 409, "v1"),
        # the parent's before_request runs for the child's requests, which are
        # the child's scope, as for Flask's own blueprint handlers
        ("/api/v1/raise/x?api_guard=shared", 409, "v1"),
        ("/api/v1/raise/x?api_guard=blueprint-only", 409, "api"),
        ("/api/raise/x?api_guard=app-only", 409, "app"),
    ],
)
def test_precedence(app: Flask, path: str, status: int, winner: str) -> None:
    got_status, body = get(app, path)
    assert got_status == status
    assert body["scope"] == winner


def test_routing_405_inside_the_prefix_keeps_allow(app: Flask) -> None:
    response = app.test_client().post("/api/raise/shared")
    assert response.status_code == 405
    assert response.get_json() == {"scope": "api", "exc": "MethodNotAllowed"}
    # A handler's own tuple response sets no Allow; the default body keeps it.
    app = Flask(__name__)
    bp = Blueprint("b", __name__, url_prefix="/b")
    init_app(bp, Interceptor({405: 405}))
    bp.add_url_rule("/x", "x", lambda: "x")
    app.register_blueprint(bp)
    response = app.test_client().delete("/b/x")
    assert response.status_code == 405
    assert response.content_type == "application/problem+json"
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}


def test_routing_405_outside_every_prefix_is_flask_default(app: Flask) -> None:
    response = app.test_client().post("/raise/shared")
    assert response.status_code == 405
    assert response.content_type.startswith("text/html")
    assert "GET" in response.headers["Allow"]


def test_http_exception_with_handler_is_a_problem(app: Flask) -> None:
    response = app.test_client().get("/api/abort/403")
    assert response.status_code == 403
    assert response.get_json() == {"scope": "api", "exc": "Forbidden"}

    app = Flask(__name__)
    errors = Interceptor({409: 409})
    bp = Blueprint("c", __name__, url_prefix="/c")
    init_app(bp, errors)
    bp.add_url_rule("/x", "x", lambda: abort(409, "already there"))
    app.register_blueprint(bp)
    response = app.test_client().get("/c/x")
    assert response.content_type == "application/problem+json"
    assert response.get_json()["detail"] == "already there"  # raw description, no HTML


def test_http_exception_without_handler_is_flask_default(app: Flask) -> None:
    response = app.test_client().get("/abort/409")
    assert response.status_code == 409
    assert response.content_type.startswith("text/html")
    assert b"<title>409 Conflict</title>" in response.data


def test_api_error_rendered_by_every_interceptor(app: Flask) -> None:
    status, body = get(app, "/api/raise/teapot")
    assert status == 418
    assert body["code"] == "TEAPOT"


# -- unmatched exceptions get Flask's usual treatment ----------------------------------------


def test_unmatched_exception_is_a_flask_500_with_original(app: Flask) -> None:
    error = Unhandled("db down")
    seen: list[BaseException] = []
    original: list[BaseException | None] = []

    @app.get("/unhandled")
    def unhandled() -> str:
        raise error

    @app.errorhandler(InternalServerError)
    def on_500(exc: InternalServerError) -> tuple[str, int]:
        original.append(exc.original_exception)
        return "flask 500", 500

    def receiver(sender: Flask, exception: BaseException, **extra: Any) -> None:
        seen.append(exception)

    with got_request_exception.connected_to(receiver, app):
        response = app.test_client().get("/unhandled")
    assert response.status_code == 500
    assert response.data == b"flask 500"
    assert seen == [error]
    assert original == [error]
    assert original[0] is error


@pytest.mark.parametrize("config", ["TESTING", "PROPAGATE_EXCEPTIONS"])
def test_unmatched_exception_propagates_the_same_object(app: Flask, config: str) -> None:
    error = Unhandled("boom")

    @app.get("/unhandled")
    def unhandled() -> str:
        raise error

    app.config["PROPAGATE_EXCEPTIONS"] = None  # then TESTING decides
    app.config[config] = True
    with pytest.raises(Unhandled) as caught:
        app.test_client().get("/unhandled")
    assert caught.value is error
    assert caught.value.__context__ is None


def test_redirects_are_untouched() -> None:
    app = Flask(__name__)
    bp = Blueprint("bp", __name__, url_prefix="/bp")
    everything = Interceptor({Exception: 500, HTTPException: 500})
    init_app(bp, everything)
    init_app(app, everything)
    bp.add_url_rule("/folder/", "folder", lambda: "folder")
    app.register_blueprint(bp)
    response = app.test_client().get("/bp/folder")
    assert response.status_code == 308
    assert response.headers["Location"].endswith("/bp/folder/")


def test_abort_with_a_response_is_untouched() -> None:
    app = Flask(__name__)
    init_app(app, Interceptor({Exception: 500, HTTPException: 500, 418: 500}))
    app.add_url_rule("/", "index", lambda: abort(Response("short and stout", status=418)))
    response = app.test_client().get("/")
    assert response.status_code == 418
    assert response.data == b"short and stout"


# -- handlers: results, declining, raising ------------------------------------------------------


def make_app(
    errors: Interceptor, view_exc: Exception, app_errors: dict[Any, Any] | None = None
) -> Flask:
    app = Flask(__name__)
    bp = Blueprint("bp", __name__, url_prefix="/bp")
    init_app(bp, errors)
    if app_errors is not None:
        init_app(app, Interceptor(app_errors))

    def view() -> str:
        raise view_exc

    bp.add_url_rule("/x", "x", view)
    app.register_blueprint(bp)
    return app


def test_handler_results() -> None:
    class A(Exception):
        pass

    results: dict[str, Any] = {
        "response": Response("plain", status=402, headers={"X-Custom": "1"}),
        "tuple": ({"ok": False}, 422, {"X-Tuple": "yes"}),
        "problem": Problem(status=429, code="SLOW_DOWN", retry_after=7),
        "int": 451,
    }
    expected = {"response": 402, "tuple": 422, "problem": 429, "int": 451}
    for kind, result in results.items():
        app = make_app(Interceptor({A: lambda req, exc, result=result: result}), A())
        response = app.test_client().get("/bp/x")
        assert response.status_code == expected[kind], kind
        if kind == "response":
            assert response.data == b"plain"
            assert response.headers["X-Custom"] == "1"
        elif kind == "tuple":
            assert response.get_json() == {"ok": False}
            assert response.headers["X-Tuple"] == "yes"
            assert response.content_type == "application/json"
        elif kind == "problem":
            assert response.get_json()["code"] == "SLOW_DOWN"
            assert response.headers["Retry-After"] == "7"
        else:
            assert response.get_json()["title"] == "Unavailable For Legal Reasons"


def test_handler_gets_flask_request_and_the_exception() -> None:
    seen: list[Any] = []
    error = KeyError("k")

    def handler(req: Request, exc: Exception) -> int:
        seen.append((type(req), req.path, req.args.get("q"), exc))
        return 404

    app = make_app(Interceptor({KeyError: handler}), error)
    assert app.test_client().get("/bp/x?q=1").status_code == 404
    assert seen == [(app.request_class, "/bp/x", "1", error)]


def test_declining_handler_goes_to_the_next_match_then_the_next_scope() -> None:
    calls: list[str] = []

    def decline(name: str) -> Any:
        def handler(req: Request, exc: Exception) -> None:
            calls.append(name)

        return handler

    app = make_app(
        Interceptor({KeyError: decline("key"), LookupError: decline("lookup")}),
        KeyError(),
        app_errors={LookupError: 410},
    )
    assert app.test_client().get("/bp/x").status_code == 410
    assert calls == ["key", "lookup"]


def test_handler_that_raises_goes_to_the_next_scope_chained() -> None:
    original = KeyError("first")
    seen: list[BaseException] = []

    def explode(req: Request, exc: Exception) -> None:
        raise ValueError("handler failed")

    def app_handler(req: Request, exc: Exception) -> int:
        seen.append(exc)
        return 400

    # The same interceptor at both scopes never handles its own handler's error.
    errors = Interceptor({KeyError: explode, ValueError: 503})
    app = make_app(errors, original, app_errors={ValueError: app_handler})
    assert app.test_client().get("/bp/x").status_code == 400
    assert isinstance(seen[0], ValueError)
    assert seen[0].__context__ is original


def test_a_5xx_is_observed_and_reported_once_per_request() -> None:
    original = KeyError("first")
    events: list[Any] = []
    reports: list[Any] = []
    reported = threading.Event()

    def reporter(report: Any) -> None:
        reports.append(report)
        reported.set()

    def explode(req: Request, exc: Exception) -> None:
        raise ValueError("handler failed")

    inner = Interceptor({KeyError: explode}, reporter=reporter)
    outer = Interceptor({ValueError: 503}, reporter=reporter)
    inner.add_observer(events.append)
    outer.add_observer(events.append)
    app = make_app(inner, original)
    init_app(app, outer)
    response = app.test_client().get("/bp/x?q=1", headers={"Authorization": "secret"})
    assert response.status_code == 503
    assert [event.status for event in events] == [503]
    assert reported.wait(5)
    (report,) = reports
    assert report.error_id == response.get_json()["error_id"]
    assert isinstance(report.exception, ValueError)
    assert (report.method, report.path, report.query_string) == ("GET", "/bp/x", "q=1")
    assert "secret" not in repr(report.headers)


def test_a_4xx_is_observed_not_reported() -> None:
    events: list[Any] = []
    errors = Interceptor({KeyError: 404}, reporter=lambda report: pytest.fail("reported"))
    errors.add_observer(events.append)
    app = make_app(errors, KeyError())
    assert app.test_client().get("/bp/x").status_code == 404
    assert [(event.status, event.slo) for event in events] == [(404, False)]


def test_handler_error_nobody_handles_is_flask_500() -> None:
    original = KeyError("first")

    def explode(req: Request, exc: Exception) -> None:
        raise ValueError("handler failed")

    app = make_app(Interceptor({KeyError: explode}), original)
    caught: list[BaseException | None] = []

    @app.errorhandler(500)
    def on_500(exc: InternalServerError) -> tuple[str, int]:
        caught.append(exc.original_exception)
        return "flask 500", 500

    assert app.test_client().get("/bp/x").status_code == 500
    assert isinstance(caught[0], ValueError)
    assert caught[0].__context__ is original

    app.config["TESTING"] = True
    with pytest.raises(ValueError, match="handler failed") as raised:
        app.test_client().get("/bp/x")
    assert raised.value.__context__ is original


def test_handler_error_reaches_flask_errorhandler() -> None:
    def explode(req: Request, exc: Exception) -> None:
        raise FlaskOnly

    app = make_app(Interceptor({KeyError: explode}), KeyError())
    app.register_error_handler(FlaskOnly, lambda exc: ("flask saw it", 409))
    response = app.test_client().get("/bp/x")
    assert response.status_code == 409
    assert response.data == b"flask saw it"


def test_stateful_callable_object_handler() -> None:
    class Budget:
        def __init__(self) -> None:
            self.left = 2

        def __call__(self, req: Request, exc: Exception) -> tuple[dict[str, int], int] | None:
            if self.left == 0:
                return None  # declines: Flask's 500
            self.left -= 1
            return {"left": self.left}, 503

    app = make_app(Interceptor({TimeoutError: Budget()}), TimeoutError())
    http = app.test_client()
    for left in (1, 0):
        body = http.get("/bp/x").get_json()
        assert body.pop("error_id")  # a 5xx answer always shows its error_id
        assert body == {"left": left}
    assert http.get("/bp/x").status_code == 500


def test_after_request_runs_on_intercepted_responses() -> None:
    app = make_app(Interceptor({KeyError: 404}), KeyError())

    @app.after_request
    def stamp(response: Response) -> Response:
        response.headers["X-Stamped"] = "1"
        return response

    response = app.test_client().get("/bp/x")
    assert response.status_code == 404
    assert response.headers["X-Stamped"] == "1"


def test_head_has_headers_and_no_body() -> None:
    app = make_app(Interceptor({KeyError: 404}), KeyError("k"))
    http = app.test_client()
    get = http.get("/bp/x")
    head = http.head("/bp/x")
    assert head.status_code == 404
    assert head.data == b""
    assert head.headers["Content-Type"] == "application/problem+json"
    assert head.headers["Content-Length"] == str(len(get.data))


def test_request_info_never_carries_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    infos: list[Any] = []
    real = adapter._request_info

    def spy(*args: Any) -> Any:
        infos.append(real(*args))
        return infos[-1]

    monkeypatch.setattr(adapter, "_request_info", spy)
    app = make_app(Interceptor({KeyError: 404}), KeyError())
    client = app.test_client()
    client.set_cookie("session", "secret")  # the test client sends its own jar, not a header
    client.get(
        "/bp/x?a=1",
        headers={
            "Authorization": "Bearer secret",
            "Proxy-Authorization": "secret",
            "X-Api-Key": "secret",
            "X-Trace": "t1",
        },
    )
    (info,) = infos
    assert info.method == "GET"
    assert info.path == "/bp/x"
    assert info.query_string == "a=1"
    headers = {name.lower(): value for name, value in info.headers}
    assert headers["x-trace"] == "t1"
    for name in ("authorization", "cookie", "proxy-authorization", "x-api-key"):
        assert headers[name] == "[Filtered]"
    assert "secret" not in repr(info) + repr(info.headers)


# -- async views and handlers (flask[async]) --------------------------------------------------


def test_async_view_and_async_handler() -> None:
    app = Flask(__name__)
    bp = Blueprint("bp", __name__, url_prefix="/bp")

    async def async_handler(req: Request, exc: Exception) -> Problem:
        await asyncio.sleep(0)
        return Problem(status=404, code=f"ASYNC_{req.method}")

    class AsyncCallable:
        async def __call__(self, req: Request, exc: Exception) -> int:
            await asyncio.sleep(0)
            return 429

    init_app(bp, Interceptor({KeyError: async_handler, TimeoutError: AsyncCallable()}))

    @bp.get("/view")
    @intercept(Interceptor({ValueError: async_handler}))
    async def async_view() -> str:
        await asyncio.sleep(0)
        raise ValueError("async")

    @bp.get("/unmatched")
    @intercept(Interceptor({ValueError: 400}))
    async def async_unmatched() -> str:
        raise KeyError("goes out to the blueprint")

    @bp.get("/timeout")
    def timeout() -> str:
        raise TimeoutError

    @bp.get("/ok")
    @intercept(Interceptor({ValueError: 400}))
    async def async_ok() -> str:
        return "fine"

    assert asyncio.iscoroutinefunction(async_view)
    assert async_view.__name__ == "async_view"
    app.register_blueprint(bp)
    http = app.test_client()
    assert http.get("/bp/ok").data == b"fine"
    response = http.get("/bp/view")
    assert response.status_code == 404
    assert response.get_json()["code"] == "ASYNC_GET"
    response = http.get("/bp/unmatched")
    assert response.status_code == 404
    assert response.get_json()["code"] == "ASYNC_GET"
    assert http.get("/bp/timeout").status_code == 429


def test_async_handler_that_raises_goes_to_the_next_scope() -> None:
    original = KeyError("first")
    seen: list[BaseException] = []

    async def explode(req: Request, exc: Exception) -> None:
        await asyncio.sleep(0)
        raise ValueError("async handler failed")

    def outer(req: Request, exc: Exception) -> int:
        seen.append(exc)
        return 400

    app = make_app(Interceptor({ValueError: outer}), KeyError())

    @app.get("/async")
    @intercept(Interceptor({KeyError: explode}))
    async def async_view() -> str:
        raise original

    init_app(app, Interceptor({ValueError: outer}))
    assert app.test_client().get("/async").status_code == 400
    assert isinstance(seen[0], ValueError)
    assert seen[0].__context__ is original


def test_view_decorator_unmatched_goes_to_the_blueprint() -> None:
    app = make_app(Interceptor({KeyError: 410}), KeyError())

    @app.get("/decorated")
    @intercept(Interceptor({ValueError: 400}))
    def decorated() -> str:
        raise Shared

    assert decorated.__name__ == "decorated"
    init_app(app, Interceptor({Shared: 503}))
    assert app.test_client().get("/decorated").status_code == 503


# -- registration ---------------------------------------------------------------------


def test_blueprint_registered_twice_and_nested_names() -> None:
    app = Flask(__name__)
    parent = Blueprint("parent", __name__, url_prefix="/p")
    child = Blueprint("child", __name__, url_prefix="/c")
    init_app(child, Interceptor({NotFound: Problem(status=404, code="CHILD"), KeyError: 404}))
    child.add_url_rule("/x", "x", lambda: {}[0])
    parent.register_blueprint(child)
    app.register_blueprint(parent)
    app.register_blueprint(child, name="again", url_prefix="/again")

    http = app.test_client()
    assert app.extensions["interceptor"].prefixes == [("/again", "again"), ("/p/c", "parent.child")]
    assert http.get("/p/c/x").status_code == 404
    assert http.get("/again/x").status_code == 404
    assert http.get("/again/nope").get_json()["code"] == "CHILD"
    assert http.get("/p/c/nope").get_json()["code"] == "CHILD"
    assert http.get("/p/nope").content_type.startswith("text/html")  # not the child's space


def test_init_app_validates_and_takes_one_interceptor_per_scope() -> None:
    app = Flask(__name__)
    app.add_url_rule("/", "index", lambda: {}[0])
    errors = Interceptor({KeyError: 404})
    init_app(app, errors)
    init_app(app, errors)  # the same one again changes nothing
    with pytest.raises(ValueError, match=r"already called .* one app or blueprint takes one"):
        init_app(app, Interceptor({KeyError: 410}))
    assert app.test_client().get("/").status_code == 404

    bp = Blueprint("bp", __name__)
    init_app(bp, errors)
    init_app(bp, errors)
    with pytest.raises(ValueError, match="already called"):
        init_app(bp, Interceptor())

    with pytest.raises(TypeError, match="Flask app or a Blueprint"):
        init_app(object(), Interceptor())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Interceptor"):
        init_app(app, {KeyError: 404})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Interceptor"):
        intercept({KeyError: 404})  # type: ignore[arg-type]


def test_init_app_after_register_blueprint_names_the_order() -> None:
    app = Flask(__name__)
    bp = Blueprint("late", __name__)
    app.register_blueprint(bp)
    with pytest.raises(RuntimeError, match=r"must come before app\.register_blueprint\(late\)"):
        init_app(bp, Interceptor())


def test_handlers_registered_after_requests_were_served_apply() -> None:
    app = Flask(__name__)
    bp = Blueprint("items", __name__, url_prefix="/items")
    bp.add_url_rule("/", "index", lambda: {}[0])
    init_app(bp, Interceptor({LookupError: 404}))
    app.register_blueprint(bp)
    app.add_url_rule("/", "index", lambda: {}[0])
    app_errors = Interceptor({KeyError: 400})
    init_app(app, app_errors)
    http = app.test_client()
    assert http.get("/items/").status_code == 404
    assert http.get("/").status_code == 400

    app_errors.add_handler(KeyError, 410)

    assert http.get("/").status_code == 410
    assert http.get("/items/").status_code == 404  # the blueprint's scope still comes first


def test_method_not_allowed_subclass_keeps_headers() -> None:
    app = Flask(__name__)
    init_app(app, Interceptor({MethodNotAllowed: 405}))
    app.add_url_rule("/", "index", lambda: abort(405, valid_methods=["PUT"]))
    response = app.test_client().get("/")
    assert response.status_code == 405
    assert response.headers["Allow"] == "PUT"


@pytest.mark.parametrize("registered", [{Exception: 500}, {401: 401}], ids=repr)
def test_every_www_authenticate_challenge_carries_over(registered: dict[Any, Any]) -> None:
    # RFC 9110 allows one header line per auth scheme; a client picks the one it knows.
    challenges = [WWWAuthenticate("basic", {"realm": "api"}), WWWAuthenticate("bearer")]
    app = Flask(__name__)
    init_app(app, Interceptor(registered))
    app.add_url_rule("/", "index", lambda: abort(401, www_authenticate=challenges))
    response = app.test_client().get("/")
    assert response.status_code == 401
    # Only the last one used to go out.
    assert response.headers.getlist("WWW-Authenticate") == ["Basic realm=api", "Bearer"]


def test_a_tuple_answer_keeps_werkzeug_headers() -> None:
    # Flask takes a `Headers` wherever it takes a dict or a list of pairs.
    def on_quota(request: object, exc: BaseException) -> object:
        headers = Headers([("X-Reason", "quota"), ("Link", "</a>"), ("Link", "</b>")])
        return {"error": "quota"}, 429, headers

    app = Flask(__name__)
    init_app(app, Interceptor({KeyError: on_quota}))
    app.add_url_rule("/", "index", raising())
    response = app.test_client().get("/")
    assert (response.status_code, response.get_json()) == (429, {"error": "quota"})
    # They used to be dropped, all of them, without a word.
    assert response.headers["X-Reason"] == "quota"
    assert response.headers.getlist("Link") == ["</a>", "</b>"]


@pytest.mark.parametrize("extra", [(), ({"X-Reason": "taken"},)], ids=["status", "headers"])
def test_a_response_status_tuple_answer_sets_the_status_as_flask_does(extra: tuple[Any]) -> None:
    # `return jsonify(...), 409`, the way Flask's own error handlers are written.
    def on_key(request: object, exc: BaseException) -> object:
        return (jsonify(error="taken"), 409, *extra)

    app = Flask(__name__)
    init_app(app, Interceptor({KeyError: on_key}))
    app.add_url_rule("/", "index", raising())
    response = app.test_client().get("/")
    # The body used to be the response's repr, '"<Response 17 bytes [200 OK]>"'.
    assert (response.status_code, response.get_json()) == (409, {"error": "taken"})
    assert response.headers.get("X-Reason") == (extra[0]["X-Reason"] if extra else None)


def test_missing_flask_fails_with_an_install_hint() -> None:
    code = "import sys; sys.modules['flask'] = None; import interceptor.flask"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert "pip install 'exception-interceptor[flask]'" in result.stderr


# -- the app's lifetime -----------------------------------------------------------------


@pytest.fixture
def gc_disabled() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def served_then_dropped(intercepted: bool) -> weakref.ref[Flask]:
    """Build an app, serve it a few requests, and keep only a weak reference to it."""
    app = Flask(__name__)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    bp = Blueprint("bp", __name__, url_prefix="/bp")
    # Flask's own handlers answer what no interceptor does, so that no request
    # logs a traceback (pytest keeps the records, and so the frames, alive).
    app.register_error_handler(LookupError, lambda exc: ("flask", 404))
    app.register_error_handler(ValueError, lambda exc: ("flask", 422))
    app.register_error_handler(FlaskOnly, lambda exc: ("flask", 409))
    app.register_error_handler(TimeoutError, lambda exc: ("flask", 408))

    def view() -> str:
        raise ValueError

    def flask_only() -> str:
        raise FlaskOnly

    def explode(req: Request, exc: Exception) -> None:
        raise ValueError("handler failed")

    def index() -> str:
        raise IndexError

    def timeout() -> str:
        raise TimeoutError

    if intercepted:
        init_app(bp, Interceptor({KeyError: 410, TimeoutError: explode}))
        init_app(app, Interceptor({IndexError: 411}))
        view = intercept(Interceptor({ValueError: 400}))(view)
    bp.add_url_rule("/key", "key", lambda: {}[0])
    bp.add_url_rule("/flask-only", "flask_only", flask_only)
    bp.add_url_rule("/timeout", "timeout", timeout)
    app.add_url_rule("/index", "index", index)
    app.add_url_rule("/view", "view", view)
    app.add_url_rule("/ok", "ok", lambda: "ok")
    app.register_blueprint(bp)

    http = app.test_client()
    statuses = {path: http.get(path).status_code for path in STATUSES}
    assert statuses == {path: expected[intercepted] for path, expected in STATUSES.items()}
    return weakref.ref(app)


# path: (status without the interceptor, status with it)
STATUSES = {
    "/bp/key": (404, 410),  # blueprint scope
    "/index": (404, 411),  # app scope
    "/view": (422, 400),  # @intercept
    "/bp/flask-only": (409, 409),  # no interceptor matches: Flask's errorhandler
    "/bp/timeout": (408, 422),  # the blueprint's handler raises, Flask's errorhandler answers
    "/ok": (200, 200),
}


@pytest.mark.usefixtures("gc_disabled")
@pytest.mark.parametrize("intercepted", [False, True], ids=["plain-flask", "init_app"])
def test_a_dropped_app_is_freed_without_the_garbage_collector(intercepted: bool) -> None:
    # Flask keeps an app out of reference cycles (its static view holds it
    # weakly, pallets/flask#3761), so an app goes when its last reference does.
    # Not after a routing error, though: Flask 3.1 keeps the raised exception
    # in request.routing_exception, whose traceback holds the request context;
    # nor after an async view raised, through asgiref's async_to_sync.
    app = served_then_dropped(intercepted)
    assert app() is None


# -- Flask 3.1's handle_user_exception(e) and Flask 3.2's handle_user_exception(ctx, e) -----


FLASK_PASSES_CTX = "ctx" in inspect.signature(Flask.handle_user_exception).parameters


def recording_flask(form: str) -> type[Flask]:
    """A Flask whose ``handle_user_exception`` records the arguments it is called with.

    ``"3.1"`` is the installed Flask, which calls ``handle_user_exception(e)``.
    ``"3.2"`` dispatches as Flask 3.2 does: ``handle_user_exception(ctx, e)``,
    its signature there being ``(self, ctx: AppContext, e: Exception)``; the
    3.1 request context stands in for the 3.2 context.
    """
    from flask.globals import request_ctx  # noqa: PLC0415 - Flask 3.1 only

    def recorded(arg: Any) -> Any:
        return "ctx" if arg is request_ctx._get_current_object() else arg

    class Flask31(Flask):
        received: list[tuple[Any, ...]]

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.received = []

        def handle_user_exception(self, e: Exception) -> Any:
            self.received.append((e,))
            return super().handle_user_exception(e)

    class Flask32(Flask31):
        def full_dispatch_request(self) -> Response:
            # Flask 3.2's, with the 3.1 calls it makes around the one at stake.
            ctx = request_ctx._get_current_object()
            self._got_first_request = True
            try:
                request_started.send(self, _async_wrapper=self.ensure_sync)
                rv = self.preprocess_request()
                if rv is None:
                    rv = self.dispatch_request()
            except Exception as e:
                rv = self.handle_user_exception(ctx, e)  # type: ignore[call-arg]
            return self.finalize_request(rv)

        def handle_user_exception(self, ctx: Any, e: Exception) -> Any:  # type: ignore[override]
            self.received.append((recorded(ctx), e))
            return Flask.handle_user_exception(self, e)

    return {"3.1": Flask31, "3.2": Flask32}[form]


@pytest.fixture(params=["3.1", "3.2"])
def flask_form(request: pytest.FixtureRequest) -> tuple[type[Flask], tuple[str, ...]]:
    """A Flask app class, and what its handle_user_exception gets before the exception."""
    if FLASK_PASSES_CTX:
        pytest.skip("the installed Flask passes ctx itself: the other tests cover that form")
    return recording_flask(request.param), ("ctx",) if request.param == "3.2" else ()


def test_flask_s_original_gets_its_own_arguments(
    flask_form: tuple[type[Flask], tuple[str, ...]],
) -> None:
    flask_class, before = flask_form
    error = FlaskOnly()

    def explode(req: Request, exc: Exception) -> None:
        raise ValueError("handler failed")

    def view() -> str:
        raise error

    def raising(exc_class: type[Exception]) -> Any:
        def view() -> str:
            raise exc_class

        return view

    app: Any = flask_class(__name__)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    bp = Blueprint("bp", __name__, url_prefix="/bp")
    init_app(bp, Interceptor({KeyError: 404, TimeoutError: explode, NotFound: 410}))
    init_app(app, Interceptor({IndexError: 400}))
    app.register_error_handler(FlaskOnly, lambda exc: ("flask saw it", 409))
    app.register_error_handler(ValueError, lambda exc: (type(exc.__context__).__name__, 422))
    bp.add_url_rule("/key", "key", raising(KeyError))
    bp.add_url_rule("/index", "index", raising(IndexError))
    bp.add_url_rule("/flask-only", "flask_only", view)
    bp.add_url_rule("/explode", "explode", raising(TimeoutError))
    bp.add_url_rule("/folder/", "folder", lambda: "folder")
    app.register_blueprint(bp)
    http = app.test_client()

    # Intercepted: Flask's method is never called.
    assert http.get("/bp/key").status_code == 404
    assert http.get("/bp/index").status_code == 400
    assert http.get("/bp/nope").status_code == 410  # a routing error, by the blueprint
    assert app.received == []

    # Not intercepted: Flask's method gets what Flask gave, the exception last.
    response = http.get("/bp/flask-only")
    assert (response.status_code, response.data) == (409, b"flask saw it")
    assert app.received == [(*before, error)]
    app.received.clear()

    response = http.get("/bp/explode")  # the handler's error, missed by the app scope
    assert (response.status_code, response.data) == (422, b"TimeoutError")
    ((*got, new),) = app.received
    assert tuple(got) == before
    assert isinstance(new, ValueError)
    assert isinstance(new.__context__, TimeoutError)
    app.received.clear()

    response = http.get("/bp/folder")  # passed through untouched
    assert response.status_code == 308
    ((*got, redirect),) = app.received
    assert tuple(got) == before
    assert isinstance(redirect, RequestRedirect)
    app.received.clear()

    assert http.get("/nope").status_code == 404  # outside every prefix: Flask's
    ((*got, missing),) = app.received
    assert tuple(got) == before
    assert isinstance(missing, NotFound)


@pytest.mark.parametrize("where", ["app", "class"])
def test_what_stood_in_front_of_flask_s_method_stays_there(where: str) -> None:
    # Another extension's handle_user_exception: put on the app, or a callable
    # object on the class, which attribute access gives as is, unbound.
    seen: list[Exception] = []

    def other_extension(e: Exception) -> Any:
        seen.append(e)
        return Flask.handle_user_exception(current_app._get_current_object(), e)

    class App(Flask):
        pass

    class CallableObject:
        def __call__(self, e: Exception) -> Any:
            return other_extension(e)

    app: Any = App(__name__)
    if where == "app":
        app.handle_user_exception = other_extension
    else:
        App.handle_user_exception = CallableObject()  # type: ignore[assignment,method-assign]
    error = FlaskOnly()

    def flask_only() -> str:
        raise error

    init_app(app, Interceptor({KeyError: 404}))
    app.register_error_handler(FlaskOnly, lambda exc: ("flask saw it", 409))
    app.add_url_rule("/key", "key", lambda: {}[0])
    app.add_url_rule("/flask-only", "flask_only", flask_only)
    http = app.test_client()
    assert http.get("/key").status_code == 404
    assert seen == []
    assert http.get("/flask-only").data == b"flask saw it"
    assert seen == [error]


@pytest.mark.parametrize("interceptor", [None, "noop", "matching"])
def test_a_wrapper_put_on_the_class_after_init_app_is_called_as_without_it(
    interceptor: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tracer (or a test's monkeypatch) wraps Flask's handle_user_exception on the
    class once the app exists: what the interceptor does not answer reaches it, as
    without the interceptor."""

    class App(Flask):
        pass

    app = App(__name__)
    app.add_url_rule("/conflict", "conflict", lambda: abort(409))
    app.add_url_rule("/key", "key", lambda: {}[0])
    if interceptor:
        init_app(app, Interceptor({KeyError: 404} if interceptor == "matching" else {}))
    seen: list[str] = []
    wrapped = Flask.handle_user_exception

    def traced(self: Flask, e: Exception) -> Any:
        seen.append(type(e).__name__)
        return wrapped(self, e)

    monkeypatch.setattr(Flask, "handle_user_exception", traced)
    http = app.test_client()
    assert http.get("/conflict").status_code == 409
    assert http.get("/key").status_code == (404 if interceptor == "matching" else 500)
    assert seen == (["Conflict"] if interceptor == "matching" else ["Conflict", "KeyError"])


def test_dispatcher_needs_the_exception_and_the_app() -> None:
    app = Flask(__name__)
    init_app(app, Interceptor({KeyError: 404}))
    dispatcher = app.handle_user_exception
    with pytest.raises(TypeError, match="the exception as its last positional argument"):
        dispatcher()  # type: ignore[call-arg]
    del app  # the dispatcher holds it weakly
    with pytest.raises(ReferenceError, match="app this interceptor was installed on is gone"):
        dispatcher(KeyError())


# -- a real server --------------------------------------------------------------------


@pytest.fixture
def served_example() -> Iterator[str]:
    # port=0: the OS picks a free port, which waitress reports as effective_port.
    server = create_server(
        example_app, host="127.0.0.1", port=0, threads=2, asyncore_loop_timeout=0.05
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        # Closed from the server's own loop thread, which then has nothing left to run.
        server.trigger.pull_trigger(server.close)
        thread.join(timeout=5)
        server.task_dispatcher.shutdown()
        assert not thread.is_alive()


@pytest.mark.server
def test_flask_example_under_waitress(served_example: str) -> None:
    expected = {
        "/shop/items/apple": (200, None),
        "/shop/items/kiwi": (404, "NO_SUCH_ITEM"),
        "/shop/items/pear": (409, "OUT_OF_STOCK"),
        "/shop/checkout?quantity=two": (400, None),
        "/shop/nope": (404, "NO_SUCH_SHOP_PAGE"),
        "/shop/items/apple#delete": (405, None),
        "/slow": (504, "UPSTREAM_TIMEOUT"),
        "/nope": (404, None),
    }
    with httpx.Client(base_url=served_example, timeout=5) as http:
        for method, path, _ in DEMO_REQUESTS:
            response = http.request(method, path)
            key = f"{path}#delete" if method == "DELETE" else path
            status, code = expected[key]
            assert response.status_code == status, (method, path)
            if code is not None:
                assert response.json()["code"] == code
        head = http.head("/shop/items/kiwi")
        assert head.content == b""
        assert int(head.headers["content-length"]) > 0
        assert http.delete("/shop/items/apple").headers["allow"]
        assert http.get("/nope").json()["handled_by"] == "flask errorhandler(404)"


# -- a handler's own 5xx tuple ------------------------------------------------------------


@pytest.mark.parametrize(("result", "body", "where", "chosen"), TUPLE_ANSWERS)
def test_a_5xx_tuple_answer_shows_the_error_id_the_report_gets(
    result: Any, body: Any, where: str | None, chosen: str | None
) -> None:
    reports: list[Any] = []
    events: list[Any] = []
    reported = threading.Event()

    def reporter(report: Any) -> None:
        reports.append(report)
        reported.set()

    errors = Interceptor({KeyError: lambda req, exc: result}, reporter=reporter)
    errors.add_observer(events.append)
    response = make_app(errors, KeyError("k")).test_client().get("/bp/x")
    assert response.status_code == result[1]
    seen_body, seen_id = split_error_id(response.get_json(), response.headers, where)
    assert seen_body == body
    (event,) = events
    if where is None:
        assert seen_id is None
        assert event.error_id is None
        return
    assert seen_id == event.error_id == (chosen or seen_id)
    assert reported.wait(5)
    assert reports[0].error_id == seen_id


@pytest.mark.parametrize(("status", "chosen"), [(503, None), (500, "mine-3"), (410, None)])
def test_a_5xx_response_a_handler_returned_shows_the_error_id_the_report_gets(
    status: int, chosen: str | None
) -> None:
    reports: list[Any] = []
    events: list[Any] = []

    def handler(req: Any, exc: Exception) -> Any:
        headers = {"X-Error-Id": chosen} if chosen else {}
        return Response("down", status=status, headers=headers)

    errors = Interceptor({KeyError: handler}, reporter=reports.append)
    errors.add_observer(events.append)
    response = make_app(errors, KeyError("k")).test_client().get("/bp/x")
    assert (response.status_code, response.get_data(as_text=True)) == (status, "down")
    (event,) = events
    if status < 500:
        assert "X-Error-Id" not in response.headers
        assert event.error_id is None
        return
    assert response.headers["X-Error-Id"] == event.error_id == (chosen or event.error_id)
    assert delivery.flush(5)
    assert [report.error_id for report in reports] == [event.error_id]


@pytest.mark.parametrize("with_init_app", [False, True])
def test_intercept_above_the_route_decorator_works_too(with_init_app: bool) -> None:
    app = Flask(__name__)
    if with_init_app:
        init_app(app, Interceptor({LookupError: 418}))

    @intercept(Interceptor({KeyError: Problem(status=404, code="VIEW")}))
    @app.get("/above")
    def above() -> str:
        raise KeyError("k")

    @app.get("/below")
    @intercept(Interceptor({KeyError: Problem(status=404, code="VIEW")}))
    def below() -> str:
        raise KeyError("k")

    @app.get("/plain")
    def plain() -> str:
        raise KeyError("k")

    http = app.test_client()
    for path in ("/above", "/below"):
        response = http.get(path)
        assert (response.status_code, response.get_json()["code"]) == (404, "VIEW"), path
    # Other views are untouched: the app's scope, or Flask's own 500.
    assert http.get("/plain").status_code == (418 if with_init_app else 500)


def shared_health() -> str:
    """A module's view that an app factory registers in every app it makes."""
    raise LookupError("db down")


ABOVE_AT_MODULE_LEVEL = Flask(__name__)


@intercept(Interceptor({LookupError: 404}))
@ABOVE_AT_MODULE_LEVEL.get("/health")
def health_above() -> str:
    raise LookupError("db down")


@pytest.mark.parametrize("first", ["undecorated-app-first", "decorated-app-first"])
def test_a_view_decorated_by_a_call_for_one_app_stays_as_it_is_in_another(first: str) -> None:
    """An app factory that intercepts a shared view for some apps: the apps that
    register the view itself never get the wrapper, whichever serves first."""

    def create_app(intercepted: bool) -> Flask:
        app = Flask(__name__)
        view = intercept(Interceptor({LookupError: 404}))(shared_health)
        app.add_url_rule("/health", view_func=view if intercepted else shared_health)
        return app

    plain, decorated = create_app(intercepted=False), create_app(intercepted=True)
    order = [plain, decorated] if first == "undecorated-app-first" else [decorated, plain]
    got = {app is plain: app.test_client().get("/health").status_code for app in order}
    assert got == {True: 500, False: 404}
    assert plain.view_functions["shared_health"] is shared_health


def test_a_view_decorated_above_its_route_at_module_level_is_intercepted() -> None:
    """The module has the wrapper under the view's name: the registered function is
    the one the decorator meant."""
    assert ABOVE_AT_MODULE_LEVEL.test_client().get("/health").status_code == 404


# -- apps that never opted in ---------------------------------------------------------------


class UnhashableFlask(Flask):  # noqa: PLW1641 - unhashable on purpose
    """A Flask app that defines ``__eq__``, so it is not hashable (``__hash__`` is None)."""

    def __eq__(self, other: object) -> bool:
        return self is other


@pytest.mark.parametrize("intercepted", [False, True], ids=["plain-flask", "intercept"])
def test_an_unhashable_app_is_served_whether_or_not_a_view_is_intercepted(
    intercepted: bool,
) -> None:
    # Some view, somewhere in the process, has @intercept: it must not reach
    # an app that uses no interceptor, nor need its apps to be hashable.
    intercept(Interceptor({ZeroDivisionError: 500}))(lambda: "elsewhere")
    app = UnhashableFlask(__name__)
    app.config["PROPAGATE_EXCEPTIONS"] = False

    def key() -> str:
        raise KeyError("k")

    if intercepted:
        key = intercept(Interceptor({KeyError: 404}))(app.get("/key")(key))
    else:
        app.get("/key")(key)
    app.add_url_rule("/", "index", lambda: "hello")
    http = app.test_client()
    assert (http.get("/").status_code, http.get("/").data) == (200, b"hello")
    assert http.get("/key").status_code == (404 if intercepted else 500)
    if not intercepted:  # not touched at all
        assert "interceptor" not in app.extensions
        assert "handle_user_exception" not in vars(app)


class UnhashableBlueprint(Blueprint):  # noqa: PLW1641 - unhashable on purpose
    """A blueprint that defines ``__eq__``, so it is not hashable (``__hash__`` is None)."""

    def __eq__(self, other: object) -> bool:
        return self is other


@pytest.mark.usefixtures("gc_disabled")
def test_an_unhashable_blueprint_takes_an_interceptor_and_is_still_freed_at_once() -> None:
    # Flask keeps blueprints in lists and by name: they need not be hashable.
    errors = Interceptor({ZeroDivisionError: 418})
    blueprint = UnhashableBlueprint("api", __name__, url_prefix="/api")
    blueprint.add_url_rule("/x", "x", lambda: 1 // 0)
    init_app(blueprint, errors)
    init_app(blueprint, errors)  # the same one again: nothing changes
    with pytest.raises(ValueError, match="takes one Interceptor"):
        init_app(blueprint, Interceptor({KeyError: 404}))
    app = Flask(__name__)
    app.register_blueprint(blueprint)
    assert app.test_client().get("/api/x").status_code == 418
    gone = weakref.ref(blueprint)
    del app, blueprint
    assert gone() is None


@pytest.mark.usefixtures("gc_disabled")
@pytest.mark.parametrize("app_class", [Flask, UnhashableFlask])
@pytest.mark.parametrize("intercepted", [False, True], ids=["plain-flask", "intercept"])
def test_an_app_looked_at_for_intercepted_views_is_still_freed_at_once(
    app_class: type[Flask], intercepted: bool
) -> None:
    intercept(Interceptor({ZeroDivisionError: 500}))(lambda: "elsewhere")
    app = app_class(__name__)

    def key() -> str:
        raise KeyError("k")

    app.get("/key")(key)
    if intercepted:
        intercept(Interceptor({KeyError: 404}))(key)
    app.add_url_rule("/", "index", lambda: "hello")
    http = app.test_client()
    assert http.get("/").status_code == 200
    if intercepted:
        assert http.get("/key").status_code == 404
    freed = weakref.ref(app)
    del app, http
    assert freed() is None


# -- a view scope is the registration @intercept decorates ------------------------------------


class RaisingView(View):
    def dispatch_request(self) -> str:
        raise KeyError("k")


def raising() -> Any:
    def view() -> str:
        raise KeyError("k")

    return view


@pytest.mark.parametrize("matching", [True, False], ids=["matching", "matching-nothing"])
def test_a_view_scope_covers_the_registration_it_decorates_and_no_other(matching: bool) -> None:
    # The same function registered with @intercept and without it: only the
    # decorated registration is intercepted, however it was registered.
    def errors(status: int) -> Interceptor:
        return Interceptor({KeyError: status} if matching else {ZeroDivisionError: 500})

    app = Flask(__name__)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    bp = Blueprint("bp", __name__)
    below, twice, in_blueprint = raising(), raising(), raising()
    above, above_in_blueprint = raising(), raising()
    class_view = RaisingView.as_view("item")

    app.add_url_rule("/below", "below", intercept(errors(404))(below))
    app.add_url_rule("/below-raw", "below_raw", below)
    app.add_url_rule("/twice-1", "twice_1", intercept(errors(404))(twice))
    app.add_url_rule("/twice-2", "twice_2", intercept(errors(410))(twice))
    app.add_url_rule("/twice-raw", "twice_raw", twice)
    app.add_url_rule("/class", view_func=intercept(errors(404))(class_view))
    app.add_url_rule("/class-raw", "class_raw", class_view)
    bp.add_url_rule("/below", "below", intercept(errors(404))(in_blueprint))
    app.add_url_rule("/bp-raw", "bp_raw", in_blueprint)
    intercept(errors(404))(bp.get("/above")(above_in_blueprint))
    intercept(errors(404))(app.get("/above")(above))
    inner = Interceptor({ZeroDivisionError: 500})
    stacked = intercept(inner)(app.get("/stacked", endpoint="stacked")(raising()))
    intercept(errors(410))(stacked)  # the outer one still applies
    app.register_blueprint(bp, url_prefix="/one")
    app.register_blueprint(bp, url_prefix="/two", name="two")

    intercepted = {
        "/below": 404,
        "/twice-1": 404,
        "/twice-2": 410,
        "/class": 404,
        "/one/below": 404,
        "/two/below": 404,
        "/one/above": 404,
        "/two/above": 404,
        "/above": 404,
        "/stacked": 410,
    }
    raw = ["/below-raw", "/twice-raw", "/class-raw", "/bp-raw"]
    http = app.test_client()
    got = {path: http.get(path).status_code for path in [*intercepted, *raw]}
    expected = {path: status if matching else 500 for path, status in intercepted.items()}
    assert got == {**expected, **dict.fromkeys(raw, 500)}


@pytest.mark.parametrize("matching", [True, False], ids=["matching", "matching-nothing"])
@pytest.mark.parametrize("order", ["below", "above"])
def test_a_view_scope_covers_the_view_call_only_in_either_order(order: str, matching: bool) -> None:
    # The app's before_request is no part of the view: Flask answers what it
    # raises, whichever side of the route decorator @intercept is.
    errors = Interceptor({PermissionError: 403} if matching else {ZeroDivisionError: 500})
    app = Flask(__name__)
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.before_request
    def guard() -> None:
        if request.args.get("guard"):
            raise PermissionError("before the view")

    def view() -> str:
        raise PermissionError("in the view")

    if order == "below":
        decorated = app.get("/view")(intercept(errors)(view))
    else:
        decorated = intercept(errors)(app.get("/view")(view))
    http = app.test_client()
    assert http.get("/view?guard=1").status_code == 500
    assert http.get("/view").status_code == (403 if matching else 500)
    assert app.view_functions["view"] is decorated  # either way, once the app has served


# -- routing errors: a blueprint's URL space has its subdomain or host ------------------------


def subdomain_app(errors: Interceptor) -> Flask:
    app = Flask(__name__, subdomain_matching=True)
    app.config["SERVER_NAME"] = "example.com"
    api = Blueprint("api", __name__, url_prefix="/v1", subdomain="api")
    tenant = Blueprint("tenant", __name__, url_prefix="/t", subdomain="<tenant>")
    site = Blueprint("site", __name__, url_prefix="/site")  # the default subdomain
    for blueprint in (api, tenant, site):
        init_app(blueprint, errors)
        blueprint.add_url_rule("/here", "here", lambda **kwargs: "here")
        app.register_blueprint(blueprint)
    app.add_url_rule("/", "home", lambda: "home")
    app.register_error_handler(404, lambda exc: ("flask", 404))
    return app


def host_app(errors: Interceptor) -> Flask:
    app = Flask(__name__, host_matching=True, static_host="static.test")
    api = Blueprint("api", __name__, url_prefix="/v1")
    init_app(api, errors)
    api.add_url_rule("/here", "here", lambda: "here", host="api.test")
    app.register_blueprint(api)
    app.add_url_rule("/", "home", lambda: "home", host="www.test")
    app.register_error_handler(404, lambda exc: ("flask", 404))
    return app


def variable_prefix_app(errors: Interceptor) -> Flask:
    """Blueprints whose url_prefix has variable parts, as Flask's URL processors do."""
    app = Flask(__name__)
    docs = Blueprint("docs", __name__, url_prefix="/<lang>/docs")
    archive = Blueprint("archive", __name__, url_prefix="/archive/<int:year>")
    for blueprint in (docs, archive):
        init_app(blueprint, errors)
        blueprint.add_url_rule("/here", "here", lambda **kwargs: "here")
        app.register_blueprint(blueprint)
    app.register_error_handler(404, lambda exc: ("flask", 404))
    return app


# url: whether the URL is in the blueprint's URL space
ROUTING_ERRORS = {
    "subdomain": (
        subdomain_app,
        {
            "http://api.example.com/v1/here": None,  # found: 200
            "http://api.example.com/v1/nothere": True,
            "http://example.com/v1/nothere": False,
            "http://www.example.com/v1/nothere": False,
            "http://acme.example.com/t/nothere": True,  # <tenant> matches acme
            "http://example.com/t/nothere": False,  # and nothing for no subdomain
            "http://example.com/site/nothere": True,
            "http://api.example.com/site/nothere": False,
        },
    ),
    "host": (
        host_app,
        {
            "http://api.test/v1/here": None,
            "http://api.test/v1/nothere": True,
            "http://www.test/v1/nothere": False,
            "http://other.test/v1/nothere": False,
        },
    ),
    "variable-prefix": (
        variable_prefix_app,
        {
            "/fr/docs/here": None,
            "/fr/docs/nothere": True,
            "/fr/docs": True,
            "/fr/blog/nothere": False,
            "/archive/2024/here": None,
            "/archive/2024/nothere": True,
            "/archive/latest/nothere": False,  # not an int: not the archive's
        },
    ),
}


@pytest.mark.parametrize("matching", [True, False], ids=["matching", "matching-nothing"])
@pytest.mark.parametrize("kind", list(ROUTING_ERRORS))
def test_a_routing_error_belongs_to_the_blueprint_on_its_subdomain_or_host(
    kind: str, matching: bool
) -> None:
    make, urls = ROUTING_ERRORS[kind]
    app = make(Interceptor({404: 410} if matching else {ZeroDivisionError: 500}))
    http = app.test_client()
    got = {url: http.get(url).status_code for url in urls}
    expected = {
        url: 200 if owned is None else 410 if owned and matching else 404
        for url, owned in urls.items()
    }
    assert got == expected


def org_prefix_app(errors: Interceptor | None, looked_up: list[str]) -> Flask:
    """A blueprint under ``/<org:org>``, whose converter looks the org up (a query, say)
    and raises KeyError for one it does not know, as the app chose."""
    from werkzeug.routing import BaseConverter  # noqa: PLC0415

    class OrgConverter(BaseConverter):
        def to_python(self, value: str) -> str:
            looked_up.append(value)
            return {"acme": "Acme Inc."}[value]

    app = Flask(__name__)
    app.url_map.converters["org"] = OrgConverter
    bp = Blueprint("org", __name__, url_prefix="/<org:org>")
    bp.add_url_rule("/dashboard", "dashboard", lambda org: f"dashboard of {org}")
    if errors is not None:
        init_app(bp, errors)
    app.register_blueprint(bp)
    return app


ORG_URLS = ("/acme/dashboard", "/acme/nope", "/ghost/nope", "/favicon.ico/x", "/nope")


def test_a_blueprint_interceptor_calls_no_converter_the_app_would_not() -> None:
    """Working out whose URL space a routing error is in calls none of the app's
    converters: they are the app's code (a query, an exception of the app's own), and
    Flask calls them only for the rules it matches."""
    answers = {}
    for errors in (None, Interceptor({ZeroDivisionError: 500})):
        looked_up: list[str] = []
        http = org_prefix_app(errors, looked_up).test_client()
        answers[errors is None] = [(http.get(url).status_code, looked_up[:]) for url in ORG_URLS]
    assert answers[False] == answers[True]
    assert [status for status, _ in answers[True]] == [200, 404, 404, 404, 404]


def test_a_converter_that_refuses_subclasses_is_matched_as_it_is() -> None:
    """A converter class whose __init_subclass__ raises: the URL space is matched with
    it as it is, and the routing error still gets its answer."""
    from werkzeug.routing import BaseConverter  # noqa: PLC0415

    class Final(BaseConverter):
        def __init_subclass__(cls, **kwargs: Any) -> None:
            raise TypeError("Final is final")

    app = Flask(__name__)
    app.url_map.converters["final"] = Final
    bp = Blueprint("fin", __name__, url_prefix="/<final:key>")
    bp.add_url_rule("/here", "here", lambda key: key)
    init_app(bp, Interceptor({404: 410}))
    app.register_blueprint(bp)
    http = app.test_client()
    assert (http.get("/k/here").status_code, http.get("/k/nothere").status_code) == (200, 410)


def test_a_variable_prefix_owns_its_urls_by_its_converters_patterns() -> None:
    """Under a prefix with a converter of the app's, the URL space is what the
    converter's pattern matches, as Flask matches it before calling the converter."""
    looked_up: list[str] = []
    http = org_prefix_app(Interceptor({404: 410}), looked_up).test_client()
    got = {url: http.get(url).status_code for url in ORG_URLS}
    assert got == {
        "/acme/dashboard": 200,
        "/acme/nope": 410,
        "/ghost/nope": 410,
        "/favicon.ico/x": 410,
        "/nope": 410,  # the prefix itself, as "/fr/docs" above
    }
    assert looked_up == ["acme"]  # Flask's own match of /acme/dashboard


@pytest.mark.parametrize("interceptor", [None, "noop"])
def test_a_rule_without_an_endpoint_leaves_routing_errors_as_they_were(
    interceptor: str | None,
) -> None:
    """A redirect_to rule has no endpoint; a routing 404 under a blueprint's prefix
    still gets Flask's answer when the blueprint's interceptor matches nothing."""
    from werkzeug.routing import Rule  # noqa: PLC0415

    app = Flask(__name__)
    app.url_map.add(Rule("/old", redirect_to="/new"))
    bp = Blueprint("api", __name__, url_prefix="/api")

    @bp.route("/ok")
    def ok() -> str:
        return "ok"

    if interceptor:
        init_app(bp, Interceptor({ZeroDivisionError: 500}))
    app.register_blueprint(bp)
    client = app.test_client()
    assert client.get("/api/missing").status_code == 404
    assert client.get("/old").status_code == 308


def test_concurrent_first_requests_wait_for_the_views_to_be_swapped() -> None:
    """@intercept above the route decorator: the app's first request swaps the
    wrapper in; another first request meanwhile waits for it, never running the
    view undecorated."""
    app = Flask(__name__)

    @intercept(Interceptor({KeyError: 404}))
    @app.route("/v")
    def v() -> str:
        raise KeyError("x")

    swapping, release = threading.Event(), threading.Event()

    class SlowViews(dict[str, Any]):
        def items(self) -> Any:  # the swap walks the views: it waits here
            swapping.set()
            release.wait(10)
            return super().items()

    app.view_functions = SlowViews(app.view_functions)
    first = threading.Thread(target=adapter._check_views, args=(app,))
    second = threading.Thread(target=adapter._check_views, args=(app,))
    first.start()
    assert swapping.wait(10)
    second.start()
    second.join(0.2)
    still_waiting = second.is_alive()
    release.set()
    first.join(10)
    second.join(10)
    assert still_waiting
    assert app.test_client().get("/v").status_code == 404
