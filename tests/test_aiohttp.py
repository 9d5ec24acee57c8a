"""The aiohttp rules end to end: a Starlette app calling a real local upstream with aiohttp.

The upstream is an aiohttp server on 127.0.0.1, started and stopped by the test,
that answers 429 (with ``Retry-After``), 503 or 401, or hangs; a raw socket server
hangs up on every request, and a closed port refuses connections. The app answers
through ``Interceptor({aiohttp.ClientError: classified})``: the status and
``retryable`` follow the upstream table, and the body's detail is the fixed text,
with no URL, no ``api_key`` and no upstream text.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx
import pytest
from aiohttp import web
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from interceptor import Category, Interceptor, classified, classify
from interceptor.starlette import InterceptorMiddleware

pytestmark = pytest.mark.server

UPSTREAM_TEXT = "account 991 is over its quota"
SECRET = "SECRET-KEY-123"  # noqa: S105 - a made-up key no body may show
# How long the hanging answer waits, at most; the client gives up after READ_TIMEOUT.
HANG_LIMIT = 10.0
READ_TIMEOUT = 0.2


@pytest.fixture
async def upstream() -> AsyncIterator[str]:
    """A real aiohttp server on 127.0.0.1; yields its base URL."""
    release = asyncio.Event()

    async def throttled(request: web.Request) -> web.Response:
        return web.Response(status=429, text=UPSTREAM_TEXT, headers={"Retry-After": "7"})

    async def unavailable(request: web.Request) -> web.Response:
        return web.Response(status=503, text=UPSTREAM_TEXT)

    async def unauthorized(request: web.Request) -> web.Response:
        return web.Response(
            status=401, text=UPSTREAM_TEXT, headers={"WWW-Authenticate": 'Bearer realm="x"'}
        )

    async def hang(request: web.Request) -> web.Response:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(release.wait(), HANG_LIMIT)
        return web.Response(text="late")

    app = web.Application()
    app.router.add_get("/throttled", throttled)
    app.router.add_get("/unavailable", unavailable)
    app.router.add_get("/unauthorized", unauthorized)
    app.router.add_get("/hang", hang)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        release.set()
        await runner.cleanup()


@pytest.fixture
async def hangs_up() -> AsyncIterator[str]:
    """A server on 127.0.0.1 that reads the request and closes without answering."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture
def closed_port() -> str:
    """A local address nothing listens on: connecting to it is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def make_app(*, extra: dict[type[Exception], Any] | None = None) -> Starlette:
    async def proxy(request: Request) -> JSONResponse:
        url = f"{request.query_params['to']}?api_key={SECRET}"
        timeout = aiohttp.ClientTimeout(
            total=float(request.query_params.get("total", "5")),
            sock_read=float(request.query_params.get("read", "5")),
        )
        async with (
            aiohttp.ClientSession(timeout=timeout, raise_for_status=True) as session,
            session.get(url) as response,
        ):
            return JSONResponse({"text": await response.text()})

    errors = Interceptor({aiohttp.ClientError: classified, **(extra or {})})
    return Starlette(
        routes=[Route("/proxy", proxy)],
        middleware=[Middleware(InterceptorMiddleware, interceptor=errors)],
    )


async def call(url: str, app: Starlette | None = None, **params: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app or make_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await client.get("/proxy", params={"to": url, **params})


def check(
    response: httpx.Response, status: int, code: str, retryable: bool, detail: str
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = json.loads(response.text)
    assert (body["status"], body["code"], body["retryable"]) == (status, code, retryable)
    assert body["detail"] == detail
    for leak in ("127.0.0.1", "api_key", SECRET, UPSTREAM_TEXT, "http://"):
        assert leak not in response.text, response.text
    return body


async def test_upstream_429_is_throttled_with_its_retry_after(upstream: str) -> None:
    response = await call(f"{upstream}/throttled")
    body = check(
        response, 429, "THROTTLED", True, "The upstream service answered 429 Too Many Requests."
    )
    assert response.headers["retry-after"] == "7"
    assert "error_id" not in body  # a 4xx


async def test_upstream_503_is_a_retryable_502(upstream: str) -> None:
    response = await call(f"{upstream}/unavailable")
    body = check(response, 502, "TEMPORARY", True, "The upstream service is unavailable.")
    assert "retry-after" not in response.headers
    assert body["error_id"]


async def test_upstream_401_is_our_502_not_our_401(upstream: str) -> None:
    response = await call(f"{upstream}/unauthorized")
    check(response, 502, "PERMANENT", False, "The upstream service refused our credentials.")
    assert "www-authenticate" not in response.headers


async def test_refused_connection_is_a_retryable_502(closed_port: str) -> None:
    response = await call(f"{closed_port}/items")
    check(response, 502, "TEMPORARY", True, "The upstream service could not be reached.")


async def test_a_server_that_hangs_up_is_a_retryable_502(hangs_up: str) -> None:
    response = await call(f"{hangs_up}/items")
    check(response, 502, "TEMPORARY", True, "The upstream service closed the connection.")


async def test_a_read_timeout_is_a_timeout(upstream: str) -> None:
    response = await call(f"{upstream}/hang", read=str(READ_TIMEOUT))
    check(response, 504, "TIMEOUT", True, "The upstream service timed out.")


async def test_a_total_timeout_is_a_timeout(upstream: str) -> None:
    # aiohttp raises the builtin TimeoutError for the total budget: not a ClientError.
    app = make_app(extra={TimeoutError: classified})
    response = await call(f"{upstream}/hang", app, total=str(READ_TIMEOUT))
    assert response.status_code == 504, response.text
    assert json.loads(response.text)["code"] == "TIMEOUT"
    assert "127.0.0.1" not in response.text


async def test_classify_sees_the_same_answers_and_the_message_stays_on_the_exception(
    upstream: str,
) -> None:
    async with aiohttp.ClientSession() as session, session.get(f"{upstream}/throttled") as r:
        with pytest.raises(aiohttp.ClientResponseError) as caught:
            r.raise_for_status()
    found = classify(caught.value)
    assert (found.category, found.status, found.retry_after) == (Category.THROTTLED, 429, 7.0)
    assert found.detail == "The upstream service answered 429 Too Many Requests."
    assert "127.0.0.1" in str(caught.value)  # the log and the report still get it


@pytest.mark.parametrize(
    ("answer", "category", "status", "detail"),
    [
        (
            b"407 Proxy Authentication Required",
            Category.PERMANENT,
            502,
            "The upstream service refused our credentials.",
        ),
        (b"502 Bad Gateway", Category.TEMPORARY, 502, "The upstream service could not be reached."),
    ],
)
async def test_a_proxy_refusing_to_tunnel_is_classified_by_its_status(
    answer: bytes, category: Category, status: int, detail: str
) -> None:
    # A proxy answering CONNECT with a 407 refused our proxy credentials: as for a
    # plain-HTTP proxy's 407 (a ClientResponseError), no retry cures it.
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 " + answer + b"\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    proxy = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.ClientHttpProxyError) as caught:
                await session.get("https://upstream.invalid/items", proxy=proxy)
    finally:
        server.close()
        await server.wait_closed()
    found = classify(caught.value)
    assert (found.category, found.status, found.detail) == (category, status, detail)
