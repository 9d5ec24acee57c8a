"""`classify`: should the caller retry? A pure function from an exception to a `Classification`.

What `classify` consults, first answer wins::

    1. the registry, walking type(exc).__mro__ most specific first; at each
       class a user's registration before a built-in one. Built-ins are:
         TimeoutError                        TIMEOUT            504
         PermissionError                     PERMISSION_DENIED  403
         FileNotFoundError                   NOT_FOUND          404
         ConnectionError and its subclasses  TEMPORARY          502
         InterruptedError, BlockingIOError   TEMPORARY          503
         ssl.SSLCertVerificationError        PERMANENT          502  (= ssl.CertificateError)
         ssl.SSLError (handshake, protocol)  PERMANENT          502
         ssl.SSLEOFError, SSLZeroReturnError,
             SSLSyscallError                 TEMPORARY          502  (connection lost)
         ssl.SSLWantReadError/WriteError     TEMPORARY          503
         socket.gaierror                     TEMPORARY 502 for EAI_AGAIN, else PERMANENT 502
         socket.herror                       PERMANENT          502
         urllib.error.HTTPError / URLError   the upstream rules, like httpx
         OSError                             by errno; other errnos fall through
       (ssl and socket errors carry library codes in ``errno``, so their own
       rules, being more specific, must and do run before the errno rule.)
         httpx, requests, aiohttp, botocore, redis,
         psycopg, psycopg2, asyncpg, PyMySQL, grpc,
         google-api-core,
         SQLAlchemy                          interceptor.integrations.*
       A function in the registry may answer None: the walk goes on.
    2. duck typing: a declared HTTP status (ApiError, Starlette, Werkzeug);
       else an HTTP client's error about an answer it received (it carries
       ``request_info``, or a ``response`` that names its ``request`` or
       ``url``), whose ``status``/``status_code`` is the upstream's and maps
       by `upstream`; else a ``status``/``status_code`` int of its own, then
       ``timeout``, then ``temporary`` (attribute or method), then
       ``retry_after`` alone.
    3. its explicit ``__cause__`` (``raise ... from cause``), by 1. and 2.,
       then that one's, at most MAX_CAUSES (8) links, stopping at a cycle:
       only an exception nothing above knows is decided by what caused it;
       the implicit ``__context__`` (an error while handling another) is not
       a cause and is never consulted.
    4. PERMANENT, 500.

Every answer carries a fixed ``detail``, the text a body shows instead of the
exception's message: a library's message names internal hosts, URLs with
their credentials, SQL and its parameters (SPEC 5). The rules above give the
cause's own ("The upstream service timed out."), others the category's
(`Category.detail`). The message itself still goes to the log and the report.

A ``retry_after`` attribute (seconds or ``timedelta``) on the exception also
fills in the delay of any retryable answer that has none.

Stdlib modules that are not always loaded (``ssl``, ``socket``, ``urllib``)
and the integrations register their rules the first time `classify` sees an
exception with a class from that module in its MRO: such an exception means
the module is imported already, so `import interceptor` imports none of them.
"""

from __future__ import annotations

import enum
import errno
import importlib
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TypeAlias, TypeVar, overload

from interceptor._delivery import log_failure
from interceptor._errors import ApiError
from interceptor._http import HttpKind, http_kind, http_status, is_plain, module_name
from interceptor._problem import Problem, check_error_status, check_slo, seconds
from interceptor._status import is_error_status, is_int, retryable_for_status
from interceptor._typecache import remember
from interceptor._values import InlineHandler, single_leaf

__all__ = [
    "INTEGRATIONS",
    "MAX_CAUSES",
    "MAX_RETRY_AFTER",
    "UPSTREAM_CONNECTION_FAILED",
    "UPSTREAM_HUNG_UP",
    "UPSTREAM_INCOMPLETE",
    "UPSTREAM_REFUSED_US",
    "UPSTREAM_REJECTED",
    "UPSTREAM_REQUEST_INVALID",
    "UPSTREAM_THROTTLED",
    "UPSTREAM_TIMED_OUT",
    "UPSTREAM_TLS",
    "UPSTREAM_UNAVAILABLE",
    "UPSTREAM_UNREACHABLE",
    "UPSTREAM_UNUSABLE",
    "Category",
    "Classification",
    "ClassifierFunction",
    "classified",
    "classify",
    "classify_status",
    "header",
    "parse_retry_after",
    "register_builtin",
    "register_classifier",
    "rule_types",
    "status_category",
    "upstream",
    "upstream_response_error",
]

logger = logging.getLogger("interceptor")


