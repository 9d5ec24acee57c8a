"""`classify` rules for botocore (and boto3, which raises botocore's exceptions).

A ``ClientError`` is an AWS service's error answer, classified by its error
code the way botocore's own *standard* retry mode does
(``botocore/retries/standard.py``), then by its HTTP status:

==============================================  ==========  ======  =========
botocore exception                              category    status  retryable
==============================================  ==========  ======  =========
ClientError, a throttling code (below)          THROTTLED   429     yes, with its Retry-After
ClientError, upstream 429                       THROTTLED   429     yes, with its Retry-After
ClientError, RequestTimeout,                    TIMEOUT     504     yes
RequestTimeoutException
ClientError, upstream 500, 502, 503, 504        TEMPORARY   502     yes
ClientError, other 5xx (501 NotImplemented...)  PERMANENT   502     no
ClientError, a credentials code (below)         PERMANENT   502     no
ClientError, upstream 408                       TIMEOUT     504     yes
ClientError, other 4xx (403, 404, 400...)       PERMANENT   502     no
ReadTimeoutError, ConnectTimeoutError           TIMEOUT     504     yes
EndpointConnectionError, ProxyConnectionError   TEMPORARY   502     yes
ConnectionClosedError                           TEMPORARY   502     yes
ResponseStreamingError, IncompleteReadError     TEMPORARY   502     yes
other ConnectionError, HTTPClientError          TEMPORARY   502     yes
SSLError                                        PERMANENT   502     no
NoCredentialsError, PartialCredentialsError     PERMANENT   500     no
NoRegionError, ParamValidationError             PERMANENT   500     no
==============================================  ==========  ======  =========

The throttling codes are botocore's (``ThrottledRetryableChecker``):
Throttling, ThrottlingException, ThrottledException,
RequestThrottledException, TooManyRequestsException,
ProvisionedThroughputExceededException, TransactionInProgressException,
RequestLimitExceeded, BandwidthLimitExceeded, LimitExceededException,
RequestThrottled, SlowDown, PriorRequestNotComplete, EC2ThrottledException.
AWS answers most of them with a 400, so the code decides, not the status.
``PriorRequestNotComplete`` is in both of botocore's lists (throttling and
transient); it is THROTTLED here, as botocore checks throttling first.

The credentials codes (our signing identity was refused: an AWS 4xx, but our
misconfiguration, never the caller's): AccessDenied, AccessDeniedException,
ExpiredToken, ExpiredTokenException, InvalidAccessKeyId,
InvalidClientTokenId, InvalidSignatureException, SignatureDoesNotMatch,
UnrecognizedClientException, AuthFailure.

An AWS 4xx is the upstream rejecting *our* request: a 502, never our own
403 or 404 (the caller did nothing wrong because our S3 key was missing).
A ``Retry-After`` in the response metadata's ``HTTPHeaders`` carries over to
a retryable answer. Where this differs from botocore: botocore retries its
``SSLError`` (a ``ConnectionError``); a failed certificate check is
configuration, not luck, so it is not retryable here, as for ``ssl`` errors.

Each answer's ``detail``, what `interceptor.classified` shows instead of
botocore's message (which names the endpoint URL, bucket and key names and the
service's own text), is fixed:

- throttling codes: "The upstream service throttled our requests."
- other 5xx: "The upstream service rejected our request."
- upstream 429, 5xx, 408, other 4xx: the upstream table's
  (`interceptor._classify.upstream`); the credentials codes: "The upstream
  service refused our credentials."
- RequestTimeout codes, ReadTimeoutError, ConnectTimeoutError: "The
  upstream service timed out."
- EndpointConnectionError, ProxyConnectionError: "The upstream service
  could not be reached."
- ConnectionClosedError: "The upstream service closed the connection."
- ResponseStreamingError, IncompleteReadError: "The upstream service sent an
  incomplete answer."
- other ConnectionError, HTTPClientError: "The connection to the upstream
  service failed."
- SSLError: "The secure connection to the upstream service failed."
- NoCredentialsError, PartialCredentialsError: "No credentials are
  configured for the upstream service."
- NoRegionError, ParamValidationError: "The request to the upstream service
  could not be made."

Registered by `classify` the first time it sees a botocore exception; calling
`register` again is harmless.
"""

