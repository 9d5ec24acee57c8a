"""Sentry: one event per intercepted 5xx, found in Sentry by the response's ``error_id``.

    import sentry_sdk
    from interceptor.integrations.sentry import SentryReporter

    sentry_sdk.init(dsn="https://...")  # before or after: the reporter reads it per report
    errors = Interceptor({...}, name="api", reporter=SentryReporter())

Each report becomes one Sentry event: the exception (with its frames while its
traceback lives), level ``error``, or ``warning`` for a non-fatal
``errors.report_error(...)``, and

- tags ``error_id``, ``interceptor.scope``, ``http.status_code`` and
  ``interceptor.category``;
- the request as the report has it: method, path as ``url``, query string and
  headers, already scrubbed by the interceptor; no cookies; the client address
  (as ``env.REMOTE_ADDR``) only when the report carries one and Sentry's
  options let its own integrations send it (``send_default_pii``, or
  ``data_collection["user_info"]``);
- the report's W3C ``trace_id`` as the event's trace, when the request had one;
- mechanism ``interceptor``, unhandled for a 5xx, handled for a non-fatal
  report (search ``error.mechanism:interceptor``).

Finding the event: the Sentry event id *is* the ``error_id`` from the response
body and the log line (both are 32 hex digits), so pasting the ``error_id``
into Sentry's search opens the event; ``error_id:<id>`` finds it too. The
reporter returns the event id and logs it at DEBUG on
``interceptor.integrations.sentry`` with the ``error_id``.

Never twice. The interceptor logs every 5xx at ERROR with its traceback, which
Sentry's logging integration would turn into a second event: the reporter
drops those events (only those: the interceptor's other log lines, and
breadcrumbs, still reach Sentry). Sentry's Starlette, FastAPI and Flask
integrations never see an exception the interceptor answered. One that fails
after the response started goes on to the server, where Sentry's ASGI or WSGI
middleware captures it too: of the two captures of the same raise only the
first is sent. When that is Sentry's own, it has no interceptor tags; the
reporter returns and logs that event's id.

Frame locals are left out (``include_local_variables=False``): the frames of a
web request hold the raw ASGI scope, WSGI environ and request objects, with
the credentials the report scrubs, and Sentry's scrubber does not look inside
them. The event is built in a scope of its own, never in the one of the thread
that delivers it: the global scope (``sentry_sdk.Scope.get_global_scope()``)
and the client's options (release, environment, sampling, ``before_send``,
whose hint holds the `Report` as ``hint["interceptor_report"]``) apply;
request-scoped data such as the user does not.

Needs sentry-sdk 2.x: ``pip install 'exception-interceptor[sentry]'``.
"""

from __future__ import annotations

import contextvars
import logging
import os
import re
import threading
from collections.abc import Iterator, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from interceptor._observe import Report
from interceptor._scrub import scrub_text

if TYPE_CHECKING:
    from sentry_sdk._types import Event, Hint

__all__ = ["SentryReporter"]

logger = logging.getLogger(__name__)

# Where the reporter's capture is told apart from every other one, in the hint
# that event processors and ``before_send`` receive.
HINT_KEY = "interceptor_report"
# The interceptor's log records about an intercepted error: its logger, with
# these attributes from ``extra`` (its other records have no ``status``).
_OWN_LOGGER = "interceptor"
_SEVERE_RECORD_ATTRS = ("error_id", "status")
# The last capture of an exception, kept on the exception itself (a builtin
# exception cannot be weakly referenced, so no side table could key on it).
_SENT_ATTR = "__interceptor_sentry_sent__"
_CHAIN_LIMIT = 16  # causes, contexts and group members looked at per capture
_EVENT_ID = re.compile(r"[0-9a-f]{32}")

_lock = threading.Lock()  # marks on exceptions are read and written under it
_processor_installed = False