class Category(enum.StrEnum):
    """What kind of failure an error is, which decides whether to retry.

    Each category has a default HTTP ``status`` and says whether the caller
    may retry (``retryable``). The value is the name, which `classified`
    uses as the body's ``code`` and metrics use as a label.

    =================  ======  =========
    Category           status  retryable
    =================  ======  =========
    TIMEOUT            504     yes
    THROTTLED          429     yes, after ``retry_after``
    TEMPORARY          503     yes
    PERMANENT          500     no
    INVALID_ARGUMENT   400     no
    NOT_FOUND          404     no
    PERMISSION_DENIED  403     no
    UNAUTHENTICATED    401     no
    CONFLICT           409     no
    =================  ======  =========

    Each also has a default ``detail``, the fixed text a body shows when the
    rule that classified an error gives none of its own:

    =================  ==============================================================
    Category           detail
    =================  ==============================================================
    TIMEOUT            The operation timed out.
    THROTTLED          Too many requests; retry later.
    TEMPORARY          The service is temporarily unavailable.
    PERMANENT          The request could not be completed.
    INVALID_ARGUMENT   The request is not valid.
    NOT_FOUND          The requested resource was not found.
    PERMISSION_DENIED  Access to the resource is denied.
    UNAUTHENTICATED    Authentication is required.
    CONFLICT           The request conflicts with the current state of the resource.
    =================  ==============================================================

    Example::

        Category.THROTTLED.status     # 429
        Category.TEMPORARY.retryable  # True
        Category.TIMEOUT.detail       # "The operation timed out."
    """

    TIMEOUT = "TIMEOUT"
    THROTTLED = "THROTTLED"
    TEMPORARY = "TEMPORARY"
    PERMANENT = "PERMANENT"
    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    NOT_FOUND = "NOT_FOUND"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    CONFLICT = "CONFLICT"

    @property
    def status(self) -> int:
        """The HTTP status an error of this category gets unless told otherwise."""
        return _DEFAULTS[self][0]

    @property
    def retryable(self) -> bool:
        """Whether a caller may retry an error of this category."""
        return _DEFAULTS[self][1]

    @property
    def detail(self) -> str:
        """The fixed text a body shows for this category when its rule gives none."""
        return _DEFAULTS[self][2]


_DEFAULTS: Mapping[Category, tuple[int, bool, str]] = {
    Category.TIMEOUT: (504, True, "The operation timed out."),
    Category.THROTTLED: (429, True, "Too many requests; retry later."),
    Category.TEMPORARY: (503, True, "The service is temporarily unavailable."),
    Category.PERMANENT: (500, False, "The request could not be completed."),
    Category.INVALID_ARGUMENT: (400, False, "The request is not valid."),
    Category.NOT_FOUND: (404, False, "The requested resource was not found."),
    Category.PERMISSION_DENIED: (403, False, "Access to the resource is denied."),
    Category.UNAUTHENTICATED: (401, False, "Authentication is required."),
    Category.CONFLICT: (
        409,
        False,
        "The request conflicts with the current state of the resource.",
    ),
}

# -- fixed details of causes ------------------------------------------------------
# What a body says about an upstream's failure instead of the library's message,
# which names the upstream's host, a URL with its credentials, its own text. The
# integrations and the stdlib rules share them, so one cause reads the same
# whichever client met it.
UPSTREAM_THROTTLED = "The upstream service answered 429 Too Many Requests."
UPSTREAM_TIMED_OUT = "The upstream service timed out."
UPSTREAM_UNAVAILABLE = "The upstream service is unavailable."
UPSTREAM_REFUSED_US = "The upstream service refused our credentials."
UPSTREAM_REJECTED = "The upstream service rejected our request."
UPSTREAM_UNUSABLE = "The upstream service gave an answer that could not be used."
UPSTREAM_INCOMPLETE = "The upstream service sent an incomplete answer."
UPSTREAM_UNREACHABLE = "The upstream service could not be reached."
UPSTREAM_HUNG_UP = "The upstream service closed the connection."
UPSTREAM_CONNECTION_FAILED = "The connection to the upstream service failed."
UPSTREAM_TLS = "The secure connection to the upstream service failed."
# Our own request was malformed (a bad URL, an unsupported scheme): a 500.
UPSTREAM_REQUEST_INVALID = "The request to the upstream service could not be made."


