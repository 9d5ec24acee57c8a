"""`classify` rules for aiohttp's client: the same upstream table as for httpx and requests.

=============================================  =========  ======  =========
aiohttp exception                              category   status  retryable
=============================================  =========  ======  =========
ClientResponseError (by ``.status``), 429      THROTTLED  429     yes, with its Retry-After
ClientResponseError, upstream 408              TIMEOUT    504     yes
ClientResponseError, upstream 5xx              TEMPORARY  502     yes
ClientResponseError, other (401, 403, 404...)  PERMANENT  502     no
ContentTypeError, TooManyRedirects,            PERMANENT  502     no
RedirectClientError (a bad redirect)
ServerTimeoutError (ConnectionTimeoutError,    TIMEOUT    504     yes
SocketTimeoutError)
ClientConnectorError (refused, DNS...),        TEMPORARY  502     yes
ClientHttpProxyError (a proxy's other answer)
ClientHttpProxyError, proxy 401, 403, 407      PERMANENT  502     no
ServerDisconnectedError,                       TEMPORARY  502     yes
ClientConnectionResetError, ClientOSError,
other ClientConnectionError, UploadAbortedError
ClientPayloadError                             TEMPORARY  502     yes
ClientSSLError (ClientConnectorSSLError,       PERMANENT  502     no
ClientConnectorCertificateError),
ServerFingerprintMismatch
InvalidURL, NonHttpUrlClientError              PERMANENT  500     no
=============================================  =========  ======  =========

aiohttp raises the builtin ``TimeoutError`` (``asyncio.TimeoutError``) when a
request's ``total`` budget runs out: the stdlib rule makes it a TIMEOUT, 504.
Register it next to ``aiohttp.ClientError`` to handle both:
``Interceptor({aiohttp.ClientError: classified, TimeoutError: classified})``.

Each answer's ``detail``, what `interceptor.classified` shows instead of
aiohttp's message (which names the upstream's URL, credentials included, and
its reason text), is the upstream table's for a ``ClientResponseError`` (see
`interceptor._classify.upstream`), and for the rest:

- timeouts: "The upstream service timed out."
- ClientConnectorError, ClientHttpProxyError: "The upstream service could not
  be reached."; a proxy's 401, 403 or 407: "The upstream service refused our
  credentials."
- ServerDisconnectedError, ClientConnectionResetError: "The upstream service
  closed the connection."
- ClientOSError, other ClientConnectionError, UploadAbortedError: "The
  connection to the upstream service failed."
- ClientPayloadError: "The upstream service sent an incomplete answer."
- TLS errors: "The secure connection to the upstream service failed."
- ContentTypeError, TooManyRedirects, a bad redirect: "The upstream service
  gave an answer that could not be used."
- InvalidURL, NonHttpUrlClientError: "The request to the upstream service
  could not be made."

The aiohttp exceptions that ``OSError`` or ``TimeoutError`` also subclass get
these rules, not the errno or timeout ones, and a subclass is always named
before its base (``ClientSSLError`` is a ``ClientConnectorError``;
``InvalidUrlRedirectClientError`` an ``InvalidURL``). Names that only newer
aiohttp versions have are registered when present. Registered by `classify`
the first time it sees an aiohttp exception; calling `register` again is
harmless.
"""

from __future__ import annotations

from interceptor._classify import Classification, header, register_builtin, upstream
from interceptor.integrations._wiring import Upstream, register_present

__all__ = ["register"]


def _response_error(exc: BaseException) -> Classification:
    return upstream(getattr(exc, "status", None), header(getattr(exc, "headers", None)))


def _proxy_error(exc: BaseException) -> Classification:
    # A proxy refusing to tunnel: a 407 (or 401, 403) refused our proxy
    # credentials, as a plain-HTTP proxy's 407 would; other answers leave the
    # upstream out of reach, and a retry may find the proxy serving again.
    if getattr(exc, "status", None) in (401, 403, 407):
        return _response_error(exc)
    return Upstream.UNREACHABLE


def register() -> None:
    """Register the aiohttp rules (imports aiohttp)."""
    import aiohttp  # noqa: PLC0415 - the library is imported only once it is in use

    register_builtin(aiohttp.ClientResponseError, _response_error)
    register_present(
        aiohttp, ("ContentTypeError", "TooManyRedirects", "RedirectClientError"), Upstream.UNUSABLE
    )
    # Before their bases: each is also an InvalidURL or a NonHttpUrlClientError.
    register_present(
        aiohttp,
        ("InvalidUrlRedirectClientError", "NonHttpUrlRedirectClientError"),
        Upstream.UNUSABLE,
    )
    register_present(aiohttp, ("InvalidURL", "NonHttpUrlClientError"), Upstream.REQUEST_INVALID)
    # A ServerConnectionError (retryable 502) as well as a TimeoutError: name it.
    register_present(
        aiohttp,
        ("ServerTimeoutError", "ConnectionTimeoutError", "SocketTimeoutError"),
        Upstream.TIMED_OUT,
    )
    register_present(aiohttp, ("ClientConnectorError",), Upstream.UNREACHABLE)
    register_present(aiohttp, ("ClientHttpProxyError",), _proxy_error)
    register_present(
        aiohttp, ("ServerDisconnectedError", "ClientConnectionResetError"), Upstream.HUNG_UP
    )
    register_present(
        aiohttp,
        ("ClientConnectionError", "ClientOSError", "UploadAbortedError"),
        Upstream.CONNECTION_FAILED,
    )
    register_present(aiohttp, ("ClientPayloadError",), Upstream.INCOMPLETE)
    # ClientSSLError is a ClientConnectorError, and a certificate error also
    # an ssl.SSLCertVerificationError: neither is retryable.
    register_present(
        aiohttp,
        (
            "ClientSSLError",
            "ClientConnectorSSLError",
            "ClientConnectorCertificateError",
            "ServerFingerprintMismatch",
        ),
        Upstream.TLS,
    )
