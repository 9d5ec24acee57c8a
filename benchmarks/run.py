"""``make bench``: every benchmark of the project, as a table of ratios against targets.

Each ratio compares two workloads measured in this one run, as the median of
interleaved rounds (the order alternates round by round), so a slow or busy
machine moves both sides alike. Bare times are never the headline.

- In-process, through raw ASGI/WSGI call loops: ``bench_asgi``, ``bench_wsgi``
  and ``bench_resolve``. The first two run in three fresh processes each (one
  with ``--quick``), and the table shows the median with every process's figure.
- Under uvicorn on 127.0.0.1: requests per second of an app answering through
  the interceptor over the same app answering through Starlette's own
  ``exception_handlers`` (``benchmarks/apps.py``), on the success path and on
  the error path, driven by ``benchmarks/load.py`` (64 connections) from a
  separate process; p50 and p99 latencies are shown alongside. The Python
  client costs more CPU per request than the server, so on a small machine
  requests per second measure the client as much as the server: the server's
  own CPU time per request (from ``/proc/<pid>/stat``) is the ratio to read.

    python benchmarks/run.py            # everything
    python benchmarks/run.py --quick    # fewer rounds, for a smoke test
    python benchmarks/run.py --no-server
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from benchmarks import apps  # noqa: E402
from benchmarks.load import Entry, run_in_subprocess  # noqa: E402
from examples.serving import serve  # noqa: E402


@dataclass(frozen=True, slots=True)
class Row:
    name: str
    ratio: float
    target: str  # e.g. "<= 1.03", or "" for a figure shown for information
    ok: bool | None
    note: str = ""


def _at_most(name: str, ratio: float, limit: float, note: str = "") -> Row:
    return Row(name, ratio, f"<= {limit:g}", ratio <= limit, note)


# -- in-process ratios ---------------------------------------------------------------------

# Targets by what a row's name says, the first that matches; reference and
# nesting rows name none of these.
_TARGETS = {
    "async callable handler": 1.05,
    "sync callable handler": 1.0,
    "FastAPI mapped error": 1.05,
    "ASGI no error": 1.02,
    "FastAPI no error": 1.02,
    "WSGI no error": 1.03,
    "mapped error": 1.0,
    "int mapping": 0.5,
}


def in_process_rows(module: str, *, processes: int, rounds: int) -> list[Row]:
    """``module.ratios()`` measured in ``processes`` fresh processes, median of each.

    Two copies of one app can differ by a few percent within one process
    (where their objects landed in memory), which more rounds do not
    average out; fresh processes do.
    """
    runs = [_ratios_in_subprocess(module, rounds) for _ in range(processes)]
    rows = []
    for name in runs[0]:
        values = sorted(run[name] for run in runs)
        ratio = statistics.median(values)
        each = ", ".join(f"{v:.3f}" for v in values)
        note = f"{processes} processes: {each}" if processes > 1 else ""
        limit = next((v for k, v in _TARGETS.items() if k in name), None)
        rows.append(
            _at_most(name, ratio, limit, note) if limit else Row(name, ratio, "", None, note)
        )
    return rows


def _ratios_in_subprocess(module: str, rounds: int) -> dict[str, float]:
    code = (
        "import json, sys; "
        f"sys.path[:0] = [{str(HERE)!r}, {str(ROOT)!r}]; "
        f"import {module}; "
        f"print(json.dumps({module}.ratios(rounds={rounds})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    ratios: dict[str, float] = json.loads(done.stdout.splitlines()[-1])
    return ratios


def resolve_rows(quick: bool) -> list[Row]:
    bench_resolve = importlib.import_module("bench_resolve")
    return [
        _at_most(
            "resolve: 100-deep, 10,000 handlers / 1-deep, 1 handler",
            bench_resolve.resolve_ratio(rounds=11 if quick else 31),
            1.15,
        )
    ]


# -- throughput under uvicorn ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Throughput:
    """The median round's figures; pairs are (interceptor app, Starlette-native app)."""

    ratio: float  # interceptor req/s / native req/s
    cpu_ratio: float  # server CPU per request, interceptor / native
    p50: tuple[float, float]  # ms
    p99: tuple[float, float]
    rps: tuple[float, float]
    cpu_us: tuple[float, float]  # server CPU microseconds per request


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _check_load(result: dict[str, Any], what: str) -> None:
    if result["failures"] or result["not_sent"]:
        raise RuntimeError(f"{what}: requests failed under load: {result}")


