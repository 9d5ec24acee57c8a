"""After an error is answered: the log line, the counters, the crash report.

No I/O beyond `logging`: adapters decide when the reporter runs (after the
response went out) and how (awaited, or in a worker thread).
"""

from __future__ import annotations

import functools
import itertools
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType, TracebackType
from typing import Any, NamedTuple

from interceptor._classify import Category, classify, status_category
from interceptor._delivery import DeliveryCounts, Job, delivery
from interceptor._request import RequestInfo
from interceptor._scrub import escape_control
from interceptor._status import new_error_id, reason_phrase
from interceptor._tracebacks import format_bounded

__all__ = [
    "ErrorCounts",
    "ErrorEvent",
    "Observer",
    "Report",
    "Reporter",
    "describe",
    "log",
    "report_for",
    "report_job",
    "request_info_of",
]

logger = logging.getLogger("interceptor")


class ErrorEvent(NamedTuple):
    """One intercepted error, 4xx or 5xx, as observers (metrics, tracing) see it.

    ``slo`` says whether it counts against the availability SLO (by default
    every 5xx does and no 4xx does; see ``Interceptor(slo_categories=...)``).
    ``fatal`` is false for errors reported from inside an
    endpoint that still answered normally.
    """

    exception: BaseException
    status: int
    category: Category
    slo: bool
    scope: str
    error_id: str | None
    request: RequestInfo
    fatal: bool = True


@dataclass(frozen=True, slots=True)
class Report:
    """What the crash reporter receives for an intercepted 5xx.

    ``error_id`` is the one in the response body and the log line. The
    request's ``headers`` and ``query_string`` are scrubbed: the values of
    sensitive ones are ``[Filtered]`` (see `interceptor._scrub`), and
    ``client`` is ``None`` unless the interceptor was made with
    ``report_client_address=True``. ``exc_traceback`` is ``exception``'s
    traceback as it was when the error was answered (Starlette clears
    ``exception.__traceback__`` once it is handled), for reporters that send
    frames.
    """

    error_id: str
    exception: BaseException
    traceback: str
    status: int
    category: Category
    title: str
    method: str
    path: str
    query_string: str
    client: str | None
    headers: tuple[tuple[str, str], ...]
    trace_id: str | None
    scope: str
    fatal: bool = True
    exc_traceback: TracebackType | None = None


Observer = Callable[[ErrorEvent], object]
Reporter = Callable[[Report], Any]


class ErrorCounts:
    """Counters of intercepted errors by (category, status, scope, slo).

    Example::

        errors.counts.snapshot()  # {("NOT_FOUND", 404, "api", False): 3, ...}
    """

    __slots__ = ("_by_status", "_counters", "_lock", "_reads")

    def __init__(self) -> None:
        # One itertools.count per key: next() on it is a single C call, so an
        # increment is atomic without a lock, which would cost more than the
        # count. Keyed by the Category member itself (a str equal to its value):
        # reading ``.value`` on every error costs more too.
        self._counters: dict[tuple[str, int, str, bool], Iterator[int]] = {}
        # A counter cannot be read without a step, so each snapshot steps it
        # once and remembers how many such steps it took (under the lock).
        self._reads: dict[tuple[str, int, str, bool], int] = {}
        self._lock = threading.Lock()
        # `add_status`'s counters by (status, scope): the key of an error with
        # no say of its own follows from these two. Bounded as the counters
        # are, by the statuses and scopes there are.
        self._by_status: dict[tuple[int, str], Iterator[int]] = {}

    def add(self, category: Category, status: int, scope: str, slo: bool) -> None:
        key = (category, status, scope, slo)
        counter = self._counters.get(key)
        if counter is None:  # setdefault: two threads adding a new key share one counter
            counter = self._counters.setdefault(key, itertools.count())
        next(counter)

    def add_status(self, status: int, scope: str) -> None:
        """`add` for an error whose status alone says its category, outside the SLO."""
        counter = self._by_status.get((status, scope))
        if counter is None:
            key = (status_category(status), status, scope, False)
            counter = self._counters.setdefault(key, itertools.count())
            self._by_status[status, scope] = counter
        next(counter)

    def snapshot(self) -> Mapping[tuple[str, int, str, bool], int]:
        """A copy of the counters, safe to keep."""
        counts = {}
        with self._lock:
            for key, counter in self._counters.copy().items():
                reads = self._reads.get(key, 0)
                self._reads[key] = reads + 1
                category, status, scope, slo = key
                counts[str(category), status, scope, slo] = next(counter) - reads
        return counts


