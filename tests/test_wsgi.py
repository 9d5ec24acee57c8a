"""`interceptor.wsgi.InterceptorMiddleware` against real WSGI clients and servers."""

from __future__ import annotations

import asyncio
import collections
import contextvars
import functools
import io
import json
import logging
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from wsgiref.handlers import SimpleHandler
from wsgiref.validate import validator

import httpx
import pytest
from werkzeug.exceptions import MethodNotAllowed
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.middleware.lint import LintMiddleware
from werkzeug.test import Client, create_environ
from werkzeug.wrappers import Request, Response
from werkzeug.wsgi import wrap_file

from interceptor import ApiError, Interceptor, Problem
from interceptor.wsgi import InterceptorMiddleware
from tests.conftest import TUPLE_ANSWERS, split_error_id

# -- helpers --------------------------------------------------------------------


class Boom(Exception):
    pass


class NeverRaised(Exception):
    pass


class Gone(ApiError):
    status = 410
    code = "GONE"


class Body:
    """An inner app iterable that counts its close() calls and can fail mid-way."""

    def __init__(self, chunks: Iterable[bytes | Exception]) -> None:
        self._chunks = iter(chunks)
        self.closed = 0
        self.yielded = 0

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        item = next(self._chunks)
        if isinstance(item, Exception):
            raise item
        self.yielded += 1
        return item

    def close(self) -> None:
        self.closed += 1


def streaming_app(*chunks: bytes | Exception) -> tuple[Callable[..., Any], list[Body]]:
    """An app that starts a 200 and streams ``chunks`` (exceptions are raised)."""
    made: list[Body] = []

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Body:
        start_response("200 OK", [("Content-Type", "text/plain")])
        body = Body(chunks)
        made.append(body)
        return body

    return app, made


class Server:
    """A minimal PEP 3333 server: honours exc_info, sends headers on the first real chunk."""

    def __init__(self) -> None:
        self.status: str | None = None
        self.headers: list[tuple[str, str]] = []
        self.headers_sent = False
        self.body: list[bytes] = []
        self.start_calls: list[tuple[str, Any]] = []

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        self.start_calls.append((status, exc_info))
        if exc_info is not None:
            try:
                if self.headers_sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.status is not None:
            raise AssertionError("start_response called twice")
        self.status, self.headers = status, headers
        return self.write

    def write(self, data: bytes) -> None:
        assert self.status is not None
        if data:
            self.headers_sent = True
            self.body.append(data)

    def run(self, app: Callable[..., Any], path: str = "/", method: str = "GET") -> list[bytes]:
        """Call the app, iterate and close; returns the chunks in the order iterated."""
        environ = create_environ(path, method=method)
        result = app(environ, self.start_response)
        seen: list[bytes] = []
        try:
            for chunk in result:
                seen.append(chunk)
                self.write(chunk)
        finally:
            if hasattr(result, "close"):
                result.close()
        return seen


def client(app: Callable[..., Any]) -> httpx.Client:
    return httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://testserver")


def raising_app(exc: BaseException, *, before_start: bool = True) -> Callable[..., Any]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        if not before_start:
            start_response("200 OK", [("Content-Type", "text/plain")])
        raise exc

    return app


# -- basic cases through httpx.WSGITransport ------------------------------------------


def test_success_passes_through_unchanged() -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response("201 Created", [("Content-Type", "text/plain"), ("X-A", "1")])
        return [b"made"]

    wrapped = InterceptorMiddleware(app, interceptor=Interceptor({Boom: 500}))
    response = client(wrapped).post("/things")
    assert response.status_code == 201
    assert response.headers["x-a"] == "1"
    assert response.content == b"made"


@pytest.mark.parametrize("before_start", [True, False])
def test_exception_before_first_chunk_becomes_the_error_response(before_start: bool) -> None:
    wrapped = InterceptorMiddleware(
        raising_app(KeyError("user 42"), before_start=before_start),
        interceptor=Interceptor({LookupError: 404}),
    )
    response = client(wrapped).get("/users/42")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["content-length"]) == len(response.content)
    body = response.json()
    assert body["status"] == 404
    assert body["title"] == "Not Found"