class SentryReporter:
    """A reporter sending each report to Sentry as one event; see the module docstring.

    ``include_local_variables=True`` keeps the frames' local variables as
    Sentry's own ``include_local_variables`` option decides, raw request
    credentials included. Raises ``ImportError`` with an install hint when
    sentry-sdk 2.x is missing. Safe to call from any thread; Sentry need not be
    initialised yet (reports before ``sentry_sdk.init`` are dropped).

    Example::

        Interceptor(name="api", reporter=SentryReporter())
    """

    __slots__ = ("include_local_variables",)

    def __init__(self, *, include_local_variables: bool = False) -> None:
        _require_sentry_sdk()
        self.include_local_variables = bool(include_local_variables)
        _install_processor()

    def __repr__(self) -> str:
        return f"SentryReporter(include_local_variables={self.include_local_variables})"

    def __call__(self, report: Report, tb: TracebackType | None = None) -> str | None:
        """Send ``report``; returns the Sentry event id, or ``None`` if nothing was sent.

        ``tb`` is the traceback of ``report.exception`` as raised, for when
        ``report.exception.__traceback__`` was cleared since (Starlette clears
        it once a handler answered): without either the event has no frames,
        and carries the report's traceback text as ``extra.traceback``.
        A 4xx that is not a non-fatal report is never sent.
        """
        if report.fatal and report.status < 500:
            return None
        import sentry_sdk  # noqa: PLC0415 - optional extra, imported by __init__ already

        if not sentry_sdk.get_client().is_active():
            logger.debug("Sentry is not initialised: error_id %s not sent", report.error_id)
            return None
        exc = report.exception
        if tb is None:
            tb = report.exc_traceback or exc.__traceback__
        # An empty context: no scope, span, user or breadcrumbs of whichever
        # request the delivering thread was started from (Sentry's threading
        # integration hands a new thread its starter's scopes), and no dedupe
        # memory of Sentry's from that context.
        event_id = contextvars.Context().run(self._capture, report, exc, tb)
        if event_id is None:
            sent = _sent_for(exc, tb)
            if sent is not None and not sent.ours:
                logger.debug(
                    "Sentry already has error_id %s as event %s, sent by its own integration",
                    report.error_id,
                    sent.event_id,
                    extra={"error_id": report.error_id, "sentry_event_id": sent.event_id},
                )
                return sent.event_id
            logger.debug("Sentry dropped error_id %s", report.error_id)
            return None
        logger.debug(
            "error_id %s sent to Sentry as event %s",
            report.error_id,
            event_id,
            extra={"error_id": report.error_id, "sentry_event_id": event_id},
        )
        return event_id

    def _capture(self, report: Report, exc: BaseException, tb: TracebackType | None) -> str | None:
        import sentry_sdk  # noqa: PLC0415 - optional extra

        client = sentry_sdk.get_client()
        # add_full_stack would append the delivering thread's own stack. Locals
        # left out are not read either: Sentry's SDK would repr every one of
        # them (a slow __repr__ holding up the report) to have them dropped.
        options = {**client.options, "add_full_stack": False}
        if not self.include_local_variables:
            options["include_local_variables"] = False
        event, hint = _event(
            exc, tb, options, {"type": "interceptor", "handled": not report.fatal}
        )
        _scrub_messages(event)
        if tb is None:
            event["extra"] = {"traceback": report.traceback}
        if _EVENT_ID.fullmatch(report.error_id):
            event["event_id"] = report.error_id
        event["request"] = _request(report, user_info=_collects_user_info(client.options))
        if report.trace_id is not None:
            event["contexts"] = {
                "trace": {"trace_id": report.trace_id, "span_id": os.urandom(8).hex()}
            }
        hint[HINT_KEY] = report
        with sentry_sdk.new_scope() as scope:
            scope.set_level("error" if report.fatal else "warning")
            scope.set_tag("error_id", report.error_id)
            scope.set_tag("interceptor.scope", report.scope)
            scope.set_tag("http.status_code", str(report.status))
            scope.set_tag("interceptor.category", report.category.value)
            return sentry_sdk.capture_event(event, hint=hint)


