"""`classify` on a received httpx or requests response: what its raise_for_status() would give."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
import requests

from interceptor import Category, classify

STATUSES = [
    200,
    201,
    204,
    301,
    302,
    304,
    400,
    401,
    403,
    404,
    408,
    409,
    429,
    500,
    501,
    502,
    503,
    504,
]


class _Handler(BaseHTTPRequestHandler):
    """Answers /<status> with that status, and a Retry-After for 429 and 503."""

    def do_GET(self) -> None:
        status = int(self.path.strip("/"))
        self.send_response(status)
        if status in (429, 503):
            self.send_header("Retry-After", "17")
        if status in (301, 302):
            self.send_header("Location", "/200")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base's name
        pass


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)


def raised_answer(response: httpx.Response | requests.Response) -> object:
    """The classification of what raise_for_status() raises; None when it raises nothing."""
    try:
        response.raise_for_status()
    except (httpx.HTTPStatusError, requests.HTTPError) as exc:
        return classify(exc)
    return None


@pytest.mark.server
@pytest.mark.parametrize("status", STATUSES)
def test_an_httpx_response_classifies_as_its_raise_for_status_error(
    base_url: str, status: int
) -> None:
    with httpx.Client() as client:
        response = client.get(f"{base_url}/{status}")
    assert response.status_code == status
    assert classify(response) == raised_answer(response)
    if 200 <= status <= 299:
        assert classify(response) is None


@pytest.mark.server
@pytest.mark.parametrize("status", STATUSES)
def test_a_requests_response_classifies_as_its_raise_for_status_error(
    base_url: str, status: int
) -> None:
    with requests.Session() as session:
        response = session.get(f"{base_url}/{status}", allow_redirects=False, timeout=5)
    assert response.status_code == status
    assert classify(response) == raised_answer(response)
    if status < 400:
        assert classify(response) is None


@pytest.mark.server
def test_the_answers_for_responses(base_url: str) -> None:
    with httpx.Client() as client:
        throttled = classify(client.get(f"{base_url}/429"))
        unavailable = classify(client.get(f"{base_url}/503"))
        redirect = classify(client.get(f"{base_url}/302"))
    assert throttled is not None
    assert (throttled.category, throttled.status, throttled.retry_after) == (
        Category.THROTTLED,
        429,
        17.0,
    )
    assert unavailable is not None
    assert (unavailable.category, unavailable.status, unavailable.retry_after) == (
        Category.TEMPORARY,
        502,
        17.0,
    )
    # httpx's raise_for_status raises for a redirect it did not follow; requests' does not.
    assert redirect is not None
    assert (redirect.category, redirect.status, redirect.retryable) == (
        Category.PERMANENT,
        502,
        False,
    )
    with requests.Session() as session:
        response = session.get(f"{base_url}/302", allow_redirects=False, timeout=5)
    assert classify(response) is None


def test_a_subclass_of_a_response_is_a_response() -> None:
    class Mine(httpx.Response):
        pass

    request = httpx.Request("GET", "http://upstream.test/")
    found = classify(Mine(503, request=request))
    assert found is not None
    assert found.category is Category.TEMPORARY
    assert classify(Mine(200, request=request)) is None


def test_a_response_without_a_request_or_a_status() -> None:
    # raise_for_status() itself would refuse (no request): classified by status all the same.
    found = classify(httpx.Response(429, headers={"Retry-After": "3"}))
    assert found is not None
    assert found.retry_after == 3.0
    broken = requests.Response()  # status_code None: no answer that can be used
    found = classify(broken)
    assert found is not None
    assert (found.category, found.status) == (Category.PERMANENT, 502)
