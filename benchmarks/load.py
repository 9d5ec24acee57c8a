"""A bounded, mixed HTTP load against a server, checking every answer.

Runs a fixed number of requests (cut short at a time cap) with asyncio and
``httpx.AsyncClient``, at most ``--concurrency`` (64) connections in all, one
per worker task, and prints one JSON object:

- ``responses``: counts per (method, path, status), with ``"abort"`` as the
  status of a response whose body was cut off;
- ``failures``: counts per kind. ``mid_stream_abort`` is the one expected kind:
  a request the mix marks ``abort`` got its status and then lost the
  connection. Every other kind (``wrong_status``, ``bad_problem_body``,
  ``bad_json_body``, ``body_on_head``, ``stream_not_aborted``,
  ``connection_error``, ``timeout``, ...) is a request turned bad;
- ``latency_ms`` (p50, p99 over requests that completed as expected),
  ``requests_per_s``, ``elapsed_s``, ``sent`` and ``not_sent`` (past the cap).

The mix is a JSON list of entries: ``{"method", "path", "status", "body",
"abort", "fresh", "weight"}``. ``body`` is ``"problem"`` (an
``application/problem+json`` object whose ``status`` member equals the HTTP
status), ``"json"`` (any JSON), ``"none"`` (empty, as for HEAD) or ``"any"``.
``fresh`` sends ``Connection: close``, for answers after which a server may
close the connection anyway (an unmatched exception).

    python -m benchmarks.load --base-url http://127.0.0.1:8000 --mix mix.json --requests 5000

From Python, `run_in_subprocess` runs it as a separate process and returns the
parsed result; `run` is the coroutine itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent

CONCURRENCY = 64
POOL_SIZE = 8
EXPECTED_FAILURE = "mid_stream_abort"
_SAMPLES = 10


@dataclass(frozen=True, slots=True)
class Entry:
    """One kind of request in the mix, and what its answer must be."""

    method: str
    path: str
    status: int
    body: str = "any"
    abort: bool = False
    fresh: bool = False
    weight: int = 1

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"


def schedule(mix: Sequence[Entry], requests: int, *, seed: int = 7) -> list[Entry]:
    """``requests`` entries in the mix's proportions, shuffled reproducibly."""
    cycle = [entry for entry in mix for _ in range(entry.weight)]
    if not cycle:
        raise ValueError("the mix is empty")
    plan = [cycle[index % len(cycle)] for index in range(requests)]
    random.Random(seed).shuffle(plan)  # noqa: S311 - a reproducible order, not a secret
    return plan


class _Tally:
    def __init__(self) -> None:
        self.responses: Counter[tuple[str, str, str]] = Counter()
        self.failures: Counter[str] = Counter()
        self.failures_by_path: dict[str, Counter[str]] = {}
        self.samples: list[str] = []
        self.latencies: list[float] = []

    def fail(self, entry: Entry, kind: str, detail: str) -> None:
        self.failures[kind] += 1
        self.failures_by_path.setdefault(entry.key, Counter())[kind] += 1
        if kind != EXPECTED_FAILURE and len(self.samples) < _SAMPLES:
            self.samples.append(f"{entry.key}: {kind}: {detail}")


def _check(entry: Entry, response: httpx.Response, body: bytes) -> tuple[str, str] | None:
    """What is wrong with a complete answer, as (kind, detail), or ``None``."""
    if entry.abort:
        return "stream_not_aborted", f"{response.status_code}, {len(body)} bytes"
    if response.status_code != entry.status:
        return "wrong_status", f"{response.status_code} {body[:200]!r}"
    content_type = response.headers.get("content-type", "")
    if entry.body == "none":
        return ("body_on_head", repr(body[:200])) if body else None
    if entry.body not in ("problem", "json"):
        return None
    kind = "bad_problem_body" if entry.body == "problem" else "bad_json_body"
    want = "application/problem+json" if entry.body == "problem" else "json"
    if want not in content_type:
        return kind, f"content-type {content_type!r}"
    try:
        document = json.loads(body)
    except ValueError as exc:
        return kind, f"{exc}: {body[:200]!r}"
    if entry.body == "problem" and (
        not isinstance(document, dict) or document.get("status") != response.status_code
    ):
        return kind, f"status member vs {response.status_code}: {body[:200]!r}"
    return None


async def _one(client: httpx.AsyncClient, entry: Entry, tally: _Tally) -> None:
    headers = {"Connection": "close"} if entry.fresh else None
    started = time.perf_counter()
    response: httpx.Response | None = None
    try:
        async with client.stream(entry.method, entry.path, headers=headers) as response:
            body = await response.aread()
    except httpx.TimeoutException as exc:
        tally.fail(entry, "timeout", repr(exc))
        tally.responses[(entry.method, entry.path, "timeout")] += 1
        return
    except httpx.TransportError as exc:
        if response is None:
            tally.fail(entry, "connection_error", repr(exc))
            tally.responses[(entry.method, entry.path, "no response")] += 1
        elif entry.abort and response.status_code == entry.status:
            tally.fail(entry, EXPECTED_FAILURE, repr(exc))
            tally.responses[(entry.method, entry.path, "abort")] += 1
        else:
            tally.fail(entry, "body_cut_off", f"{response.status_code}: {exc!r}")
            tally.responses[(entry.method, entry.path, "abort")] += 1
        return
    tally.responses[(entry.method, entry.path, str(response.status_code))] += 1
    problem = _check(entry, response, body)
    if problem is None:
        tally.latencies.append(time.perf_counter() - started)
    else:
        tally.fail(entry, *problem)


def _split(total: int, parts: int) -> list[int]:
    """``total`` as ``parts`` sizes differing by at most one."""
    return [total // parts + (1 if index < total % parts else 0) for index in range(parts)]


def _percentile(sorted_values: Sequence[float], fraction: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))
    return sorted_values[index]


async def run(
    base_url: str,
    mix: Sequence[Entry],
    *,
    requests: int,
    concurrency: int = CONCURRENCY,
    time_cap: float = 120.0,
    timeout: float = 30.0,  # noqa: ASYNC109 - a per-request HTTP timeout, handed to httpx
) -> dict[str, Any]:
    """Send ``requests`` requests of ``mix`` to ``base_url``; the result described above."""
    plan = iter(schedule(mix, requests))
    tally = _Tally()
    sent = 0

    async def worker(client: httpx.AsyncClient, deadline: float) -> None:
        nonlocal sent
        for entry in plan:
            if time.perf_counter() > deadline:
                return
            sent += 1
            await _one(client, entry, tally)

    # httpx's pool does work per request that grows with its connection count,
    # so one pool of 64 would measure the client; several pools of
    # POOL_SIZE share the same limit of `concurrency` connections in all.
    pools = max(1, concurrency // POOL_SIZE)
    clients = [
        httpx.AsyncClient(
            base_url=base_url,
            limits=httpx.Limits(max_connections=size, max_keepalive_connections=size),
            timeout=httpx.Timeout(timeout),
        )
        for size in _split(concurrency, pools)
    ]
    # Worker i uses pool i % pools: each pool has exactly one connection per worker.
    own_client = [clients[index % pools] for index in range(concurrency)]
    try:
        # Open every connection before the clock starts: 64 connections opened
        # at once can take seconds on a small machine, which would swamp p99.
        # The warm-up answers are checked too; they are not counted as sent.
        await _warm_up(own_client, mix, tally)
        started = time.perf_counter()
        workers = [
            asyncio.ensure_future(worker(client, started + time_cap)) for client in own_client
        ]
        # Workers stop taking requests at the cap; each request has its own
        # timeout, so this bound is only a guard against a hang in the client.
        done, pending = await asyncio.wait(workers, timeout=time_cap + 2 * timeout)
        for task in pending:
            task.cancel()
        for task in done:
            task.result()
    finally:
        for client in clients:
            await client.aclose()
    elapsed = time.perf_counter() - started
    latencies = sorted(tally.latencies)
    p50, p99 = _percentile(latencies, 0.50), _percentile(latencies, 0.99)
    return {
        "planned": requests,
        "sent": sent,
        "not_sent": requests - sent,
        "hung_workers": len(pending),
        "concurrency": concurrency,
        "elapsed_s": round(elapsed, 3),
        "requests_per_s": round(sent / elapsed, 1) if elapsed > 0 else None,
        "latency_ms": {
            "p50": None if p50 is None else round(p50 * 1000, 3),
            "p99": None if p99 is None else round(p99 * 1000, 3),
        },
        "responses": [
            {"method": method, "path": path, "status": status, "count": count}
            for (method, path, status), count in sorted(tally.responses.items())
        ],
        "failures": dict(sorted(tally.failures.items())),
        "failures_by_path": {
            key: dict(sorted(kinds.items()))
            for key, kinds in sorted(tally.failures_by_path.items())
        },
        "failure_samples": tally.samples,
    }


async def _warm_up(
    clients: Sequence[httpx.AsyncClient], mix: Sequence[Entry], tally: _Tally
) -> None:
    """One request per worker, at once, on an entry that keeps its connection open."""
    entry = next((e for e in mix if not e.abort and not e.fresh), None)
    if entry is None:
        return
    warm = _Tally()
    await asyncio.gather(*(_one(client, entry, warm) for client in clients))
    tally.failures.update(warm.failures)
    tally.samples.extend(warm.samples[: _SAMPLES - len(tally.samples)])
    for key, kinds in warm.failures_by_path.items():
        tally.failures_by_path.setdefault(key, Counter()).update(kinds)


def mix_to_json(mix: Iterable[Entry]) -> str:
    return json.dumps([asdict(entry) for entry in mix])


def mix_from_json(text: str) -> list[Entry]:
    return [Entry(**item) for item in json.loads(text)]


def run_in_subprocess(
    base_url: str,
    mix: Sequence[Entry],
    *,
    requests: int,
    concurrency: int = CONCURRENCY,
    time_cap: float = 120.0,
) -> dict[str, Any]:
    """`run` in a separate Python process (so it does not share a core's GIL with the caller)."""
    command = [
        sys.executable,
        "-m",
        "benchmarks.load",
        "--base-url",
        base_url,
        "--mix",
        "-",
        "--requests",
        str(requests),
        "--concurrency",
        str(concurrency),
        "--time-cap",
        str(time_cap),
    ]
    finished = subprocess.run(
        command,
        cwd=ROOT,
        input=mix_to_json(mix),
        capture_output=True,
        text=True,
        timeout=time_cap + 120,
        check=False,
    )
    if finished.returncode != 0:
        raise RuntimeError(f"load generator failed ({finished.returncode}):\n{finished.stderr}")
    result: dict[str, Any] = json.loads(finished.stdout)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Bounded mixed HTTP load; prints JSON.")
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--mix", required=True, help="a JSON file of entries, or - for stdin")
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    parser.add_argument("--time-cap", type=float, default=120.0)
    args = parser.parse_args(argv)
    text = sys.stdin.read() if args.mix == "-" else Path(args.mix).read_text()
    result = asyncio.run(
        run(
            args.base_url,
            mix_from_json(text),
            requests=args.requests,
            concurrency=args.concurrency,
            time_cap=args.time_cap,
        )
    )
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
