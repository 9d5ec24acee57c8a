"""Report delivery: one worker per process, a capped queue, counted drops, bounded text.

The worker is the process's own (`interceptor._delivery.delivery`), so these
tests release every reporter they block before they end, and wait with
bounded loops, never on a bare sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import math
import subprocess
import sys
import textwrap
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from interceptor import Interceptor, register_classifier
from interceptor._delivery import MAX_STUCK_RUNNERS, QUEUE_SIZE, DeliveryCounts, Job, delivery
from interceptor._tracebacks import (
    MAX_CHAIN,
    MAX_GROUP_DEPTH,
    MAX_MESSAGE,
    MAX_NOTES,
    MAX_TEXT,
    format_bounded,
)
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


def wsgi_crash(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    raise RuntimeError("crash")


def crash_app(errors: Interceptor, error: type[BaseException] = RuntimeError) -> Starlette:
    """``/crash`` raises ``error("crash")``."""

    def crash(request: Request) -> Response:
        raise error("crash")

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

    reports: list[Any] = []
    errors = Interceptor({SlowStr: 500}, reporter=reports.append)
    transport = httpx.ASGITransport(app=crash_app(errors, SlowStr))
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


def overfill(gate: threading.Event, counts: DeliveryCounts, total: int) -> list[bool]:
    """Submit ``total`` jobs: the first holds the worker until ``gate`` is set, the next
    fill the queue, the rest are dropped. What each `submit` said."""
    blocked = threading.Event()

    def build() -> str:
        blocked.set()
        gate.wait(10)
        return "report"

    accepted = [delivery.submit(Job(run=build, counts=counts, reporter=lambda r: None))]
    assert blocked.wait(5)
    accepted += [
        delivery.submit(Job(run=lambda: "r", counts=counts, reporter=lambda r: None))
        for _ in range(total - 1)
    ]
    return accepted


def test_a_full_queue_drops_and_counts_and_logs_once(
    gate: threading.Event, caplog: pytest.LogCaptureFixture
) -> None:
    counts = DeliveryCounts()
    total = QUEUE_SIZE + 50
    with caplog.at_level("WARNING", logger="interceptor"):
        accepted = overfill(gate, counts, total)
        dropped = accepted.count(False)
        assert dropped >= total - QUEUE_SIZE - 1
        gate.set()
        assert delivery.flush(10)
    full = [r for r in caplog.records if "queue was full" in r.getMessage()]
    assert len(full) == 1  # once for the burst, not once per report
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
    def hangs(report: object) -> None:
        gate.wait(30)

    errors = Interceptor({RuntimeError: 500}, reporter=hangs, report_timeout=0.05)
    app = WSGIMiddleware(wsgi_crash, interceptor=errors)
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


# -- whatever a reporter or an exception's __str__ does, the worker goes on ----------------


def blocks_its_thread(gate: threading.Event) -> Callable[[object], Any]:
    async def reporter(report: object) -> None:
        gate.wait(30)  # a sync call (requests.post, say) inside an async reporter

    return reporter


def swallows_cancellation(gate: threading.Event) -> Callable[[object], Any]:
    async def reporter(report: object) -> None:
        for _ in range(600):  # retries on its own, ignoring the cancellation
            if gate.is_set():
                return
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(0.05)

    return reporter


@pytest.mark.parametrize("make_reporter", [blocks_its_thread, swallows_cancellation])
def test_an_async_reporter_that_will_not_stop_is_timed_out_and_the_worker_goes_on(
    gate: threading.Event, make_reporter: Callable[[threading.Event], Callable[[object], Any]]
) -> None:
    counts = DeliveryCounts()
    later: list[str] = []
    delivery.submit(Job(run=lambda: "r", counts=counts, reporter=make_reporter(gate), timeout=0.1))
    delivery.submit(Job(run=lambda: "r", counts=counts, reporter=later.append, timeout=5))
    # The next job was not held behind it (and was counted once the reporter returned).
    assert wait_until(lambda: later == ["r"] and delivery.pending() == 0, 20)
    snapshot = counts.snapshot()
    assert (snapshot["timed_out"], snapshot["delivered"]) == (1, 1)
    assert delivery.threads() <= 2 + MAX_STUCK_RUNNERS


def test_building_the_report_is_timed_out_too(
    gate: threading.Event, caplog: pytest.LogCaptureFixture
) -> None:
    counts = DeliveryCounts()
    later: list[str] = []
    reports: list[str] = []

    def build() -> str:
        gate.wait(30)  # an exception's __str__ that waits on a lock, say
        return "late"

    with caplog.at_level("ERROR", logger="interceptor"):
        delivery.submit(
            Job(run=build, counts=counts, reporter=reports.append, timeout=0.1, error_id="e1")
        )
        delivery.submit(Job(run=lambda: "r", counts=counts, reporter=later.append, timeout=5))
        assert wait_until(lambda: later == ["r"], 20)
    assert counts.snapshot()["timed_out"] == 1
    assert len([r for r in caplog.records if "e1" in r.getMessage()]) == 1  # logged, once
    gate.set()
    assert delivery.flush(10)
    assert reports == []  # given up on: never delivered late


def test_while_runners_are_stuck_reports_are_abandoned_and_log_lines_still_go_out(
    gate: threading.Event, caplog: pytest.LogCaptureFixture
) -> None:
    # Every async report hangs for good: the stuck runners stay within their
    # bound, later reports are abandoned, and 5xx log lines still go out,
    # with their tracebacks.
    errors = Interceptor({RuntimeError: 500}, reporter=blocks_its_thread(gate), report_timeout=0.1)
    transport = httpx.WSGITransport(app=WSGIMiddleware(wsgi_crash, interceptor=errors))
    requests = MAX_STUCK_RUNNERS + 5
    with caplog.at_level("ERROR", logger="interceptor"):
        with httpx.Client(transport=transport, base_url="http://t") as client:
            for _ in range(requests):
                assert client.get("/").status_code == 500
        assert wait_until(lambda: delivery.pending() == 0, 30)
    snapshot = errors.deliveries.snapshot()
    assert snapshot["timed_out"] == MAX_STUCK_RUNNERS
    assert snapshot["abandoned"] == requests - MAX_STUCK_RUNNERS
    lines = [r for r in caplog.records if "-> 500 RuntimeError" in r.getMessage()]
    assert len(lines) == requests
    assert all("RuntimeError: crash" in (line.exc_text or "") for line in lines)
    assert delivery.threads() <= 2 + MAX_STUCK_RUNNERS


def test_log_lines_left_without_a_runner_go_out_with_a_note(
    gate: threading.Event, caplog: pytest.LogCaptureFixture
) -> None:
    counts = DeliveryCounts()

    def hangs() -> str:
        gate.wait(30)  # a traceback whose __str__ waits on a lock, say
        return "late"

    def line(text: str) -> logging.LogRecord:
        return logging.LogRecord("interceptor", logging.ERROR, __file__, 0, text, (), None)

    with caplog.at_level("ERROR", logger="interceptor"):
        for number in range(MAX_STUCK_RUNNERS + 2):
            delivery.submit(
                Job(run=hangs, counts=counts, timeout=0.1, record=line(f"line {number}"))
            )
        assert wait_until(lambda: delivery.pending() == 0, 30)
    notes = {r.getMessage(): r.exc_text for r in caplog.records}
    timed_out = "[traceback left out: did not finish within 0.1s]"
    left = f"[traceback left out: {MAX_STUCK_RUNNERS + 1} earlier calls are still stuck]"
    assert notes == {
        **{f"line {n}": timed_out for n in range(MAX_STUCK_RUNNERS + 1)},
        f"line {MAX_STUCK_RUNNERS + 1}": left,
    }
    assert counts.snapshot()["logs_dropped"] == MAX_STUCK_RUNNERS + 2
    assert delivery.threads() <= 2 + MAX_STUCK_RUNNERS
    gate.set()
    assert delivery.flush(10)
    assert "late" not in {r.exc_text for r in caplog.records}  # never emitted late


def hanging_str(gate: threading.Event) -> type[RuntimeError]:
    """A class whose ``__str__`` hangs until ``gate`` is set (30 s at most)."""

    class Hangs(RuntimeError):
        def __str__(self) -> str:
            gate.wait(30)
            return "hangs"

    return Hangs


async def test_a_5xx_whose_str_hangs_is_logged_and_reported_within_the_timeout(
    gate: threading.Event, caplog: pytest.LogCaptureFixture
) -> None:
    Hangs = hanging_str(gate)
    reports: list[Any] = []
    errors = Interceptor({Hangs: 500}, reporter=reports.append, report_timeout=0.1)
    transport = httpx.ASGITransport(app=crash_app(errors, Hangs))
    with caplog.at_level("ERROR", logger="interceptor"):
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            error_id = (await client.get("/crash")).json()["error_id"]
        assert wait_until(lambda: delivery.pending() == 0, 20)
    [line] = [r for r in caplog.records if "Hangs in scope" in r.getMessage()]
    assert error_id in line.getMessage()
    assert line.exc_text is not None
    assert "did not finish within 0.1s" in line.exc_text
    snapshot = errors.deliveries.snapshot()
    assert (snapshot["timed_out"], snapshot["logs_dropped"]) == (1, 1)
    gate.set()
    assert delivery.flush(10)
    assert reports == []


async def test_an_exception_whose_str_hangs_takes_one_runner_not_one_per_job(
    gate: threading.Event,
) -> None:
    # Its log line and its report each got stuck building its text: two runners
    # left for good, MAX_STUCK_RUNNERS, and every later report was abandoned.
    # Once building its text ran past the deadline, its other jobs do not try.
    Hangs = hanging_str(gate)
    reports: list[Any] = []
    errors = Interceptor({Exception: 500}, reporter=reports.append, report_timeout=0.1)

    def crash(request: Request) -> Response:
        raise (Hangs if request.url.path == "/hangs" else RuntimeError)("crash")

    app = Starlette(
        routes=[Route("/hangs", crash), Route("/crash", crash)],
        middleware=[Middleware(InterceptorMiddleware, interceptor=errors)],
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/hangs")).status_code == 500
        assert wait_until(lambda: delivery.pending() == 0, 20)
        stuck = delivery.threads()
        error_id = (await client.get("/crash")).json()["error_id"]
        assert wait_until(lambda: delivery.pending() == 0, 20)
    snapshot = errors.deliveries.snapshot()
    assert snapshot["abandoned"] == 0, snapshot
    assert snapshot["timed_out"] == 1  # the hanging one's report
    assert [report.error_id for report in reports] == [error_id]
    assert stuck <= 3  # the worker, its runner, one runner stuck in __str__


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


def test_notes_are_shown_after_the_message_and_bounded() -> None:
    exc = ValueError("order failed")
    exc.add_note("while loading order 7")
    exc.add_note("y" * 10_000_000)
    for number in range(100_000):
        exc.add_note(f"note {number}")
    try:
        raise exc
    except ValueError as caught:
        text = format_bounded(caught)
    assert "ValueError: order failed\nwhile loading order 7\nyyy" in text
    assert f"[{100_002 - MAX_NOTES} more notes left out]" in text
    assert len(text) < 2 * MAX_MESSAGE + MAX_NOTES * 20 + 1000


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


class Counted(Exception):
    """An exception that counts how often its message is read."""

    reads = 0

    def __str__(self) -> str:
        Counted.reads += 1
        return super().__str__()


def test_a_group_holding_one_member_many_times_is_walked_once() -> None:
    Counted.reads = 0
    group: BaseException = Counted("leaf")
    for _ in range(5):  # 16 ** 5 leaves, if each were walked
        group = ExceptionGroup("g", [group] * MAX_CHAIN)
    text = format_bounded(group)
    assert Counted.reads == 1
    assert text.count("Counted: leaf") == 1
    assert "[the same tests.test_delivery.Counted shown above]" in text
    assert text.count("ExceptionGroup: g") == 5
    assert len(text) < MAX_TEXT


def test_the_text_stops_being_built_once_it_is_full() -> None:
    Counted.reads = 0
    big = "x" * (MAX_MESSAGE - 100)
    inner = [ExceptionGroup("g", [Counted(big) for _ in range(MAX_CHAIN)]) for _ in range(4)]
    text = format_bounded(ExceptionGroup("outer", inner))
    assert Counted.reads <= MAX_TEXT // len(big) + 1  # not all 64 of them
    assert text.endswith(f"... [the text reached {MAX_TEXT} characters: the rest is left out]\n")
    assert len(text) <= MAX_TEXT + 100


def test_groups_nested_deeper_than_the_bound_are_left_out_with_a_note() -> None:
    group: BaseException = ValueError("leaf")
    for level in range(2_000):
        group = ExceptionGroup(f"level {level}", [group])
    text = format_bounded(group)
    assert "could not be formatted" not in text
    assert "ExceptionGroup: level 1999" in text
    assert f"groups nested more than {MAX_GROUP_DEPTH} deep" in text
    assert len(text) <= MAX_TEXT + 100


async def test_a_5xx_raising_a_group_that_shares_its_members_is_reported_whole() -> None:
    def crash(request: Request) -> Response:
        group: BaseException = Counted("leaf")
        for _ in range(5):
            group = ExceptionGroup("g", [group] * MAX_CHAIN)
        raise group

    Counted.reads = 0
    reports: list[Any] = []
    errors = Interceptor({ExceptionGroup: 500}, reporter=reports.append)
    app = Starlette(
        routes=[Route("/crash", crash)],
        middleware=[Middleware(InterceptorMiddleware, interceptor=errors)],
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        assert (await c.get("/crash")).status_code == 500
    assert errors.flush(10)
    [report] = reports
    assert report.traceback.count("Counted: leaf") == 1
    assert "in crash" in report.traceback
    assert Counted.reads <= 2  # once for the report, once for the log line
    assert errors.deliveries.snapshot()["delivered"] == 1


async def test_a_failing_observer_builder_or_classifier_formats_nothing_on_the_response_path(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Each fails while the request's exception is handled, so that exception is
    # the failure's __context__: logging it inline would run its __str__ (and
    # walk its causes) on the response path.
    readers: list[threading.Thread] = []

    class Counted(Exception):
        def __str__(self) -> str:
            readers.append(threading.current_thread())
            return "the request's error"

    def observer(event: Any) -> None:
        raise OSError("metrics dir not writable")

    def builder(info: Any) -> dict[str, object]:
        raise ValueError("builder bug")

    def classifier(exc: BaseException) -> None:
        raise LookupError("classifier bug")

    register_classifier(Counted, classifier)
    errors = Interceptor({Counted: 500}, name="api", observers=[observer], body=builder)
    transport = httpx.ASGITransport(app=crash_app(errors, Counted))
    with caplog.at_level(logging.ERROR, logger="interceptor"):
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.get("/crash")
        assert response.status_code == 500
        # Read by the delivery worker only (it may already have), never here.
        assert threading.current_thread() not in readers
        assert await asyncio.to_thread(errors.flush, 10)
    failures = {
        record.getMessage().partition(" ")[2].split(" ")[0]: record.exc_text or ""
        for record in caplog.records
        if "failed" in record.getMessage() or "raised" in record.getMessage()
    }
    assert set(failures) == {"observer", "body", "classifier"}, failures
    for text in failures.values():
        # The bounded text, made by the worker, still shows what was being handled.
        assert "Counted: the request's error" in text


def test_flush_without_a_bound_waits_and_nan_does_not(gate: threading.Event) -> None:
    # flush(math.inf) raised OverflowError from the lock's wait.
    counts = DeliveryCounts()
    started = threading.Event()

    def build() -> str:
        started.set()
        gate.wait(10)
        return "report"

    assert delivery.submit(Job(run=build, counts=counts, reporter=lambda report: None))
    assert started.wait(5)
    assert delivery.flush(math.nan) is False
    threading.Timer(0.1, gate.set).start()
    assert delivery.flush(math.inf) is True
    assert counts.snapshot()["delivered"] == 1


def test_at_exit_the_reports_of_threads_joined_at_exit_still_go_out() -> None:
    # The exit flush runs before the atexit callbacks (for Sentry's), and so
    # before the interpreter joins its non-daemon threads: what such a thread
    # reports after that goes out in the atexit one, within the same bound.
    script = textwrap.dedent(
        """
        import threading, time
        from interceptor import Interceptor

        errors = Interceptor(reporter=lambda report: print("delivered", flush=True))

        def late() -> None:
            time.sleep(0.2)
            errors.report_error(RuntimeError("late"))

        threading.Thread(target=late).start()
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.split() == ["delivered"], result.stderr[-2000:]


