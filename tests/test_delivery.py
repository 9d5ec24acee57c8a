"""Report delivery: one worker per process, a capped queue, counted drops, bounded text.

The worker is the process's own (`interceptor._delivery.delivery`), so these
tests release every reporter they block before they end, and wait with
bounded loops, never on a bare sleep.
"""

from __future__ import annotations

import asyncio
import threading
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

from interceptor import Interceptor
from interceptor._delivery import MAX_STUCK_RUNNERS, QUEUE_SIZE, DeliveryCounts, Job, delivery
from interceptor._tracebacks import MAX_CHAIN, MAX_MESSAGE, MAX_TEXT, format_bounded
from interceptor.starlette import InterceptorMiddleware
from interceptor.wsgi import InterceptorMiddleware as WSGIMiddleware


def wait_until(condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    """An event blocked reporters wait on; set when the test ends, whatever happens."""
    event = threading.Event()
    try:
        yield event
    finally:
        event.set()
        assert wait_until(lambda: delivery.flush(0.5) and delivery.threads() <= 2)


def crash_app(errors: Interceptor) -> Starlette:
    def crash(request: Request) -> Response:
        raise RuntimeError("crash")

    return Starlette(
        routes=[Route("/crash", crash)],
        middleware=[Middleware(InterceptorMiddleware, interceptor=errors)],
    )


async def test_a_report_is_built_and_delivered_off_the_response_path() -> None:
    reports: list[Any] = []
    errors = Interceptor({RuntimeError: 500}, reporter=reports.append)
    transport = httpx.ASGITransport(app=crash_app(errors))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/crash")
    assert errors.flush(5)
    [report] = reports
    assert report.error_id == response.json()["error_id"]
    assert "RuntimeError: crash" in report.traceback
    assert "def crash" in report.traceback or "in crash" in report.traceback
    counts = errors.deliveries.snapshot()
    assert (counts["queued"], counts["delivered"], counts["dropped"]) == (1, 1, 0)


async def test_a_slow_str_never_delays_the_response(gate: threading.Event) -> None:
    class SlowStr(Exception):
        def __str__(self) -> str:
            gate.wait(10)
            return "slow"

    def crash(request: Request) -> Response:
        raise SlowStr

    reports: list[Any] = []
    errors = Interceptor({SlowStr: 500}, reporter=reports.append)
    app = Starlette(
        routes=[Route("/crash", crash)],
        middleware=[Middleware(InterceptorMiddleware, interceptor=errors)],
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        started = time.monotonic()
        response = await client.get("/crash")
        took = time.monotonic() - started
    assert response.status_code == 500
    assert not gate.is_set()  # the report still waits on __str__: it did not run inline
    assert took < 5
    gate.set()
    assert errors.flush(10)
    assert "SlowStr: slow" in reports[0].traceback


def test_a_full_queue_drops_and_counts_and_logs_once(
    gate: threading.Event, caplog: pytest.LogCaptureFixture
) -> None:
    counts = DeliveryCounts()
    blocked = threading.Event()

    def build() -> str:
        blocked.set()
        gate.wait(10)
        return "report"

    # The first job holds the worker; the next fill the queue; the rest are dropped.
    total = QUEUE_SIZE + 50
    with caplog.at_level("WARNING", logger="interceptor"):
        accepted = [delivery.submit(Job(run=build, counts=counts, reporter=lambda r: None))]
        assert blocked.wait(5)
        accepted += [
            delivery.submit(Job(run=build, counts=counts, reporter=lambda r: None))
            for _ in range(total - 1)
        ]
    dropped = accepted.count(False)
    assert dropped >= total - QUEUE_SIZE - 1
    full = [r for r in caplog.records if "queue is full" in r.getMessage()]
    assert len(full) == 1  # once per burst, not once per report
    gate.set()
    assert delivery.flush(10)
    snapshot = counts.snapshot()
    assert snapshot["dropped"] == dropped
    assert snapshot["queued"] == total - dropped == snapshot["delivered"]


def test_a_hung_sync_reporter_leaves_a_bounded_number_of_threads(gate: threading.Event) -> None:
    counts = DeliveryCounts()
    calls: list[int] = []

    def hangs(report: object) -> None:
        calls.append(1)
        gate.wait(30)

    before = threading.active_count()
    jobs = 20
    for _ in range(jobs):
        delivery.submit(Job(run=lambda: "r", counts=counts, reporter=hangs, timeout=0.05))
    assert wait_until(lambda: delivery.pending() == 0, 20)
    snapshot = counts.snapshot()
    assert len(calls) == MAX_STUCK_RUNNERS  # the rest never reached the reporter
    assert snapshot["timed_out"] == MAX_STUCK_RUNNERS
    assert snapshot["abandoned"] == jobs - MAX_STUCK_RUNNERS
    assert snapshot["queued"] == jobs
    # The worker and at most MAX_STUCK_RUNNERS stuck runners, whatever the count of jobs.
    assert threading.active_count() <= before + 1 + MAX_STUCK_RUNNERS


def test_a_hung_async_reporter_is_cancelled_at_its_timeout() -> None:
    counts = DeliveryCounts()
    cancelled: list[bool] = []

    async def hangs(report: object) -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    delivery.submit(Job(run=lambda: "r", counts=counts, reporter=hangs, timeout=0.05))
    assert delivery.flush(10)
    assert cancelled == [True]
    assert counts.snapshot()["timed_out"] == 1


def test_a_failing_reporter_is_logged_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    counts = DeliveryCounts()

    def broken(report: object) -> None:
        raise ValueError("collector down")

    with caplog.at_level("ERROR", logger="interceptor"):
        delivery.submit(Job(run=lambda: "r", counts=counts, reporter=broken, error_id="e1"))
        assert delivery.flush(10)
    assert counts.snapshot()["failed"] == 1
    assert any("failed for error_id e1" in r.getMessage() for r in caplog.records)


def test_wsgi_reports_use_the_one_worker_not_a_thread_each(gate: threading.Event) -> None:
    def crash(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        raise RuntimeError("crash")

    def hangs(report: object) -> None:
        gate.wait(30)

    errors = Interceptor({RuntimeError: 500}, reporter=hangs, report_timeout=0.05)
    app = WSGIMiddleware(crash, interceptor=errors)
    before = threading.active_count()
    with httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://t") as client:
        statuses = {client.get("/").status_code for _ in range(300)}
    assert statuses == {500}
    assert threading.active_count() <= before + 1 + MAX_STUCK_RUNNERS + 1
    gate.set()
    assert delivery.flush(10)
    snapshot = errors.deliveries.snapshot()
    assert snapshot["queued"] + snapshot["dropped"] == 300
    finished = ("delivered", "failed", "timed_out", "abandoned")
    assert sum(snapshot[name] for name in finished) == snapshot["queued"]


# -- the bounded traceback text ---------------------------------------------------------


def raise_chain(depth: int) -> BaseException:
    try:
        raise ValueError("root")
    except ValueError as root:
        current: BaseException = root
    for level in range(depth):
        try:
            raise KeyError(level) from current
        except KeyError as exc:
            current = exc
    return current


def test_a_deep_chain_is_cut_to_the_newest_links() -> None:
    text = format_bounded(raise_chain(10_000))
    assert text.count("Traceback (most recent call last)") == MAX_CHAIN
    assert "chained exceptions: the oldest are left out" in text
    assert "KeyError: 9999" in text
    assert len(text) <= MAX_TEXT + 100


def test_a_huge_message_is_cut() -> None:
    text = format_bounded(ValueError("x" * 10_000_000))
    assert len(text) < MAX_MESSAGE + 500


def test_a_raising_str_still_gives_text() -> None:
    class Broken(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    try:
        raise Broken
    except Broken as exc:
        text = format_bounded(exc)
    assert "<exception str() failed>" in text


def test_a_group_shows_its_own_frames_and_its_leafs() -> None:
    def leaf() -> None:
        raise KeyError("leaf")

    def group() -> None:
        try:
            leaf()
        except KeyError as exc:
            raise ExceptionGroup("one", [exc]) from None

    try:
        group()
    except ExceptionGroup as exc:
        text = format_bounded(exc)
    assert "in group" in text
    assert "in leaf" in text
    assert "KeyError: 'leaf'" in text


def test_the_traceback_taken_at_answer_time_survives_a_cleared_one() -> None:
    try:
        raise ValueError("boom")
    except ValueError as exc:
        error = exc
    tb = error.__traceback__
    error.__traceback__ = None  # what Starlette does once its handler returned
    assert "Traceback (most recent call last)" in format_bounded(error, tb)


async def test_a_single_leaf_group_is_reported_with_the_groups_and_the_leafs_frames() -> None:
    reports: list[Any] = []
    errors = Interceptor({KeyError: 500}, reporter=reports.append)

    def leaf_raiser() -> None:
        raise KeyError("leaf")

    def crash(request: Request) -> Response:
        try:
            leaf_raiser()
        except KeyError as leaf:
            raise ExceptionGroup("one member", [leaf]) from None
        raise AssertionError("unreachable")

    app = Starlette(
        routes=[Route("/crash", crash)],
        middleware=[Middleware(InterceptorMiddleware, interceptor=errors)],
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/crash")
    assert response.status_code == 500
    assert errors.flush(5)
    [report] = reports
    assert isinstance(report.exception, KeyError)  # handlers and reports get the leaf...
    assert "ExceptionGroup: one member" in report.traceback  # ...the text shows the group
    assert "in crash" in report.traceback
    assert "in leaf_raiser" in report.traceback