def describe(
    exc: BaseException,
    status: int,
    error_id: str | None,
    request: RequestInfo,
    *,
    scope: str,
    fatal: bool = True,
    slo: bool | None = None,
    slo_categories: Mapping[Category, bool] = MappingProxyType({}),
) -> ErrorEvent:
    """The event for ``exc`` answered with ``status``: its category agrees with the status.

    Whether it counts against the SLO: ``slo`` (the answer's own say), else
    the classification's (5xx), else ``slo_categories`` for its category,
    else whether it is a 5xx.
    """
    # A 4xx's status says all a counter needs. A 5xx's cause decides its
    # category (an upstream's refusal is PERMANENT, its outage TEMPORARY, both
    # 502), unless the handler chose another status than the classification.
    category = status_category(status)
    server_error = status >= 500
    if server_error:
        found = classify(exc)
        if found.status == status:
            category = found.category
            if slo is None:
                slo = found.counts_against_slo
        if error_id is None:
            error_id = new_error_id()
    if slo is None:
        slo = slo_categories.get(category, server_error)
    return ErrorEvent(
        exception=exc,
        status=status,
        category=category,
        slo=slo,
        scope=scope,
        error_id=error_id,
        request=request,
        fatal=fatal,
    )


def log(
    event: ErrorEvent,
    note: str = "",
    *,
    raised: BaseException | None = None,
    counts: DeliveryCounts | None = None,
    timeout: float = 10.0,
) -> None:
    """5xx at ERROR with the traceback, 4xx at INFO without; fields in ``extra``.

    Non-fatal reports go at WARNING, with the traceback. What comes from the
    request (method, path) is passed through `escape_control`, in the message
    and in ``extra`` alike, so that a client can neither break the line nor
    forge another. A line with a
    traceback is made here, with the time and fields of now, and emitted by
    the delivery worker, which formats the traceback within bounds
    (``raised``, the exception as raised, is the one shown): formatting runs
    the exception's ``__str__`` and walks its whole chain of causes, which
    must never delay a response. Such lines share the reports' capped queue;
    ``counts`` counts those that find it full. A traceback not formatted
    within ``timeout`` seconds (an exception's ``__str__`` that hangs) is left
    out: the line goes out with a note in its place, counted in ``counts``
    too.
    """
    server_error = event.status >= 500
    level = logging.WARNING if not event.fatal else logging.ERROR if server_error else logging.INFO
    if not logger.isEnabledFor(level):
        return
    request = event.request
    # str(): a broken server's scope may hold bytes, which the escape cannot take.
    method = escape_control(str(request.method))
    path = escape_control(str(request.path))
    extra = {
        "error_id": event.error_id,
        "status": event.status,
        "category": event.category.value,
        "scope": event.scope,
        "trace_id": request.trace_id,  # as is: only a well-formed id of hex digits passes
        # Escaped here too, never raw: a formatter printing %(path)s would
        # forge the line again. The raw path stays on ErrorEvent.request.
        "method": method,
        "path": path,
    }
    exc = event.exception
    if not event.fatal:
        message = "non-fatal %s reported on %s %s in scope %s (error_id %s)"
        args: tuple[object, ...] = (
            _type_name(exc),
            method,
            path,
            event.scope,
            event.error_id,
        )
    elif server_error:
        message = "%s %s -> %d %s in scope %s (error_id %s)%s"
        args = (
            method,
            path,
            event.status,
            _type_name(exc),
            event.scope,
            event.error_id,
            note,
        )
    else:
        logger.info(
            "%s %s -> %d %s in scope %s",
            method,
            path,
            event.status,
            _type_name(exc),
            event.scope,
            extra=extra,
        )
        return
    shown = raised if raised is not None else exc
    tb = shown.__traceback__
    record = logger.makeRecord(
        logger.name, level, __file__, 0, message, args, (type(shown), shown, tb), "log", extra
    )
    delivery.submit(
        Job(
            run=functools.partial(_traceback_text, shown, tb),
            counts=counts if counts is not None else _UNCOUNTED,
            timeout=timeout,
            error_id=event.error_id,
            record=record,
            subject=shown,
        )
    )


