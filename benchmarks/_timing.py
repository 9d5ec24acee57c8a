"""Shared timing: ratios of two workloads measured in one process, interleaved."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def interleaved_ratio(
    subject: Callable[[], object],
    baseline: Callable[[], object],
    *,
    rounds: int = 31,
    warmup: int = 2,
) -> float:
    """Median over rounds of subject time / baseline time, run back to back.

    Each callable runs one batch of work. Alternating which goes first cancels
    drift, and the median of paired ratios discards the noisy rounds.
    """
    for _ in range(warmup):
        subject()
        baseline()
    ratios = []
    for index in range(rounds):
        pair = (subject, baseline) if index % 2 == 0 else (baseline, subject)
        elapsed = {}
        for func in pair:
            start = time.perf_counter_ns()
            func()
            elapsed[func] = time.perf_counter_ns() - start
        ratios.append(elapsed[subject] / elapsed[baseline])
    return statistics.median(ratios)
