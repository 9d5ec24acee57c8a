"""WSGI apps the do-no-harm tests serve under real servers, bare and behind an interceptor.

`app` routes ``/plain/<name>`` to the app ``name`` itself and ``/wrapped/<name>``
to the same app behind `InterceptorMiddleware` with an interceptor that matches
nothing, so one server process answers both sides of every comparison.
``/release?<token>`` sets the event an app called with that query string waits on.
"""

from __future__ import annotations

import collections
import io
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import flask
from flask import Flask

from interceptor import Interceptor
from interceptor.wsgi import InterceptorMiddleware

App = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class NeverRaised(Exception):
    """What the do-no-harm interceptor is registered for: nothing raises it."""


def keyword_exc_info(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """Its own error page, started with ``exc_info`` given by keyword (PEP 3333's name)."""
    try:
        raise LookupError("row missing")
    except LookupError:
        headers = [("Content-Type", "text/plain")]
        start_response("503 Service Unavailable", headers, exc_info=sys.exc_info())
    return [b"own error page"]


class CleanupFails:
    """A response body whose ``close()`` raises once every chunk is out."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.chunks)

    def close(self) -> None:
        raise RuntimeError("cleanup failed")


def streamed_cleanup_fails(
    environ: dict[str, Any], start_response: Callable[..., Any]
) -> CleanupFails:
    """No Content-Length, so the body goes out chunked; its ``close()`` raises."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    return CleanupFails([b"hel", b"lo"])


# The events apps wait on, by the token in the query string; `/release?<token>` sets one.
_EVENTS: dict[str, threading.Event] = {}
RELEASE_WAIT_SECONDS = 5


def _event(environ: dict[str, Any]) -> threading.Event:
    return _EVENTS.setdefault(environ["QUERY_STRING"], threading.Event())


def headers_then_wait(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """``write(b"")`` (PEP 3333: the headers go out), then wait to be released."""
    start_response("200 OK", [("Content-Type", "text/plain")])(b"")
    released = _event(environ).wait(RELEASE_WAIT_SECONDS)
    return [b"released" if released else b"not released"]


def file_wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The server's own ``wsgi.file_wrapper``, no Content-Length: the server knows it."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    return environ["wsgi.file_wrapper"](io.BytesIO(b"x" * 100))  # type: ignore[no-any-return]


def one_block(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """A body of len() 1 that is not a list: the server takes its one block's length."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    return collections.deque([b"hello"])


flask_app = Flask(__name__)


@flask_app.get("/plain/send_file")
@flask_app.get("/wrapped/send_file")
def send_file() -> Any:
    """Flask's ``send_file`` of an open file (this one): Werkzeug hands on the server's wrapper."""
    return flask.send_file(Path(__file__).open("rb"), mimetype="text/plain")


PLAIN: dict[str, App] = {
    "keyword_exc_info": keyword_exc_info,
    "streamed_cleanup_fails": streamed_cleanup_fails,
    "headers_then_wait": headers_then_wait,
    "file_wrapped": file_wrapped,
    "one_block": one_block,
    "send_file": flask_app.wsgi_app,
}
WRAPPED: dict[str, App] = {
    name: InterceptorMiddleware(plain, interceptor=Interceptor({NeverRaised: 500}))
    for name, plain in PLAIN.items()
}


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    if environ["PATH_INFO"] == "/release":
        _event(environ).set()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"released"]
    _, kind, name = environ["PATH_INFO"].split("/", 2)
    return (PLAIN if kind == "plain" else WRAPPED)[name](environ, start_response)
