"""Does a lookup cost the same whatever the hierarchy depth and handler count?

Compares resolving an exception whose class is 100 levels deep, in an
interceptor holding 10,000 handlers, with resolving a class one level below
`Exception` in an interceptor holding one handler. Both setups are timed in
the same process, in interleaved rounds with a warm cache, and the headline is
the median over rounds of (large cost / small cost): 1.0 means no difference.

    python benchmarks/bench_resolve.py
    python -c "from benchmarks.bench_resolve import resolve_ratio; print(resolve_ratio())"
"""

from __future__ import annotations

import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from interceptor import Interceptor, Problem

DEPTH = 100
HANDLERS = 10_000


@dataclass(frozen=True, slots=True)
class Setup:
    errors: Interceptor
    cls: type[Exception]
    exc: Exception


def large_setup(depth: int = DEPTH, handlers: int = HANDLERS) -> Setup:
    """A ``depth``-deep chain whose only handler is at its root, among ``handlers``."""
    chain: list[type[Exception]] = [type("Deep0", (Exception,), {})]
    for i in range(1, depth):
        chain.append(type(f"Deep{i}", (chain[-1],), {}))
    # The root's handler is the only match, so an uncached lookup walks all
    # `depth` classes; the rest are unrelated classes filling the registry.
    registry: dict[type[Exception] | int, Problem | int] = {chain[0]: Problem(code="ROOT")}
    for i in range(handlers - 1):
        registry[type(f"Other{i}", (Exception,), {})] = 400 + i % 100
    errors = Interceptor(registry)
    leaf = chain[-1]
    return Setup(errors, leaf, leaf())


def small_setup() -> Setup:
    """One class directly below `Exception`, with the one handler."""
    cls = type("Shallow", (Exception,), {})
    return Setup(Interceptor({cls: Problem(code="SHALLOW")}), cls, cls())


def _time_calls(setup: Setup, calls: int) -> float:
    """Nanoseconds per (resolve by class + candidates for an instance) pair."""
    resolve, candidates = setup.errors.resolve, setup.errors.candidates
    cls, exc = setup.cls, setup.exc
    start = time.perf_counter_ns()
    for _ in range(calls):
        resolve(cls)
        candidates(exc)
    return (time.perf_counter_ns() - start) / calls


@dataclass(frozen=True, slots=True)
class Result:
    ratio: float
    """Median over rounds of large cost / small cost."""
    large_ns: float
    """Median nanoseconds per lookup pair, large setup."""
    small_ns: float
    """Median nanoseconds per lookup pair, small setup."""
    rounds: int


def measure(rounds: int = 31, calls: int = 20_000) -> Result:
    """Time both setups in interleaved rounds; the order alternates per round."""
    large, small = large_setup(), small_setup()
    for setup in (large, small):  # warm the caches and check both resolve
        assert setup.errors.resolve(setup.cls) is not None
        assert setup.errors.candidates(setup.exc)[1]
        _time_calls(setup, calls // 10)
    ratios, large_times, small_times = [], [], []
    for i in range(rounds):
        if i % 2:
            small_ns = _time_calls(small, calls)
            large_ns = _time_calls(large, calls)
        else:
            large_ns = _time_calls(large, calls)
            small_ns = _time_calls(small, calls)
        ratios.append(large_ns / small_ns)
        large_times.append(large_ns)
        small_times.append(small_ns)
    return Result(
        ratio=statistics.median(ratios),
        large_ns=statistics.median(large_times),
        small_ns=statistics.median(small_times),
        rounds=rounds,
    )


def resolve_ratio(rounds: int = 31, calls: int = 20_000) -> float:
    """The headline figure: cost at 100 deep with 10,000 handlers over 1 deep with 1."""
    return measure(rounds, calls).ratio


def main() -> None:
    result = measure()
    print(
        f"resolve+candidates, {DEPTH}-deep hierarchy with {HANDLERS:,} handlers "
        f"vs 1-deep with 1 handler: ratio {result.ratio:.2f} "
        f"(median of {result.rounds} interleaved rounds; 1.00 = same cost)"
    )
    print(f"  per lookup pair: {result.large_ns:.0f} ns vs {result.small_ns:.0f} ns")


if __name__ == "__main__":
    main()
