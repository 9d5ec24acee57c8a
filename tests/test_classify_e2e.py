"""`classified` end to end: a Starlette app calling a real local upstream with httpx.

The upstream is a stdlib HTTP server on 127.0.0.1 that answers from a script:
429 with ``Retry-After``, then 503, then hangs until the client times out.
"""

from __future__ import annotations

import collections
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from interceptor import Interceptor
from interceptor._classify import classified
from interceptor.starlette import InterceptorMiddleware

pytestmark = pytest.mark.server

# The hanging answer waits at most this long for the test to finish; the client
# gives up long before, after HANG_CLIENT_TIMEOUT.
HANG_LIMIT = 10.0
HANG_CLIENT_TIMEOUT = 0.2


@dataclass
class Upstream:
    """A scripted upstream: each request takes the next answer; then 200s."""

    url: str
    script: collections.deque[tuple[str, dict[str, str]]] = field(default_factory=collections.deque)
    release: threading.Event = field(default_factory=threading.Event)
    seen: list[str] = field(default_factory=list)


def _handler_for(upstream: Upstream) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            action, headers = upstream.script.popleft() if upstream.script else ("200", {})
            upstream.seen.append(action)
            if action == "hang":
                upstream.release.wait(HANG_LIMIT)
                self.close_connection = True
                return
            body = b'{"items": []}' if action == "200" else b'{"error": "upstream"}'
            self.send_response(int(action))
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    return Handler


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    server.daemon_threads = True
    port = server.server_address[1]
    state = Upstream(url=f"http://127.0.0.1:{port}/items")
    server.RequestHandlerClass = _handler_for(state)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
        thread.join()


def make_app(upstream_url: str) -> Starlette:
    async def items(request: Request) -> JSONResponse:
        read_timeout = float(request.query_params.get("timeout", "5"))
        timeout = httpx.Timeout(5.0, read=read_timeout)
        async with httpx.AsyncClient(timeout=timeout) as client:
            response = await client.get(request.query_params.get("url", upstream_url))
            response.raise_for_status()
        return JSONResponse(response.json())

    errors = Interceptor({httpx.HTTPError: classified})
    return Starlette(
        routes=[Route("/items", items)],
        middleware=[Middleware(InterceptorMiddleware, interceptor=errors)],
    )


@pytest.fixture
async def client(upstream: Upstream) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=make_app(upstream.url))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def assert_problem(
    response: httpx.Response, status: int, code: str, *, retryable: bool
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["retryable"] is retryable
    assert "127.0.0.1" not in response.text  # the upstream's URL is httpx's text, not ours
    assert '"upstream"' not in response.text  # nor is the upstream's own body
    return body


async def test_throttled_then_unavailable_then_timeout(
    upstream: Upstream, client: httpx.AsyncClient
) -> None:
    upstream.script.extend([("429", {"Retry-After": "7"}), ("503", {}), ("hang", {})])

    throttled = await client.get("/items")
    body = assert_problem(throttled, 429, "THROTTLED", retryable=True)
    assert throttled.headers["retry-after"] == "7"
    assert "error_id" not in body  # a 4xx
    assert body["detail"] == "The upstream service answered 429 Too Many Requests."

    unavailable = await client.get("/items")
    body = assert_problem(unavailable, 502, "TEMPORARY", retryable=True)
    assert "retry-after" not in unavailable.headers
    assert body["detail"] == "The upstream service is unavailable."  # never httpx's message
    assert body["error_id"]

    timed_out = await client.get("/items", params={"timeout": HANG_CLIENT_TIMEOUT})
    body = assert_problem(timed_out, 504, "TIMEOUT", retryable=True)
    assert body["detail"] == "The upstream service timed out."
    assert body["error_id"]

    fine = await client.get("/items")
    assert fine.status_code == 200
    assert fine.json() == {"items": []}
    assert upstream.seen == ["429", "503", "hang", "200"]


async def test_retry_after_http_date_becomes_seconds(
    upstream: Upstream, client: httpx.AsyncClient
) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=60), usegmt=True)
    upstream.script.append(("429", {"Retry-After": when}))
    response = await client.get("/items")
    assert_problem(response, 429, "THROTTLED", retryable=True)
    assert 0 < int(response.headers["retry-after"]) <= 60


async def test_upstream_401_is_not_our_401(upstream: Upstream, client: httpx.AsyncClient) -> None:
    upstream.script.append(("401", {"WWW-Authenticate": "Bearer"}))
    response = await client.get("/items")
    assert_problem(response, 502, "PERMANENT", retryable=False)
    assert "www-authenticate" not in response.headers


async def test_refused_connection_is_retryable(client: httpx.AsyncClient) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    response = await client.get("/items", params={"url": f"http://127.0.0.1:{port}/"})
    assert_problem(response, 502, "TEMPORARY", retryable=True)
