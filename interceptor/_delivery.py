"""Delivery of crash reports and 5xx log lines: one worker per process, bounded.

The error path runs when things already go wrong, so nothing here may make
them worse. A request that fails only puts a job on a queue (never waits,
never starts a thread, never touches the event loop's executor); a single
worker thread builds the report, formats the traceback and calls the
reporter. What does not fit is dropped and counted.

Bounds (Sentry's SDK is the model: one worker, a queue of 100, ``flush()``
and a 2 s shutdown timeout):

- the queue holds `QUEUE_SIZE` jobs; a job that finds it full is dropped,
  counted, and logged once per burst;
- threads: the worker, one runner for sync reporters, and at most
  `MAX_STUCK_RUNNERS` runners abandoned inside a reporter that overran its
  ``report_timeout`` (Python cannot stop a thread); while that many are
  stuck, reports for sync reporters are abandoned and counted;
- async reporters run one at a time on the worker's own event loop, each
  cancelled at its ``report_timeout``;
- at interpreter exit, and at ASGI lifespan shutdown, `flush` waits at most
  `EXIT_FLUSH_SECONDS` for what is queued.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import inspect
import itertools
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

from interceptor._callables import callable_name, is_async_callable

__all__ = [
    "EXIT_FLUSH_SECONDS",
    "MAX_STUCK_RUNNERS",
    "QUEUE_SIZE",
    "DeliveryCounts",
    "Job",
    "delivery",
]

logger = logging.getLogger("interceptor")

QUEUE_SIZE = 100  # jobs waiting for the worker, as Sentry's SDK
MAX_STUCK_RUNNERS = 2  # threads left inside a sync reporter that overran
EXIT_FLUSH_SECONDS = 2.0  # as Sentry's shutdown_timeout


class DeliveryCounts:
    """What happened to the reports (and 5xx log lines) of one interceptor.

    ``snapshot()`` gives ``queued``, ``delivered``, ``failed`` (the reporter
    raised), ``timed_out`` (it overran ``report_timeout``), ``abandoned``
    (queued, but too many earlier sync reporter calls were still stuck),
    ``dropped`` (never queued: the queue was full) and ``logs_dropped``
    (5xx log lines that found the queue full). Every report is queued or
    dropped, and every queued one ends delivered, failed, timed out or
    abandoned: nothing is lost without being counted. ``handlers_skipped``
    counts the sync handlers an ASGI adapter did not start, since too many
    calls it gave up on past ``handler_timeout`` still ran (each request
    answered as a handler that timed out is).

    Example::

        errors.deliveries.snapshot()  # {"queued": 3, "delivered": 3, "dropped": 0, ...}
    """

    __slots__ = ("_counters", "_lock", "_reads")

    NAMES = (
        "queued",
        "delivered",
        "failed",
        "timed_out",
        "abandoned",
        "dropped",
        "logs_dropped",
        "handlers_skipped",
    )

    def __init__(self) -> None:
        # itertools.count: next() is one C call, atomic without a lock.
        self._counters: dict[str, Iterator[int]] = {name: itertools.count() for name in self.NAMES}
        self._reads = dict.fromkeys(self.NAMES, 0)
        self._lock = threading.Lock()

    def add(self, name: str) -> None:
        next(self._counters[name])

    def snapshot(self) -> Mapping[str, int]:
        """A copy of the counters, safe to keep."""
        with self._lock:
            counts = {}
            for name, counter in self._counters.items():
                counts[name] = next(counter) - self._reads[name]
                self._reads[name] += 1
            return counts


class Job(NamedTuple):
    """One piece of work for the worker.

    ``run`` builds what is to be delivered: the report for ``reporter``, or,
    with no reporter, it does the work itself (emits a log line).
    """

    run: Callable[[], Any]
    counts: DeliveryCounts
    reporter: Callable[[Any], Any] | None = None
    timeout: float = 10.0
    error_id: str | None = None


class _Delivery:
    """The process's one worker, started on the first job (again after a fork)."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        # Also the child's fresh start after a fork: the worker thread stayed
        # in the parent, and a lock may have been held there.
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._queue: queue.Queue[Job] = queue.Queue(QUEUE_SIZE)
        self._outstanding = 0  # jobs queued or being delivered
        self._thread: threading.Thread | None = None
        self._runner: _Runner | None = None
        self._stuck: list[_Runner] = []
        self._burst_drops = 0

    # -- the request side ----------------------------------------------------

    def submit(self, job: Job) -> bool:
        """Queue ``job``; never blocks. False when it was dropped (and counted)."""
        with self._lock:
            if self._thread is None:
                self._start()
            try:
                self._queue.put_nowait(job)
            except queue.Full:
                first_drop = self._burst_drops == 0
                self._burst_drops += 1
                job.counts.add("dropped" if job.reporter is not None else "logs_dropped")
            else:
                self._outstanding += 1
                if job.reporter is not None:
                    job.counts.add("queued")
                ended, self._burst_drops = self._burst_drops, 0
                if ended:
                    logger.warning(
                        "interceptor report queue: %d report(s) and log line(s) were dropped "
                        "while it was full",
                        ended,
                    )
                return True
        if first_drop:
            logger.warning(
                "interceptor report queue is full (%d waiting): dropping reports and 5xx log "
                "lines until it has room; the drops are counted",
                QUEUE_SIZE,
            )
        return False

    def _start(self) -> None:
        self._thread = threading.Thread(
            target=self._work, name="interceptor-delivery", daemon=True
        )
        self._thread.start()

    def flush(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for every queued job; True when none is left."""
        deadline = time.monotonic() + max(timeout, 0.0)
        with self._idle:
            while self._outstanding:
                left = deadline - time.monotonic()
                if left <= 0 or self._thread is None:
                    return False
                self._idle.wait(left)
            return True

    def pending(self) -> int:
        """Jobs queued or being delivered."""
        return self._outstanding

    def threads(self) -> int:
        """Threads this delivery has alive now: the worker, its runner, stuck runners."""
        alive = [self._thread, *(stuck.thread for stuck in self._stuck)]
        if self._runner is not None:
            alive.append(self._runner.thread)
        return sum(1 for thread in alive if thread is not None and thread.is_alive())

    # -- the worker ---------------------------------------------------------------

    def _work(self) -> None:
        loop = asyncio.new_event_loop()
        while True:
            job = self._queue.get()
            try:
                self._deliver(job, loop)
            except Exception:
                logger.exception("interceptor delivery failed for error_id %s", job.error_id)
            finally:
                # Not kept while waiting for the next job: it holds the exception.
                del job
                with self._idle:
                    self._outstanding -= 1
                    if not self._outstanding:
                        self._idle.notify_all()

    def _deliver(self, job: Job, loop: asyncio.AbstractEventLoop) -> None:
        report = job.run()
        reporter = job.reporter
        if reporter is None:
            return
        try:
            if is_async_callable(reporter):
                loop.run_until_complete(asyncio.wait_for(reporter(report), job.timeout))
            else:
                result = self._call_sync(reporter, report, job)
                if result is _STUCK:
                    return
                if inspect.isawaitable(result):
                    loop.run_until_complete(asyncio.wait_for(_awaited(result), job.timeout))
        except TimeoutError:
            job.counts.add("timed_out")
            logger.error(
                "interceptor reporter %s did not finish within %ss for error_id %s; "
                "the report is dropped",
                callable_name(reporter),
                job.timeout,
                job.error_id,
                extra={"error_id": job.error_id},
            )
        except Exception:
            job.counts.add("failed")
            logger.exception(
                "interceptor reporter %s failed for error_id %s",
                callable_name(reporter),
                job.error_id,
                extra={"error_id": job.error_id},
            )
        else:
            job.counts.add("delivered")

    def _call_sync(self, reporter: Callable[[Any], Any], report: object, job: Job) -> object:
        """``reporter(report)`` in the runner thread, waited on for ``job.timeout``."""
        self._stuck = [stuck for stuck in self._stuck if stuck.thread.is_alive()]
        if self._runner is None:
            if len(self._stuck) >= MAX_STUCK_RUNNERS:
                job.counts.add("abandoned")
                logger.error(
                    "interceptor reporter %s: %d earlier calls are still stuck; the report "
                    "for error_id %s is dropped",
                    callable_name(reporter),
                    len(self._stuck),
                    job.error_id,
                    extra={"error_id": job.error_id},
                )
                return _STUCK
            self._runner = _Runner()
        future = self._runner.call(reporter, report)
        try:
            return future.result(job.timeout)
        except concurrent.futures.TimeoutError:
            # Abandoned where it hangs; the next report gets a fresh runner.
            self._runner.abandon()
            self._stuck.append(self._runner)
            self._runner = None
            raise TimeoutError from None


_STUCK = object()


async def _awaited(awaitable: Any) -> object:
    return await awaitable


_Call = tuple[Callable[[Any], Any], object, "concurrent.futures.Future[Any]"]


class _Runner:
    """A thread that calls sync reporters one at a time, so the worker can time them out."""

    def __init__(self) -> None:
        self._calls: queue.Queue[_Call | None] = queue.Queue()
        self.thread = threading.Thread(target=self._run, name="interceptor-reporter", daemon=True)
        self.thread.start()

    def call(
        self, reporter: Callable[[Any], Any], report: object
    ) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._calls.put((reporter, report, future))
        return future

    def abandon(self) -> None:
        """Let the thread end once the call it is stuck in returns."""
        self._calls.put(None)

    def _run(self) -> None:
        while True:
            item = self._calls.get()
            if item is None:
                return
            reporter, report, future = item
            try:
                future.set_result(reporter(report))
            except BaseException as exc:  # noqa: BLE001 - handed to the worker
                future.set_exception(exc)
            # Not kept while waiting for the next call: the report holds the exception.
            del item, reporter, report, future


delivery = _Delivery()
"""The process's delivery worker."""

atexit.register(lambda: delivery.flush(EXIT_FLUSH_SECONDS))
os.register_at_fork(after_in_child=delivery._reset)