@dataclass(frozen=True, slots=True, init=False)
class Classification:
    """The answer of `classify`: category, HTTP status, and whether and when to retry.

    ``status``, ``retryable`` and ``detail`` default to the category's;
    ``retry_after`` is the delay in seconds (a number or ``timedelta``) when
    one is known. ``detail`` is the fixed text `classified` puts in the body
    instead of the exception's message (``""`` for none): a library's message
    names internal hosts, URLs, SQL and its parameters, so it goes to the log
    and the report only. ``slo`` says whether the error counts against the
    availability SLO: left ``None``, any 5xx does and no 4xx does (a
    registered classifier can say otherwise, e.g. ``slo=False`` for a pool
    shut down on purpose: it is consulted for a 5xx answer, and for any answer
    `classified` gives); `counts_against_slo` keeps what was given.

    Raises ``TypeError`` for a category that is not a `Category` or a detail
    that is not a string, and ``ValueError`` for a status outside 400 to 599
    or a negative delay.

    Example::

        Classification(Category.TEMPORARY, 502)   # an upstream that is down
        Classification(Category.THROTTLED, retry_after=30, detail="Quota exceeded.")
    """

    category: Category
    status: int
    retryable: bool
    retry_after: float | None
    detail: str
    counts_against_slo: bool | None

    def __init__(
        self,
        category: Category,
        status: int | None = None,
        *,
        retryable: bool | None = None,
        retry_after: float | timedelta | None = None,
        detail: str | None = None,
        slo: bool | None = None,
        counts_against_slo: bool | None = None,
    ) -> None:
        if not isinstance(category, Category):
            raise TypeError(f"Classification category must be a Category, got {category!r}")
        if retryable is not None and not isinstance(retryable, bool):
            raise TypeError(f"Classification retryable must be a bool or None, got {retryable!r}")
        if detail is not None and not isinstance(detail, str):
            raise TypeError(f"Classification detail must be a str or None, got {detail!r}")
        setattr_ = object.__setattr__
        setattr_(self, "category", category)
        setattr_(
            self,
            "status",
            category.status
            if status is None
            else check_error_status(status, what="Classification status"),
        )
        setattr_(self, "retryable", category.retryable if retryable is None else retryable)
        setattr_(self, "retry_after", seconds(retry_after, what="Classification retry_after"))
        setattr_(self, "detail", category.detail if detail is None else str(detail))
        setattr_(self, "counts_against_slo", _given_slo(slo, counts_against_slo))

    @property
    def slo(self) -> bool:
        """Whether this error counts against the availability SLO: as given, else any 5xx."""
        if self.counts_against_slo is not None:
            return self.counts_against_slo
        return self.status >= 500

    @property
    def code(self) -> str:
        """The stable machine-readable code: the category's name, e.g. ``"TIMEOUT"``."""
        return self.category.value

    def with_retry_after(self, delay: float | None) -> Classification:
        """The same classification with ``retry_after`` set to ``delay`` seconds."""
        return Classification(
            self.category,
            self.status,
            retryable=self.retryable,
            retry_after=delay,
            detail=self.detail,
            slo=self.counts_against_slo,
        )


def _given_slo(slo: object, counts_against_slo: object) -> bool | None:
    # ``counts_against_slo`` is the field's own name, which dataclasses.replace passes.
    if slo is None:
        slo = counts_against_slo
    elif counts_against_slo is not None and counts_against_slo is not slo:
        raise ValueError("Classification slo and counts_against_slo disagree")
    return check_slo(slo, what="Classification slo")


ClassifierFunction: TypeAlias = Callable[[Any], "Classification | Category | None"]
"""``fn(exc)`` deciding from the instance; ``None`` means no opinion, go on."""

_Rule: TypeAlias = Classification | ClassifierFunction
_E = TypeVar("_E", bound=ClassifierFunction)

_PERMANENT = Classification(Category.PERMANENT)


# -- the registry ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Tables:
    """One consistent snapshot of the registry, swapped whole on every change."""

    user: Mapping[type[BaseException], _Rule]
    builtin: Mapping[type[BaseException], _Rule]
    # Rules by exception type, at most `interceptor._typecache.MAX_TYPES` types.
    cache: dict[type[BaseException], tuple[_Rule, ...]] = field(default_factory=dict)


_lock = threading.Lock()
_tables = _Tables(user={}, builtin={})


def _check_rule(value: object) -> _Rule:
    if isinstance(value, Category):
        return Classification(value)
    if isinstance(value, Classification):
        return value
    if isinstance(value, type) or not callable(value):
        raise TypeError(
            f"classifier {value!r} is not valid; use a Category, a Classification, "
            "or a function fn(exc) returning one of them or None"
        )
    return value


def _check_types(exc_type: object) -> tuple[type[Exception], ...]:
    types = exc_type if isinstance(exc_type, tuple) else (exc_type,)
    if not types:
        raise ValueError("register_classifier needs an exception class, got an empty tuple")
    for tp in types:
        if isinstance(tp, type) and issubclass(tp, Exception):
            continue
        if isinstance(tp, BaseException):
            raise TypeError(
                f"register_classifier got the exception instance {tp!r}; "
                f"register its class {type(tp).__qualname__} instead"
            )
        raise TypeError(f"register_classifier needs an Exception subclass, got {tp!r}")
    return types


def _store(
    exc_type: type[Exception] | tuple[type[Exception], ...], value: object, *, builtin: bool
) -> None:
    global _tables  # noqa: PLW0603 - the snapshot is swapped whole, under the lock
    types = _check_types(exc_type)
    rule = _check_rule(value)
    with _lock:
        user = dict(_tables.user)
        built = dict(_tables.builtin)
        for tp in types:
            (built if builtin else user)[tp] = rule
        _tables = _Tables(user=user, builtin=built)


