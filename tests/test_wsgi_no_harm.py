"""Do no harm under WSGI: with and without an interceptor that matches nothing.

Each case runs the same app bare and behind `InterceptorMiddleware` with an
interceptor registered only for an exception nobody raises, and asserts that
the server (or client) sees the same thing. Where the behaviour is the
server's, the apps of `tests.wsgi_served` run under a real server on
127.0.0.1, started and stopped by its PID.
"""

from __future__ import annotations

import gc
import logging
import socket
import uuid
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask import Response as FlaskResponse
from werkzeug.test import create_environ

from examples.serving import serve
from interceptor import Interceptor
from interceptor.wsgi import InterceptorMiddleware
from tests import wsgi_served as served
from tests.wsgi_served import NeverRaised, streamed_cleanup_fails


def no_harm(app: Callable[..., Any]) -> InterceptorMiddleware:
    """``app`` behind an interceptor that matches nothing."""
    return InterceptorMiddleware(app, interceptor=Interceptor({NeverRaised: 500}))


@pytest.fixture(scope="module")
def waitress_port() -> Iterator[int]:
    with serve("tests.wsgi_served:app", "waitress") as (base_url, _log):
        yield int(base_url.rsplit(":", 1)[1])


@pytest.fixture(scope="module")
def werkzeug_port() -> Iterator[int]:
    with serve("tests.wsgi_served:app", "werkzeug") as (base_url, _log):
        yield int(base_url.rsplit(":", 1)[1])


def exchange(port: int, path: str) -> bytes:
    """One raw HTTP/1.1 request; everything the server sent until it closed, Date left out."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        received = b"".join(iter(lambda: sock.recv(65536), b""))
    head, _, body = received.partition(b"\r\n\r\n")
    kept = [line for line in head.split(b"\r\n") if not line.startswith(b"Date:")]
    return b"\r\n".join(kept) + b"\r\n\r\n" + body


def both(port: int, name: str) -> tuple[bytes, bytes]:
    return exchange(port, f"/plain/{name}"), exchange(port, f"/wrapped/{name}")


@pytest.mark.server
def test_exc_info_given_by_keyword(waitress_port: int) -> None:
    plain, wrapped = both(waitress_port, "keyword_exc_info")
    assert plain.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    assert plain.endswith(b"own error page")
    assert wrapped == plain


@pytest.mark.server
@pytest.mark.parametrize(
    ("name", "length"),
    [("file_wrapped", 100), ("send_file", Path(served.__file__).stat().st_size), ("one_block", 5)],
)
def test_the_server_sees_the_apps_own_body(waitress_port: int, name: str, length: int) -> None:
    # waitress sends its own wsgi.file_wrapper from the file, with the file's
    # length, and takes a one-block body's length as its Content-Length: it
    # must see the app's own object, or its len().
    plain, wrapped = both(waitress_port, name)
    assert f"\r\nContent-Length: {length}\r\n".encode() in plain
    assert b"Transfer-Encoding" not in plain
    assert wrapped == plain


@pytest.mark.server
@pytest.mark.parametrize("kind", ["plain", "wrapped"])
def test_write_of_nothing_sends_the_headers_at_once(waitress_port: int, kind: str) -> None:
    # PEP 3333: the headers go out on the app's first write() call. The app
    # then waits until released, which the test does only once they arrived.
    token = f"{kind}-{uuid.uuid4().hex}"
    with socket.create_connection(("127.0.0.1", waitress_port), timeout=10) as sock:
        path = f"/{kind}/headers_then_wait?{token}"
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        received = b""
        while b"\r\n\r\n" not in received:
            received += sock.recv(65536)
        exchange(waitress_port, f"/release?{token}")
        received += b"".join(iter(lambda: sock.recv(65536), b""))
    # Released (not left to wait out), and so sent as chunks: no Content-Length
    # could be known when the headers went.
    assert received.endswith(b"\r\n\r\n8\r\nreleased\r\n0\r\n\r\n")
    assert received.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"Transfer-Encoding: chunked" in received


@pytest.mark.server
def test_a_close_that_raises_comes_after_the_whole_body(werkzeug_port: int) -> None:
    # PEP 3333: the server calls close() once it is done with the body. Werkzeug
    # writes a chunked body's last chunk before that; a close() run inside the
    # last next() would cut it off.
    plain, wrapped = both(werkzeug_port, "streamed_cleanup_fails")
    assert plain.endswith(b"\r\n\r\n3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n")
    assert wrapped == plain


def test_the_close_that_raises_is_the_servers_call() -> None:
    def stage_of_the_error(app: Callable[..., Any]) -> tuple[list[bytes], str]:
        result = app(create_environ("/"), lambda status, headers, exc_info=None: None)
        chunks: list[bytes] = []
        try:
            chunks.extend(result)
        except RuntimeError as error:
            return chunks, f"iterating: {error}"
        try:
            result.close()
        except RuntimeError as error:
            return chunks, f"close: {error}"
        return chunks, "none"

    plain = stage_of_the_error(streamed_cleanup_fails)
    assert plain == ([b"hel", b"lo"], "close: cleanup failed")
    assert stage_of_the_error(no_harm(streamed_cleanup_fails)) == plain


class FailsThenCleanupFails:
    """A body that raises before its first chunk, and whose ``close()`` raises too."""

    def __iter__(self) -> Iterator[bytes]:
        raise LookupError("row missing")

    def close(self) -> None:
        raise RuntimeError("cleanup failed")


@pytest.mark.parametrize("matching", [False, True], ids=["matching-nothing", "matching"])
def test_a_close_that_raises_after_an_early_error_is_still_the_servers_call(
    matching: bool,
) -> None:
    """The body is closed before the handlers run: what its close() raises
    waits for the server's close(), so iterating raises the body's own error
    (or gives the answer to it), as without the middleware."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return FailsThenCleanupFails()

    def stages(app: Callable[..., Any]) -> list[str]:
        result = app(create_environ("/"), lambda status, headers, exc_info=None: None)
        seen = []
        try:
            seen.append(f"body: {b''.join(result)!r}")
        except Exception as error:
            seen.append(f"iterating: {error!r}")
        try:
            result.close()
        except RuntimeError as error:
            seen.append(f"close: {error}")
        return seen

    plain = stages(app)
    assert plain == ["iterating: LookupError('row missing')", "close: cleanup failed"]
    if not matching:
        assert stages(no_harm(app)) == plain
        return
    answered = stages(InterceptorMiddleware(app, interceptor=Interceptor({LookupError: 404})))
    assert answered[0].startswith("body: b'{")
    assert '"status":404' in answered[0]
    assert answered[1:] == ["close: cleanup failed"]


