"""`classify` rules for requests: the same mapping as for httpx.

=========================================  =================  ======  =========
requests exception                         category           status  retryable
=========================================  =================  ======  =========
HTTPError (by ``.response``), upstream 429 THROTTLED          429     yes, with its Retry-After
HTTPError, upstream 408                    TIMEOUT            504     yes
HTTPError, upstream 5xx                    TEMPORARY          502     yes
HTTPError, other (401, 403, 404...)        PERMANENT          502     no
Timeout, ConnectTimeout, ReadTimeout       TIMEOUT            504     yes
ConnectionError, ProxyError,               TEMPORARY          502     yes
ChunkedEncodingError
SSLError                                   PERMANENT          502     no
ContentDecodingError, TooManyRedirects     PERMANENT          502     no
InvalidURL, MissingSchema, InvalidSchema,  PERMANENT          500     no
URLRequired
=========================================  =================  ======  =========

``ConnectTimeout`` is both a ``ConnectionError`` and a ``Timeout``; it is a
timeout. requests' exceptions subclass ``OSError``, and these rules run before
the errno rule. Registered by `classify` the first time it sees a requests
exception; calling `register` again is harmless.
"""

from __future__ import annotations

from interceptor._classify import Category, Classification, register_builtin, upstream

__all__ = ["register"]


def _http_error(exc: BaseException) -> Classification:
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    headers = getattr(response, "headers", None)
    return upstream(status, headers.get("Retry-After") if headers is not None else None)


def register() -> None:
    """Register the requests rules (imports requests)."""
    import requests  # noqa: PLC0415 - the library is imported only once it is in use

    exceptions = requests.exceptions
    register_builtin(exceptions.HTTPError, _http_error)
    # ConnectTimeout's MRO puts ConnectionError before Timeout: name it.
    register_builtin((exceptions.Timeout, exceptions.ConnectTimeout), Category.TIMEOUT)
    register_builtin(
        (exceptions.ConnectionError, exceptions.ChunkedEncodingError),
        Classification(Category.TEMPORARY, 502),
    )
    register_builtin(
        (exceptions.SSLError, exceptions.ContentDecodingError, exceptions.TooManyRedirects),
        Classification(Category.PERMANENT, 502),
    )
    register_builtin(
        (
            exceptions.InvalidURL,
            exceptions.MissingSchema,
            exceptions.InvalidSchema,
            exceptions.URLRequired,
        ),
        Category.PERMANENT,
    )
