"""`RequestInfo`: what the core knows of a request, read from the ASGI scope or WSGI environ.

Scrubbed as it is read (see `interceptor._scrub`), and read lazily: an error
that nothing logs or reports never pays for its headers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from interceptor._scrub import scrub_headers, scrub_query

__all__ = ["RequestInfo"]


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
    def from_scope(
        cls, scope: Mapping[str, Any], *, method: str | None = None, path: str | None = None
    ) -> RequestInfo:
        """From an ASGI HTTP or websocket scope; ``method`` and ``path``, where given,
        are the scope's as they were before something (a handler) rewrote them."""
        info = cls.__new__(cls)
        info.method = scope.get("method", "GET") if method is None else method
        info.path = scope.get("path", "") if path is None else path  # ASGI's includes the root_path
        # Starlette and FastAPI put the app in the scope; its debug flag is theirs.
        try:
            info.debug = getattr(scope.get("app"), "debug", False) is True
        except Exception:  # noqa: BLE001 - a flag that cannot be read shows no debug details
            info.debug = False
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
        """The client's ``host:port`` (``[v6]:port``; the host alone with no port), if known.

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
        host = str(client[0])
        if len(client) == 1:
            return host
        # An IPv6 address in brackets, as in a URL: "2001:db8::1:443" would be
        # another address, with no port.
        return f"[{host}]:{client[1]}" if ":" in host else f"{host}:{client[1]}"
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

