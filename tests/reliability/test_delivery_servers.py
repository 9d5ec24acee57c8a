"""Report delivery under real servers: a crash collector that hangs cannot hurt the server.

A storm of 5xx whose reporter hangs for good, under uvicorn and under
waitress: the server's thread count stays at its baseline plus the delivery
worker and its bounded runners, its memory stays flat, the event loop still
resolves host names, and every report is either delivered or counted as
dropped. An async reporter that blocks its thread for good cannot stop the
worker either: reports past it are counted, 5xx log lines still go out. And
a report in flight when the server is told to stop still goes out.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from benchmarks.load import Entry, run_in_subprocess
from examples.serving import serve
from interceptor._delivery import MAX_STUCK_RUNNERS
from tests.conftest import record_figure
from tests.reliability.conftest import SOAK, rss_bytes

pytestmark = pytest.mark.server

STORM = 20_000 if SOAK else 2_000
RSS_GROWTH_LIMIT = 16 * 1024 * 1024
# The worker, its runner and the runners left stuck inside the reporter.
DELIVERY_THREADS = 2 + MAX_STUCK_RUNNERS


def stats(url: str) -> dict[str, object]:
    response = httpx.get(f"{url}/stats", timeout=10)
    response.raise_for_status()
    data: dict[str, object] = response.json()
    return data


def storm_of_5xx(url: str) -> int:
    """`STORM` requests to ``/crash``, each answered 500 with a problem body: the
    server's thread count before them."""
    baseline = stats(url)["threads"]
    assert isinstance(baseline, int)
    result = run_in_subprocess(
        url, [Entry("GET", "/crash", 500, "problem")], requests=STORM, time_cap=300
    )
    assert not result["failures"], result["failures"]
    assert result["not_sent"] == 0
    return baseline


def drained(url: str) -> dict[str, object]:
    """``/stats`` once nothing is left queued or being delivered (60 s at most)."""
    deadline = time.monotonic() + 60
    after = stats(url)
    while after["pending"] and time.monotonic() < deadline:
        time.sleep(0.1)
        after = stats(url)
    assert after["pending"] == 0, after
    return after


@pytest.mark.parametrize(
    ("server", "target"), [("uvicorn", "asgi_hung"), ("waitress", "wsgi_hung")]
)
def test_a_hung_reporter_under_a_storm_of_5xx(server: str, target: str) -> None:
    with serve(f"tests.reliability.delivery_apps:{target}", server) as served:
        url = served[0]
        baseline = stats(url)["threads"]
        assert isinstance(baseline, int)
        # Warm up the server's own pools, then measure from there.
        run_in_subprocess(url, [Entry("GET", "/crash", 500, "problem")], requests=200, time_cap=60)
        rss_before = rss_bytes(served.pid)
        result = run_in_subprocess(
            url, [Entry("GET", "/crash", 500, "problem")], requests=STORM, time_cap=300
        )
        assert not result["failures"], result["failures"]
        assert result["not_sent"] == 0
        after = stats(url)
        threads = after["threads"]
        assert isinstance(threads, int)
        # waitress runs its own 8 threads from the start; uvicorn's anyio pool
        # may grow for the threadpool endpoints it has none of here.
        assert threads <= baseline + DELIVERY_THREADS, (baseline, after)
        rss_growth = rss_bytes(served.pid) - rss_before
        assert rss_growth < RSS_GROWTH_LIMIT
        counts = after["deliveries"]
        assert isinstance(counts, dict)
        attempts = after["answered_5xx"]
        assert isinstance(attempts, int)
        assert attempts >= STORM + 200
        assert counts["queued"] + counts["dropped"] == attempts
        finished = sum(counts[k] for k in ("delivered", "failed", "timed_out", "abandoned"))
        pending = after["pending"]
        assert isinstance(pending, int)
        assert finished + pending == counts["queued"]
        assert counts["delivered"] == 0  # the reporter never returns
        resolve_seconds = None
        if server == "uvicorn":
            resolve = httpx.get(f"{url}/resolve", timeout=5).json()
            resolve_seconds = resolve["seconds"]
            assert resolve_seconds < 1.0
        lookup = ""
        if resolve_seconds is not None:
            lookup = f"; getaddrinfo on the loop {resolve_seconds * 1000:.1f} ms"
        record_figure(
            f"{server} hung reporter, {attempts} 5xx: threads {baseline} -> {threads} "
            f"(bound {baseline} + {DELIVERY_THREADS}); RSS +{rss_growth / 2**20:.2f} MiB; "
            f"queued {counts['queued']}, dropped {counts['dropped']}, timed out "
            f"{counts['timed_out']}, abandoned {counts['abandoned']}, pending {pending}"
            f"{lookup}"
        )


