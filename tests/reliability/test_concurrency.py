"""``add_handler`` from another thread while requests are served changes answers cleanly.

The Starlette app serves three routes through ``httpx.ASGITransport`` from
many concurrent tasks: one raising ``KeyError``, one raising its base
``LookupError`` (mapped to version 0 for the whole test), one succeeding.
Meanwhile a thread registers versions 1, 2, ... for ``KeyError`` (alternately
a ``Problem``, an async and a sync handler), and churns the registry with
unrelated classes. Every request must succeed with a valid answer, and:

- ``LookupError`` always gets version 0 and ``/ok`` always 200;
- a ``KeyError`` answer is a version registered no earlier than the last one
  whose ``add_handler`` had returned before the request was sent, and no later
  than the last one whose ``add_handler`` had begun before the answer arrived.
"""

from __future__ import annotations

import asyncio
import bisect
import threading
import time
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route

from interceptor import Interceptor, Problem
from interceptor.starlette import InterceptorMiddleware
from tests.conftest import record_figure
from tests.reliability.conftest import SOAK

VERSIONS = 1000 if SOAK else 200
CHURN_PER_VERSION = 20
TASKS = 64
REQUESTS_PER_TASK = 600 if SOAK else 120


async def raise_key(request: Request) -> Response:
    raise KeyError("specific")


async def raise_lookup(request: Request) -> Response:
    raise LookupError("base")


async def ok(request: Request) -> Response:
    return PlainTextResponse("ok")


def _value(version: int) -> Any:
    code = f"V{version}"
    if version % 3 == 0:
        return Problem(status=404, code=code)

    if version % 3 == 1:

        async def on_key_async(request: Request, exc: Exception) -> Problem:
            return Problem(status=404, code=code)

        return on_key_async

    def on_key_sync(request: Request, exc: Exception) -> Problem:
        return Problem(status=404, code=code)

    return on_key_sync


@pytest.mark.usefixtures("fast_switching", "quiet_interceptor_log")
def test_add_handler_under_load_never_fails_a_request_or_picks_a_wrong_handler() -> None:
    errors = Interceptor({LookupError: Problem(status=404, code="V0")})
    app = Starlette(
        routes=[
            Mount(
                "/api",
                routes=[Route("/key", raise_key), Route("/lookup", raise_lookup), Route("/ok", ok)],
                middleware=[Middleware(InterceptorMiddleware, interceptor=errors)],
            )
        ]
    )
    begun = [0]  # begun[v]: monotonic ns when add_handler for version v was called
    done = [0]  # done[v]: monotonic ns when it returned
    stop = threading.Event()

    def register() -> None:
        for version in range(1, VERSIONS + 1):
            if stop.is_set():
                return
            for index in range(CHURN_PER_VERSION):
                errors.add_handler(type(f"Churn{version}_{index}", (Exception,), {}), 400)
            begun.append(time.monotonic_ns())
            errors.add_handler(KeyError, _value(version))
            done.append(time.monotonic_ns())
            time.sleep(0.001)

    answers: list[tuple[str, int, int, int, str | None]] = []

    async def client_task(client: httpx.AsyncClient, seed: int) -> None:
        paths = ["/api/key", "/api/key", "/api/lookup", "/api/ok"]
        for index in range(REQUESTS_PER_TASK):
            path = paths[(seed + index) % len(paths)]
            sent_at = time.monotonic_ns()
            response = await client.get(path)
            received_at = time.monotonic_ns()
            code = response.json().get("code") if path != "/api/ok" else None
            answers.append((path, response.status_code, sent_at, received_at, code))

    async def load() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            await asyncio.wait_for(
                asyncio.gather(*(client_task(client, seed) for seed in range(TASKS))), 120
            )

    registrar = threading.Thread(target=register, name="add_handler")
    registrar.start()
    try:
        asyncio.run(load())
    finally:
        stop.set()
        registrar.join(30)
    assert not registrar.is_alive()

    seen_versions = set()
    for path, status, sent_at, received_at, code in answers:
        if path == "/api/ok":
            assert (status, code) == (200, None)
            continue
        assert status == 404, (path, status, code)
        assert code is not None
        assert code.startswith("V"), code
        version = int(code[1:])
        if path == "/api/lookup":
            assert version == 0, "the base class's answer changed"
            continue
        seen_versions.add(version)
        # The newest version fully registered before the request was sent...
        oldest_allowed = bisect.bisect_right(done, sent_at) - 1
        # ...and the newest whose registration had begun before the answer came.
        newest_allowed = bisect.bisect_right(begun, received_at) - 1
        assert oldest_allowed <= version <= newest_allowed, (
            version,
            oldest_allowed,
            newest_allowed,
        )
    assert len(answers) == TASKS * REQUESTS_PER_TASK
    record_figure(
        f"add_handler under load: {len(answers)} requests from {TASKS} tasks, "
        f"{len(done) - 1} KeyError versions and {(len(done) - 1) * CHURN_PER_VERSION} other "
        f"registrations meanwhile; {len(seen_versions)} distinct KeyError answers seen, "
        "none failed or out of order"
    )
    assert len(seen_versions) > 1, "registration never overlapped the load"
