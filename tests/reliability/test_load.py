"""The example apps under real servers and a bounded mixed load from another process.

Each request kind in the mix first gets its answer in-process, one request at a
time (the reference); under load, at 64 concurrent connections, every answer
must be that same status with a valid body. The mix holds successes, mapped
4xx and 5xx, unmatched errors (the server's own 500) and streams that fail
after their first chunk, whose aborted connections are the only failures
allowed. After a warm-up, the server's memory must stay flat and its open file
descriptors must come back to where they were.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx
import pytest

from benchmarks import apps
from benchmarks.load import EXPECTED_FAILURE, Entry, run_in_subprocess, schedule
from examples.serving import serve
from tests.conftest import record_figure
from tests.reliability.conftest import SOAK, open_fds, rss_bytes

pytestmark = pytest.mark.server

REQUESTS = 200_000 if SOAK else 5_000
WARMUP = 5_000 if SOAK else 1_000
TIME_CAP = 7_200.0 if SOAK else 150.0
RSS_GROWTH_LIMIT = 10 * 1024 * 1024
SETTLE_SECONDS = 15.0


def _entry(method: str, path: str, status: int, content_type: str, *, abort: bool) -> Entry:
    if method == "HEAD":
        body = "none"
    elif content_type.startswith("application/problem+json"):
        body = "problem"
    elif content_type.startswith("application/json"):
        body = "json"
    else:
        body = "any"
    # After an exception no handler answered, a server may close the connection:
    # send those on fresh connections. Successes weigh more, as in real traffic.
    fresh = status >= 500 and body == "any"
    weight = 3 if status < 400 and not abort else 1
    return Entry(method, path, status, body, abort=abort, fresh=fresh, weight=weight)


def starlette_mix() -> list[Entry]:
    """The example's DEMO_REQUESTS and the extras, each with its in-process answer."""
    requests = [(m, p, None) for m, p, _ in apps.starlette_app.DEMO_REQUESTS]
    extras = apps.STARLETTE_EXTRA_REQUESTS
    # An abort's status is known up front; every other answer comes from the reference run.
    requests += [(m, p, status if abort else None) for m, p, status, _, abort in extras]

    async def reference() -> list[Entry]:
        transport = httpx.ASGITransport(app=apps.starlette_load, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://reference") as client:
            mix = []
            for method, path, abort_status in requests:
                if abort_status is not None:
                    mix.append(Entry(method, path, abort_status, abort=True))
                    continue
                response = await client.request(method, path)
                mix.append(
                    _entry(
                        method,
                        path,
                        response.status_code,
                        response.headers.get("content-type", ""),
                        abort=False,
                    )
                )
            return mix

    return asyncio.run(reference())


def flask_mix() -> list[Entry]:
    """The Flask example's DEMO_REQUESTS and the WSGI extras, with in-process answers."""
    from werkzeug.test import Client  # noqa: PLC0415 - only when the Flask example exists

    from examples import flask_app  # noqa: PLC0415

    assert apps.flask_load is not None
    client = Client(apps.flask_load)
    mix = []
    for method, path, _ in flask_app.DEMO_REQUESTS:
        response = client.open(path, method=method)
        mix.append(
            _entry(method, path, response.status_code, response.content_type or "", abort=False)
        )
    for method, path, status, body, abort in apps.FLASK_EXTRA_REQUESTS:
        if abort:
            mix.append(Entry(method, path, status, abort=True))
            continue
        # Werkzeug's test client re-raises what the app raises; the server's
        # answer to an unmatched exception is its own 500.
        mix.append(Entry(method, path, status, body, fresh=status >= 500 and body == "any"))
    return mix


SERVERS = [
    pytest.param(
        "benchmarks.apps:starlette_load", "uvicorn", starlette_mix, id="starlette-uvicorn"
    ),
    pytest.param("benchmarks.apps:flask_load", "waitress", flask_mix, id="flask-waitress"),
]


def _check(result: dict[str, Any], mix: Sequence[Entry], requests: int) -> None:
    assert result["hung_workers"] == 0, result
    assert result["not_sent"] == 0, f"time cap reached: {result}"
    unexpected = {k: v for k, v in result["failures"].items() if k != EXPECTED_FAILURE}
    assert not unexpected, (unexpected, result["failure_samples"])
    aborts = sum(1 for entry in schedule(mix, requests) if entry.abort)
    assert result["failures"].get(EXPECTED_FAILURE, 0) == aborts
    assert sum(row["count"] for row in result["responses"]) == requests


def _settled(read: Callable[[], int], *, until: Callable[[int], bool]) -> int:
    """Poll ``read`` until ``until`` holds for its value or time runs out; the last value."""
    deadline = time.monotonic() + SETTLE_SECONDS
    value = read()
    while not until(value) and time.monotonic() < deadline:
        time.sleep(0.1)
        value = read()
    return value


def _steady(read: Callable[[], int]) -> int:
    """``read``'s value once it has not changed for a second."""
    deadline = time.monotonic() + SETTLE_SECONDS
    value, since = read(), time.monotonic()
    while time.monotonic() - since < 1.0 and time.monotonic() < deadline:
        time.sleep(0.1)
        now = read()
        if now != value:
            value, since = now, time.monotonic()
    return value


@pytest.mark.parametrize(("target", "server", "make_mix"), SERVERS)
def test_mixed_load_changes_no_answer_and_leaks_nothing(
    target: str, server: str, make_mix: Callable[[], list[Entry]]
) -> None:
    mix = make_mix()
    assert any(entry.abort for entry in mix)
    assert any(entry.fresh for entry in mix), "the mix must hold an unmatched error"
    with serve(target, server) as served:
        base_url, log = served
        try:
            warm = run_in_subprocess(base_url, mix, requests=WARMUP, time_cap=TIME_CAP)
            _check(warm, mix, WARMUP)
            fds_before = _steady(lambda: open_fds(served.pid))
            rss_before = rss_bytes(served.pid)

            result = run_in_subprocess(base_url, mix, requests=REQUESTS, time_cap=TIME_CAP)
            _check(result, mix, REQUESTS)

            fds_after = _settled(lambda: open_fds(served.pid), until=lambda n: n <= fds_before)
            rss_after = rss_bytes(served.pid)
        finally:
            log.unlink(missing_ok=True)
    growth = rss_after - rss_before
    record_figure(
        f"{server} {target}: {result['sent']} requests at {result['concurrency']} connections, "
        f"{result['requests_per_s']} req/s, p50 {result['latency_ms']['p50']} ms, "
        f"p99 {result['latency_ms']['p99']} ms; failures {result['failures']}; "
        f"RSS {rss_before / 2**20:.1f} -> {rss_after / 2**20:.1f} MiB "
        f"({growth / 2**20:+.2f}); fds {fds_before} -> {fds_after}"
    )
    assert growth < RSS_GROWTH_LIMIT, f"server RSS grew {growth / 2**20:.1f} MiB"
    assert fds_after <= fds_before, f"open fds {fds_before} -> {fds_after}"