def test_an_async_reporter_that_blocks_its_thread_under_a_storm_of_5xx() -> None:
    with serve("tests.reliability.delivery_apps:asgi_wedged", "uvicorn") as served:
        url = served[0]
        baseline = storm_of_5xx(url)
        after = drained(url)  # the worker gets past the wedged runners
        threads = after["threads"]
        assert isinstance(threads, int)
        assert threads <= baseline + DELIVERY_THREADS, (baseline, after)
        counts = after["deliveries"]
        assert isinstance(counts, dict)
        assert counts["delivered"] == 0
        assert counts["timed_out"] == MAX_STUCK_RUNNERS
        assert counts["abandoned"] == counts["queued"] - MAX_STUCK_RUNNERS
        # Every 5xx log line went out with its traceback, unless it found the
        # queue full (counted): the hung collector takes no log line with it.
        lines = after["log_lines"]
        assert isinstance(lines, dict)
        assert lines["noted"] == 0
        assert lines["full"] + counts["logs_dropped"] == after["answered_5xx"]
        record_figure(
            f"uvicorn async reporter blocking its thread, {after['answered_5xx']} 5xx: threads "
            f"{baseline} -> {threads}; timed out {counts['timed_out']}, abandoned "
            f"{counts['abandoned']}, dropped {counts['dropped']}; log lines {lines['full']} "
            f"whole, {lines['noted']} without traceback"
        )


@pytest.mark.parametrize(
    ("server", "target", "stop"),
    [("uvicorn", "asgi_slow", signal.SIGTERM), ("waitress", "wsgi_slow", signal.SIGINT)],
)
def test_a_report_in_flight_at_shutdown_is_delivered(
    server: str, target: str, stop: signal.Signals, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reports = tmp_path / "reports.txt"
    monkeypatch.setenv("INTERCEPTOR_REPORTS_FILE", str(reports))
    with serve(f"tests.reliability.delivery_apps:{target}", server) as served:
        response = httpx.get(f"{served[0]}/crash", timeout=10)
        assert response.status_code == 500
        error_id = response.json()["error_id"]
        # The reporter takes 0.3 s: stop the server while the report is in flight.
        os.killpg(served.pid, stop)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                os.kill(served.pid, 0)
            except ProcessLookupError:
                break
            if Path(f"/proc/{served.pid}/stat").read_text().split(")")[1].split()[0] == "Z":
                break
            time.sleep(0.05)
    assert reports.exists(), "the report in flight was lost at shutdown"
    assert reports.read_text().split() == [error_id]


def test_an_async_reporter_raising_keyboardinterrupt_leaves_nothing_behind() -> None:
    # Each such report left a task pending on the runner's loop, holding the
    # request's exception: memory grew with every 5xx.
    with serve("tests.reliability.misbehaving_apps:interrupting", "uvicorn") as served:
        url = served[0]
        storm_of_5xx(url)
        after = drained(url)
        counts = after["deliveries"]
        assert isinstance(counts, dict)
        assert counts["queued"] > 0
        assert counts["failed"] == counts["queued"]  # each call raised; none pending
        assert after["runner_tasks"] == 0
        live = after["live_crashes"]
        assert isinstance(live, int)
        assert live <= 2, after
        record_figure(
            f"uvicorn async reporter raising KeyboardInterrupt, {STORM} 5xx: failed "
            f"{counts['failed']}, dropped {counts['dropped']}; tasks left on the runner's loop "
            f"{after['runner_tasks']}, request exceptions alive {live}"
        )


def test_a_log_handler_that_blocks_for_good_never_holds_up_the_server() -> None:
    # The drop warnings were logged on the request's thread, the event loop:
    # once the worker was stuck in the handler and the queue full, every
    # request froze with it.
    with serve("tests.reliability.misbehaving_apps:blocking_log_served", "uvicorn") as served:
        url = served[0]
        baseline = storm_of_5xx(url)
        for _ in range(5):
            assert httpx.get(f"{url}/ok", timeout=5).text == "ok"
        after = stats(url)
        counts = after["deliveries"]
        assert isinstance(counts, dict)
        assert counts["queued"] + counts["dropped"] >= STORM
        assert counts["logs_dropped"] > 0  # the log lines that found the queue full
        threads = after["threads"]
        assert isinstance(threads, int)
        # The worker stuck in the handler, its runner, and the runners stuck there.
        assert threads <= baseline + DELIVERY_THREADS + 1, (baseline, after)
        record_figure(
            f"uvicorn log handler blocking for good, {STORM} 5xx: all answered, /ok answered; "
            f"threads {baseline} -> {threads}; dropped {counts['dropped']} reports and "
            f"{counts['logs_dropped']} log lines"
        )


def test_a_slow_reporter_under_a_storm_costs_no_5xx_log_line() -> None:
    # Lines and reports shared one queue: with a 5 ms reporter, 1,316 of 3,000
    # ERROR lines were dropped with the reports. Lines now have their own, first.
    with serve("tests.reliability.delivery_apps:asgi_slowish", "uvicorn") as served:
        url = served[0]
        storm_of_5xx(url)
        after = drained(url)
        counts = after["deliveries"]
        lines = after["log_lines"]
        assert isinstance(counts, dict)
        assert isinstance(lines, dict)
        assert counts["logs_dropped"] == 0, after
        assert lines == {"full": after["answered_5xx"], "noted": 0}
        assert counts["queued"] + counts["dropped"] == after["answered_5xx"]
        record_figure(
            f"uvicorn 5 ms reporter, {after['answered_5xx']} 5xx: log lines {lines['full']}, "
            f"none dropped; reports delivered {counts['delivered']}, dropped {counts['dropped']}"
        )
