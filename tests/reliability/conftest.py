"""Shared pieces of the reliability suite.

``INTERCEPTOR_SOAK=1`` selects the long form (``make soak``); without it every
test runs its short form, as part of ``make test``. Figures a test measures
(request counts, memory, descriptors) go to ``tests.conftest.record_figure``,
which prints them in the terminal summary.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import http_scope

SOAK = os.environ.get("INTERCEPTOR_SOAK") == "1"


@pytest.fixture
def quiet_interceptor_log() -> Iterator[None]:
    """Drop the interceptor's log records for one test.

    The records are still made (the logging path runs), then filtered out
    before any handler: pytest's capture handlers would keep every record, and
    with it every exception, alive.
    """
    logger = logging.getLogger("interceptor")

    def drop(record: logging.LogRecord) -> bool:
        return False

    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)


# -- the server process, through /proc -------------------------------------------------


def rss_bytes(pid: int) -> int:
    """The resident set size of process ``pid`` (``VmRSS`` in ``/proc/<pid>/status``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def open_fds(pid: int) -> int:
    """How many file descriptors process ``pid`` has open."""
    return len(os.listdir(f"/proc/{pid}/fd"))


# -- raw ASGI calls ------------------------------------------------------------------------


async def call_asgi(
    app: Any,
    path: str = "/",
    method: str = "GET",
    *,
    timeout: float = 10.0,  # noqa: ASYNC109
) -> tuple[list[dict[str, Any]], BaseException | None]:
    """Call ``app`` once; the messages it sent and what it raised (or ``None``).

    An app still running after ``timeout`` seconds fails the test as a hang.
    """
    sent: list[dict[str, Any]] = []
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.sleep(3600)  # a client that stays: no disconnect
        return {"type": "http.disconnect"}  # pragma: no cover

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    task = asyncio.ensure_future(app(http_scope(path, method), receive, send))
    done, _ = await asyncio.wait([task], timeout=timeout)
    if not done:
        task.cancel()
        pytest.fail(f"the app did not finish {method} {path} within {timeout}s: a hang")
    exc = task.exception()
    if exc is not None and not isinstance(exc, Exception):
        raise exc
    return sent, exc
