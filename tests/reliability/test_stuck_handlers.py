"""Sync handlers stuck past ``handler_timeout`` leave a bounded number of threads behind.

Python cannot stop a thread, so a sync handler the interceptor gave up on
keeps its thread until it returns. Under uvicorn, with a handler whose
dependency never answers: however many requests fail, the process keeps at
most `MAX_STUCK_HANDLERS` such threads (plus those that were already running
when that many got stuck); past it no sync handler starts, the request gets
the 500 a handler that timed out gets, the skip is counted in
``handlers_skipped`` and logged once. Once the stuck handlers return,
handlers run again. An async handler runs in the request's own task and is
cancelled instead, again at each await: one that swallows the cancellation
leaves no task behind.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from examples.serving import serve
from interceptor import Interceptor
from interceptor._asgi import MAX_STUCK_HANDLERS
from interceptor.starlette import InterceptorMiddleware
from tests.conftest import record_figure
from tests.reliability.conftest import call_asgi

SKIPPED = "sync handlers are not started"  # the log line that opens an episode
RESUMED = "were not started while"  # the one that closes it
CONCURRENCY = 8
BURST = 60


class Server:
    """The handler app under uvicorn, asked over real HTTP."""

    def __init__(self, url: str) -> None:
        self.client = httpx.Client(base_url=url, timeout=30)

    def stats(self) -> dict[str, Any]:
        response = self.client.get("/stats")
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    def gate(self, how: str) -> None:
        self.client.get(f"/gate/{how}").raise_for_status()

    def wait_for(self, ready: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            stats = self.stats()
            if ready(stats):
                return stats
            time.sleep(0.05)
        raise AssertionError(f"not {what} within 20 s: {self.stats()}")


@pytest.fixture
def server() -> Iterator[tuple[Server, Callable[[], str]]]:
    with serve("tests.reliability.handler_apps:app", "uvicorn") as (url, log):
        served = Server(url)
        try:
            yield served, log.read_text
        finally:
            served.gate("open")  # the stuck handlers return, and the server can stop
            served.client.close()


def failing(url: str, path: str, requests: int, concurrency: int) -> list[httpx.Response]:
    """``requests`` GETs of ``path``, ``concurrency`` at a time, each on its own connection."""

    def get(_: int) -> httpx.Response:
        return httpx.get(url + path, timeout=30, headers={"Connection": "close"})

    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(get, range(requests)))


def assert_timed_out_answers(responses: list[httpx.Response]) -> None:
    for response in responses:
        assert response.status_code == 500, response.text
        body = response.json()
        assert body["status"] == 500
        assert body["error_id"]


def started(stats: dict[str, Any], name: str) -> int:
    return int(stats["started"].get(name, 0))


def skipped(stats: dict[str, Any]) -> int:
    return int(stats["deliveries"]["handlers_skipped"])


@pytest.mark.server
def test_stuck_sync_handlers_keep_a_bounded_number_of_threads(
    server: tuple[Server, Callable[[], str]],
) -> None:
    served, log = server
    url = str(served.client.base_url).rstrip("/")
    # Warm up: a handler within its timeout runs as usual (and the delivery
    # worker and one of anyio's worker threads are there from now on).
    served.gate("open")
    assert served.client.get("/stuck").status_code == 503
    assert served.client.get("/lookup").status_code == 404
    served.gate("close")
    before = served.stats()
    baseline = before["threads"]

    # One at a time: exactly MAX_STUCK_HANDLERS handlers get stuck, the rest never start.
    extra = 6
    assert_timed_out_answers(failing(url, "/stuck", MAX_STUCK_HANDLERS + extra, 1))
    at_bound = served.stats()
    assert at_bound["stuck"] == MAX_STUCK_HANDLERS
    assert started(at_bound, "stuck") - started(before, "stuck") == MAX_STUCK_HANDLERS
    assert skipped(at_bound) - skipped(before) == extra
    assert at_bound["threads"] <= baseline + MAX_STUCK_HANDLERS, (before, at_bound)

    # A burst while the bound is reached: every request answered, no new thread,
    # no handler started (the quick one neither: the bound is the process's).
    burst = failing(url, "/stuck", BURST, CONCURRENCY) + failing(url, "/lookup", 5, 5)
    assert_timed_out_answers(burst)
    during = served.stats()
    assert started(during, "stuck") == started(at_bound, "stuck")
    assert started(during, "lookup") == started(before, "lookup")
    assert skipped(during) - skipped(at_bound) == BURST + 5
    assert during["threads"] <= baseline + MAX_STUCK_HANDLERS, (before, during)
    assert log().count(SKIPPED) == 1  # once for the episode, not once a request

    # The dependency answers again: the stuck handlers return, and handlers run again.
    served.gate("open")
    served.wait_for(lambda stats: stats["stuck"] == 0, "every stuck handler returned")
    assert served.client.get("/stuck").status_code == 503
    assert served.client.get("/lookup").status_code == 404
    after = served.stats()
    assert started(after, "lookup") == started(before, "lookup") + 1
    assert skipped(after) == skipped(during)
    assert log().count(RESUMED) == 1

    # From no stuck handler, a concurrent burst: those running when the bound was
    # reached get stuck too (anyio's limiter caps them), then nothing more starts.
    served.gate("close")
    burst = failing(url, "/stuck", BURST, CONCURRENCY)
    assert_timed_out_answers(burst)
    last = served.stats()
    ran = started(last, "stuck") - started(after, "stuck")
    assert MAX_STUCK_HANDLERS <= ran < MAX_STUCK_HANDLERS + CONCURRENCY
    assert last["stuck"] == ran
    assert skipped(last) - skipped(after) == BURST - ran
    assert last["threads"] <= baseline + MAX_STUCK_HANDLERS + CONCURRENCY, (before, last)
    assert log().count(SKIPPED) == 2
    record_figure(
        f"uvicorn, sync handler stuck past handler_timeout: threads {baseline} -> "
        f"{at_bound['threads']} after {MAX_STUCK_HANDLERS + extra} one at a time, "
        f"{during['threads']} after {BURST + 5} more; from none stuck, {BURST} at "
        f"{CONCURRENCY} at a time: {last['threads']} ({ran} started, "
        f"{BURST - ran} skipped; bound {MAX_STUCK_HANDLERS})"
    )


# -- async handlers are cancelled, not abandoned ----------------------------------------------


class Boom(Exception):
    pass


async def test_an_async_handler_that_swallows_its_cancellation_leaves_no_task() -> None:
    swallowed = 0

    async def stubborn(request: Request, exc: Exception) -> int:
        nonlocal swallowed
        for _ in range(3):  # it swallows the cancellation three times, then gives up
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                swallowed += 1
        return 409

    async def boom(request: Request) -> Response:
        raise Boom

    errors = Interceptor({Boom: stubborn}, handler_timeout=0.1)
    middleware = [Middleware(InterceptorMiddleware, interceptor=errors)]
    app = Starlette(routes=[Route("/", boom)], middleware=middleware)
    tasks_before = asyncio.all_tasks()
    sent, raised = await call_asgi(app, timeout=10)
    assert raised is None
    statuses = [m["status"] for m in sent if m["type"] == "http.response.start"]
    assert statuses == [409]  # cancelled again at each await, until it answered
    assert swallowed == 3
    await asyncio.sleep(0)
    assert asyncio.all_tasks() == tasks_before