def throughput(rounds: int, requests: int) -> dict[str, Throughput]:
    """Interceptor app / Starlette-native app, per path, in interleaved rounds."""
    results: dict[str, Throughput] = {}
    with (
        serve("benchmarks.apps:intercepted", "uvicorn") as mine,
        serve("benchmarks.apps:native", "uvicorn") as native,
    ):
        for label, (method, path, status, body) in apps.THROUGHPUT_PATHS.items():
            mix = [Entry(method, path, status, body)]

            def load(
                server: Any, count: int, mix: list[Entry] = mix
            ) -> tuple[dict[str, Any], float]:
                cpu = _cpu_seconds(server.pid)
                result = run_in_subprocess(server[0], mix, requests=count, time_cap=300)
                cpu = _cpu_seconds(server.pid) - cpu
                _check_load(result, f"{server[0]}{mix[0].path}")
                return result, cpu * 1e6 / count

            load(mine, requests // 2)  # warm both up
            load(native, requests // 2)
            ratios, cpu_ratios, rps, cpu_us, p50, p99 = [], [], [], [], [], []
            for index in range(rounds):
                order = [(0, mine), (1, native)] if index % 2 == 0 else [(1, native), (0, mine)]
                pair: dict[int, tuple[dict[str, Any], float]] = {}
                for side, server in order:
                    pair[side] = load(server, requests)
                (a, a_cpu), (b, b_cpu) = pair[0], pair[1]
                ratios.append(a["requests_per_s"] / b["requests_per_s"])
                cpu_ratios.append(a_cpu / b_cpu if b_cpu > 0 else math.inf)
                rps.append((a["requests_per_s"], b["requests_per_s"]))
                cpu_us.append((a_cpu, b_cpu))
                p50.append((a["latency_ms"]["p50"], b["latency_ms"]["p50"]))
                p99.append((a["latency_ms"]["p99"], b["latency_ms"]["p99"]))
            # The figures shown beside a ratio are those of the round that gave
            # it, so that they agree with it.
            middle, cpu_middle = _median_round(ratios), _median_round(cpu_ratios)
            results[label] = Throughput(
                ratio=ratios[middle],
                cpu_ratio=cpu_ratios[cpu_middle],
                p50=p50[middle],
                p99=p99[middle],
                rps=rps[middle],
                cpu_us=cpu_us[cpu_middle],
            )
    for served in (mine, native):
        served[1].unlink(missing_ok=True)
    return results


def _median_round(ratios: list[float]) -> int:
    """The index of the round whose ratio is the median (the upper one of two)."""
    return sorted(range(len(ratios)), key=ratios.__getitem__)[len(ratios) // 2]


def throughput_rows(rounds: int, requests: int) -> list[Row]:
    rows = []
    for label, found in throughput(rounds, requests).items():
        rows.append(
            Row(
                f"uvicorn {label} path: req/s, interceptor / Starlette handlers",
                found.ratio,
                "(higher=ok)",
                None,
                f"{found.rps[0]:.0f} vs {found.rps[1]:.0f} req/s; p50 {found.p50[0]:.1f} vs "
                f"{found.p50[1]:.1f} ms, p99 {found.p99[0]:.1f} vs {found.p99[1]:.1f} ms",
            )
        )
        rows.append(
            Row(
                f"uvicorn {label} path: server CPU/request, interceptor / Starlette",
                found.cpu_ratio,
                "",
                None,
                f"{found.cpu_us[0]:.0f} vs {found.cpu_us[1]:.0f} us of server CPU per request",
            )
        )
    return rows


# -- the report --------------------------------------------------------------------------------


def machine() -> list[str]:
    model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return [
        f"machine: {usable} CPUs usable (nproc), {model}",
        f"python:  {platform.python_implementation()} {platform.python_version()} "
        f"on {platform.system()} {platform.release()}",
    ]


def _print_table(rows: list[Row]) -> None:
    width = max(len(row.name) for row in rows)
    print(f"{'measure':<{width}}  {'ratio':>7}  {'target':<11}  result")
    print(f"{'-' * width}  {'-' * 7}  {'-' * 11}  {'-' * 6}")
    for row in rows:
        verdict = "" if row.ok is None else ("ok" if row.ok else "MISSED")
        ratio = "   n/a " if row.ratio != row.ratio else f"{row.ratio:7.3f}"
        line = f"{row.name:<{width}}  {ratio}  {row.target:<11}  {verdict}"
        print(line.rstrip())
        if row.note:
            print(f"{'':<{width}}     {row.note}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Every benchmark, as ratios against targets.")
    parser.add_argument("--quick", action="store_true", help="fewer rounds and requests")
    parser.add_argument("--no-server", action="store_true", help="skip the uvicorn comparison")
    args = parser.parse_args(argv)
    for line in machine():
        print(line)
    command = f"{Path(sys.executable).name} benchmarks/run.py {' '.join(argv or sys.argv[1:])}"
    print(f"reproduce: make bench   (or: .venv/bin/{command.strip()})")
    print("Each ratio: median of interleaved rounds in this one run (in-process ones: the")
    print("median over fresh processes, each of which reports such a median);")
    print("below 1 = the interceptor side is cheaper (for req/s, above 1 = it is faster).")
    print()
    processes, rounds = (1, 7) if args.quick else (3, 31)
    steps: list[Callable[[], list[Row]]] = [
        lambda: in_process_rows("bench_asgi", processes=processes, rounds=rounds),
        lambda: in_process_rows("bench_wsgi", processes=processes, rounds=rounds),
        lambda: resolve_rows(args.quick),
    ]
    if not args.no_server:
        steps.append(lambda: throughput_rows(3 if args.quick else 7, 1000 if args.quick else 3000))
    rows: list[Row] = []
    for step in steps:
        rows += step()
    _print_table(rows)
    missed = [row.name for row in rows if row.ok is False]
    print()
    print(f"{len(missed)} target(s) missed" + (f": {', '.join(missed)}" if missed else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