_MAX_TYPE_NAME = 200  # characters of an exception class's name in a log line


def _type_name(exc: BaseException) -> str:
    """``exc``'s class name for a log line: bounded, and with no line of its own to forge."""
    name = escape_control(str(type(exc).__qualname__))
    return name if len(name) <= _MAX_TYPE_NAME else name[:_MAX_TYPE_NAME] + "…"


# Where the drops of lines logged without an interceptor's counters are counted.
_UNCOUNTED = DeliveryCounts()


def _traceback_text(exc: BaseException, tb: TracebackType | None) -> str:
    # The line's exc_text: a formatter uses it when set, instead of formatting exc_info.
    return format_bounded(exc, tb).rstrip("\n")


def report_for(
    event: ErrorEvent,
    raised: BaseException,
    tb: TracebackType | None,
    *,
    client_address: bool = False,
    scrub: Callable[[Report], Report] | None = None,
) -> Report:
    """The report for ``event``: run by the delivery worker, off the response path.

    ``raised`` is the exception as raised (a group, where ``event`` has its
    one leaf) and ``tb`` its traceback as it was when the error was answered.
    The traceback text is bounded (`interceptor._tracebacks`). The client's
    address is in it only with ``client_address``; ``scrub``, the user's
    hook, may hand back a changed copy.
    """
    request = event.request
    exception = event.exception
    report = Report(
        error_id=event.error_id or new_error_id(),
        exception=exception,
        traceback=format_bounded(raised, tb),
        status=event.status,
        category=event.category,
        title=reason_phrase(event.status),
        method=request.method,
        path=request.path,
        query_string=request.query_string,
        client=request.scrubbed_client(include=client_address),
        headers=request.headers,
        trace_id=request.trace_id,
        scope=event.scope,
        fatal=event.fatal,
        exc_traceback=tb if exception is raised else exception.__traceback__,
    )
    return report if scrub is None else scrub(report)


def report_job(
    event: ErrorEvent,
    raised: BaseException,
    reporter: Reporter,
    *,
    counts: DeliveryCounts,
    timeout: float,
    client_address: bool = False,
    scrub: Callable[[Report], Report] | None = None,
) -> Job:
    """The delivery job that reports ``event``; cheap, so the response path can make it."""
    return Job(
        run=functools.partial(
            report_for,
            event,
            raised,
            raised.__traceback__,
            client_address=client_address,
            scrub=scrub,
        ),
        counts=counts,
        reporter=reporter,
        timeout=timeout,
        error_id=event.error_id,
        subject=raised,
    )


def request_info_of(request: object) -> RequestInfo:
    """A `RequestInfo` from a framework request: anything with an ASGI ``scope``
    (Starlette) or a WSGI ``environ`` (Flask, Werkzeug), or one already built."""
    if isinstance(request, RequestInfo):
        return request
    scope = getattr(request, "scope", None)
    if isinstance(scope, Mapping):
        return RequestInfo.from_scope(scope)
    environ = getattr(request, "environ", None)
    if isinstance(environ, Mapping):
        return RequestInfo.from_environ(environ)
    return RequestInfo()