def _event(
    exc: BaseException, tb: TracebackType | None, options: dict[str, Any], mechanism: dict[str, Any]
) -> tuple[Event, Hint]:
    """Sentry's event for ``exc``, its chain of causes cut to the newest `_CHAIN_LIMIT`.

    Sentry's SDK walks the whole chain and builds every link's frames: a
    chain of 10,000 causes took seconds of the delivery worker and made an
    event of megabytes, more than Sentry accepts. The links kept are built
    by Sentry's SDK as it builds them. A group is left to it whole (it nests
    the members) when it holds few exceptions in all (`_few`): it builds a
    group by recursion, and a member's long chain of causes raised
    RecursionError there, so the report was lost. A bigger group is sent as
    one exception, with its own chain cut as any other.
    """
    from sentry_sdk.utils import (  # noqa: PLC0415 - optional extra
        event_from_exception,
        event_hint_with_exc_info,
        single_exception_from_error_tuple,
    )

    exc_info = (type(exc), exc, tb)
    if isinstance(exc, BaseExceptionGroup) and _few(exc):
        return event_from_exception(exc_info, options, mechanism)
    values: list[dict[str, Any]] = []
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen and len(values) < _CHAIN_LIMIT:
        seen.add(id(link))
        values.append(
            single_exception_from_error_tuple(
                type(link), link, tb, client_options=options, mechanism=mechanism
            )
        )
        # As Python prints the chain, and Sentry's SDK walks it.
        link = link.__cause__ if link.__suppress_context__ else link.__context__
        tb = link.__traceback__ if link is not None else None
    values.reverse()
    return {"level": "error", "exception": {"values": values}}, event_hint_with_exc_info(exc_info)


def _scrub_messages(event: Event) -> None:
    """The messages of ``event``'s exceptions scrubbed as the report's traceback text is.

    A client library's error quotes the URL it called: its password and
    sensitive query values never go to Sentry, as they never go to the log.
    """
    for value in event.get("exception", {}).get("values", ()):
        message = value.get("value")
        if isinstance(message, str):
            value["value"] = scrub_text(message)


def _few(group: BaseExceptionGroup[BaseException]) -> bool:
    """Whether ``group``, its members, and their causes and contexts, are at most `_CHAIN_LIMIT`."""
    todo: list[BaseException] = [group]
    seen: set[int] = set()
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if len(seen) > _CHAIN_LIMIT:
            return False
        todo.extend(link for link in (current.__cause__, current.__context__) if link is not None)
        if isinstance(current, BaseExceptionGroup):
            todo.extend(current.exceptions[: _CHAIN_LIMIT + 1])
    return True


def _require_sentry_sdk() -> None:
    try:
        import sentry_sdk  # noqa: PLC0415 - optional extra
    except ImportError as exc:
        raise ImportError(
            "SentryReporter needs sentry-sdk: pip install 'exception-interceptor[sentry]'"
        ) from exc
    major = sentry_sdk.VERSION.partition(".")[0]
    if not major.isdigit() or int(major) < 2:
        raise ImportError(
            f"SentryReporter needs sentry-sdk 2.x, found {sentry_sdk.VERSION}: "
            "pip install 'exception-interceptor[sentry]'"
        )


def _collects_user_info(options: Mapping[str, Any]) -> bool:
    """Whether Sentry's own integrations would send the client's address.

    Its ``data_collection["user_info"]`` (sentry-sdk 2.x's newer option, which
    it also derives from the older one), else ``send_default_pii``.
    """
    collection = options.get("data_collection")
    if isinstance(collection, Mapping) and "user_info" in collection:
        return bool(collection["user_info"])
    return bool(options.get("send_default_pii"))


def _request(report: Report, *, user_info: bool) -> dict[str, object]:
    """The event's request; the client's address only as Sentry's options allow it.

    A report carries the address when the interceptor was asked for it
    (``report_client_address=True``), which may be for another reporter: what
    goes to Sentry is what Sentry's own integrations would send, no more.
    """
    headers: dict[str, str] = {}
    for name, value in report.headers:
        # Repeated headers combine as RFC 9110 allows; Sentry takes one value per name.
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    request: dict[str, object] = {
        "method": report.method,
        "url": report.path,
        "query_string": report.query_string,
        "headers": headers,
    }
    if report.client and user_info:
        request["env"] = {"REMOTE_ADDR": _host(report.client)}
    return request


def _host(client: str) -> str:
    """The address in ``host:port``, ``[v6]:port`` or a bare host."""
    if client.startswith("["):
        return client[1:].partition("]")[0]
    host, colon, port = client.rpartition(":")
    if colon and port.isdigit() and ":" not in host:  # IPv4 or a name, with its port
        return host
    return client  # a bare address; an IPv6 one with a port cannot be told apart


# -- one event per raise ---------------------------------------------------------