def test_exception_inside_the_iterable_before_any_chunk() -> None:
    app, made = streaming_app(b"", Gone("it went away"))
    wrapped = InterceptorMiddleware(app, interceptor=Interceptor())
    response = client(wrapped).get("/")
    assert response.status_code == 410
    assert response.json()["code"] == "GONE"
    assert response.json()["detail"] == "it went away"
    assert made[0].closed == 1


def test_unmatched_exception_is_reraised_as_the_same_object() -> None:
    error = Boom("not mine")
    wrapped = InterceptorMiddleware(raising_app(error), interceptor=Interceptor({KeyError: 404}))
    with pytest.raises(Boom) as caught:
        client(wrapped).get("/")
    assert caught.value is error
    assert caught.value.__context__ is None


def test_server_error_body_has_error_id_and_no_message() -> None:
    wrapped = InterceptorMiddleware(
        raising_app(RuntimeError("secret dsn")), interceptor=Interceptor({RuntimeError: 500})
    )
    response = client(wrapped).get("/")
    assert response.status_code == 500
    body = response.json()
    assert body["error_id"]
    assert "secret dsn" not in response.text


def test_head_error_response_has_headers_and_no_body() -> None:
    wrapped = InterceptorMiddleware(
        raising_app(KeyError("k")), interceptor=Interceptor({KeyError: 404})
    )
    get = client(wrapped).get("/")
    head = client(wrapped).head("/")
    assert head.status_code == 404
    assert head.content == b""
    assert head.headers["content-length"] == get.headers["content-length"] != "0"


def test_werkzeug_http_exception_keeps_its_headers() -> None:
    wrapped = InterceptorMiddleware(
        raising_app(MethodNotAllowed(valid_methods=["GET", "HEAD"])),
        interceptor=Interceptor({405: 405}),
    )
    response = client(wrapped).post("/")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"
    assert response.headers["content-type"] == "application/problem+json"


# -- handlers ---------------------------------------------------------------------


def test_handler_gets_a_werkzeug_request_and_may_return_a_response() -> None:
    seen: list[Any] = []

    def on_boom(request: Request, exc: Boom) -> Response:
        seen.append((request, exc))
        return Response("custom", status=418, headers={"X-Handled": "yes"})

    error = Boom("b")
    wrapped = InterceptorMiddleware(raising_app(error), interceptor=Interceptor({Boom: on_boom}))
    response = client(wrapped).get("/p?q=1")
    assert response.status_code == 418
    assert response.text == "custom"
    assert response.headers["x-handled"] == "yes"
    request, exc = seen[0]
    assert isinstance(request, Request)
    assert request.path == "/p"
    assert request.args["q"] == "1"
    assert exc is error


def test_handler_tuple_problem_and_int() -> None:
    class A(Exception):
        pass

    class B(Exception):
        pass

    class C(Exception):
        pass

    errors = Interceptor(
        {
            A: lambda request, exc: ({"error": "a"}, 409, {"X-A": "1"}),
            B: lambda request, exc: Problem(status=422, code="B_BAD"),
            C: lambda request, exc: 429,
        }
    )
    for exc, status in [(A(), 409), (B(), 422), (C(), 429)]:
        response = client(InterceptorMiddleware(raising_app(exc), interceptor=errors)).get("/")
        assert response.status_code == status
    response = client(InterceptorMiddleware(raising_app(A()), interceptor=errors)).get("/")
    assert response.json() == {"error": "a"}
    assert response.headers["x-a"] == "1"
    assert response.headers["content-type"] == "application/json"


def test_declining_handler_falls_back_to_the_next_match() -> None:
    calls: list[str] = []

    def decline(request: Request, exc: Exception) -> None:
        calls.append("decline")

    errors = Interceptor({KeyError: decline, LookupError: 404})
    response = client(InterceptorMiddleware(raising_app(KeyError()), interceptor=errors)).get("/")
    assert response.status_code == 404
    assert calls == ["decline"]