from __future__ import annotations

from collections.abc import Mapping

from interceptor._classify import (
    UPSTREAM_REFUSED_US,
    UPSTREAM_REJECTED,
    Category,
    Classification,
    header,
    parse_retry_after,
    register_builtin,
    upstream,
)
from interceptor.integrations._wiring import Upstream

__all__ = ["CREDENTIALS_CODES", "THROTTLING_CODES", "TRANSIENT_CODES", "register"]

UPSTREAM_THROTTLING = "The upstream service throttled our requests."
NO_CREDENTIALS = "No credentials are configured for the upstream service."

# botocore/retries/standard.py, ThrottledRetryableChecker._THROTTLED_ERROR_CODES.
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    }
)
# TransientRetryableChecker._TRANSIENT_ERROR_CODES, less PriorRequestNotComplete
# (throttling above wins) and with the HTTP statuses of its _TRANSIENT_STATUS_CODES.
TRANSIENT_CODES = frozenset({"RequestTimeout", "RequestTimeoutException"})
_TRANSIENT_STATUSES = frozenset({500, 502, 503, 504})
CREDENTIALS_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidAccessKeyId",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "UnrecognizedClientException",
        "AuthFailure",
    }
)

_REFUSED_US = Classification(Category.PERMANENT, 502, detail=UPSTREAM_REFUSED_US)
_REJECTED = Classification(Category.PERMANENT, 502, detail=UPSTREAM_REJECTED)


def _get(mapping: object, key: str) -> object:
    return mapping.get(key) if isinstance(mapping, Mapping) else None


def _client_error(exc: BaseException) -> Classification:
    response = getattr(exc, "response", None)
    code = _get(_get(response, "Error"), "Code")
    if not isinstance(code, str):  # a hand-built response's list or dict cannot be looked up
        code = None
    meta = _get(response, "ResponseMetadata")
    status = _get(meta, "HTTPStatusCode")
    retry_after = header(_get(meta, "HTTPHeaders"))
    if code in THROTTLING_CODES:
        return Classification(
            Category.THROTTLED,
            retry_after=parse_retry_after(retry_after),
            detail=UPSTREAM_THROTTLING,
        )
    if code in TRANSIENT_CODES:
        return Upstream.TIMED_OUT.with_retry_after(parse_retry_after(retry_after))
    if code in CREDENTIALS_CODES:
        return _REFUSED_US
    if isinstance(status, int) and 500 <= status <= 599 and status not in _TRANSIENT_STATUSES:
        return _REJECTED  # botocore retries no 501 or 505: the upstream will not serve it
    return upstream(status, retry_after)


def register() -> None:
    """Register the botocore rules (imports botocore)."""
    from botocore import exceptions as aws  # type: ignore[import-untyped]  # noqa: PLC0415

    register_builtin(aws.ClientError, _client_error)
    # Each is also a ConnectionError or an HTTPClientError: named before those.
    register_builtin((aws.ReadTimeoutError, aws.ConnectTimeoutError), Upstream.TIMED_OUT)
    register_builtin((aws.EndpointConnectionError, aws.ProxyConnectionError), Upstream.UNREACHABLE)
    register_builtin(aws.ConnectionClosedError, Upstream.HUNG_UP)
    # A body cut off mid-stream, or shorter than its Content-Length (StreamingBody).
    register_builtin((aws.ResponseStreamingError, aws.IncompleteReadError), Upstream.INCOMPLETE)
    register_builtin((aws.ConnectionError, aws.HTTPClientError), Upstream.CONNECTION_FAILED)
    register_builtin(aws.SSLError, Upstream.TLS)
    register_builtin(
        (aws.NoCredentialsError, aws.PartialCredentialsError),
        Classification(Category.PERMANENT, detail=NO_CREDENTIALS),
    )
    register_builtin((aws.NoRegionError, aws.ParamValidationError), Upstream.REQUEST_INVALID)
