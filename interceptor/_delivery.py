"""Delivery of crash reports and 5xx log lines: one worker per process, bounded.

The error path runs when things already go wrong, so nothing here may make
them worse. A request that fails only puts a job on a queue (never waits,
never starts a thread, never touches the event loop's executor); a single
worker thread builds the report, formats the traceback and calls the
reporter. What does not fit is dropped and counted.

Bounds (Sentry's SDK is the model: one worker, a queue of 100, ``flush()``
and a 2 s shutdown timeout):

- the queue holds `QUEUE_SIZE` reports, and as many 5xx log lines apart
  (served first: a slow collector never costs the operator's record); a job
  that finds its queue full is dropped and counted, and the worker says how
  many, at most once every `DROP_NOTICE_SECONDS` and once more when the
  queue empties (never the request's thread: a log handler that blocks
  would hold up the server);
- time: each job, building its report or log text (which runs an
  exception's ``__str__``) and calling the reporter, sync or async, runs in
  a runner thread, given ``report_timeout``; an async reporter is cancelled
  then, on the runner's own event loop, and has `CANCEL_GRACE` more to end.
  A runner still busy after that (a sync call inside an ``async def``, a
  coroutine that swallows its cancellation, a ``__str__`` that hangs) is
  abandoned where it hangs (Python cannot stop a thread) and the job counted
  as timed out; the worker goes on with a fresh runner;
- threads: the worker, its runner, and at most `MAX_STUCK_RUNNERS` runners
  abandoned; while that many are stuck, reports are abandoned and counted,
  and 5xx log lines still get a runner, until one more is stuck (then they
  go out with a note in place of their traceback, counted);
- at interpreter exit, and at ASGI lifespan shutdown, `flush` waits at most
  `EXIT_FLUSH_SECONDS` for what is queued.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import concurrent.futures
import contextlib
import contextvars
import functools
import inspect
import itertools
import logging
import math
import os
import queue
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from types import TracebackType
from typing import Any, NamedTuple

from interceptor._callables import callable_name
from interceptor._tracebacks import format_bounded

__all__ = [
    "CANCEL_GRACE",
    "DROP_NOTICE_SECONDS",
    "EXIT_FLUSH_SECONDS",
    "MAX_STUCK_RUNNERS",
    "QUEUE_SIZE",
    "DeliveryCounts",
    "Job",
    "delivery",
    "log_failure",
]

logger = logging.getLogger("interceptor")

QUEUE_SIZE = 100  # jobs waiting for the worker, as Sentry's SDK
MAX_STUCK_RUNNERS = 2  # threads left inside a sync reporter that overran
EXIT_FLUSH_SECONDS = 2.0  # as Sentry's shutdown_timeout
CANCEL_GRACE = 0.5  # how long a coroutine cancelled at its deadline has to end
DROP_NOTICE_SECONDS = 10.0  # at most one warning about drops this often, under overload


class DeliveryCounts:
    """What happened to the reports (and 5xx log lines) of one interceptor.

    ``snapshot()`` gives ``queued``, ``delivered``, ``failed`` (building the
    report or the reporter raised), ``timed_out`` (they overran
    ``report_timeout``), ``abandoned`` (queued, but too many earlier calls
    were still stuck), ``dropped`` (never queued: the queue was full) and
    ``logs_dropped`` (5xx log lines that found the queue full, or whose
    traceback was left out for the same reasons a report times out or is
    abandoned: those go out with a note in its place). Every report is queued or
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

    ``run`` builds what is to be delivered, in the runner thread: the report
    for ``reporter``, or the traceback text of ``record``, a log line, then
    handled by the ``interceptor`` logger. Both get ``timeout`` seconds.
    Once building one for ``subject`` ran past it (its ``__str__`` hangs),
    its other jobs do not try: each would leave one more runner stuck.
    """

    run: Callable[[], Any]
    counts: DeliveryCounts
    reporter: Callable[[Any], Any] | None = None
    timeout: float = 10.0
    error_id: str | None = None
    record: logging.LogRecord | None = None
    subject: BaseException | None = None  # the exception whose text ``run`` builds


class _Delivery:
    """The process's one worker, started on the first job (again after a fork)."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        # Also the child's fresh start after a fork: the worker thread stayed
        # in the parent, and a lock may have been held there.
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._ready = threading.Condition(self._lock)
        # Log lines and reports, each at most QUEUE_SIZE; lines are served first.
        self._lines: collections.deque[Job] = collections.deque()
        self._reports: collections.deque[Job] = collections.deque()
        self._outstanding = 0  # jobs queued or being delivered
        self._thread: threading.Thread | None = None
        self._runner: _Runner | None = None
        self._stuck: list[_Runner] = []
        self._unnoticed_drops = 0  # dropped since the worker last said so
        # Exceptions whose text building ran past its deadline: alive while a
        # stuck runner holds them, so no more of them than runners left stuck.
        self._hung: weakref.WeakSet[BaseException] = weakref.WeakSet()
        self._noticed_at = -math.inf

    # -- the request side ----------------------------------------------------

    def submit(self, job: Job) -> bool:
        """Queue ``job``; never blocks, nor logs. False when it was dropped (and counted)."""
        with self._lock:
            if self._thread is None:
                self._start()
            waiting = self._lines if job.reporter is None else self._reports
            if len(waiting) >= QUEUE_SIZE:
                self._unnoticed_drops += 1
                job.counts.add("dropped" if job.reporter is not None else "logs_dropped")
                return False
            waiting.append(job)
            self._outstanding += 1
            self._ready.notify()
        if job.reporter is not None:
            job.counts.add("queued")
        return True

    def _start(self) -> None:
        self._thread = threading.Thread(
            target=self._work, name="interceptor-delivery", daemon=True
        )
        _start_afresh(self._thread)

    def flush(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for every queued job; True when none is left.

        ``math.inf`` waits as long as it takes (a lock's wait takes at most
        ``threading.TIMEOUT_MAX`` at a time, and raised past it); NaN waits not at all.
        """
        deadline = time.monotonic() + (timeout if timeout > 0 else 0.0)
        with self._idle:
            while self._outstanding:
                left = deadline - time.monotonic()
                if left <= 0 or self._thread is None:
                    return False
                self._idle.wait(min(left, threading.TIMEOUT_MAX))
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

    def _next(self) -> Job:
        """The next job, a log line before any report; waits for one."""
        with self._ready:
            while not (self._lines or self._reports):
                self._ready.wait()
            return (self._lines or self._reports).popleft()

    def _work(self) -> None:
        while True:
            job = self._next()
            try:
                self._deliver(job)
            except Exception:
                logger.exception("interceptor delivery failed for error_id %s", job.error_id)
            finally:
                # Not kept while waiting for the next job: it holds the exception.
                del job
                self._notice_drops()
                with self._idle:
                    self._outstanding -= 1
                    if not self._outstanding:
                        self._idle.notify_all()

    def _notice_drops(self) -> None:
        """Say how many jobs were dropped: at most once every `DROP_NOTICE_SECONDS`,
        and once the queue is empty (what is left of a burst)."""
        with self._lock:
            dropped, now = self._unnoticed_drops, time.monotonic()
            idle = self._outstanding <= 1  # the job just done is the last
            if not dropped or (not idle and now - self._noticed_at < DROP_NOTICE_SECONDS):
                return
            self._unnoticed_drops, self._noticed_at = 0, now
        # Logged outside the lock: a handler's I/O would hold up every request's
        # submit, and a handler that reports would deadlock.
        logger.warning(
            "interceptor report queue was full (%d waiting): %d report(s) and 5xx log "
            "line(s) dropped since the last notice; the drops are counted",
            QUEUE_SIZE,
            dropped,
        )

    def _deliver(self, job: Job) -> None:
        """Run ``job`` in the runner thread, waited on until its deadline.

        Building the report (an exception's ``__str__``) and calling the
        reporter, sync or async, all run there, so whatever they do, the
        worker goes on: past the deadline (and `CANCEL_GRACE` for a cancelled
        coroutine to end) the runner is abandoned where it hangs.
        """
        refused = self._refusal(job)
        if refused is not None:
            self._give_up(job, *refused)
            return
        if self._runner is None:
            self._runner = _Runner()
        deadline = time.monotonic() + job.timeout
        future = self._runner.call(job, deadline)
        concurrent.futures.wait((future,), deadline + CANCEL_GRACE - time.monotonic())
        # cancel(): while it is still being built, it is never delivered late.
        building = future.cancel()
        if building or not future.done():
            if building and job.subject is not None:
                self._known_hung(job.subject, add=True)
            # Abandoned where it hangs; the next job gets a fresh runner.
            self._runner.abandon()
            self._stuck.append(self._runner)
            self._runner = None
            self._give_up(job, "timed_out", f"did not finish within {job.timeout}s")
            return
        self._settle(job, future.exception())

    def _refusal(self, job: Job) -> tuple[str, str] | None:
        """Why ``job`` gets no runner (its outcome and the reason), or ``None``."""
        self._stuck = [stuck for stuck in self._stuck if stuck.thread.is_alive()]
        # A log line may have a runner while one more is stuck than a report
        # may: a collector that hangs leaves the log lines their tracebacks.
        if len(self._stuck) >= MAX_STUCK_RUNNERS + (job.reporter is None):
            return "abandoned", f"{len(self._stuck)} earlier calls are still stuck"
        if job.subject is not None and self._known_hung(job.subject):
            return "timed_out", "building the text of its exception timed out"
        return None

    def _known_hung(self, exc: BaseException, *, add: bool = False) -> bool:
        """Whether building ``exc``'s text ran past a deadline; with ``add``, note that it did."""
        try:
            if add:
                self._hung.add(exc)
            return exc in self._hung
        except Exception:  # noqa: BLE001 - a class whose __hash__ or __eq__ fails: not known
            return False

    def _settle(self, job: Job, failure: BaseException | None) -> None:
        """Count how ``job`` ended: delivered, timed out (cancelled in time) or failed."""
        if failure is None:
            if job.reporter is not None:
                job.counts.add("delivered")
        elif isinstance(failure, _Overran):
            self._give_up(job, "timed_out", f"did not finish within {job.timeout}s")
        else:
            if job.reporter is not None:
                job.counts.add("failed")
            logger.error(
                "interceptor %s failed for error_id %s",
                _doer(job),
                job.error_id,
                exc_info=failure,
                extra={"error_id": job.error_id},
            )

    def _give_up(self, job: Job, outcome: str, reason: str) -> None:
        """Count ``job`` as ``outcome`` and say so, once: a log line goes out with the reason."""
        if job.record is not None:
            job.counts.add("logs_dropped")
            job.record.exc_text = f"[traceback left out: {reason}]"
            # Nothing left for a handler that reads exc_info itself (Sentry's
            # logging integration) to format here, on the worker's own thread.
            job.record.exc_info = None
            logger.handle(job.record)
            return
        job.counts.add(outcome)
        logger.error(
            "interceptor %s: %s; the report for error_id %s is dropped",
            _doer(job),
            reason,
            job.error_id,
            extra={"error_id": job.error_id},
        )


def _start_afresh(thread: threading.Thread) -> None:
    """Start ``thread`` from an empty context, not from the request that happens to start it.

    Sentry's threading integration hands a new thread the scope of the
    thread starting it: the first request's, whose user, tags and request
    then went with every event captured in the delivery threads (a reporter
    that failed, an observer's failure line) for the life of the process.
    """
    contextvars.Context().run(thread.start)


def _doer(job: Job) -> str:
    return f"reporter {callable_name(job.reporter)}" if job.reporter is not None else "log line"


async def _awaited(awaitable: Any) -> object:
    return await awaitable


class _Overran(Exception):
    """The reporter's call ran past its deadline: told apart from a ``TimeoutError`` of its own."""


_Call = tuple[Job, float, "concurrent.futures.Future[Any]"]


class _Runner:
    """A thread that runs jobs one at a time, so the worker can time them out.

    Async reporters run on the runner's own event loop, cancelled at the
    job's deadline. A job the worker gave up on while it was still being
    built is never delivered late: its future is cancelled, and the runner
    checks that before it delivers.
    """

    def __init__(self) -> None:
        self._calls: queue.Queue[_Call | None] = queue.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.Thread(target=self._run, name="interceptor-reporter", daemon=True)
        _start_afresh(self.thread)

    def call(self, job: Job, deadline: float) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._calls.put((job, deadline, future))
        return future

    def abandon(self) -> None:
        """Let the thread end once the call it is stuck in returns."""
        self._calls.put(None)

    def pending_tasks(self) -> int:
        """Tasks left on the runner's event loop between calls: none, once a call ended."""
        loop = self._loop
        return len(asyncio.all_tasks(loop)) if loop is not None else 0

    def _run(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        try:
            while True:
                item = self._calls.get()
                if item is None:
                    return
                _attempt(*item, loop)
                # Not kept while waiting for the next call: the job holds the exception.
                del item
                if asyncio.all_tasks(loop):
                    # A task that would not end when cancelled: never run again,
                    # it goes with its loop, and the next call gets a fresh one.
                    loop.close()
                    loop = self._loop = asyncio.new_event_loop()
        finally:
            loop.close()


def _attempt(
    job: Job,
    deadline: float,
    future: concurrent.futures.Future[Any],
    loop: asyncio.AbstractEventLoop,
) -> None:
    """Build what ``job`` delivers, then, unless the worker gave up meanwhile, deliver it."""
    try:
        built = job.run()
    except BaseException as exc:  # noqa: BLE001 - handed to the worker
        if future.set_running_or_notify_cancel():
            future.set_exception(exc)
        return
    if not future.set_running_or_notify_cancel():
        return  # the worker gave up while it was built, and said so
    try:
        future.set_result(_hand_over(job, built, deadline, loop))
    except BaseException as exc:  # noqa: BLE001 - handed to the worker
        future.set_exception(exc)


def _hand_over(
    job: Job, built: Any, deadline: float, loop: asyncio.AbstractEventLoop
) -> object:
    """``built`` to the reporter (awaited until ``deadline``), or, a log line's text, to logging."""
    if job.reporter is None:
        if job.record is not None:
            job.record.exc_text = built
            logger.handle(job.record)
        return None
    result = job.reporter(built)
    if inspect.isawaitable(result):
        left = max(deadline - time.monotonic(), 0.0)
        call = loop.create_task(_awaited(result))
        try:
            return loop.run_until_complete(asyncio.wait_for(call, left))
        except TimeoutError:
            if call.cancelled():  # wait_for's deadline, not the reporter's own error
                raise _Overran from None
            raise
        finally:
            # Within the time the worker waits for the call: half the grace after
            # the deadline, and no more than that.
            grace = min(CANCEL_GRACE / 2, deadline + CANCEL_GRACE / 2 - time.monotonic())
            _cancel_left(loop, max(grace, 0.0))
    return result


def _cancel_left(loop: asyncio.AbstractEventLoop, grace: float) -> None:
    """Cancel what a call left on the runner's ``loop``, and give it ``grace`` seconds to end.

    A ``KeyboardInterrupt`` or ``SystemExit`` out of a reporter leaves the
    loop at once, the tasks awaiting it still pending: resumed in the next
    call, they raised there, and each kept its report alive. A task a
    reporter started (a client's background flush) is cancelled too. One
    that does not end within ``grace`` is left to the runner, which drops
    the loop it is on.
    """
    left = asyncio.all_tasks(loop)
    if not left:
        return
    for task in left:
        task.cancel()
    with contextlib.suppress(BaseException):  # whatever they end with, they end
        loop.run_until_complete(asyncio.wait(left, timeout=grace))


delivery = _Delivery()
"""The process's delivery worker."""

# Where the drops of failure lines, which belong to no interceptor's counters, are counted.
_UNCOUNTED = DeliveryCounts()


def log_failure(message: str, *args: object, extra: Mapping[str, object] | None = None) -> None:
    """``logger.exception(message, *args)``, its traceback formatted by the worker.

    For what fails on the response path (an observer, a body builder, a
    classifier): it fails while the request's own exception is being
    handled, so that exception is the failure's ``__context__``, and logging
    would format the whole chain here, running its ``__str__`` and walking
    its causes, the work a 5xx log line leaves to the worker. The record is
    made now, with the time of now, and emitted by the worker with the
    bounded text (`format_bounded`) as its ``exc_text``.
    """
    if not logger.isEnabledFor(logging.ERROR):
        return
    failure = sys.exception()
    if failure is None:
        logger.error(message, *args, extra=extra)
        return
    tb = failure.__traceback__
    record = logger.makeRecord(
        logger.name,
        logging.ERROR,
        __file__,
        0,
        message,
        args,
        (type(failure), failure, tb),
        "log_failure",
        extra,
    )
    delivery.submit(
        Job(run=functools.partial(_failure_text, failure, tb), counts=_UNCOUNTED, record=record)
    )


def _failure_text(failure: BaseException, tb: TracebackType | None) -> str:
    return format_bounded(failure, tb).rstrip("\n")


class _ExitFlush:
    """`flush` at interpreter exit, called twice and bounded once: `EXIT_FLUSH_SECONDS` in all.

    First before the atexit callbacks: Sentry's SDK (and other crash
    collectors' clients) close their transport in one registered at their
    init, after this import, so run before an atexit callback of ours: the
    reports still queued then went to a closed client. The threading
    module's exit callbacks (concurrent.futures' workers use them too) run
    before any. Then as an atexit callback too, with what time is left, for
    the reports of threads that only ended after that.
    """

    def __init__(self) -> None:
        self._deadline: float | None = None

    def __call__(self) -> None:
        if self._deadline is None:
            self._deadline = time.monotonic() + EXIT_FLUSH_SECONDS
        delivery.flush(self._deadline - time.monotonic())


_exit_flush = _ExitFlush()
getattr(threading, "_register_atexit", atexit.register)(_exit_flush)
atexit.register(_exit_flush)
os.register_at_fork(after_in_child=delivery._reset)