def test_handler_that_raises_goes_out_chained_and_is_not_handled_again() -> None:
    original = Boom("first")

    def explode(request: Request, exc: Boom) -> None:
        raise ValueError("handler failed")

    errors = Interceptor({Boom: explode, ValueError: 400})
    inner = InterceptorMiddleware(raising_app(original), interceptor=errors)
    with pytest.raises(ValueError, match="handler failed") as caught:
        client(inner).get("/")
    assert caught.value.__context__ is original

    # The next scope out (another interceptor) does handle it.
    outer = InterceptorMiddleware(inner, interceptor=Interceptor({ValueError: 422}))
    assert client(outer).get("/").status_code == 422
    # The same interceptor at the outer scope does not handle it a second time.
    same = InterceptorMiddleware(inner, interceptor=errors)
    with pytest.raises(ValueError, match="handler failed"):
        client(same).get("/")


def test_unmatched_goes_to_the_outer_middleware() -> None:
    inner = InterceptorMiddleware(raising_app(Boom()), interceptor=Interceptor({KeyError: 404}))
    outer = InterceptorMiddleware(inner, interceptor=Interceptor({Boom: 503}))
    assert client(outer).get("/").status_code == 503


def test_stateful_callable_object_handler() -> None:
    class Counter:
        def __init__(self) -> None:
            self.count = 0

        def __call__(self, request: Request, exc: Exception) -> tuple[dict[str, int], int]:
            self.count += 1
            return {"seen": self.count}, 400

    counter = Counter()
    wrapped = InterceptorMiddleware(
        raising_app(ValueError()), interceptor=Interceptor({ValueError: counter})
    )
    http = client(wrapped)
    assert http.get("/").json() == {"seen": 1}
    assert http.get("/").json() == {"seen": 2}


def test_status_values_work_without_werkzeug(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "werkzeug.wrappers", None)
    errors = Interceptor({KeyError: 404, ValueError: lambda request, exc: 400})
    server = Server()
    server.run(InterceptorMiddleware(raising_app(KeyError()), interceptor=errors))
    assert server.status == "404 Not Found"
    with pytest.raises(ImportError, match=r"pip install 'exception-interceptor\[werkzeug\]'"):
        Server().run(InterceptorMiddleware(raising_app(ValueError()), interceptor=errors))


def test_werkzeug_client_sees_a_plain_error_response() -> None:
    # Werkzeug's Client re-raises any exc_info it is given: the error response
    # must come through a plain first start_response.
    app, _ = streaming_app(KeyError("k"))
    wrapped = InterceptorMiddleware(app, interceptor=Interceptor({KeyError: 404}))
    response = Client(wrapped).get("/")
    assert response.status_code == 404


def test_bad_construction() -> None:
    with pytest.raises(TypeError, match="Interceptor"):
        InterceptorMiddleware(raising_app(Boom()), interceptor={KeyError: 404})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="callable"):
        InterceptorMiddleware("app", interceptor=Interceptor())  # type: ignore[arg-type]


# -- streaming, against a server that honours exc_info -------------------------------


def test_error_after_first_chunk_reraises_through_start_response() -> None:
    error = Boom("mid-stream")
    app, made = streaming_app(b"first", error, b"never")
    wrapped = InterceptorMiddleware(app, interceptor=Interceptor({Boom: 500}))
    server = Server()
    with pytest.raises(Boom) as caught:
        server.run(wrapped)
    assert caught.value is error
    assert server.body == [b"first"]
    assert server.status == "200 OK"
    # The second start_response carried exc_info for the very exception.
    assert len(server.start_calls) == 2
    assert server.start_calls[1][1] is not None
    assert made[0].closed == 1


def test_error_after_first_chunk_is_observed_as_a_500(caplog: pytest.LogCaptureFixture) -> None:
    events: list[Any] = []
    errors = Interceptor({Boom: 503})
    errors.add_observer(events.append)
    app, _ = streaming_app(b"first", Boom("mid-stream"))
    with pytest.raises(Boom):
        Server().run(InterceptorMiddleware(app, interceptor=errors))
    assert [(event.status, type(event.exception)) for event in events] == [(500, Boom)]
    assert events[0].error_id
    assert errors.flush(5)  # 5xx lines with a traceback are emitted by the delivery worker
    assert events[0].error_id in caplog.text
    assert "already started" in caplog.text


def test_what_start_response_raises_is_not_trapped() -> None:
    class ServerAbort(Exception):
        pass

    class StrictServer(Server):
        def start_response(self, status: str, headers: Any, exc_info: Any = None) -> Any:
            if exc_info is not None:
                raise ServerAbort
            return super().start_response(status, headers)

    app, made = streaming_app(b"first", Boom())
    wrapped = InterceptorMiddleware(app, interceptor=Interceptor({Boom: 500}))
    with pytest.raises(ServerAbort):
        StrictServer().run(wrapped)
    assert made[0].closed == 1


def test_error_after_write_reraises() -> None:
    error = Boom()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written")
        raise error

    server = Server()
    with pytest.raises(Boom) as caught:
        server.run(InterceptorMiddleware(app, interceptor=Interceptor({Boom: 500})))
    assert caught.value is error
    assert server.body == [b"written"]


@pytest.mark.parametrize("rest", [[b"two"], iter([b"two"])])
def test_write_callable_flushes_in_order(rest: Iterable[bytes]) -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"")
        write(b"one")
        return rest

    server = Server()
    server.run(InterceptorMiddleware(app, interceptor=Interceptor()))
    assert server.status == "200 OK"
    assert server.body == [b"one", b"two"]
    assert len(server.start_calls) == 1


def test_inner_exc_info_before_the_body_replaces_the_status() -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            raise Boom
        except Boom:
            headers = [("Content-Type", "text/plain")]
            start_response("503 Service Unavailable", headers, sys.exc_info())
        return [b"own error page"]

    server = Server()
    server.run(InterceptorMiddleware(app, interceptor=Interceptor({Boom: 500})))
    assert server.status == "503 Service Unavailable"
    assert server.body == [b"own error page"]
    assert [exc_info for _, exc_info in server.start_calls] == [None]


def test_one_yield_per_inner_yield() -> None:
    app, made = streaming_app(b"a", b"", b"b", b"c")
    seen = Server().run(InterceptorMiddleware(app, interceptor=Interceptor()))
    assert seen == [b"a", b"", b"b", b"c"]
    assert made[0].yielded == 4


def test_leading_empty_chunks_are_held_back() -> None:
    app, _ = streaming_app(b"", b"", b"x")
    server = Server()
    seen = server.run(InterceptorMiddleware(app, interceptor=Interceptor()))
    assert seen == [b"x"]
    assert server.status == "200 OK"


def test_empty_body_still_starts_the_response() -> None:
    app, made = streaming_app()
    server = Server()
    assert server.run(InterceptorMiddleware(app, interceptor=Interceptor())) == []
    assert server.status == "200 OK"
    assert made[0].closed == 1


@pytest.mark.parametrize(
    ("chunks", "expect_raise"),
    [
        ((b"a", b"b"), False),  # success
        ((KeyError("k"),), False),  # error before the first chunk, handled
        ((Boom(),), True),  # error before the first chunk, unmatched
        ((b"a", Boom()), True),  # error after the first chunk
    ],
)
def test_close_is_called_exactly_once(chunks: tuple[Any, ...], expect_raise: bool) -> None:
    app, made = streaming_app(*chunks)
    wrapped = InterceptorMiddleware(app, interceptor=Interceptor({KeyError: 404}))
    if expect_raise:
        with pytest.raises(Boom):
            Server().run(wrapped)
    else:
        Server().run(wrapped)
    assert [body.closed for body in made] == [1]


def test_close_once_on_early_close() -> None:
    app, made = streaming_app(b"a", b"b", b"c")
    wrapped = InterceptorMiddleware(app, interceptor=Interceptor())

    server = Server()
    result = wrapped(create_environ("/"), server.start_response)
    iterator = iter(result)
    assert next(iterator) == b"a"
    result.close()  # type: ignore[attr-defined]
    result.close()  # type: ignore[attr-defined]
    assert made[0].closed == 1

    # Closed before the server iterated at all.
    result = wrapped(create_environ("/"), Server().start_response)
    result.close()  # type: ignore[attr-defined]
    assert made[1].closed == 1
    assert made[1].yielded == 0


def test_lint_clean_on_both_sides() -> None:
    # filterwarnings=error turns any WSGIWarning/HTTPWarning into a failure.
    for chunks, status in [((b"a", b"b"), "200 OK"), ((KeyError("k"),), "404 Not Found")]:
        app, made = streaming_app(*chunks)
        wrapped = LintMiddleware(
            InterceptorMiddleware(LintMiddleware(app), interceptor=Interceptor({KeyError: 404}))
        )
        server = Server()
        server.run(wrapped)
        assert server.status == status
        assert made[0].closed == 1

    app, _ = streaming_app(b"a", Boom())
    wrapped = LintMiddleware(InterceptorMiddleware(LintMiddleware(app), interceptor=Interceptor()))
    with pytest.raises(Boom):
        Server().run(wrapped)


def run_wsgiref(
    app: Callable[..., Any], path: str = "/", *, validate: bool = True
) -> tuple[bytes, str]:
    """Run ``app`` under wsgiref's own handler (a real server, minus the socket).

    ``validate`` puts wsgiref's validator between them, which hides the body's
    own type and len() from the handler.
    """
    stdout, stderr = io.BytesIO(), io.StringIO()
    environ = create_environ(path)
    environ.pop("wsgi.input", None)
    environ.pop("wsgi.errors", None)
    handler = SimpleHandler(io.BytesIO(), stdout, stderr, environ, multithread=False)
    handler.run(validator(app) if validate else app)
    return stdout.getvalue(), stderr.getvalue()


def test_wsgiref_validated_error_before_first_chunk() -> None:
    app, made = streaming_app(KeyError("k"))
    wrapped = InterceptorMiddleware(validator(app), interceptor=Interceptor({KeyError: 404}))
    output, errors = run_wsgiref(wrapped)
    head, _, body = output.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 404 Not Found")
    assert json.loads(body)["status"] == 404
    assert errors == ""
    assert made[0].closed == 1


