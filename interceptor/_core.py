"""`Interceptor`: the handler registry and the one resolution algorithm.

Adapters ask `Interceptor.candidates` which handler values apply to an
exception, call the callables the way their framework calls things, and hand
each result back to `Interceptor.outcome`. Nothing here does I/O.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar, overload

from interceptor._callables import callable_name, is_async_callable
from interceptor._classify import INTEGRATIONS, Category, classify
from interceptor._delivery import EXIT_FLUSH_SECONDS, DeliveryCounts, delivery, log_failure
from interceptor._errors import ApiError
from interceptor._http import (
    KINDS_BY_TYPE,
    HttpKind,
    declares_no_error_status,
    http_kind,
    http_status,
    is_framework_unwind,
    is_http_exception_type,
    is_websocket_close_type,
    kind_of_type,
    module_name,
)
from interceptor._observe import (
    ErrorCounts,
    ErrorEvent,
    Observer,
    Report,
    Reporter,
    describe,
    log,
    report_job,
    request_info_of,
)
from interceptor._origin import ClassOrigin, class_origin, raised_by_application
from interceptor._plans import PlanCache
from interceptor._problem import Problem, replaced
from interceptor._render import (
    EMPTY_PROBLEM,
    JSON,
    BodyShape,
    ErrorInfo,
    Outcome,
    Renderer,
)
from interceptor._request import RequestInfo
from interceptor._status import is_error_status, is_int, is_response_status, new_error_id
from interceptor._typecache import remember
from interceptor._validation import (
    is_missing_request_key,
    is_validation_type,
    validation_problem_for,
)
from interceptor._values import (
    HANDLER_SKIPPED,
    HANDLER_TIMED_OUT,
    INLINE_TYPES,
    ExceptionHandler,
    HandlerValue,
    InlineHandler,
    Key,
    check_value,
    expand_key,
    is_mark_of,
    mark_of,
    single_leaf,
)
from interceptor._wire import encode_json, header_items, safe_headers

__all__ = ["Interceptor"]

logger = logging.getLogger("interceptor")

E = TypeVar("E", bound=Exception)
R = TypeVar("R")
_T = TypeVar("_T")

# The per-request key under which a mark of the exception that escaped after its
# response started is kept once observed (never the exception: see `observe_late`),
# so the scopes it passes on its way out report it once, not once each.
_OBSERVED_LATE = "interceptor.observed_late"
_LATE_NOTE = "; the response had already started, so the connection is aborted"


@dataclass(frozen=True, slots=True)
class _Tables:
    """One consistent snapshot of the registry; a registration makes the next one.

    A resolution holds the snapshot it started with, so it finishes with the
    handlers it began with, whatever is registered meanwhile.
    """

    by_class: Mapping[type[BaseException], HandlerValue]
    by_status: Mapping[int, HandlerValue]
    # Whether calling a registered callable gives a coroutine, by its id (the
    # tables hold the callables, so an id stays theirs while the tables live).
    asyncs: Mapping[int, bool]
    # Values by exception type, at most `interceptor._typecache.MAX_TYPES` types.
    cache: dict[type[BaseException], tuple[HandlerValue, ...]] = field(default_factory=dict)
    # Responses rendered ahead for the registered values.
    plans: PlanCache = field(default_factory=PlanCache)

    @classmethod
    def of(
        cls,
        by_class: Mapping[type[BaseException], HandlerValue],
        by_status: Mapping[int, HandlerValue],
        before: _Tables | None,
    ) -> _Tables:
        """A snapshot of copies of ``by_class`` and ``by_status``.

        Whether each callable is async is taken from ``before`` where it was
        worked out already: ``before`` holds its values, so an id found there
        is the same object's.
        """
        known = before.asyncs if before is not None else {}
        asyncs = {}
        for value in (*by_class.values(), *by_status.values()):
            if not isinstance(value, INLINE_TYPES):
                is_async = known.get(id(value))
                asyncs[id(value)] = is_async_callable(value) if is_async is None else is_async
        return cls(by_class=dict(by_class), by_status=dict(by_status), asyncs=asyncs)


# Every interceptor renders `ApiError`s by their declared status and code, as if
# this empty template were registered for `ApiError`.
_API_ERROR_DEFAULT = EMPTY_PROBLEM


class Interceptor:
    """Exception handlers for one scope, picked by the exception's MRO.

    ``handlers`` maps keys to values. A key is an `Exception` subclass, a
    tuple of them, or an ``int`` HTTP status (matching framework HTTP
    exceptions and `ApiError` by status). A value is an ``int`` status (400
    to 599), a `Problem` template, or a callable ``handler(request, exc)``,
    sync or async.

    ``debug`` shows 5xx details and tracebacks in bodies. Left ``None``, it
    follows the framework's own flag for each request (``Starlette(debug=...)``,
    ``FastAPI(debug=...)``, Flask's ``app.debug``; off under plain WSGI); a bool
    given here wins. Only a real bool or ``None`` is accepted. ``body`` picks the
    body shape: ``"problem"`` (RFC 9457, the default), ``"flat"``, or a
    callable taking an `ErrorInfo` and returning the JSON object.
    ``rewrite_body(body, info)`` may rewrite every body before it is sent.
    ``detail_limit`` truncates longer details (and says so in the body).
    ``reporter`` receives a report for every intercepted 5xx, delivered by
    one worker per process (see `flush`); the report carries the client's
    address only with ``report_client_address=True``, and ``scrub_report``,
    if given, gets each report and returns the one to deliver (a copy made
    with ``dataclasses.replace``), to scrub more than the built-in list.
    ``slo_categories`` says, per `Category`, whether its errors count against
    the availability SLO in the counters, Prometheus and OpenTelemetry (say
    ``{Category.TEMPORARY: False}`` to count upstream outages apart); a
    ``Problem(slo=...)``, an `ApiError` subclass's ``slo`` or a registered
    classifier's ``Classification(slo=...)`` wins over it, and without any of
    them a 5xx counts and a 4xx does not.
    ``handler_timeout`` bounds, in seconds, how long an awaited handler may
    take (under ASGI: async handlers, and sync ones in their worker thread);
    one that takes longer is answered with a 500. ``None`` sets no bound.
    A sync handler's thread is left to finish; while a few left so still run,
    no sync handler starts and ``deliveries`` counts ``handlers_skipped``.

    Raises ``TypeError`` or ``ValueError`` naming any bad key or value.

    Example::

        errors = Interceptor({LookupError: 404, PermissionError: on_forbidden})

        @errors.handler(TimeoutError)
        async def on_timeout(request, exc):
            return Problem(status=504, code="UPSTREAM_TIMEOUT")
    """

    def __init__(
        self,
        handlers: Mapping[Key, HandlerValue] | None = None,
        *,
        debug: bool | None = None,
        body: BodyShape = "problem",
        rewrite_body: Callable[[dict[str, Any], ErrorInfo], Mapping[str, Any]] | None = None,
        detail_limit: int = 4096,
        reporter: Reporter | None = None,
        name: str = "default",
        observers: Iterable[Observer] = (),
        report_timeout: float = 10.0,
        handler_timeout: float | None = 30.0,
        report_client_address: bool = False,
        scrub_report: Callable[[Report], Report] | None = None,
        slo_categories: Mapping[Category, bool] | None = None,
    ) -> None:
        self.debug = _bool_or_none("debug", debug, "True, False or None (follow the framework)")
        self.reporter = _callable_or_none("reporter", reporter)
        self.name = _non_empty_str("name", name)
        self.report_timeout = _positive_seconds("report_timeout", report_timeout)
        self.handler_timeout = (
            None
            if handler_timeout is None
            else _positive_seconds("handler_timeout", handler_timeout, or_none=True)
        )
        self.report_client_address = _bool("report_client_address", report_client_address)
        self.scrub_report = _callable_or_none("scrub_report", scrub_report)
        self.counts = ErrorCounts()
        self.deliveries = DeliveryCounts()
        self._renderer = Renderer.for_shape(
            body,
            rewrite=_callable_or_none("rewrite_body", rewrite_body),
            detail_limit=_positive_int("detail_limit", detail_limit),
        )
        self._debug_renderer = dataclasses.replace(self._renderer, debug=True)
        self._lock = threading.Lock()
        self._observers: tuple[Observer, ...] = ()
        # `_every_4xx_described`: whether every 4xx needs an event (an observer
        # sees them, or SLO categories may count them); kept by the setter
        # below and by add_observer, read per error.
        self.slo_categories = slo_categories  # checked and copied by the setter
        for observer in observers:
            self.add_observer(observer)
        # What is registered, changed under the lock; `_tables` is the snapshot
        # resolutions read, made from these when first needed after a change
        # (`_snapshot`), so registering n handlers one call at a time is linear.
        self._by_class: dict[type[BaseException], HandlerValue] = {ApiError: _API_ERROR_DEFAULT}
        self._by_status: dict[int, HandlerValue] = {}
        self._built: _Tables | None = None
        self._tables: _Tables | None = None
        if handlers is not None:
            if not isinstance(handlers, Mapping):
                raise TypeError(f"handlers must be a mapping of key to value, got {handlers!r}")
            self._register(handlers.items())

    def __repr__(self) -> str:
        tables = self._tables or self._snapshot()
        keys = [*tables.by_status, *(cls.__qualname__ for cls in tables.by_class)]
        return f"<Interceptor {self.name!r} handlers={keys!r}>"

    # -- observing -----------------------------------------------------------

    @property
    def slo_categories(self) -> Mapping[Category, bool]:
        """Per `Category`, whether its errors count against the availability SLO.

        A read-only copy of what was given; assigning a new mapping checks it
        as the constructor does.
        """
        return self._slo_categories

    @slo_categories.setter
    def slo_categories(self, value: Mapping[Category, bool] | None) -> None:
        checked = _slo_categories(value)
        with self._lock:
            self._slo_categories = checked
            self._every_4xx_described = bool(checked) or bool(self._observers)

    def add_observer(self, observer: Observer) -> None:
        """Call ``observer(event)`` with an `ErrorEvent` for every intercepted error.

        Observers run inline, so they must be quick (counters, span updates);
        one that raises is logged and skipped. Raises ``TypeError`` if
        ``observer`` is not callable.

        Example::

            errors.add_observer(lambda event: print(event.status, event.category))
        """
        if not callable(observer):
            raise TypeError(f"observer must be callable, got {observer!r}")
        with self._lock:
            self._observers = (*self._observers, observer)
            self._every_4xx_described = True

    def observe(
        self,
        exc: BaseException,
        status: int,
        request: RequestInfo,
        error_id: str | None = None,
        *,
        note: str = "",
        raised: BaseException | None = None,
        slo: bool | None = None,
    ) -> None:
        """Log, count and report an error answered with ``status``; adapters call it.

        5xx go to the reporter, off the response path. ``error_id`` is the one
        in the body; a 5xx without one gets a fresh id. ``raised`` is the
        exception as raised, where ``exc`` is the one leaf of its group: the
        report's traceback shows both. ``slo`` is what the answer said of the
        availability SLO (`Outcome.slo`); ``None`` lets an `ApiError` class's
        ``slo``, then the classification (5xx), then ``slo_categories``, then
        the status decide.
        """
        if slo is None:
            if self.counted_alone(exc, status):
                return
            if issubclass(type(exc), ApiError):
                slo = type(exc).slo  # type: ignore[attr-defined]
        event = describe(
            exc,
            status,
            error_id,
            request,
            scope=self.name,
            slo=slo,
            slo_categories=self.slo_categories,
        )
        log(
            event, note, raised=raised, counts=self.deliveries, timeout=self.report_timeout
        )
        self.counts.add(event.category, status, self.name, event.slo)
        self._notify(event)
        if status >= 500 and self.reporter is not None:
            self._report(event, raised if raised is not None else exc)

    def counted_alone(self, exc: BaseException, status: int) -> bool:
        """Whether ``status``, the answer to ``exc``, is a 4xx that nothing logs,
        observes or reports; if so, it is counted here, which is all `observe`
        (with no ``slo`` said) would do with it. The common error answer: its
        check comes first, and needs nothing built.
        """
        if (
            status < 500
            and not self._every_4xx_described
            and not logger.isEnabledFor(logging.INFO)
            and (not issubclass(type(exc), ApiError) or type(exc).slo is None)  # type: ignore[attr-defined]
        ):
            self.counts.add_status(status, self.name)
            return True
        return False

    def observe_late(
        self, exc: BaseException, request: RequestInfo, per_request: MutableMapping[str, Any]
    ) -> None:
        """An exception that escaped after the response started: nothing can be sent.

        Logged, counted and reported as a 500, once per request however many
        scopes it passes on its way to the server. The adapters call it for
        what the interceptor matches (the innermost such one in scope: what
        none matches reaches the server untouched). ``per_request`` is a
        mapping that lives as long as the request (the ASGI scope, the WSGI
        environ), where a mark of the exception already observed is kept: an
        exception object raised again in a later request is observed there
        again. The mark does not keep the exception alive: its traceback's
        frames refer to that mapping, and the request's data would otherwise
        wait for the cyclic collector. A framework unwinding after it sent its
        own response (Starlette's request body limiter, after its 413) is no
        crash, and is not observed.
        """
        leaf = single_leaf(exc)
        if is_mark_of(per_request.get(_OBSERVED_LATE), leaf) or is_framework_unwind(leaf):
            return
        per_request[_OBSERVED_LATE] = mark_of(leaf)
        self.observe(leaf, 500, request, note=_LATE_NOTE, raised=exc)

    def report_error(self, exc: BaseException, request: object = None) -> str:
        """Report an error the endpoint handled itself; returns its ``error_id``.

        The reporter gets it marked ``fatal=False`` and the log line says
        non-fatal; counters and observers, which count error responses, do not
        see it. ``request`` is the framework's request, or ``None``.

        Example::

            except CacheDown as exc:
                errors.report_error(exc, request)   # then serve without the cache
        """
        error_id = new_error_id()
        event = describe(
            exc,
            _status_of(exc),
            error_id,
            request_info_of(request),
            scope=self.name,
            fatal=False,
        )
        log(event, counts=self.deliveries, timeout=self.report_timeout)
        if self.reporter is not None:
            self._report(event, exc)
        return error_id

    def _report(self, event: ErrorEvent, raised: BaseException) -> None:
        assert self.reporter is not None  # noqa: S101 - callers check
        delivery.submit(
            report_job(
                event,
                raised,
                self.reporter,
                counts=self.deliveries,
                timeout=self.report_timeout,
                client_address=self.report_client_address,
                scrub=self.scrub_report,
            )
        )

    def flush(self, timeout: float = EXIT_FLUSH_SECONDS) -> bool:
        """Wait up to ``timeout`` seconds for the queued reports to be delivered.

        Reports go to one delivery worker per process, so this waits for every
        interceptor's. Returns whether nothing was left waiting. It runs by
        itself at interpreter exit and at ASGI lifespan shutdown.

        Example::

            errors.flush(5.0)  # before a worker process exits on its own
        """
        return delivery.flush(timeout)

    def _notify(self, event: ErrorEvent) -> None:
        for observer in self._observers:
            try:
                observer(event)
            except Exception:  # noqa: BLE001 - an observer must never break the error response
                log_failure("interceptor observer %s failed", callable_name(observer))

    # -- registration -----------------------------------------------------

    @overload
    def add_handler(self, key: type[E], value: int | Problem | ExceptionHandler[E]) -> None: ...

    @overload
    def add_handler(self, key: tuple[type[Exception], ...] | int, value: HandlerValue) -> None: ...

    def add_handler(self, key: Key, value: HandlerValue) -> None:
        """Register ``value`` for ``key``, replacing what the key had.

        Safe while requests are being served: resolutions in flight finish with
        the handlers they started with, later ones see the new handler.
        Raises ``TypeError``/``ValueError`` naming a bad key or value.

        Example::

            errors.add_handler(ValueError, 400)
        """
        self._register([(key, value)])

    @overload
    def handler(self, key: type[E]) -> Callable[[Callable[[Any, E], R]], Callable[[Any, E], R]]: ...

    @overload
    def handler(
        self, key: tuple[type[Exception], ...] | int
    ) -> Callable[[Callable[[Any, Any], R]], Callable[[Any, Any], R]]: ...

    def handler(self, key: Key) -> Callable[[Callable[[Any, Any], R]], Callable[[Any, Any], R]]:
        """Decorator form of `add_handler`; returns the function unchanged.

        Example::

            @errors.handler(TimeoutError)
            async def on_timeout(request, exc):
                return 504
        """
        # The key is checked now, not when the function comes: used bare
        # (`@errors.handler`), the decorator would stand in for the function.
        if callable(key) and not isinstance(key, type):
            raise TypeError(
                f"handler() takes the key to register for, not the handler "
                f"{callable_name(key)}: write @errors.handler(KeyError)"
            )
        expand_key(key)

        def register(func: Callable[[Any, Any], R]) -> Callable[[Any, Any], R]:
            self._register([(key, func)])
            return func

        return register

    def _register(self, items: Iterable[tuple[object, object]]) -> None:
        entries = [(k, check_value(v)) for key, v in items for k in expand_key(key)]
        with self._lock:
            for key, value in entries:
                if isinstance(key, int):
                    self._by_status[key] = value
                else:
                    self._by_class[key] = value
            self._tables = None  # the next resolution makes a new snapshot

    def registered(
        self,
    ) -> tuple[Mapping[type[BaseException], HandlerValue], Mapping[int, HandlerValue]]:
        """What is registered, by class and by status: one consistent snapshot, read-only.

        Example::

            by_class, by_status = errors.registered()
        """
        tables = self._tables or self._snapshot()
        return MappingProxyType(tables.by_class), MappingProxyType(tables.by_status)

    def _snapshot(self) -> _Tables:
        """The tables as registered now, made once after each change."""
        with self._lock:
            tables = self._tables
            if tables is None:
                tables = _Tables.of(self._by_class, self._by_status, self._built)
                self._tables = self._built = tables
            return tables

    # -- resolution ----------------------------------------------------------

    def resolve(self, exc: BaseException | type[BaseException]) -> HandlerValue | None:
        """The value the interceptor would try first for ``exc``, or ``None``.

        Takes an exception instance or class. A status key is only consulted
        for an instance, since the status lives on the instance. Raises
        ``TypeError`` for anything else: answering ``None`` to ``resolve(404)``
        would say nothing is registered.

        Example::

            errors.resolve(KeyError)  # -> 404 when LookupError is mapped to 404
        """
        if not isinstance(exc, BaseException) and not (
            isinstance(exc, type) and issubclass(exc, BaseException)
        ):
            raise TypeError(f"resolve() takes an exception or an exception class, got {exc!r}")
        tables = self._tables or self._snapshot()
        if isinstance(exc, type):
            values = tables.cache.get(exc)
            if values is None:
                if not issubclass(exc, Exception) or _passes_through(exc):
                    return None
                values = self._class_candidates(exc, tables)
        else:
            values = self.candidates(exc)[1]
        return values[0] if values else None

    def may_handle(self, tp: type[BaseException]) -> bool:
        """Whether an exception of type ``tp`` may get an answer here.

        True when a registered class is in ``tp``'s MRO, and for every
        exception group (its leaf decides). Whether an instance really gets an
        answer can still depend on it (a status key, a handler that declines);
        but when this is false, no instance of ``tp`` or of its bases does.
        """
        tables = self._tables or self._snapshot()
        values = tables.cache.get(tp)
        if values is not None:
            return bool(values)
        if not issubclass(tp, Exception) or _passes_through(tp):
            return False
        return issubclass(tp, BaseExceptionGroup) or bool(self._class_candidates(tp, tables))

    def is_async(self, handler: object) -> bool:
        """Whether calling ``handler``, a callable registered here, gives a coroutine."""
        is_async = (self._tables or self._snapshot()).asyncs.get(id(handler))
        return is_async_callable(handler) if is_async is None else is_async

    def has_status_key(self, status: object) -> bool:
        """Whether an ``int`` status key is registered for ``status``."""
        return status in (self._tables or self._snapshot()).by_status

    def candidates(self, exc: BaseException) -> tuple[BaseException, tuple[HandlerValue, ...]]:
        """The exception handlers receive, and the values to try, most specific first.

        A single-leaf exception group resolves by (and hands over) its leaf.
        Only `Exception` subclasses match; anything else gets no values.
        """
        tables = self._tables or self._snapshot()
        # The cache holds only Exception types that are not groups, so a hit
        # settles both questions without isinstance(), whose cost grows with
        # the depth of the hierarchy.
        leaf = exc
        values = tables.cache.get(type(exc))
        if values is None:
            leaf = single_leaf(exc)
            if not issubclass(type(leaf), Exception):  # as `except` does, not by __class__
                return leaf, ()
            values = self._class_candidates(type(leaf), tables)
        if not values and not tables.by_status:
            return leaf, ()  # nothing could match: the common case in nested scopes
        if KINDS_BY_TYPE.get(type(leaf)) is HttpKind.PLAIN:
            return leaf, values  # a plain exception: no status to key on, never passes through
        return leaf, _by_http_kind(tables, leaf, values)

    @staticmethod
    def _class_candidates(tp: type[BaseException], tables: _Tables) -> tuple[HandlerValue, ...]:
        values = tables.cache.get(tp)
        if values is None:
            # What passes through has nothing to try, whatever its bases match:
            # cached so, `may_handle` and `resolve` of the type agree with
            # `candidates` of its instances.
            values = () if _passes_through(tp) else _mro_values(tp, tables)
            # A group's instance may resolve by its leaf instead, so a group
            # type is never cached (see `candidates`); groups are rare.
            if not issubclass(tp, BaseExceptionGroup):
                remember(tables.cache, tp, values, "candidates")
        return values

    # -- turning values and results into responses -----------------------------

    def outcome(
        self,
        value: object,
        exc: BaseException,
        request: RequestInfo,
        *,
        handler: object = None,
    ) -> Outcome | None:
        """The response for a registered value or a handler's result; ``None`` declines.

        ``handler`` names who returned ``value``; a result that is none of the
        accepted forms is logged against it and answered with a plain 500. A
        5xx ``(body, status)`` answer shows the client its ``error_id``: a
        member of an object body, else an ``X-Error-Id`` header.
        """
        if value is None:
            return None
        renderer = self._renderer_for(request)
        foreign = not renderer.debug and _is_foreign(exc)
        if handler is None and not foreign:
            # A registered value: it lives as long as the tables, and so may its plan.
            tables = self._tables or self._snapshot()
            planned = tables.plans.outcome(renderer, value, exc, request)
            if planned is not None:
                return planned
        value = _template_of(value, exc, foreign=foreign)
        if isinstance(value, Problem):
            return renderer.render(value, exc, request)
        if is_error_status(value):
            return renderer.render(_API_ERROR_DEFAULT, exc, request, status=value)
        answer = _tuple_answer(renderer, value, request)
        if answer is None:
            self._wrong_answer(value, handler)
            answer = renderer.render(_API_ERROR_DEFAULT, exc, request, status=500)
        return answer

    def _wrong_answer(self, value: object, handler: object) -> None:
        if value is HANDLER_SKIPPED:
            return  # the adapter logs that once, not once a request
        what = (
            f"did not answer within {self.handler_timeout:g} s"
            if value is HANDLER_TIMED_OUT
            else f"returned {_short_repr(value)}, which is not a response, Problem, int "
            "status, (body, status[, headers]) tuple or None"
        )
        name = callable_name(handler)
        logger.error(
            "interceptor handler %s %s; answering 500", name, what, extra={"handler": name}
        )

    def _renderer_for(self, request: RequestInfo) -> Renderer:
        debug = self.debug
        if debug is None:
            debug = request.debug
        return self._debug_renderer if debug else self._renderer


# The libraries whose messages are theirs, also in an application's subclass of
# their errors: an upstream's error text and URL, a driver's SQL and parameters.
_LIBRARIES = frozenset({*INTEGRATIONS, "boto3", "httpcore", "urllib3"})
# Whose words each exception type's message is (`_origin`): the application's,
# a library's, or whoever raised it (a built-in class). Bounded like every
# per-type cache.
_MESSAGE_ORIGINS: dict[type, ClassOrigin] = {}


def _is_foreign(exc: BaseException) -> bool:
    """Whether ``exc``'s message is a library's words, never to be shown in a body."""
    tp = type(exc)
    origin = _MESSAGE_ORIGINS.get(tp) or remember(
        _MESSAGE_ORIGINS, tp, _message_origin(tp), "foreign"
    )
    if origin is ClassOrigin.BUILTIN:
        return not raised_by_application(exc)
    return origin is ClassOrigin.LIBRARY


def _message_origin(tp: type[BaseException]) -> ClassOrigin:
    if kind_of_type(tp) is not HttpKind.PLAIN:
        # Written for the client: an ApiError's message, a framework HTTP
        # exception's detail (`abort(404, "...")`); validation errors render
        # their own items, never the message.
        return ClassOrigin.APPLICATION
    if any(module_name(cls).partition(".")[0] in _LIBRARIES for cls in tp.__mro__):
        return ClassOrigin.LIBRARY
    return class_origin(tp)


def _with_library_detail(value: Problem | int, exc: BaseException) -> Problem | int:
    """``value`` with a fixed detail of ours where the library's message would go (4xx)."""
    template = value if isinstance(value, Problem) else Problem(status=value)
    status = template.status or 500
    if template.detail is not None or status >= 500:
        return value  # a 5xx shows no detail; a template's own detail is the application's
    detail = classify(exc).detail or "The request could not be completed."
    return replaced(template, detail=detail)


def _is_validation(exc: BaseException) -> bool:
    kind = http_kind(exc)
    if kind is HttpKind.WERKZEUG:
        return is_missing_request_key(exc)
    return kind is HttpKind.VALIDATION


def _with_error_id(body: object, headers: list[tuple[str, str]]) -> tuple[object, str]:
    """A handler's 5xx body, carrying the error_id that the log and the report get.

    A JSON object gets an ``error_id`` member (a copy: the handler may keep its
    dict); any other body leaves it as it is and gets an ``X-Error-Id``
    header. An id the handler put there itself, a non-empty str, is kept.
    """
    if isinstance(body, Mapping):
        own = body.get("error_id")
        if isinstance(own, str) and own:
            return body, own
        error_id = new_error_id()
        return {**body, "error_id": error_id}, error_id
    for name, value in headers:
        if name.lower() == "x-error-id" and value:
            return body, value
    error_id = new_error_id()
    headers.append(("X-Error-Id", error_id))
    return body, error_id


def _short_repr(value: object, limit: int = 200) -> str:
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a broken __repr__ must not hide the handler's bug
        text = f"<unprintable {type(value).__qualname__}>"
    return text if len(text) <= limit else text[:limit] + "..."


def _mro_values(tp: type[BaseException], tables: _Tables) -> tuple[HandlerValue, ...]:
    """The values registered along ``tp``'s MRO, most specific first, each once."""
    seen: list[HandlerValue] = []
    # An HTTP exception matched only through a base class that declares
    # no status (Exception, LookupError, KeyError) keeps its own status:
    # a plain value there gives the default body at that status. A
    # callable still receives it and decides.
    # A WebSocketException matched only through such a base is left to
    # Starlette, which closes with the code it carries.
    # pydantic's own ValidationError matched only through such a base is
    # the app's crash as any other: a Problem without a status there gives
    # 500, never the validation rendering's 422.
    keeps_status = is_http_exception_type(tp)
    keeps_close = is_websocket_close_type(tp)
    crashes = not keeps_status and is_validation_type(tp)
    for cls in tp.__mro__:
        value = tables.by_class.get(cls)
        if isinstance(value, INLINE_TYPES):
            value = _inline_along(
                value, cls, keeps_status=keeps_status, keeps_close=keeps_close, crashes=crashes
            )
        if value is not None and not any(value is s for s in seen):
            seen.append(value)
    return tuple(seen)


def _inline_along(
    value: HandlerValue, cls: type, *, keeps_status: bool, keeps_close: bool, crashes: bool
) -> HandlerValue | None:
    """What a plain ``value`` registered on ``cls`` gives an exception with ``cls`` in its MRO."""
    if keeps_status and not is_http_exception_type(cls):
        return _API_ERROR_DEFAULT
    if keeps_close and not is_websocket_close_type(cls):
        return None
    if crashes and isinstance(value, Problem) and value.status is None:
        return value if is_validation_type(cls) else replaced(value, status=500)
    return value


def _by_http_kind(
    tables: _Tables, leaf: BaseException, values: tuple[HandlerValue, ...]
) -> tuple[HandlerValue, ...]:
    """``values`` for an exception that may carry a status: none if it passes through,
    the value registered for its status first."""
    kind = http_kind(leaf)
    if kind is HttpKind.PASSTHROUGH:
        return ()
    if kind is HttpKind.PLAIN:
        return values
    if declares_no_error_status(leaf, kind):
        # A redirect, a 2xx, a code that is no status: a value that renders
        # at the exception's own status (a plain value on a base it merely
        # inherits from, a Problem with no status) has none to render at, so
        # it is the framework's to answer, as without us.
        values = tuple(value for value in values if not _at_own_status(value))
    if tables.by_status:
        return _status_key_first(tables, http_status(leaf, kind), values)
    return values


def _at_own_status(value: HandlerValue) -> bool:
    """Whether ``value`` renders at the status of the exception it answers."""
    return value is _API_ERROR_DEFAULT or (isinstance(value, Problem) and value.status is None)


def _status_key_first(
    tables: _Tables, status: object, values: tuple[HandlerValue, ...]
) -> tuple[HandlerValue, ...]:
    """``values`` with the value registered for ``status``, if any, tried first."""
    by_status = tables.by_status.get(status)  # type: ignore[call-overload]
    if by_status is None:
        return values
    return (by_status, *(v for v in values if v is not by_status))


def _template_of(value: object, exc: BaseException, *, foreign: bool) -> object:
    """What ``value`` renders as for ``exc``: an inline handler's `Problem`, a fixed detail
    in place of a library's message, a validation error's ``errors``; else ``value``.
    """
    if isinstance(value, InlineHandler):
        value = value.problem(exc)
    if not isinstance(value, Problem) and not is_error_status(value):
        return value
    if foreign:
        value = _with_library_detail(value, exc)
    if _is_validation(exc):
        # The errors array, and never the exception's text (a repr of the input);
        # a 5xx, the server's own failure, lists no errors of the client's.
        template = value if isinstance(value, Problem) else Problem(status=value)
        if template.status is None or template.status < 500:
            value = validation_problem_for(exc, template)
    return value


def _tuple_answer(renderer: Renderer, value: object, request: RequestInfo) -> Outcome | None:
    """A handler's own ``(body, status[, headers])`` answer; ``None`` if ``value`` is none.

    The body must be a JSON value (an object, an array, a string, a number,
    true, false or null): anything else would go out as its ``str()``, a repr
    nobody wrote for the client, so it is the handler's bug. (Values nested
    in it that JSON cannot encode become strings, as in a `Problem`.)
    """
    if not (isinstance(value, tuple) and 2 <= len(value) <= 3 and is_response_status(value[1])):
        return None
    if not (value[0] is None or isinstance(value[0], _JSON_VALUES)):
        return None
    status = value[1]
    headers = safe_headers(header_items(value[2])) if len(value) == 3 else []
    body: object = value[0]
    error_id = None
    if status >= 500:
        body, error_id = _with_error_id(body, headers)
    return renderer.outcome(
        status, headers, encode_json(body), request, content_type=JSON, error_id=error_id
    )


_JSON_VALUES = (str, int, float, list, tuple, Mapping)


def _status_of(exc: BaseException) -> int:
    return classify(exc).status


def _passes_through(tp: type[BaseException]) -> bool:
    """Whether every instance of ``tp`` is a redirect or other ready response."""
    return kind_of_type(tp) is HttpKind.PASSTHROUGH


# -- checking the constructor's options ---------------------------------------------


def _callable_or_none(name: str, value: _T) -> _T:
    if value is not None and not callable(value):
        raise TypeError(f"{name} must be callable, got {value!r}")
    return value


def _bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {value!r}")
    return value


def _bool_or_none(name: str, value: object, accepted: str) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise TypeError(f"{name} must be {accepted}, got {value!r}")
    return value


def _non_empty_str(name: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError(f"{name} must be a non-empty str, got {value!r}")
    return value


def _positive_int(name: str, value: object) -> int:
    if not is_int(value):
        raise TypeError(f"{name} must be a positive int, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def _positive_seconds(name: str, value: object, *, or_none: bool = False) -> float:
    # Threads wait this long (the delivery worker, a handler's), and a wait past
    # threading.TIMEOUT_MAX, infinity too, raises OverflowError each time: refused
    # here, not on every report. A bool is no number of seconds.
    number = None if isinstance(value, bool) or not isinstance(value, int | float) else value
    if number is None or not 0 < number <= threading.TIMEOUT_MAX:
        accepted = "positive seconds or None" if or_none else "positive seconds"
        raise ValueError(
            f"{name} must be {accepted}, at most {threading.TIMEOUT_MAX:.0f}, got {value!r}"
        )
    return float(number)


def _slo_categories(value: object) -> Mapping[Category, bool]:
    if value is None:
        return MappingProxyType({})
    accepted = "slo_categories must map Category members to bools"
    if not isinstance(value, Mapping):
        raise TypeError(f"{accepted}, got {value!r}")
    try:
        copied = dict(value)
    except Exception as exc:
        raise TypeError(f"{accepted}; reading it failed: {exc!r}") from exc
    if not all(isinstance(k, Category) and isinstance(v, bool) for k, v in copied.items()):
        raise TypeError(f"{accepted}, got {copied!r}")
    return MappingProxyType(copied)