@overload
def register_classifier(
    exc_type: type[Exception] | tuple[type[Exception], ...],
    category_or_function: Category | Classification | ClassifierFunction,
) -> None: ...
@overload
def register_classifier(
    exc_type: type[Exception] | tuple[type[Exception], ...],
) -> Callable[[_E], _E]: ...
def register_classifier(
    exc_type: type[Exception] | tuple[type[Exception], ...],
    category_or_function: Category | Classification | ClassifierFunction | None = None,
) -> Callable[[_E], _E] | None:
    """Teach `classify` about an exception type (or a tuple of them).

    The value is a `Category`, a `Classification`, or a function ``fn(exc)``
    deciding from the instance and returning either of them, or ``None`` for
    no opinion (`classify` then goes on to the next rule). The most specific
    registered type in the exception's MRO wins, and for the same type a
    registration made here beats a built-in one. Registering a type again
    replaces its value. Without a value it is a decorator that returns the
    function unchanged.

    Raises ``TypeError`` naming a bad type or value.

    Example::

        register_classifier(QuotaExceeded, Category.THROTTLED)

        @register_classifier(botocore.exceptions.ClientError)
        def aws(exc):
            if exc.response["Error"]["Code"] == "ThrottlingException":
                return Category.THROTTLED
            return None
    """
    if category_or_function is None:
        _check_types(exc_type)

        def register(func: _E) -> _E:
            _store(exc_type, func, builtin=False)
            return func

        return register
    _store(exc_type, category_or_function, builtin=False)
    return None


def register_builtin(
    exc_type: type[Exception] | tuple[type[Exception], ...],
    category_or_function: Category | Classification | ClassifierFunction,
) -> None:
    """Register a built-in rule: what the integrations use; a user's rule beats it."""
    _store(exc_type, category_or_function, builtin=True)


def rule_types() -> tuple[type[BaseException], ...]:
    """The exception types with a rule, a user's or a built-in one, registered so far.

    What the OpenAPI document asks to list what `classified` can answer for a
    key's subclasses. A library's rules count once they are loaded.
    """
    tables = _tables
    return tuple(dict.fromkeys((*tables.user, *tables.builtin)))


def _rules(tp: type[BaseException]) -> tuple[_Rule, ...]:
    tables = _tables
    rules = tables.cache.get(tp)
    if rules is not None:
        return rules
    if _load_lazy(tp):
        tables = _tables
    found: list[_Rule] = []
    for cls in tp.__mro__:
        for table in (tables.user, tables.builtin):
            rule = table.get(cls)
            if rule is not None:
                found.append(rule)
    return remember(tables.cache, tp, tuple(found), "classify")


# -- lazily registered rule sets ---------------------------------------------------

# The libraries with an integration module, by their top-level package name.
INTEGRATIONS = (
    "aiohttp",
    "asyncpg",
    "botocore",
    "google",
    "grpc",
    "httpx",
    "psycopg",
    "psycopg2",
    "pymysql",
    "redis",
    "requests",
    "sqlalchemy",
)
# Roots whose rule set is registering or registered (`_loaded`), and those done
# with it (`_done`): a rule set is marked loaded before it registers, so that
# its own thread does not start it again, and only the done ones are passed by
# without the lock.
_loaded: set[str] = set()
_done: set[str] = set()
# Held while a rule set registers, so a concurrent first classification of the
# same library waits for its rules instead of caching an answer without them.
_load_lock = threading.RLock()


def _load_lazy(tp: type[BaseException]) -> bool:
    """Register the rules for modules in ``tp``'s MRO that have some, once each."""
    roots = {module_name(cls).partition(".")[0] for cls in tp.__mro__}
    pending = roots.intersection(_LOADERS).difference(_done)
    if not pending:
        return False
    with _load_lock:
        for root in sorted(pending.difference(_loaded)):
            _loaded.add(root)
            try:
                if _LOADERS[root]() is False:  # not yet: the library is not imported
                    _loaded.discard(root)
                    continue
            except Exception:  # noqa: BLE001 - a broken integration must not break error handling
                log_failure("interceptor: could not register the %s classifiers", root)
            _done.add(root)
    return True


def _load_integration(name: str) -> Callable[[], object]:
    # register() answers False when the library it is for is not imported yet
    # (`google` is a namespace: a protobuf error is no google-api-core one);
    # it is asked again for the next new exception type of that root.
    def load() -> object:
        return importlib.import_module(f"interceptor.integrations.{name}").register()

    return load


def _load_ssl() -> None:
    import ssl  # noqa: PLC0415 - loaded once an ssl error exists, so never for nothing

    # Before OSError: an SSLError's errno is an SSL library code (1, 2, 8, ...)
    # that would read as EPERM, ENOENT, ... to the errno rule.
    # Handshake and protocol failures: configuration, not luck.
    tls = Classification(Category.PERMANENT, 502, detail=UPSTREAM_TLS)
    register_builtin(ssl.SSLError, tls)
    register_builtin(ssl.SSLCertVerificationError, tls)  # also ssl.CertificateError
    register_builtin(
        (ssl.SSLEOFError, ssl.SSLZeroReturnError, ssl.SSLSyscallError),
        _HUNG_UP,  # the connection went away mid-stream
    )
    register_builtin((ssl.SSLWantReadError, ssl.SSLWantWriteError), Category.TEMPORARY)


def _load_socket() -> None:
    import socket  # noqa: PLC0415 - as for ssl

    def dns(exc: BaseException) -> Classification:
        again = getattr(exc, "errno", None) == socket.EAI_AGAIN
        return Classification(
            Category.TEMPORARY if again else Category.PERMANENT, 502, detail=UPSTREAM_UNREACHABLE
        )

    # Before OSError: their errno values are resolver codes, not errno codes.
    register_builtin(socket.gaierror, dns)
    register_builtin(
        socket.herror, Classification(Category.PERMANENT, 502, detail=UPSTREAM_UNREACHABLE)
    )


def _load_urllib() -> None:
    from urllib.error import HTTPError, URLError  # noqa: PLC0415 - as for ssl

    def http_error(exc: BaseException) -> Classification:
        return upstream(getattr(exc, "code", None), header(getattr(exc, "headers", None)))

    def url_error(exc: BaseException) -> Classification | None:
        reason = getattr(exc, "reason", None)
        if isinstance(reason, BaseException) and reason is not exc:
            return classify(reason)  # e.g. a refused connection or a timeout
        return None

    register_builtin(HTTPError, http_error)
    register_builtin(URLError, url_error)


_LOADERS: Mapping[str, Callable[[], object]] = {
    "ssl": _load_ssl,
    "socket": _load_socket,
    "urllib": _load_urllib,
    **{name: _load_integration(name) for name in INTEGRATIONS},
}


# -- the built-in table for builtins (always loaded, no import needed) -----------------

_UNREACHABLE = Classification(Category.TEMPORARY, 502, detail=UPSTREAM_UNREACHABLE)
_HUNG_UP = Classification(Category.TEMPORARY, 502, detail=UPSTREAM_HUNG_UP)
_CONNECTION_FAILED = Classification(Category.TEMPORARY, 502, detail=UPSTREAM_CONNECTION_FAILED)

_BY_ERRNO: Mapping[int, Classification] = {
    errno.ETIMEDOUT: Classification(Category.TIMEOUT),
    errno.ECONNREFUSED: _UNREACHABLE,
    errno.ECONNRESET: _HUNG_UP,
    errno.ECONNABORTED: _HUNG_UP,
    errno.EPIPE: _HUNG_UP,
    errno.ENETUNREACH: _UNREACHABLE,
    errno.EHOSTUNREACH: _UNREACHABLE,
    errno.EAGAIN: Classification(Category.TEMPORARY),  # also EWOULDBLOCK
    errno.EINTR: Classification(Category.TEMPORARY),
    errno.EMFILE: Classification(Category.TEMPORARY),
    errno.ENFILE: Classification(Category.TEMPORARY),
    errno.EACCES: Classification(Category.PERMISSION_DENIED),
    errno.EPERM: Classification(Category.PERMISSION_DENIED),
    errno.ENOENT: Classification(Category.NOT_FOUND),
}


def _by_errno(exc: BaseException) -> Classification | None:
    code = getattr(exc, "errno", None)
    return _BY_ERRNO.get(code) if isinstance(code, int) else None


register_builtin(TimeoutError, Category.TIMEOUT)
register_builtin(PermissionError, Category.PERMISSION_DENIED)
register_builtin(FileNotFoundError, Category.NOT_FOUND)
register_builtin(ConnectionError, _CONNECTION_FAILED)
register_builtin(ConnectionRefusedError, _UNREACHABLE)
register_builtin((ConnectionResetError, ConnectionAbortedError, BrokenPipeError), _HUNG_UP)
register_builtin((InterruptedError, BlockingIOError), Category.TEMPORARY)
register_builtin(OSError, _by_errno)


# -- upstream HTTP answers (shared by urllib and the integrations) ---------------------


def upstream_response_error(exc: BaseException) -> Classification:
    """`upstream` for an HTTP client's error carrying the ``response`` it received.

    httpx's ``HTTPStatusError`` and requests' ``HTTPError`` both do; the
    response's ``status_code`` and ``Retry-After`` header decide.
    """
    response = getattr(exc, "response", None)
    return upstream(
        getattr(response, "status_code", None), header(getattr(response, "headers", None))
    )


def upstream(status: object, retry_after: object = None) -> Classification:
    """The classification of an upstream's HTTP error answer.

    ``status`` is the upstream's status and ``retry_after`` its ``Retry-After``
    header, if any. Our answer is never the upstream's own 4xx: a 401 or 403
    from a dependency is our failure (502), not the caller's. The detail is
    fixed, never the upstream's text or URL.

    - 429: THROTTLED, 429, with the upstream's delay;
    - 408: TIMEOUT, 504;
    - 5xx: TEMPORARY, 502, retryable (with the delay when one is given);
    - 401, 403, 407: PERMANENT, 502, "refused our credentials";
    - anything else: PERMANENT, 502.
    """
    if not is_int(status):
        return _UPSTREAM_UNUSABLE
    if status == 429:
        return Classification(
            Category.THROTTLED,
            retry_after=parse_retry_after(retry_after),
            detail=UPSTREAM_THROTTLED,
        )
    if status == 408:
        return _UPSTREAM_TIMEOUT
    if 500 <= status <= 599:
        return Classification(
            Category.TEMPORARY,
            502,
            retry_after=parse_retry_after(retry_after),
            detail=UPSTREAM_UNAVAILABLE,
        )
    if status in (401, 403, 407):
        return _UPSTREAM_REFUSED_US
    if 400 <= status <= 499:
        return _UPSTREAM_REJECTED
    return _UPSTREAM_UNUSABLE


_UPSTREAM_TIMEOUT = Classification(Category.TIMEOUT, detail=UPSTREAM_TIMED_OUT)
_UPSTREAM_REFUSED_US = Classification(Category.PERMANENT, 502, detail=UPSTREAM_REFUSED_US)
_UPSTREAM_REJECTED = Classification(Category.PERMANENT, 502, detail=UPSTREAM_REJECTED)
_UPSTREAM_UNUSABLE = Classification(Category.PERMANENT, 502, detail=UPSTREAM_UNUSABLE)


def header(headers: object, name: str = "Retry-After") -> object:
    """``headers[name]`` from any headers object (case-blind ones, a dict); else ``None``.

    Never raises: a headers object that fails to answer has no such header.
    """
    get = _attr(headers, "get")
    if not callable(get):
        return None
    for key in (name, name.lower()):
        try:
            value = get(key)
        except Exception:  # noqa: BLE001 - a foreign headers object's lookup says nothing
            return None
        if value is not None:
            return value
    return None


# The longest delay an upstream's answer is taken to ask for: past a day a delay
# is no advice a caller can follow (and we relay it as our own Retry-After).
MAX_RETRY_AFTER: Final = 86_400.0


def parse_retry_after(value: object, *, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` value: delay-seconds or an HTTP-date; else ``None``.

    A date in the past gives 0; a delay beyond `MAX_RETRY_AFTER` gives that,
    however many digits it has. ``now`` is for tests.
    """
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return min(float(text), MAX_RETRY_AFTER)  # too many digits give inf, not an error
    from email.utils import parsedate_to_datetime  # noqa: PLC0415 - only for HTTP-dates

    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):  # a zone beyond a C int
        return None
    if when.tzinfo is None:  # "-0000" means UTC in RFC 5322 dates
        when = when.replace(tzinfo=UTC)
    return min(max(0.0, (when - (now or datetime.now(UTC))).total_seconds()), MAX_RETRY_AFTER)


# -- classify -------------------------------------------------------------------------


@overload
def classify(exc: BaseException) -> Classification: ...
@overload
def classify(exc: object) -> Classification | None: ...
def classify(exc: object) -> Classification | None:
    """Classify an exception: its category, HTTP status, and whether and when to retry.

    Pure: no I/O, and the same exception always gets the same answer (an
    HTTP-date ``Retry-After`` is turned into seconds from now). Consults the
    registry (most specific type first, a user's registration before a
    built-in one), then duck typing (a declared HTTP status, ``timeout``,
    ``temporary``, ``retry_after``). An exception group holding a single leaf
    is classified by that leaf. When neither rules nor duck typing know the
    exception, its explicit cause (``raise RuntimeError(...) from
    TimeoutError()``: ``__cause__``, never the implicit ``__context__``)
    decides, and that one's cause after it, at most `MAX_CAUSES` (8) links
    deep and stopping at a cycle; PERMANENT, 500 when none decides. Never
    raises.

    An ``httpx.Response`` or ``requests.Response`` (received, not raised) is
    classified as the error its ``raise_for_status()`` would raise: the same
    category, status and ``retry_after`` (see `upstream`). A response that
    method would not raise for is not an error, and the answer is ``None``:
    for httpx any 2xx (httpx raises for a 1xx or 3xx too), for requests
    anything below 400. Only for a response can the answer be ``None``.

    Example::

        classify(TimeoutError())        # TIMEOUT, 504, retryable
        classify(KeyError("x")).slo     # True: PERMANENT, 500
        classify(httpx_response)        # 503 -> TEMPORARY, 502; 200 -> None
    """
    try:
        if not isinstance(exc, BaseException):
            library = _response_library(exc)
            if library is not None:
                return _response(exc, library)
        seen: set[int] = set()
        # Anything else is taken as an exception: whatever it is, the answer is one.
        link: BaseException | None = exc  # type: ignore[assignment]
        # The exception itself, then up to MAX_CAUSES explicit causes.
        for _ in range(MAX_CAUSES + 1):
            if link is None:
                break
            link = single_leaf(link)
            if id(link) in seen:  # `a.__cause__ = b; b.__cause__ = a` is one assignment away
                break
            seen.add(id(link))
            found = _decide(link)
            if found is not None:
                return found
            cause = _attr(link, "__cause__")
            link = cause if isinstance(cause, BaseException) else None
        return _PERMANENT
    except Exception:  # noqa: BLE001 - promised never to raise, whatever the class does
        # What reads a foreign class is guarded where it reads; this is the
        # net under the rest (a metaclass's __mro__ property, say).
        return _PERMANENT


# The response classes `classify` takes, by (module, name): the library's own
# class or a subclass of it, found without importing the library.
_RESPONSES: Mapping[tuple[str, str], str] = {
    ("httpx._models", "Response"): "httpx",
    ("httpx", "Response"): "httpx",
    ("requests.models", "Response"): "requests",
    ("requests", "Response"): "requests",
}


def _response_library(obj: object) -> str | None:
    try:
        for cls in type(obj).__mro__:
            library = _RESPONSES.get((module_name(cls), cls.__name__))
            if library is not None:
                return library
    except Exception:  # noqa: BLE001 - a class that cannot be read is no response
        return None
    return None


def _response(response: object, library: str) -> Classification | None:
    """What ``response.raise_for_status()`` would raise, classified; ``None`` if nothing."""
    status = _attr(response, "status_code")
    if not is_int(status):
        return _UPSTREAM_UNUSABLE
    # httpx raises for anything but a 2xx; requests for 4xx and 5xx only.
    if (200 <= status <= 299) if library == "httpx" else not (400 <= status <= 599):
        return None
    return upstream(status, header(_attr(response, "headers")))


# How many explicit causes (`raise ... from cause`) `classify` follows past the
# exception itself. A wrapper chain is built by code, one link per layer (an ORM
# over a driver over a socket): two or three deep in practice. Eight leaves room
# for every layering seen and bounds the cost of a chain built in a loop.
MAX_CAUSES = 8


def _decide(exc: BaseException) -> Classification | None:
    """The answer of ``exc``'s own rules and duck typing; ``None`` when neither has one."""
    for rule in _rules(type(exc)):
        found = rule if isinstance(rule, Classification) else _call(rule, exc)
        if found is not None:
            return _with_delay(found, exc)
    return _duck(exc)


def classify_status(status: int, *, retry_after: object = None) -> Classification:
    """The classification of an error status an endpoint returned itself.

    For metrics: an endpoint answering 503 counts like one that raised. The
    category follows the status (401 UNAUTHENTICATED, 408/504 TIMEOUT, 429
    THROTTLED, 502/503 TEMPORARY, other 5xx PERMANENT, ...); ``retry_after``
    is the ``Retry-After`` header or a number of seconds. Raises
    ``ValueError`` for a status outside 400 to 599.

    Example::

        classify_status(503, retry_after="30")   # TEMPORARY, 503, retry after 30 s
    """
    check_error_status(status, what="classify_status status")
    delay = _seconds(retry_after)
    if delay is None:
        delay = parse_retry_after(retry_after)
    found = _from_status(status)
    return found.with_retry_after(delay) if found.retryable and delay is not None else found


def _call(rule: ClassifierFunction, exc: BaseException) -> Classification | None:
    try:
        found: object = rule(exc)
    except Exception:  # noqa: BLE001 - a broken classifier must not break error handling
        log_failure("interceptor classifier %r raised; ignoring it", rule)
        return None
    if found is None or isinstance(found, Classification):
        return found
    if isinstance(found, Category):
        return Classification(found)
    logger.error(
        "interceptor classifier %r returned %r, not a Classification, Category or None; "
        "ignoring it",
        rule,
        found,
    )
    return None


def _with_delay(found: Classification, exc: BaseException) -> Classification:
    if not found.retryable or found.retry_after is not None:
        return found
    delay = _delay(exc)
    return found if delay is None else found.with_retry_after(delay)


_STATUS_CATEGORIES: Mapping[int, Category] = {
    400: Category.INVALID_ARGUMENT,
    401: Category.UNAUTHENTICATED,
    403: Category.PERMISSION_DENIED,
    404: Category.NOT_FOUND,
    408: Category.TIMEOUT,
    409: Category.CONFLICT,
    410: Category.NOT_FOUND,
    412: Category.CONFLICT,
    429: Category.THROTTLED,
    502: Category.TEMPORARY,
    503: Category.TEMPORARY,
    504: Category.TIMEOUT,
}


def status_category(status: int) -> Category:
    """The category an error status implies on its own (404 NOT_FOUND, 503 TEMPORARY, ...)."""
    return _STATUS_CATEGORIES.get(
        status, Category.INVALID_ARGUMENT if status < 500 else Category.PERMANENT
    )


def _from_status(status: int, slo: bool | None = None) -> Classification:
    category = status_category(status)
    retryable = retryable_for_status(status)
    return Classification(
        category, status, retryable=category.retryable if retryable is None else retryable, slo=slo
    )


def _duck(exc: BaseException) -> Classification | None:
    """Go-style duck typing, in order: status, ``timeout``, ``temporary``, ``retry_after``."""
    found = _declared(exc)
    if found is None:
        if _flag(exc, "timeout") is True:
            found = Classification(Category.TIMEOUT)
        elif (temporary := _flag(exc, "temporary")) is not None:
            found = Classification(Category.TEMPORARY if temporary else Category.PERMANENT)
        elif _delay(exc) is not None:
            found = Classification(Category.TEMPORARY)
        else:
            return None
    return _with_delay(found, exc)


def _declared(exc: BaseException) -> Classification | None:
    """By the status ``exc`` declares: a framework's, an upstream's answer, or an int of its own."""
    kind = http_kind(exc)
    if kind is HttpKind.PLAIN and (answer := _received_answer(exc)) is not None:
        return answer
    status = _status(exc, kind)
    if status is None:
        return None
    # An ApiError subclass may say whether its errors count against the SLO.
    return _from_status(status, type(exc).slo if kind is HttpKind.API_ERROR else None)  # type: ignore[attr-defined]


# Where an HTTP client's error keeps the upstream's status, first found wins.
_ANSWER_STATUSES = (
    ("exc", "status"),
    ("exc", "status_code"),
    ("response", "status_code"),
    ("response", "status"),
)


def _received_answer(exc: BaseException) -> Classification | None:
    """An HTTP client's error about an answer it received, by `upstream`; else ``None``.

    Such an error carries ``request_info`` (aiohttp), or a ``response`` that
    names its ``request`` or ``url`` (httpx, requests, and the SDKs built on
    them), which a response the application sends itself does not. Its
    ``status`` is the upstream's, never ours: taken as ours, an upstream's
    401 would tell the caller that *their* credentials were wrong.
    """
    response = _attr(exc, "response")
    received = _attr(exc, "request_info") is not None or (
        response is not None
        and any(_attr(response, name) is not None for name in ("request", "request_info", "url"))
    )
    if not received:
        return None
    for owner, name in _ANSWER_STATUSES:
        status = _attr(exc if owner == "exc" else response, name)
        if is_int(status) and 100 <= status <= 599:
            headers = _attr(exc, "headers")
            if headers is None:
                headers = _attr(response, "headers")
            return upstream(int(status), header(headers))
    return None


def _status(exc: BaseException, kind: HttpKind) -> int | None:
    candidates: list[object] = []
    if kind is not HttpKind.PLAIN and kind is not HttpKind.PASSTHROUGH:
        candidates.append(http_status(exc, kind))
    candidates += [_attr(exc, "status"), _attr(exc, "status_code")]
    for status in candidates:
        if is_error_status(status):
            return int(status)
    return None


def _flag(exc: BaseException, name: str) -> bool | None:
    value = _attr(exc, name)
    if callable(value):
        try:
            value = value()
        except Exception:  # noqa: BLE001 - Temporary() is a courtesy; a broken one says nothing
            return None
    return value if isinstance(value, bool) else None


def _delay(exc: BaseException) -> float | None:
    return _seconds(_attr(exc, "retry_after"))


def _seconds(value: object) -> float | None:
    """A usable delay from a number or ``timedelta``: not negative, at most
    `MAX_RETRY_AFTER` as a header's value is (infinity too); else ``None``."""
    if isinstance(value, bool) or not isinstance(value, int | float | timedelta):
        return None
    try:
        seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    except OverflowError:  # an int beyond float range: as long a delay as any
        return MAX_RETRY_AFTER
    return min(seconds, MAX_RETRY_AFTER) if seconds >= 0 else None  # NaN >= 0 is False


def _attr(exc: object, name: str) -> object:
    try:
        return getattr(exc, name, None)
    except Exception:  # noqa: BLE001 - a property that raises says nothing
        return None


# -- classified ---------------------------------------------------------------------


class _Classified(InlineHandler):
    """Renders any exception by its `classify` answer; see `classified`."""

    __slots__ = ()

    def problem(self, exc: BaseException) -> Problem:
        found = classify(exc)
        code: str | None = found.code
        # The classification's fixed text, never the message: a library's
        # names hosts, URLs, SQL and parameters, and a system error's names
        # server paths. The message goes to the log and the report.
        detail: str | None = found.detail
        tp = type(exc)  # not isinstance(): a property can make `__class__` claim ApiError
        if issubclass(tp, ApiError):
            detail = None  # the application's own text, shown as for any ApiError
            if tp.code is not None:
                code = None  # the error's own code is more precise than its category
        elif not is_plain(exc):
            # A framework HTTP exception's detail is written for the client, and
            # a validation error has its own fixed one, with its error count.
            detail = None
        return Problem(
            status=found.status,
            code=code,
            detail=detail,
            retryable=found.retryable,
            retry_after=found.retry_after,
            slo=found.counts_against_slo,
        )

    def __repr__(self) -> str:
        return "interceptor.classified"


classified: InlineHandler = _Classified()
"""A handler value rendering any exception by its `classify` answer.

The status comes from the classification, the body carries ``retryable`` and
a ``code`` naming the category (``"TIMEOUT"``, ``"THROTTLED"``, ...), and a
known delay becomes a ``Retry-After`` header. The core renders it inline (no
thread hop). The body's ``detail`` is the classification's fixed text
(`Classification.detail`, such as "The upstream service timed out."), never
the exception's message: a library's message names internal hosts, URLs with
their credentials, SQL and its parameters, and a system error's names server
paths. The message goes to the log line and the crash report, and a debug
5xx body shows it in its traceback. An `ApiError` keeps its own code and
message, and a Starlette or Werkzeug ``HTTPException`` its own detail: those
are the application's text. A validation error gets its own fixed detail and
``errors`` array (see `interceptor.validation_problem`).

Example::

    errors = Interceptor({OSError: classified, httpx.HTTPError: classified})
"""