@pytest.mark.parametrize("outer", [None, "matching"])
def test_an_error_after_the_first_chunk_is_observed_only_where_it_is_matched(
    outer: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    """An inner middleware that matches nothing neither logs nor reports a late error,
    nor keeps it from an outer one that matches it."""
    reports: list[Any] = []
    error = Boom("mid-stream")
    app, _ = streaming_app(b"first", error)
    noop = Interceptor({NeverRaised: 500}, reporter=reports.append, name="inner")
    wrapped: Any = InterceptorMiddleware(app, interceptor=noop)
    if outer:
        everything = Interceptor({Exception: 500}, reporter=reports.append, name="outer")
        wrapped = InterceptorMiddleware(wrapped, interceptor=everything)
    with caplog.at_level(logging.DEBUG, logger="interceptor"), pytest.raises(Boom) as caught:
        Server().run(wrapped)
    assert caught.value is error
    assert noop.flush(5)
    assert [(r.scope, type(r.exception)) for r in reports] == (
        [("outer", Boom)] if outer else []
    )
    assert len(caplog.records) == (1 if outer else 0)


def test_wsgiref_validated_error_after_first_chunk_aborts() -> None:
    app, made = streaming_app(b"partial", Boom("mid-stream"), b"never")
    wrapped = InterceptorMiddleware(validator(app), interceptor=Interceptor({Boom: 500}))
    output, errors = run_wsgiref(wrapped)
    assert output.startswith(b"HTTP/1.0 200 OK")
    assert output.endswith(b"partial")
    assert b"never" not in output
    # wsgiref logged the very exception; it could not send a 500 any more.
    assert "Boom: mid-stream" in errors
    assert made[0].closed == 1


# -- DispatcherMiddleware mounts ----------------------------------------------------------


def test_dispatcher_mount_is_its_own_scope() -> None:
    seen_paths: list[str] = []

    def on_key(request: Request, exc: KeyError) -> Problem:
        seen_paths.append(request.root_path + request.path)
        return Problem(status=404, code="NO_SUCH_KEY")

    def api(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        if environ["PATH_INFO"] == "/ok":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"api ok"]
        raise KeyError(environ["PATH_INFO"])

    def root(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        raise KeyError("root")

    app = DispatcherMiddleware(
        root, {"/api": InterceptorMiddleware(api, interceptor=Interceptor({KeyError: on_key}))}
    )
    http = client(app)
    assert http.get("/api/ok").text == "api ok"
    response = http.get("/api/missing")
    assert response.status_code == 404
    assert response.json()["code"] == "NO_SUCH_KEY"
    assert seen_paths == ["/api/missing"]
    with pytest.raises(KeyError):  # outside the mount: not this scope
        http.get("/other")


# -- inner apps that misuse or use start_response's exc_info ------------------------------------


def test_exception_goes_up_even_if_the_server_ignores_exc_info() -> None:
    class LenientServer(Server):
        def start_response(self, status: str, headers: Any, exc_info: Any = None) -> Any:
            self.start_calls.append((status, exc_info))
            self.status, self.headers = status, headers
            return self.write  # wrongly swallows exc_info

    error = Boom()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])(b"sent")
        raise error

    server = LenientServer()
    with pytest.raises(Boom) as caught:
        server.run(InterceptorMiddleware(app, interceptor=Interceptor({Boom: 500})))
    assert caught.value is error
    assert server.start_calls[-1][1] is not None


def test_inner_exc_info_after_the_body_goes_to_the_server() -> None:
    error = Boom("late")

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"first"
        try:
            raise error
        except Boom:
            start_response("500 Internal Server Error", [], sys.exc_info())

    server = Server()
    with pytest.raises(Boom) as caught:
        server.run(InterceptorMiddleware(app, interceptor=Interceptor()))
    assert caught.value is error
    assert server.body == [b"first"]


