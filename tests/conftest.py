"""Suite-wide pytest hooks: figures measured by tests, printed after the run."""

from __future__ import annotations

from typing import Any

_FIGURES: list[str] = []


def record_figure(line: str) -> None:
    """Keep one line (a measured figure) for the terminal summary of the run."""
    _FIGURES.append(line)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _FIGURES:
        terminalreporter.section("measured figures")
        for line in _FIGURES:
            terminalreporter.write_line(line)
