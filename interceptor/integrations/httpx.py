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
=========================================  =================  ======  =========

Registered by `classify` the first time it sees an httpx exception; calling
`register` again is harmless.
"""

from __future__ import annotations

from interceptor._classify import Category, Classification, register_builtin, upstream

__all__ = ["register"]


def _status_error(exc: BaseException) -> Classification:
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    headers = getattr(response, "headers", None)
    return upstream(status, headers.get("Retry-After") if headers is not None else None)


def register() -> None:
    """Register the httpx rules (imports httpx)."""
    import httpx  # noqa: PLC0415 - the library is imported only once it is in use

    temporary_502 = Classification(Category.TEMPORARY, 502)
    register_builtin(httpx.HTTPStatusError, _status_error)
    register_builtin(httpx.TimeoutException, Category.TIMEOUT)
    register_builtin(
        (httpx.NetworkError, httpx.RemoteProtocolError, httpx.ProxyError), temporary_502
    )
    register_builtin(
        (httpx.DecodingError, httpx.TooManyRedirects), Classification(Category.PERMANENT, 502)
    )
    register_builtin(
        (httpx.InvalidURL, httpx.UnsupportedProtocol, httpx.LocalProtocolError),
        Category.PERMANENT,
    )