def test_start_response_misuse_is_an_app_error() -> None:
    def twice(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response("200 OK", [])
        start_response("200 OK", [])
        return [b"x"]

    def body_first(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        return [b"x"]

    errors = Interceptor({AssertionError: 500})
    for app in (twice, body_first):
        server = Server()
        server.run(InterceptorMiddleware(app, interceptor=errors))
        assert server.status == "500 Internal Server Error"
    with pytest.raises(AssertionError, match="before calling start_response"):
        Server().run(InterceptorMiddleware(body_first, interceptor=Interceptor()))


# -- async handlers ------------------------------------------------------------------------


async def async_teapot(request: Request, exc: Exception) -> tuple[dict[str, str], int]:
    await asyncio.sleep(0)
    return {"answered": type(request).__name__}, 418


class AsyncCallable:
    """A stateful handler whose ``__call__`` is a coroutine function."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, request: Request, exc: Exception) -> Problem:
        await asyncio.sleep(0)
        self.calls += 1
        return Problem(status=418, code=f"CALL_{self.calls}")


async def async_response(request: Request, exc: Exception, *, text: str) -> Response:
    await asyncio.sleep(0)
    return Response(text, status=418)


def sync_returning_a_coroutine(request: Request, exc: Exception) -> Any:
    return async_teapot(request, exc)


ASYNC_HANDLERS: dict[str, Callable[[], Any]] = {
    "async def": lambda: async_teapot,
    "async __call__": AsyncCallable,
    "partial": lambda: functools.partial(async_response, text="partial"),
    "sync returning a coroutine": lambda: sync_returning_a_coroutine,
}


@pytest.mark.parametrize("kind", sorted(ASYNC_HANDLERS))
def test_async_handlers_are_run_to_completion(kind: str) -> None:
    errors = Interceptor({Boom: ASYNC_HANDLERS[kind]()})
    http = client(InterceptorMiddleware(raising_app(Boom()), interceptor=errors))
    for _ in range(2):  # the second time too: a fresh loop each time
        response = http.get("/")
        assert response.status_code == 418, response.text
    if kind == "partial":
        assert response.text == "partial"
    elif kind == "async __call__":
        assert response.json()["code"] == "CALL_2"
    else:
        assert response.json() == {"answered": "Request"}


def test_async_handler_under_wsgiref() -> None:
    errors = Interceptor({KeyError: AsyncCallable()})
    app, made = streaming_app(KeyError("k"))
    output, logged = run_wsgiref(InterceptorMiddleware(validator(app), interceptor=errors))
    head, _, body = output.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 418")
    assert json.loads(body)["code"] == "CALL_1"
    assert logged == ""
    assert made[0].closed == 1


def test_an_async_handler_that_declines_or_raises() -> None:
    async def decline(request: Request, exc: Exception) -> None:
        await asyncio.sleep(0)

    async def explode(request: Request, exc: Exception) -> None:
        await asyncio.sleep(0)
        raise ValueError("handler failed")

    original = Boom()
    declining = Interceptor({Boom: decline, Exception: 503})
    assert client(InterceptorMiddleware(raising_app(original), interceptor=declining)).get(
        "/"
    ).status_code == 503
    raising = InterceptorMiddleware(raising_app(original), interceptor=Interceptor({Boom: explode}))
    with pytest.raises(ValueError, match="handler failed") as caught:
        client(raising).get("/")
    assert caught.value.__context__ is original


def test_an_async_handler_leaves_the_threads_event_loop_alone() -> None:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        errors = Interceptor({Boom: async_teapot})
        assert client(InterceptorMiddleware(raising_app(Boom()), interceptor=errors)).get(
            "/"
        ).status_code == 418
        assert asyncio.get_event_loop() is loop
        assert not loop.is_closed()
    finally:
        asyncio.set_event_loop(None)
        loop.close()


REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


async def test_an_async_handler_under_a_running_loop_in_the_same_thread() -> None:
    # A WSGI app called straight from async code: the running loop cannot be
    # re-entered, so the handler runs to completion on a loop of its own.
    async def handler(request: Request, exc: Exception) -> tuple[dict[str, Any], int]:
        await asyncio.sleep(0)
        return {"thread": threading.get_ident(), "request_id": REQUEST_ID.get()}, 418

    REQUEST_ID.set("r-1")
    errors = Interceptor({Boom: handler})
    response = client(InterceptorMiddleware(raising_app(Boom()), interceptor=errors)).get("/")
    assert response.status_code == 418
    assert response.json()["request_id"] == "r-1"  # the caller's context goes along
    assert response.json()["thread"] != threading.get_ident()


@pytest.mark.parametrize(("result", "body", "where", "chosen"), TUPLE_ANSWERS)
def test_a_5xx_tuple_answer_shows_the_error_id_the_log_gets(
    result: Any, body: Any, where: str | None, chosen: str | None
) -> None:
    events: list[Any] = []
    errors = Interceptor({Boom: lambda request, exc: result})
    errors.add_observer(events.append)
    response = client(InterceptorMiddleware(raising_app(Boom()), interceptor=errors)).get("/")
    assert response.status_code == result[1]
    seen_body, seen_id = split_error_id(response.json(), response.headers, where)
    assert seen_body == body
    (event,) = events
    assert seen_id == event.error_id
    if chosen is not None:
        assert seen_id == chosen


def test_exc_info_by_keyword_before_the_body_replaces_the_status() -> None:
    # PEP 3333 names the argument: start_response(status, response_headers, exc_info=None).
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            raise Boom
        except Boom:
            start_response("503 Service Unavailable", [], exc_info=sys.exc_info())
        yield b"own error page"
        try:
            raise Boom("late")
        except Boom:
            start_response("500 Internal Server Error", [], exc_info=sys.exc_info())

    server = Server()
    with pytest.raises(Boom, match="late"):
        server.run(InterceptorMiddleware(app, interceptor=Interceptor()))
    assert server.status == "503 Service Unavailable"
    assert server.body == [b"own error page"]


def test_an_app_that_wrote_nothing_has_still_committed() -> None:
    # PEP 3333: the first write() call sends the headers, empty or not, so the
    # start goes to the server at once and an error after it goes up as one
    # after the first chunk.
    error = Boom()
    server = Server()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"")
        assert server.start_calls == [("200 OK", None)]
        raise error

    with pytest.raises(Boom) as caught:
        server.run(InterceptorMiddleware(app, interceptor=Interceptor({Boom: 500})))
    assert caught.value is error
    assert [exc_info is not None for _, exc_info in server.start_calls] == [False, True]


class FileWrapper:
    """A server's ``wsgi.file_wrapper``: the server knows its class and sends the file."""

    def __init__(self, filelike: io.BytesIO, block_size: int = 8192) -> None:
        self.filelike = filelike

    def __iter__(self) -> Iterator[bytes]:
        return iter(lambda: self.filelike.read(8192), b"")


def test_the_servers_file_wrapper_is_handed_on_as_it_is() -> None:
    returned: list[object] = []

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        returned.append(wrap_file(environ, io.BytesIO(b"file")))
        return returned[-1]  # type: ignore[return-value]

    server = Server()
    environ = create_environ("/")
    environ["wsgi.file_wrapper"] = FileWrapper
    result = InterceptorMiddleware(app, interceptor=Interceptor())(environ, server.start_response)
    assert result is returned[0]
    assert server.start_calls == [("200 OK", None)]  # started: the server sends it now
    # A wrapper that is not the server's (Werkzeug's own, here) is no fast path.
    server = Server()
    assert server.run(InterceptorMiddleware(app, interceptor=Interceptor())) == [b"file"]
    assert server.start_calls == [("200 OK", None)]


class OneBlock(Body):
    """A `Body` of one block that says so through len()."""

    def __len__(self) -> int:
        return 1


def test_a_sized_body_keeps_its_len_and_its_errors_are_still_answered() -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return collections.deque([b"hello"])

    output, _ = run_wsgiref(app, validate=False)  # wsgiref takes a one-block body's length
    assert b"Content-Length: 5\r\n" in output
    wrapped = InterceptorMiddleware(app, interceptor=Interceptor())
    assert run_wsgiref(wrapped, validate=False)[0].split(b"\r\n")[2:] == output.split(b"\r\n")[2:]

    def failing(environ: dict[str, Any], start_response: Callable[..., Any]) -> OneBlock:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return OneBlock([KeyError("k")])

    result = InterceptorMiddleware(failing, interceptor=Interceptor({KeyError: 404}))(
        create_environ("/"), Server().start_response
    )
    assert len(result) == 1  # type: ignore[arg-type]
    response = client(InterceptorMiddleware(failing, interceptor=Interceptor({KeyError: 404})))
    assert response.get("/").status_code == 404

    def handler(request: Request, exc: Exception) -> Response:
        return Response(iter([b"streamed"]), status=404)  # no len(): 0, not one block

    server = Server()
    result = InterceptorMiddleware(failing, interceptor=Interceptor({KeyError: handler}))(
        create_environ("/"), server.start_response
    )
    assert list(result) == [b"streamed"]
    assert len(result) == 0  # type: ignore[arg-type]
    assert server.status == "404 NOT FOUND"
