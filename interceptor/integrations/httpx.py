"""`classify` rules for httpx: upstream answers, timeouts and transport errors.

=========================================  =================  ======  =========
httpx exception                            category           status  retryable
=========================================  =================  ======  =========
HTTPStatusError, upstream 429              THROTTLED          429     yes, with its Retry-After
HTTPStatusError, upstream 408              TIMEOUT            504     yes
HTTPStatusError, upstream 5xx              TEMPORARY          502     yes
HTTPStatusError, other (401, 403, 404...)  PERMANENT          502     no
TimeoutException (Connect/Read/Write/Pool) TIMEOUT            504     yes
NetworkError (ConnectError, ReadError...)  TEMPORARY          502     yes
RemoteProtocolError, ProxyError            TEMPORARY          502     yes
DecodingError, TooManyRedirects            PERMANENT          502     no
InvalidURL, UnsupportedProtocol,           PERMANENT          500     no
LocalProtocolError
ConnectError from an ssl error (a          as the ssl error:  502     no
certificate check, a handshake)            PERMANENT
=========================================  =================  ======  =========

Each answer's ``detail``, what `interceptor.classified` shows instead of
httpx's message (which names the upstream's URL, query and credentials
included), is the upstream table's (see `interceptor._classify.upstream`:
"The upstream service answered 429 Too Many Requests.", "... timed out.",
"... is unavailable.", "... refused our credentials." for 401, 403 and 407,
"... rejected our request." for other 4xx), and for the rest:

- timeouts: "The upstream service timed out."
- ConnectError, ProxyError: "The upstream service could not be reached."; a
  ConnectError raised from an ssl error: "The secure connection to the
  upstream service failed." (a connection lost mid-handshake: "... closed the
  connection.")
- ReadError, WriteError, CloseError, RemoteProtocolError: "The connection to
  the upstream service failed."
- DecodingError, TooManyRedirects: "The upstream service gave an answer that
  could not be used."
- InvalidURL, UnsupportedProtocol, LocalProtocolError: "The request to the
  upstream service could not be made."

An upstream's 401 or 403 is never our own: our client failed to authenticate,
not the caller. Registered by `classify` the first time it sees an httpx
exception; calling `register` again is harmless.
"""

from __future__ import annotations

from interceptor._classify import register_builtin, upstream_response_error
from interceptor.integrations._wiring import Upstream, connect_error

__all__ = ["register"]


def register() -> None:
    """Register the httpx rules (imports httpx)."""
    import httpx  # noqa: PLC0415 - the library is imported only once it is in use

    register_builtin(httpx.HTTPStatusError, upstream_response_error)
    register_builtin(httpx.TimeoutException, Upstream.TIMED_OUT)
    register_builtin(httpx.ConnectError, connect_error)
    register_builtin(httpx.ProxyError, Upstream.UNREACHABLE)
    register_builtin(
        (httpx.NetworkError, httpx.RemoteProtocolError),  # ReadError, WriteError, CloseError
        Upstream.CONNECTION_FAILED,
    )
    register_builtin((httpx.DecodingError, httpx.TooManyRedirects), Upstream.UNUSABLE)
    register_builtin(
        (httpx.InvalidURL, httpx.UnsupportedProtocol, httpx.LocalProtocolError),
        Upstream.REQUEST_INVALID,
    )