def test_a_flask_call_on_close_that_raises_under_the_test_client() -> None:
    def make(wrapped: bool) -> Flask:
        app = Flask(__name__)
        app.get("/")(lambda: "hello")

        @app.after_request
        def cleanup(response: FlaskResponse) -> FlaskResponse:
            @response.call_on_close
            def fail() -> None:
                raise RuntimeError("cleanup failed")

            return response

        if wrapped:
            app.wsgi_app = no_harm(app.wsgi_app)  # type: ignore[method-assign]
        return app

    def stage_of_the_error(app: Flask) -> str:
        response = app.test_client().get("/")
        try:
            assert response.get_data() == b"hello"
        except RuntimeError:
            return "get_data"
        try:
            response.close()
        except RuntimeError:
            return "close"
        return "none"

    assert stage_of_the_error(make(wrapped=False)) == "close"
    assert stage_of_the_error(make(wrapped=True)) == "close"


# -- what a request leaves behind ---------------------------------------------------------


class Environ(dict[str, Any]):
    """An environ that can be weakly referenced, to see when it is freed."""


class RequestBody:
    """Stands in for the request body a server hangs off the environ."""


def mid_body_error(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"a"
    raise RuntimeError("mid-body")


def serve_one(app: Callable[..., Any]) -> tuple[weakref.ref[Environ], weakref.ref[RequestBody]]:
    """Serve one request as a PEP 3333 server does; weak references to what it made."""
    environ = Environ(create_environ("/"), **{"wsgi.input": RequestBody()})
    request_body = weakref.ref(environ["wsgi.input"])
    sent: list[str] = []

    def start_response(status: str, headers: Any, exc_info: Any = None) -> Callable[[bytes], None]:
        if exc_info is not None and sent:
            try:
                raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        sent.append(status)
        return lambda data: None

    try:
        result = app(environ, start_response)
        try:
            for _ in result:
                pass
        finally:
            result.close()
    except RuntimeError:
        pass  # the server logs it and aborts the connection
    return weakref.ref(environ), request_body


@pytest.mark.parametrize("nested", [False, True])
def test_a_mid_body_error_leaves_no_reference_cycle(nested: bool) -> None:
    # The late error is logged and reported once per request, but the environ
    # must not keep it: its traceback's frames refer to the environ.
    seen: list[tuple[int, type[BaseException]]] = []
    errors = Interceptor({RuntimeError: 500})
    errors.add_observer(lambda event: seen.append((event.status, type(event.exception))))
    wrapped: Callable[..., Any] = InterceptorMiddleware(mid_body_error, interceptor=errors)
    if nested:
        wrapped = InterceptorMiddleware(wrapped, interceptor=errors)
    gc.collect()
    gc.disable()
    # Not logged: pytest's log capture would keep the record, and so the traceback.
    logging.disable(logging.CRITICAL)
    try:
        for app in (mid_body_error, wrapped):
            environ, request_body = serve_one(app)
            assert environ() is None, app
            assert request_body() is None, app
    finally:
        logging.disable(logging.NOTSET)
        gc.enable()
    assert seen == [(500, RuntimeError)]