class _Sent:
    """The capture of one raise of an exception, kept on the exception.

    ``raised_at`` is the raise's innermost traceback entry: shared by every
    capture of that raise, and new for each raise of a reused exception.
    """

    __slots__ = ("event_id", "ours", "raised_at")

    def __init__(self, raised_at: TracebackType, event_id: str, ours: bool) -> None:
        self.raised_at = raised_at
        self.event_id = event_id
        self.ours = ours

    def __reduce__(self) -> tuple[type[str], tuple[()]]:
        # A pickled or copied exception (pickle takes its __dict__) must not
        # fail on the traceback: the mark does not travel, it becomes "".
        return str, ()


def _install_processor() -> None:
    global _processor_installed  # noqa: PLW0603 - one processor per process
    with _lock:
        if _processor_installed:
            return
        from sentry_sdk.scope import add_global_event_processor  # noqa: PLC0415

        add_global_event_processor(_one_event_per_raise)
        _processor_installed = True


def _one_event_per_raise(event: Event, hint: Hint) -> Event | None:
    """Sentry's global event processor: drops the second event for one raise.

    The reporter's event and one of Sentry's integrations for the same raise
    of an exception (the same innermost traceback entry, anywhere in either
    event's chain of causes) are duplicates: the later one is dropped. Two of
    Sentry's own are left to Sentry. The interceptor's log records about an
    intercepted error are always dropped: the reporter sends those errors;
    its other records (an observer that failed) are sent, and claim no raise.
    """
    if not hint:
        return event
    record = hint.get("log_record")
    if _is_own_severe_record(record):
        return None
    if isinstance(record, logging.LogRecord) and record.name == _OWN_LOGGER:
        # The interceptor's own failure (an observer, a body builder): the
        # request's exception is in its chain, as what was being handled, but
        # the event is about the failure, and must not stand for the crash.
        return event
    exc_info = hint.get("exc_info")
    if not exc_info or exc_info[1] is None:
        return event
    raises = list(_raises(exc_info[1], exc_info[2]))
    return event if _claim(raises, event.get("event_id"), HINT_KEY in hint) else None


def _is_own_severe_record(record: object) -> bool:
    """Whether ``record`` is the interceptor's log record about an intercepted error."""
    return (
        isinstance(record, logging.LogRecord)
        and record.name == _OWN_LOGGER
        and all(hasattr(record, attr) for attr in _SEVERE_RECORD_ATTRS)
    )


def _claim(raises: list[tuple[BaseException, TracebackType]], event_id: object, ours: bool) -> bool:
    """Mark these raises as sent by ``event_id``; ``False`` if one was sent before (a duplicate)."""
    with _lock:
        for exc, raised_at in raises:
            sent = getattr(exc, _SENT_ATTR, None)
            if isinstance(sent, _Sent) and sent.raised_at is raised_at and (ours or sent.ours):
                return False
        if isinstance(event_id, str):
            for exc, raised_at in raises:
                try:
                    setattr(exc, _SENT_ATTR, _Sent(raised_at, event_id, ours))
                except Exception:  # noqa: BLE001, S112 - an exception type refusing attributes
                    continue
    return True


def _sent_for(exc: BaseException, tb: TracebackType | None) -> _Sent | None:
    """The capture of this raise of ``exc``, if Sentry has one."""
    raised_at = _innermost(tb)
    with _lock:
        sent = getattr(exc, _SENT_ATTR, None)
    if isinstance(sent, _Sent) and raised_at is not None and sent.raised_at is raised_at:
        return sent
    return None


def _raises(
    exc: BaseException, tb: TracebackType | None
) -> Iterator[tuple[BaseException, TracebackType]]:
    """``exc`` and its causes, contexts and group members, each with where it was raised."""
    todo: list[tuple[BaseException, TracebackType | None]] = [(exc, tb)]
    seen: set[int] = set()
    while todo and len(seen) < _CHAIN_LIMIT:
        current, current_tb = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        raised_at = _innermost(current_tb)
        if raised_at is not None:
            yield current, raised_at
        linked = [current.__cause__, current.__context__]
        if isinstance(current, BaseExceptionGroup):
            linked.extend(current.exceptions)
        todo.extend((link, link.__traceback__) for link in linked if link is not None)


def _innermost(tb: TracebackType | None) -> TracebackType | None:
    if tb is None:
        return None
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb
