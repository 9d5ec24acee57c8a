"""Turning an exception and a `Problem` template into plain response data.

No I/O: adapters send the `Outcome` this module builds.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from json.encoder import encode_basestring
from types import MappingProxyType
from typing import Any, Literal, NamedTuple, cast

from interceptor._errors import ApiError
from interceptor._http import (
    HttpKind,
    http_detail,
    http_detail_value,
    http_headers,
    http_kind,
    http_status,
    is_plain,
    module_name,
)
from interceptor._problem import Problem
from interceptor._scrub import scrub_headers, scrub_query

__all__ = [
    "BodyBuilder",
    "ErrorInfo",
    "Outcome",
    "RequestInfo",
    "encode_json",
    "flat_body",
    "problem_body",
    "retryable_for_status",
]

logger = logging.getLogger("interceptor")

PROBLEM_JSON = "application/problem+json"
JSON = "application/json"

_RETRYABLE_STATUSES = frozenset({408, 429, 502, 503, 504})
_TRUNCATED_MARK = "…"


class RequestInfo:
    """What the core needs of a request: adapters build it, on the error path only.

    ``headers`` and ``query_string`` come out scrubbed (see
    `interceptor._scrub`): the value of every header or query parameter whose
    name says auth, token, key, secret, password, session, csrf, cookie or a
    client address (``X-Forwarded-For``, ``X-Real-IP``, ``Forwarded``...) is
    ``[Filtered]``, whichever way the request came in. ``client`` is the
    client's address, for code that needs it; what goes into a report is
    `scrubbed_client`, ``None`` unless asked for.

    ``debug`` is the framework's own debug flag for the request (the ASGI
    scope's ``app.debug`` under Starlette and FastAPI, Flask's ``app.debug``),
    which an interceptor made with ``debug=None`` follows.

    `from_scope` and `from_environ` take the method and path at once, and
    read (and scrub) the query string, client address and headers only when
    something reads them (a log line, a crash report, an observer), so an
    error nobody logs does not pay for them.
    """

    __slots__ = ("_client", "_headers", "_query", "_unread", "debug", "method", "path")

    def __init__(
        self,
        method: str = "GET",
        path: str = "",
        query_string: str = "",
        client: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
        *,
        debug: bool = False,
    ) -> None:
        self.method = method
        self.path = path
        self.debug = debug
        self._query = scrub_query(query_string)
        self._client = client
        self._headers = scrub_headers(headers)
        self._unread: tuple[_Reader, Mapping[str, Any]] | None = None

    @classmethod
    def from_scope(cls, scope: Mapping[str, Any]) -> RequestInfo:
        """From an ASGI HTTP or websocket scope."""
        info = cls.__new__(cls)
        info.method = scope.get("method", "GET")
        info.path = scope.get("path", "")  # ASGI's path includes the root_path
        # Starlette and FastAPI put the app in the scope; its debug flag is theirs.
        info.debug = getattr(scope.get("app"), "debug", False) is True
        info._unread = (_read_scope, scope)
        return info

    @classmethod
    def from_environ(cls, environ: Mapping[str, Any], *, debug: bool = False) -> RequestInfo:
        """From a WSGI environ; ``debug`` is the framework's flag (Flask's ``app.debug``)."""
        info = cls.__new__(cls)
        info.debug = debug
        info.method = environ.get("REQUEST_METHOD", "GET")
        info.path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        info._unread = (_read_environ, environ)
        return info

    def _read(self) -> None:
        unread = self._unread
        if unread is not None:
            read, source = unread
            self._query, self._client, self._headers = read(source)
            self._unread = None

    @property
    def query_string(self) -> str:
        """The query string, without the ``?``, sensitive parameters' values ``[Filtered]``."""
        self._read()
        return self._query

    @property
    def client(self) -> str | None:
        """The client's ``host:port`` (or host alone, when no port is known), if known.

        Personal data: a report carries `scrubbed_client` instead.
        """
        self._read()
        return self._client

    def scrubbed_client(self, include: bool = False) -> str | None:
        """The client address a report may carry: `client` if ``include``, else ``None``.

        The address is personal data, so reports leave it out unless asked;
        ``False`` does not even read it.

        Example::

            info.scrubbed_client()  # None
            info.scrubbed_client(include=True)  # "203.0.113.7:51234"
        """
        return self.client if include else None

    @property
    def headers(self) -> tuple[tuple[str, str], ...]:
        """The request's headers as (name, value) text pairs, sensitive values ``[Filtered]``."""
        self._read()
        return self._headers

    def __repr__(self) -> str:
        # No client address: a repr ends up in tracebacks with locals and in reports.
        return (
            f"RequestInfo(method={self.method!r}, path={self.path!r}, "
            f"query_string={self.query_string!r})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RequestInfo):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def _key(self) -> tuple[object, ...]:
        return (self.method, self.path, self.query_string, self.client, self.headers)

    @property
    def trace_id(self) -> str | None:
        """The W3C trace id from a ``traceparent`` header, if one is well formed."""
        for name, value in self.headers:
            if name.lower() == "traceparent":
                match = _TRACEPARENT.fullmatch(value.strip())
                if match and match[1] != "0" * 32:
                    return match[1]
        return None


_TRACEPARENT = re.compile(r"[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")


def _header_name(environ_key: str) -> str:
    return environ_key.removeprefix("HTTP_").replace("_", "-").title()


# The query string, client and headers of a request, from where the server put them.
_Read = tuple[str, "str | None", tuple[tuple[str, str], ...]]
_Reader = Callable[[Mapping[str, Any]], _Read]


def _host_port(client: object) -> str | None:
    if isinstance(client, str):
        return client or None
    if isinstance(client, list | tuple) and 1 <= len(client) <= 2:
        return ":".join(str(part) for part in client)
    return None  # none given, or nothing a server should give


def _latin1(value: object) -> str | None:
    if isinstance(value, bytes | bytearray):
        return value.decode("latin-1")
    return value if isinstance(value, str) else None


def _read_scope(scope: Mapping[str, Any]) -> _Read:
    # Leniently: a broken server's scope must not break the log line or report.
    headers = []
    for pair in scope.get("headers") or ():
        if isinstance(pair, list | tuple) and len(pair) == 2:
            name, value = _latin1(pair[0]), _latin1(pair[1])
            if name is not None and value is not None:
                headers.append((name, value))
    return (
        scrub_query(_latin1(scope.get("query_string")) or ""),
        _host_port(scope.get("client")),
        scrub_headers(headers),
    )


def _read_environ(environ: Mapping[str, Any]) -> _Read:
    address = environ.get("REMOTE_ADDR")
    port = environ.get("REMOTE_PORT")
    query = environ.get("QUERY_STRING", "")
    return (
        scrub_query(query) if isinstance(query, str) else "",
        _host_port((address, port) if address and port else address),
        scrub_headers(
            (_header_name(key), value)
            for key, value in environ.items()
            if (key.startswith("HTTP_") or key in ("CONTENT_TYPE", "CONTENT_LENGTH"))
            and isinstance(value, str)
        ),
    )


class ErrorInfo(NamedTuple):
    """Everything known about one error response, handed to body builders.

    ``detail`` is already filtered: empty for a 5xx unless ``debug=True``.
    """

    status: int
    title: str
    # A str; a JSON object, array or number where a Starlette HTTPException's
    # own detail is one (FastAPI users write HTTPException(400, detail={...})).
    detail: Any
    type: str
    instance: str | None
    code: str | None
    error_id: str | None
    retryable: bool | None
    retry_after: float | None
    user_message: str | None
    extensions: Mapping[str, Any]
    exception: BaseException
    debug: bool


BodyBuilder = Callable[[ErrorInfo], Mapping[str, Any]]


class Outcome:
    """A finished error response: status, headers (with content type and length), body.

    ``error_id`` is the one in the body (5xx), ``info`` the `ErrorInfo` the
    body was rendered from (``None`` for a handler's own body).
    """

    __slots__ = ("_filled", "_headers", "_info", "body", "error_id", "status")

    def __init__(
        self,
        status: int,
        headers: tuple[tuple[str, str], ...],
        body: bytes,
        error_id: str | None = None,
        info: ErrorInfo | None = None,
    ) -> None:
        self.status = status
        self._headers: tuple[tuple[str, str], ...] | None = headers
        self.body = body
        self.error_id = error_id
        self._info = info
        self._filled: _Filled | None = None

    @classmethod
    def _from_plan(cls, filled: _Filled, body: bytes, error_id: str | None) -> Outcome:
        # What varies is kept as is; headers and ErrorInfo are built only if read.
        outcome = cls.__new__(cls)
        outcome.status = filled[0].status
        outcome._headers = None
        outcome.body = body
        outcome.error_id = error_id
        outcome._info = None
        outcome._filled = filled
        return outcome

    @property
    def headers(self) -> tuple[tuple[str, str], ...]:
        """(name, value) pairs, Content-Type and Content-Length last where a body may go."""
        headers = self._headers
        if headers is None and self._filled is not None:
            plan, _, _, length = self._filled
            headers = self._headers = (*plan.headers, ("Content-Length", str(length)))
        return headers or ()

    @property
    def info(self) -> ErrorInfo | None:
        """The `ErrorInfo` the body was rendered from; ``None`` for a handler's own body."""
        info = self._info
        if info is None and self._filled is not None:
            plan, detail, exc, _ = self._filled
            info = self._info = plan.info._replace(
                detail=detail, error_id=self.error_id, exception=exc
            )
        return info

    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        """The headers as ASGI sends them: lowercase names, Latin-1 bytes."""
        filled = self._filled
        if filled is not None:  # the plan encoded all but Content-Length
            return [*filled[0].raw_headers, (b"content-length", b"%d" % filled[3])]
        return raw_headers(self.headers)

    def __repr__(self) -> str:
        return f"Outcome(status={self.status!r}, headers={self.headers!r}, body={self.body!r})"


def raw_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    """Headers as ASGI sends them: lowercase names, Latin-1 bytes."""
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]


def retryable_for_status(status: int) -> bool | None:
    """Whether a caller may retry, when the status alone decides it, else ``None``.

    408, 429, 502, 503 and 504 are retryable; other 4xx are not; other 5xx
    depend on the cause.
    """
    if status in _RETRYABLE_STATUSES:
        return True
    if 400 <= status < 500:
        return False
    return None


_PHRASES = {status.value: status.phrase for status in HTTPStatus}


def reason_phrase(status: int) -> str:
    """The status's reason phrase; a generic one for codes HTTP does not name."""
    phrase = _PHRASES.get(status)
    if phrase is None:
        return "Client Error" if status < 500 else "Server Error"
    return phrase


def problem_body(info: ErrorInfo) -> dict[str, Any]:
    """The default body: an RFC 9457 problem-details object."""
    body: dict[str, Any] = {"type": info.type, "title": info.title, "status": info.status}
    if info.detail:
        body["detail"] = info.detail
    if info.instance is not None:
        body["instance"] = info.instance
    if info.code is not None:
        body["code"] = info.code
    if info.user_message is not None:
        body["user_message"] = info.user_message
    if info.error_id is not None:
        body["error_id"] = info.error_id
    if info.retryable is not None:
        body["retryable"] = info.retryable
    body.update(info.extensions)
    return body


def flat_body(info: ErrorInfo) -> dict[str, Any]:
    """The flat shape: ``{"error", "error_description", "user_message", "status"}``."""
    body: dict[str, Any] = {
        "error": info.code or _code_from_title(info.title),
        "error_description": info.detail or info.title,
        "user_message": info.user_message,
        "status": info.status,
    }
    if info.error_id is not None:
        body["error_id"] = info.error_id
    if info.retryable is not None:
        body["retryable"] = info.retryable
    body.update(info.extensions)
    return body


def _code_from_title(title: str) -> str:
    return re.sub(r"[^A-Z0-9]+", "_", title.upper()).strip("_") or "ERROR"


BODY_SHAPES: Mapping[str, tuple[BodyBuilder, str]] = {
    "problem": (problem_body, PROBLEM_JSON),
    "flat": (flat_body, JSON),
}

BodyShape = Literal["problem", "flat"] | BodyBuilder

# Builders known to return a new dict on every call, which needs no copy.
_FRESH_BUILDERS = frozenset({problem_body, flat_body})


def encode_json(value: object) -> bytes:
    """JSON bytes for any value: what JSON can't encode becomes a string.

    Lone surrogates come out as ``\\udXXX`` escapes, so the bytes are always
    valid UTF-8 and valid JSON.
    """
    try:
        text = _ENCODER.encode(value)
    except (TypeError, ValueError, RecursionError):
        text = _ENCODER.encode(_jsonable(value, 0))
    return text.encode("utf-8", "backslashreplace")


# One encoder for every body: json.dumps builds a new one per call whenever an
# option differs from its defaults.
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


_MAX_DEPTH = 32
_MAX_INT_BITS = 4000  # about 1200 decimal digits, well under the default limit of 4300


def _jsonable(value: object, depth: int) -> object:
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, int):
        # Past sys.get_int_max_str_digits() an int has no decimal form at all.
        return value if value.bit_length() <= _MAX_INT_BITS else _to_str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if depth >= _MAX_DEPTH:
        return _to_str(value)
    if isinstance(value, Mapping):
        return {
            k if isinstance(k, str) else _to_str(k): _jsonable(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_jsonable(v, depth + 1) for v in value]
    return _to_str(value)


def _to_str(value: object) -> str:
    try:
        return str(value)
    except Exception:  # noqa: BLE001 - a broken __str__ must not break the error response
        return f"<unprintable {type(value).__qualname__}>"


# RFC 9110 field names are tokens; values may not carry CR, LF or NUL. Anything
# else is dropped, so an exception message can never inject a header.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
# CR, LF, NUL and other controls could split or corrupt the header block, and
# both ASGI and WSGI need values that Latin-1 can carry.
_BAD_VALUE = re.compile(r"[^\t\x20-\x7e\x80-\xff]")
_OWN_HEADERS = frozenset({"content-type", "content-length"})


def safe_headers(headers: Iterable[tuple[object, object]]) -> list[tuple[str, str]]:
    """Keep only well-formed headers, minus the body headers the outcome sets."""
    kept = []
    for name, value in headers:
        if not isinstance(name, str) or not _TOKEN.match(name):
            continue
        if name.lower() in _OWN_HEADERS:
            continue
        text = value if isinstance(value, str) else _to_str(value)
        if _BAD_VALUE.search(text):
            continue
        kept.append((name, text))
    return kept


def header_items(headers: object) -> Iterable[tuple[object, object]]:
    """Pairs from a mapping or an iterable of pairs; anything else gives none."""
    if isinstance(headers, Mapping):
        return headers.items()
    if isinstance(headers, list | tuple):
        return [
            (pair[0], pair[1])
            for pair in headers
            if isinstance(pair, tuple | list) and len(pair) == 2
        ]
    return ()


_BODILESS = frozenset({204, 304})

# What a plan leaves open: a string no exception message or template holds.
_HOLE = "\x00interceptor-hole\x00"
_HOLE_EXCEPTION = Exception(_HOLE)
_ENCODED_HOLE = encode_json(_HOLE)


class _Plan(NamedTuple):
    """A registered value's response, rendered once; see `Renderer.render_planned`."""

    status: int
    headers: tuple[tuple[str, str], ...]  # all but Content-Length
    raw_headers: tuple[tuple[bytes, bytes], ...]  # the same, as ASGI sends them
    pieces: tuple[bytes, ...]  # the body, split where the hole goes
    hole: Literal["detail", "error_id"] | None
    info: ErrorInfo  # with the hole's own text where the detail or error_id goes


# What a planned Outcome keeps: its plan, detail, exception and body length.
_Filled = tuple[_Plan, str | None, BaseException, int]

_MAX_PLANS = 1024
# Plans by the id of the registered value, each with the value itself, which
# keeps the id from being reused while the entry lives.
Plans = dict[int, tuple[object, "_Plan | None"]]
EMPTY_PROBLEM = Problem()  # the template an int status value renders with


def new_error_id() -> str:
    """32 random hex digits, like a UUID4 without the version bits (and 4x faster)."""
    return os.urandom(16).hex()


@dataclass(frozen=True, slots=True)
class Renderer:
    """One interceptor's rendering settings."""

    debug: bool
    body: BodyBuilder
    content_type: str
    rewrite: Callable[[dict[str, Any], ErrorInfo], Mapping[str, Any]] | None
    detail_limit: int

    def render(
        self,
        template: Problem,
        exc: BaseException,
        request: RequestInfo,
        *,
        status: int | None = None,
        retryable: bool | None = None,
    ) -> Outcome:
        """Fill `template` in from `exc` and build the response."""
        kind = http_kind(exc)
        status = status or template.status or http_status(exc, kind) or 500
        if not 400 <= status <= 599:  # e.g. a Werkzeug exception with code 3xx/None
            status = 500
        server_error = status >= 500
        info = self._info(
            template=template,
            exc=exc,
            kind=kind,
            status=status,
            server_error=server_error,
            retryable=retryable,
        )
        body = self._body(info)
        asked = http_headers(exc, kind)
        headers = (
            safe_headers([*header_items(asked), *template.headers.items()])
            if asked or template.headers
            else []
        )
        if info.retry_after is not None and not any(
            name.lower() == "retry-after" for name, _ in headers
        ):
            headers.append(("Retry-After", str(math.ceil(info.retry_after))))
        payload = encode_json(body)
        return self.outcome(status, headers, payload, request, info=info)

    def outcome(
        self,
        status: int,
        headers: list[tuple[str, str]],
        payload: bytes,
        request: RequestInfo,
        *,
        info: ErrorInfo | None = None,
        content_type: str | None = None,
        error_id: str | None = None,
    ) -> Outcome:
        """The `Outcome` for a rendered body, or a handler's own with its ``error_id``."""
        if status in _BODILESS:  # RFC 9110: never content, so no content headers either
            payload = b""
        else:
            headers.append(("Content-Type", content_type or self.content_type))
            headers.append(("Content-Length", str(len(payload))))
        return Outcome(
            status,
            tuple(headers),
            b"" if request.method == "HEAD" else payload,
            info.error_id if info else error_id,
            info,
        )

    def render_planned(
        self, plans: Plans, value: object, exc: BaseException, request: RequestInfo
    ) -> Outcome | None:
        """`render` for a registered ``value``, from the plan made for it the first time.

        A plan is the response rendered once, with a hole where a plain
        exception's detail or a 5xx's error_id goes. ``None`` when ``value``
        has no plan or ``exc`` needs a full render (not a plain exception, an
        empty or overlong detail). ``value`` must be one the interceptor holds
        (a registered one): ``plans`` keeps an entry per value, up to a bound.
        """
        if self.debug:
            return None  # a debug body shows the exception: never planned
        entry = plans.get(id(value))
        if entry is None:
            if isinstance(value, Problem):
                entry = (value, self._plan(value, None))
            elif isinstance(value, int) and not isinstance(value, bool) and 400 <= value <= 599:
                entry = (value, self._plan(EMPTY_PROBLEM, value))
            else:
                entry = (value, None)  # rendered some other way, if at all
            if len(plans) < _MAX_PLANS:  # a bound, should a caller pass passing values
                plans[id(value)] = entry
        plan = entry[1]
        if plan is None or not is_plain(exc):
            return None
        return self._fill(plan, exc, request)

    def _plan(self, template: Problem, status: int | None) -> _Plan | None:
        """`template`'s response for plain exceptions, with a hole for what varies.

        Only the built-in body shapes qualify, without ``debug`` or a rewrite
        hook: their bodies depend on the exception only through the detail
        (4xx) and on the request only through the error_id (5xx).
        """
        if self.debug or self.rewrite is not None or self.body not in _FRESH_BUILDERS:
            return None
        status = status or template.status or 500  # both checked to be 400 to 599
        server_error = status >= 500
        info = self._info(
            template=template,
            exc=_HOLE_EXCEPTION,
            kind=HttpKind.PLAIN,
            status=status,
            server_error=server_error,
            retryable=None,
        )
        hole: Literal["detail", "error_id"] | None = None
        if server_error:
            hole = "error_id"
            info = info._replace(error_id=_HOLE)
        elif template.detail is None:
            hole = "detail"
            if info.detail != _HOLE:
                return None  # a detail_limit shorter than the hole itself
        pieces = encode_json(self._body(info)).split(_ENCODED_HOLE)
        if len(pieces) != (1 if hole is None else 2):
            return None
        info = info._replace(extensions=MappingProxyType(info.extensions))
        headers = safe_headers(template.headers.items()) if template.headers else []
        if info.retry_after is not None and not any(
            name.lower() == "retry-after" for name, _ in headers
        ):
            headers.append(("Retry-After", str(math.ceil(info.retry_after))))
        headers.append(("Content-Type", self.content_type))
        return _Plan(status, tuple(headers), tuple(raw_headers(headers)), tuple(pieces), hole, info)

    def _fill(self, plan: _Plan, exc: BaseException, request: RequestInfo) -> Outcome | None:
        """The planned response for ``exc``; ``None`` when it needs a full render."""
        detail = plan.info.detail
        error_id = None
        hole = plan.hole
        if hole == "detail":
            detail = http_detail(exc, HttpKind.PLAIN)
            if not detail or len(detail) > self.detail_limit:
                return None  # the body drops an empty detail, or marks a truncated one
            # encode_json for a str, without the encoder's dispatch.
            text = encode_basestring(detail).encode("utf-8", "backslashreplace")
            payload = plan.pieces[0] + text + plan.pieces[1]
        elif hole == "error_id":
            error_id = new_error_id()
            payload = plan.pieces[0] + b'"' + error_id.encode("ascii") + b'"' + plan.pieces[1]
        else:
            payload = plan.pieces[0]
        return Outcome._from_plan(
            (plan, detail, exc, len(payload)),
            b"" if request.method == "HEAD" else payload,
            error_id,
        )

    def _body(self, info: ErrorInfo) -> dict[str, Any]:
        # A body builder or rewrite hook that fails must not leave the client
        # without an answer: log it and fall back to the RFC 9457 body.
        try:
            body = self.body(info)
            if self.body not in _FRESH_BUILDERS or not isinstance(body, dict):
                body = dict(body)  # a user's builder may hand back a dict it keeps
            if self.rewrite is not None:
                body = dict(self.rewrite(body, info))
        except Exception:
            logger.exception(
                "interceptor body builder or rewrite_body failed; sending the default body",
                extra={"error_id": info.error_id},
            )
            body = problem_body(info)
        return body

    def _info(
        self,
        *,
        template: Problem,
        exc: BaseException,
        kind: HttpKind,
        status: int,
        server_error: bool,
        retryable: bool | None,
    ) -> ErrorInfo:
        # By `kind`, which goes by type(): isinstance() believes a `__class__` property.
        api = cast("ApiError", exc) if kind is HttpKind.API_ERROR else None
        detail: Any = template.detail
        if detail is None and (self.debug or not server_error):
            detail = http_detail_value(exc, kind)
        extensions: dict[str, Any] = {}
        # An ApiError whose __init__ skips super().__init__() has no instance
        # attributes: getattr() with a default for those.
        if api is not None and (api_extensions := getattr(api, "extensions", None)):
            extensions.update(api_extensions)
        if template.extensions:
            extensions.update(template.extensions)
        if isinstance(detail, str) and len(detail) > self.detail_limit:
            detail = detail[: self.detail_limit] + _TRUNCATED_MARK
            extensions["detail_truncated"] = True
        if self.debug and server_error:
            extensions["exception"] = name = _type_name(type(exc))
            try:
                extensions["traceback"] = traceback.format_exception(exc)
            except Exception:  # noqa: BLE001 - the stdlib's formatter believes a lying __class__
                frames = traceback.format_tb(exc.__traceback__)
                extensions["traceback"] = ["Traceback (most recent call last):\n", *frames, name]
        if retryable is None:
            retryable = template.retryable
        if retryable is None:
            retryable = retryable_for_status(status)
        # Positional, in field order: a NamedTuple built from keywords costs twice as much.
        return ErrorInfo(
            status,
            # An ApiError's own title describes its own status, not one a handler chose.
            template.title
            or (api.title if api and api.title and status == api.status else reason_phrase(status)),
            detail or None,
            template.type,
            template.instance,
            template.code or (api.code if api else None),
            new_error_id() if server_error else None,
            retryable,
            template.retry_after
            if template.retry_after is not None
            else (getattr(api, "retry_after", None) if api else None),
            getattr(api, "user_message", None) if api else None,
            extensions,
            exc,
            self.debug,
        )


def _type_name(tp: type) -> str:
    """``module.qualname``, or the qualname alone for a class with no str module."""
    module = module_name(tp)
    return f"{module}.{tp.__qualname__}" if module else tp.__qualname__