def test_the_queue_warnings_are_logged_with_no_lock_held(gate: threading.Event) -> None:
    # The drop warning was logged holding the delivery's lock: a handler's I/O
    # held up every request's submit and the worker, and a handler that itself
    # reported deadlocked.
    counts = DeliveryCounts()
    free: list[bool] = []

    class Reporting(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "queue" in record.getMessage():
                # What a handler that reports would need (the lock is not reentrant).
                acquired = delivery._lock.acquire(timeout=2)
                if acquired:
                    delivery._lock.release()
                free.append(acquired)

    handler = Reporting()
    logger = logging.getLogger("interceptor")
    logger.addHandler(handler)
    try:
        assert overfill(gate, counts, QUEUE_SIZE + 2).count(False) == 1
        gate.set()
        # The worker says it by the time the queue is empty, at the latest.
        assert delivery.flush(10)
    finally:
        logger.removeHandler(handler)
    assert free == [True]  # "queue was full: ... dropped", said by the worker


# -- a reporter or a log handler that misbehaves ----------------------------------------


@pytest.mark.parametrize("escape", [KeyboardInterrupt, SystemExit])
def test_an_async_reporter_raising_a_base_exception_leaves_no_task_or_exception_behind(
    escape: type[BaseException], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The runner's loop is long-lived: a wait_for left pending by an escaping
    # BaseException resumed in the next job, re-raised there, and kept the
    # request's exception alive, one more task for every report.
    counts = DeliveryCounts()
    healthy = DeliveryCounts()
    made: list[Any] = []

    class Crash(Exception):
        pass

    async def escapes(report: object) -> None:
        raise escape("from the reporter")

    def build() -> Crash:
        crash = Crash("held by the report")
        made.append(weakref.ref(crash))
        return crash

    # The failure lines keep what they log: not captured here, as in a server.
    monkeypatch.setattr(logging.getLogger("interceptor"), "propagate", False)
    reports = 50
    for _ in range(reports):
        delivery.submit(Job(run=build, counts=counts, reporter=escapes))
    delivery.submit(Job(run=lambda: "r", counts=healthy, reporter=_async_noop))
    assert delivery.flush(20)
    assert counts.snapshot()["failed"] == reports
    assert healthy.snapshot()["delivered"] == 1  # not failed by a stale exception
    assert healthy.snapshot()["failed"] == 0
    gc.collect()
    assert [ref for ref in made if ref() is not None] == []
    runner = delivery._runner
    assert runner is not None
    assert runner.pending_tasks() == 0


async def _async_noop(report: object) -> None:
    return None


@pytest.mark.parametrize("is_async", [False, True])
def test_a_reporter_raising_timeouterror_at_once_failed_it_did_not_time_out(
    is_async: bool, caplog: pytest.LogCaptureFixture
) -> None:
    counts = DeliveryCounts()

    def sync(report: object) -> None:
        raise TimeoutError("the collector's socket timed out")

    async def asynchronous(report: object) -> None:
        sync(report)

    with caplog.at_level("ERROR", logger="interceptor"):
        delivery.submit(
            Job(run=lambda: "r", counts=counts, reporter=asynchronous if is_async else sync,
                timeout=10, error_id="e-to")
        )
        assert delivery.flush(10)
    snapshot = counts.snapshot()
    assert (snapshot["failed"], snapshot["timed_out"]) == (1, 0)
    [record] = [r for r in caplog.records if "e-to" in r.getMessage()]
    assert "failed for error_id e-to" in record.getMessage()
    assert record.exc_info is not None
    assert "the collector's socket timed out" in str(record.exc_info[1])


def test_the_drops_are_noticed_by_the_worker_once_per_burst_never_on_the_callers_thread(
    gate: threading.Event, caplog: pytest.LogCaptureFixture
) -> None:
    # A log handler that blocks (a network handler whose endpoint hangs) held up
    # the event loop when the request's submit logged the drops itself.
    counts = DeliveryCounts()
    with caplog.at_level("WARNING", logger="interceptor"):
        accepted = overfill(gate, counts, QUEUE_SIZE + 50)
        on_the_callers_thread = [r for r in caplog.records if "dropped" in r.getMessage()]
        gate.set()
        assert delivery.flush(10)
    assert on_the_callers_thread == []
    notices = [r for r in caplog.records if "dropped" in r.getMessage()]
    assert len(notices) == 1
    dropped = accepted.count(False)
    assert dropped == counts.snapshot()["dropped"] > 0
    assert f"{dropped} report(s) and 5xx log line(s)" in notices[0].getMessage()
    assert notices[0].threadName == "interceptor-delivery"


def test_under_steady_overload_the_drop_notice_is_rate_limited(
    gate: threading.Event, caplog: pytest.LogCaptureFixture
) -> None:
    counts = DeliveryCounts()
    release = threading.Semaphore(0)

    def build() -> str:
        release.acquire(timeout=10)
        return "report"

    with caplog.at_level("WARNING", logger="interceptor"):
        for _ in range(QUEUE_SIZE + 1):
            delivery.submit(Job(run=build, counts=counts, reporter=lambda r: None))
        # One job through at a time, and a drop after each: a burst per job.
        for _ in range(30):
            release.release()
            assert wait_until(lambda: delivery.pending() <= QUEUE_SIZE)
            delivery.submit(Job(run=build, counts=counts, reporter=lambda r: None))
            delivery.submit(Job(run=build, counts=counts, reporter=lambda r: None))
        for _ in range(QUEUE_SIZE + 100):
            release.release()
        assert delivery.flush(20)
    notices = [r for r in caplog.records if "dropped" in r.getMessage()]
    dropped = counts.snapshot()["dropped"]
    assert dropped >= 30
    assert 1 <= len(notices) <= 2  # the first drops, then what was left when it emptied
    said = sum(int(r.getMessage().split(": ")[1].split(" ")[0]) for r in notices)
    assert said == dropped


def test_a_log_line_given_up_on_carries_no_exception_for_a_handler_to_format(
    gate: threading.Event,
) -> None:
    # A handler reading exc_info itself (Sentry's logging integration) ran the
    # exception's hanging __str__ on the worker's own thread, which never came back.
    seen: list[logging.LogRecord] = []

    class Reads(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith("line of"):
                seen.append(record)

    handler = Reads()
    logger = logging.getLogger("interceptor")
    logger.addHandler(handler)
    try:
        record = logger.makeRecord(
            logger.name, logging.ERROR, __file__, 0, "line of %s", ("e-x",),
            (RuntimeError, RuntimeError("x"), None),
        )
        counts = DeliveryCounts()
        delivery.submit(Job(run=lambda: gate.wait(30), counts=counts, timeout=0.05, record=record))
        assert delivery.flush(10)
    finally:
        logger.removeHandler(handler)
    [line] = seen
    assert line.exc_info is None
    assert (line.exc_text or "").startswith("[traceback left out")
    assert counts.snapshot()["logs_dropped"] == 1


def test_an_unhashable_exception_is_still_delivered(gate: threading.Event) -> None:
    class Unhashable(RuntimeError):
        __hash__ = None  # type: ignore[assignment]

        def __eq__(self, other: object) -> bool:
            return self is other

    counts = DeliveryCounts()
    delivered: list[object] = []
    exc = Unhashable("x")
    delivery.submit(Job(run=lambda: "r", counts=counts, reporter=delivered.append, subject=exc))
    assert delivery.flush(10)
    assert delivered == ["r"]
    assert counts.snapshot()["delivered"] == 1


def test_a_slow_reporter_never_costs_the_5xx_log_lines(gate: threading.Event) -> None:
    # Log lines and reports shared one queue: a reporter taking a few ms filled
    # it, and the ERROR lines (the operator's record, with the error_id) were
    # dropped with the reports. Lines have a queue of their own, served first.
    counts = DeliveryCounts()
    lines: list[str] = []
    blocked = threading.Event()

    def slow(report: object) -> None:
        blocked.set()
        gate.wait(10)

    class Lines(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith("line "):
                lines.append(record.getMessage())

    handler = Lines()
    logger = logging.getLogger("interceptor")
    logger.addHandler(handler)
    try:
        delivery.submit(Job(run=lambda: "r", counts=counts, reporter=slow))
        assert blocked.wait(5)
        for n in range(QUEUE_SIZE + 20):  # 20 reports too many for their queue
            delivery.submit(Job(run=lambda: "r", counts=counts, reporter=lambda r: None))
            if n < QUEUE_SIZE:
                record = logger.makeRecord(
                    logger.name, logging.ERROR, __file__, 0, f"line {n}", (), None
                )
                delivery.submit(Job(run=lambda: "", counts=counts, record=record))
        gate.set()
        assert delivery.flush(10)
    finally:
        logger.removeHandler(handler)
    snapshot = counts.snapshot()
    assert snapshot["dropped"] >= 20  # the reports past their queue's bound
    assert snapshot["logs_dropped"] == 0
    assert lines == [f"line {n}" for n in range(QUEUE_SIZE)]


@pytest.mark.parametrize("leftover", ["ignores_cancel", "slow_cleanup"])
def test_a_task_an_async_reporter_leaves_behind_never_holds_up_the_runner(
    leftover: str, gate: threading.Event
) -> None:
    # What a call leaves on the runner's loop is cancelled and given a bounded
    # grace: one that will not end (it swallows its cancellation, or cleans up
    # for an hour) stayed the runner's forever, its report counted timed out,
    # and two of them left every later report abandoned.
    counts = DeliveryCounts()
    healthy = DeliveryCounts()

    async def stays() -> None:
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if leftover == "slow_cleanup":
                    await asyncio.sleep(3600)
                    return
                continue  # swallowed

    async def sends(report: object) -> str:
        asyncio.get_running_loop().create_task(stays())  # a client's background flush
        return "sent"

    for _ in range(3):
        delivery.submit(Job(run=lambda: "r", counts=counts, reporter=sends, timeout=5))
    delivery.submit(Job(run=lambda: "r", counts=healthy, reporter=_async_noop))
    assert delivery.flush(20)
    assert counts.snapshot()["delivered"] == 3
    assert healthy.snapshot()["delivered"] == 1
    assert delivery.threads() <= 2  # the worker and its runner, none stuck
    runner = delivery._runner
    assert runner is not None
    assert runner.pending_tasks() == 0
