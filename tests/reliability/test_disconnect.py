"""A client that goes away costs nothing: no error flood, no stuck task, no response.

Under uvicorn, a client drops a slow stream served behind a catch-all
interceptor (``{Exception: 500}``). With the raw middleware, Starlette's
``ClientDisconnect`` and ``asyncio.CancelledError`` raised under a catch-all
interceptor must propagate as the same object, with nothing sent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.requests import ClientDisconnect

from examples.serving import serve
from interceptor import Interceptor, Problem
from interceptor.starlette import InterceptorMiddleware
from tests.conftest import http_scope, record_figure

DISCONNECTS = 5
SETTLE_SECONDS = 10.0


def _error_lines(log: Path) -> int:
    # uvicorn writes "ERROR:    ..."; benchmarks.apps gives the interceptor's
    # records an "ERROR interceptor: ..." prefix when the server starts it.
    return sum(1 for line in log.read_text().splitlines() if line.startswith("ERROR"))


def _active_streams(client: httpx.Client) -> int:
    response = client.get("/extra/active", headers={"Connection": "close"})
    return int(response.json()["active"])


@pytest.mark.server
def test_a_client_disconnecting_mid_response_is_quiet_and_frees_its_task() -> None:
    with serve("benchmarks.apps:starlette_load", "uvicorn") as (base_url, log):
        try:
            with httpx.Client(base_url=base_url, timeout=10) as control:
                assert _active_streams(control) == 0
                for attempt in range(DISCONNECTS):
                    before = _error_lines(log)
                    with (
                        httpx.Client(base_url=base_url, timeout=10) as client,
                        client.stream("GET", "/extra/slow-stream") as response,
                    ):
                        assert response.status_code == 200
                        chunks = response.iter_raw()
                        next(chunks)
                        next(chunks)
                        assert _active_streams(control) == 1
                    # Leaving both blocks closed the connection mid-body.
                    deadline = time.monotonic() + SETTLE_SECONDS
                    while _active_streams(control) and time.monotonic() < deadline:
                        time.sleep(0.05)
                    assert _active_streams(control) == 0, f"stream stuck after disconnect {attempt}"
                    time.sleep(0.2)  # let any log line about it land
                    assert _error_lines(log) - before <= 1, log.read_text()
                assert control.get("/", headers={"Connection": "close"}).status_code == 200
                total = _error_lines(log)
        finally:
            log.unlink(missing_ok=True)
    record_figure(
        f"uvicorn client disconnects: {DISCONNECTS} mid-stream, {total} error log lines, "
        "no stream task left"
    )


# -- the raw middleware ---------------------------------------------------------------------


async def _on_any(request: Any, exc: Exception) -> Problem:
    return Problem(status=500, code="CATCH_ALL")


CATCH_ALLS: dict[str, Callable[[], Interceptor]] = {
    "int": lambda: Interceptor({Exception: 500}),
    "handler": lambda: Interceptor({Exception: _on_any}),
    "none": Interceptor,
}


async def _call_raising(
    errors: Interceptor, exc: BaseException, *, started: bool
) -> tuple[BaseException | None, list[dict[str, Any]]]:
    async def endpoint(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if started:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"part", "more_body": True})
        raise exc

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    try:
        await asyncio.wait_for(
            InterceptorMiddleware(endpoint, interceptor=errors)(http_scope(), receive, send), 10
        )
    except (Exception, asyncio.CancelledError) as raised:
        return raised, sent
    return None, sent


@pytest.mark.parametrize(
    ("catch_all", "started"),
    [
        pytest.param("int", False, id="int-before-start"),
        pytest.param("handler", False, id="handler-before-start"),
        pytest.param("none", False, id="none-before-start"),
        pytest.param("int", True, id="int-after-start"),
        pytest.param("handler", True, id="handler-after-start"),
        pytest.param("none", True, id="none-after-start"),
    ],
)
def test_client_disconnect_passes_through_untouched(catch_all: str, started: bool) -> None:
    exc = ClientDisconnect()
    raised, sent = asyncio.run(_call_raising(CATCH_ALLS[catch_all](), exc, started=started))
    assert raised is exc
    assert len(sent) == (2 if started else 0)  # only what the endpoint itself sent


@pytest.mark.parametrize("started", [False, True], ids=["before-start", "after-start"])
@pytest.mark.parametrize("catch_all", sorted(CATCH_ALLS))
def test_cancelled_error_passes_through_untouched(
    catch_all: str, started: bool, caplog: pytest.LogCaptureFixture
) -> None:
    exc = asyncio.CancelledError()
    with caplog.at_level(logging.INFO, logger="interceptor"):
        raised, sent = asyncio.run(_call_raising(CATCH_ALLS[catch_all](), exc, started=started))
    assert raised is exc
    assert len(sent) == (2 if started else 0)
    assert not caplog.records
