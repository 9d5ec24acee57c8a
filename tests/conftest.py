"""Suite-wide helpers: an ASGI scope for raw calls, fine thread switching for races,
and figures printed after the run."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest

from interceptor._delivery import delivery

_FIGURES: list[str] = []


def http_scope(path: str = "/x", method: str = "GET") -> dict[str, Any]:
    """A complete ASGI HTTP scope, for calling an app without a client."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }


@pytest.fixture(autouse=True)
def _drain_delivery() -> None:
    """Let an earlier test's queued 5xx log lines and reports go out before this test.

    The delivery worker emits them off the response path; drained here, in the
    set-up phase, they cannot land in this test's captured log records.
    """
    delivery.flush(10)


@pytest.fixture
def fast_switching() -> Iterator[None]:
    """Switch threads far more often than usual, to interleave racing threads finely."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(interval)


def record_figure(line: str) -> None:
    """Keep one line (a measured figure) for the terminal summary of the run."""
    _FIGURES.append(line)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _FIGURES:
        terminalreporter.section("measured figures")
        for line in _FIGURES:
            terminalreporter.write_line(line)


# Handlers' own (body, status[, headers]) answers, for every adapter's tests: what
# the handler returns, the body the client gets (less the error_id), where the
# error_id goes ("body", "header", or None for a 4xx), and the id if the handler chose it.
TUPLE_ANSWERS: list[tuple[Any, Any, str | None, str | None]] = [
    (({"error": "db down"}, 500), {"error": "db down"}, "body", None),
    ((["a", "b"], 503), ["a", "b"], "header", None),
    (({"error_id": "mine-1", "error": "x"}, 502), {"error": "x"}, "body", "mine-1"),
    (("down", 500, {"X-Error-Id": "hdr-1"}), "down", "header", "hdr-1"),
    (({"error": "bad"}, 400), {"error": "bad"}, None, None),
]


def split_error_id(body: Any, headers: Any, where: str | None) -> tuple[Any, str | None]:
    """The body as the handler gave it, and the error_id the client can see."""
    if where == "body":
        body = dict(body)
        return body, body.pop("error_id")
    assert not (isinstance(body, dict) and "error_id" in body)
    return body, headers.get("x-error-id")


@pytest.fixture
def restore_classifiers() -> Iterator[None]:
    """User classifier registrations are global: undo the ones a test makes.

    Only the user's: built-in rule sets a test loaded lazily stay, since the
    registry remembers them as loaded.
    """
    from interceptor import _classify  # noqa: PLC0415 - the registry itself

    saved = _classify._tables
    yield
    with _classify._lock:
        _classify._tables = _classify._Tables(user=saved.user, builtin=_classify._tables.builtin)
