"""`classify` rules for requests: the same mapping as for httpx.

=========================================  =================  ======  =========
requests exception                         category           status  retryable
=========================================  =================  ======  =========
HTTPError (by ``.response``), upstream 429 THROTTLED          429     yes, with its Retry-After
HTTPError, upstream 408                    TIMEOUT            504     yes
HTTPError, upstream 5xx                    TEMPORARY          502     yes
HTTPError, other (401, 403, 404...)        PERMANENT          502     no
RetryError (urllib3's Retry gave up), 429  THROTTLED          429     yes
RetryError, 5xx or no status named         TEMPORARY          502     yes
Timeout, ConnectTimeout, ReadTimeout       TIMEOUT            504     yes
ConnectionError, ProxyError,               TEMPORARY          502     yes
ChunkedEncodingError
SSLError                                   PERMANENT          502     no
ContentDecodingError, TooManyRedirects     PERMANENT          502     no
InvalidURL, MissingSchema, InvalidSchema,  PERMANENT          500     no
URLRequired
=========================================  =================  ======  =========

Each answer's ``detail``, what `interceptor.classified` shows instead of
requests' message (which names the upstream's URL, credentials included), is
the upstream table's for an ``HTTPError`` (see `interceptor._classify.upstream`)
and for a ``RetryError`` by the status urllib3's ``Retry(status_forcelist=...)``
gave up on (its reason's text names it; "The upstream service is unavailable."
when it names none), and for the rest:

- timeouts: "The upstream service timed out."
- ConnectionError (refused, reset, aborted: requests says which only in its
  text): "The connection to the upstream service failed."
- ProxyError: "The upstream service could not be reached."
- ChunkedEncodingError: "The upstream service sent an incomplete answer."
- SSLError: "The secure connection to the upstream service failed."
- ContentDecodingError, TooManyRedirects: "The upstream service gave an answer
  that could not be used."
- InvalidURL, MissingSchema, InvalidSchema, URLRequired: "The request to the
  upstream service could not be made."

``ConnectTimeout`` is both a ``ConnectionError`` and a ``Timeout``; it is a
timeout. requests' exceptions subclass ``OSError``, and these rules run before
the errno rule. Registered by `classify` the first time it sees a requests
exception; calling `register` again is harmless.
"""

from __future__ import annotations

import re

from interceptor._classify import (
    UPSTREAM_UNAVAILABLE,
    Category,
    Classification,
    register_builtin,
    upstream,
    upstream_response_error,
)
from interceptor.integrations._wiring import Upstream

__all__ = ["register"]

# urllib3's ResponseError.SPECIFIC_ERROR, the reason of the MaxRetryError a
# RetryError wraps: the only place the status it gave up on is kept.
_GAVE_UP_ON = re.compile(r"too many ([1-5][0-9][0-9]) error responses")
_UNAVAILABLE = Classification(Category.TEMPORARY, 502, detail=UPSTREAM_UNAVAILABLE)


def _gave_up(exc: BaseException) -> Classification:
    """A ``RetryError``: urllib3's ``Retry(status_forcelist=...)`` ran out on an error answer."""
    args = getattr(exc, "args", None)
    reason = getattr(args[0], "reason", None) if isinstance(args, tuple) and args else None
    # The text decides and never shows; it is urllib3's own, with no URL.
    match = _GAVE_UP_ON.search(str(reason)) if isinstance(reason, BaseException) else None
    return _UNAVAILABLE if match is None else upstream(int(match[1]))


def register() -> None:
    """Register the requests rules (imports requests)."""
    import requests  # noqa: PLC0415 - the library is imported only once it is in use

    exceptions = requests.exceptions
    register_builtin(exceptions.HTTPError, upstream_response_error)
    register_builtin(exceptions.RetryError, _gave_up)
    # ConnectTimeout's MRO puts ConnectionError before Timeout: name it.
    register_builtin((exceptions.Timeout, exceptions.ConnectTimeout), Upstream.TIMED_OUT)
    register_builtin(exceptions.ConnectionError, Upstream.CONNECTION_FAILED)
    register_builtin(exceptions.ProxyError, Upstream.UNREACHABLE)
    register_builtin(exceptions.ChunkedEncodingError, Upstream.INCOMPLETE)
    register_builtin(exceptions.SSLError, Upstream.TLS)
    register_builtin(
        (exceptions.ContentDecodingError, exceptions.TooManyRedirects), Upstream.UNUSABLE
    )
    register_builtin(
        (
            exceptions.InvalidURL,
            exceptions.MissingSchema,
            exceptions.InvalidSchema,
            exceptions.URLRequired,
        ),
        Upstream.REQUEST_INVALID,
    )
