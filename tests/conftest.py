"""Suite-wide helpers: an ASGI scope for raw calls, fine thread switching for races,
and figures printed after the run."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest

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
