"""Do no harm under WSGI: with and without an interceptor that matches nothing.

Each case runs the same app bare and behind `InterceptorMiddleware` with an
interceptor registered only for an exception nobody raises, and asserts that
the server (or client) sees the same thing. Where the behaviour is the
server's, the apps of `tests.wsgi_served` run under a real server on
127.0.0.1, started and stopped by its PID.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from examples.serving import serve

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def waitress_port() -> Iterator[int]:
    with serve("tests.wsgi_served:app", "waitress") as (base_url, _log):
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


def test_exc_info_given_by_keyword(waitress_port: int) -> None:
    plain, wrapped = both(waitress_port, "keyword_exc_info")
    assert plain.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    assert plain.endswith(b"own error page")
    assert wrapped == plain
