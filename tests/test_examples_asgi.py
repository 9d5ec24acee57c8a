"""The ASGI examples under a real uvicorn on 127.0.0.1, answering real HTTP requests."""

from __future__ import annotations

import httpx
import pytest

from examples.serving import serve

pytestmark = pytest.mark.server

# path -> (status, content type, "code" member or None)
STARLETTE = {
    ("GET", "/"): (200, "text/plain; charset=utf-8", None),
    ("GET", "/api/users/42"): (404, "application/problem+json", "USER_NOT_FOUND"),
    ("GET", "/api/lookup"): (404, "application/problem+json", None),
    ("GET", "/api/parse?n=x"): (422, "application/problem+json", "INVALID_INPUT"),
    ("POST", "/api/pay"): (402, "application/problem+json", "PAYMENT_DECLINED"),
    ("GET", "/api/pay"): (405, "application/problem+json", "METHOD_NOT_ALLOWED"),
    ("GET", "/api/nowhere"): (404, "application/problem+json", "NO_SUCH_API_ROUTE"),
    ("GET", "/admin"): (403, "application/problem+json", None),
    ("GET", "/maintenance"): (503, "text/plain; charset=utf-8", None),
    ("GET", "/teapot"): (418, "text/plain; charset=utf-8", None),
    ("GET", "/crash"): (500, "text/plain; charset=utf-8", None),
    ("GET", "/nowhere"): (404, "text/plain; charset=utf-8", None),
    ("HEAD", "/admin"): (403, "application/problem+json", None),
}

FASTAPI = {
    ("GET", "/users/1"): (200, "application/json", None),
    ("GET", "/users/2"): (404, "application/problem+json", "USER_NOT_FOUND"),
    ("GET", "/users/abc"): (422, "application/problem+json", "INVALID_REQUEST"),
    ("GET", "/users/7"): (423, "application/problem+json", "ACCOUNT_LOCKED"),
    ("GET", "/users/billing/7"): (402, "application/problem+json", "BILLING_LOCKED"),
    ("GET", "/items?limit=x"): (422, "application/json", None),
    ("GET", "/admin"): (403, "application/problem+json", None),
    ("GET", "/teapot"): (418, "application/json", None),
    ("GET", "/nowhere"): (404, "application/problem+json", "NO_SUCH_ROUTE"),
}


@pytest.mark.parametrize(
    ("target", "expected"),
    [("examples.starlette_app:app", STARLETTE), ("examples.fastapi_app:app", FASTAPI)],
    ids=["starlette", "fastapi"],
)
def test_example_under_uvicorn(
    target: str, expected: dict[tuple[str, str], tuple[int, str, str | None]]
) -> None:
    with serve(target, "uvicorn") as (base_url, _log), httpx.Client(base_url=base_url) as client:
        for (method, path), (status, content_type, code) in expected.items():
            response = client.request(method, path, headers={"Connection": "close"})
            assert response.status_code == status, (method, path, response.text)
            assert response.headers["content-type"] == content_type, (method, path)
            if method == "HEAD":
                assert response.content == b""
                assert int(response.headers["content-length"]) > 0
            elif content_type == "application/problem+json":
                body = response.json()
                assert body["status"] == status
                assert body.get("code") == code, (method, path, body)


def test_mid_stream_failure_aborts_the_connection_after_the_first_chunk() -> None:
    with (
        serve("examples.starlette_app:app", "uvicorn") as (base_url, _log),
        httpx.Client(base_url=base_url) as client,
        client.stream("GET", "/api/stream") as response,
    ):
        assert response.status_code == 200
        with pytest.raises(httpx.HTTPError):
            b"".join(response.iter_raw())
