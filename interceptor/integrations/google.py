"""`classify` rules for google-api-core (the Google Cloud client libraries' errors).

A ``GoogleAPICallError`` is the upstream's answer: by its gRPC status code
(``grpc_status_code``) with the table of `interceptor.integrations.grpc`,
else by its HTTP status (``code``) as any upstream's (429 THROTTLED, 5xx
TEMPORARY 502, other 4xx PERMANENT 502; see `interceptor._classify.upstream`).
A ``RetryError`` (google-api-core gave up retrying) is raised from the last
error, which decides through `classify`'s cause rule.

=====================================  ==========  ======  =========
google.api_core.exceptions             category    status  retryable
=====================================  ==========  ======  =========
DeadlineExceeded (504)                 TIMEOUT     504     yes
TooManyRequests, ResourceExhausted     THROTTLED   429     yes
ServiceUnavailable, Aborted,           TEMPORARY   502     yes
InternalServerError, BadGateway
Unauthenticated, Forbidden,            PERMANENT   502     no
PermissionDenied
NotFound, BadRequest, Conflict,        PERMANENT   502     no
AlreadyExists, FailedPrecondition...
=====================================  ==========  ======  =========

``retry_after``: the ``Retry-After`` header of a REST call's answer, for any
retryable error (a 503 is ``ServiceUnavailable``, which has a gRPC code too);
else for RESOURCE_EXHAUSTED, UNAVAILABLE and ABORTED (and an
HTTP 429 or 503 without a ``Retry-After``), the delay of a
``google.rpc.RetryInfo`` among the error's ``details``: the protobuf message
google-api-core unpacks from a gRPC error (when grpcio-status is installed),
or the REST answer's JSON (``{"@type": ".../google.rpc.RetryInfo",
"retryDelay": "7.2s"}``); else the one in the gRPC call's trailing metadata
(see `interceptor.integrations.grpc`). Rounded up to whole seconds, 1 to
86400; a malformed or negative delay gives none. Nothing is imported for it.

``google`` is a namespace shared by other packages (protobuf's
``google.protobuf``): a protobuf error does not import google-api-core, and
until google-api-core is imported `register` registers nothing (and is asked
again for the next new ``google`` exception type). The details are the gRPC table's and the upstream
table's, never the service's message. Registered by `classify` the first
time it sees an exception from a ``google`` package; calling `register`
again is harmless.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping

from interceptor._classify import (
    Classification,
    header,
    parse_retry_after,
    register_builtin,
    upstream,
)
from interceptor._status import is_error_status
from interceptor.integrations.grpc import (
    RETRY_INFO_CODES,
    by_code,
    call_retry_delay,
    retry_delay_seconds,
)

__all__ = ["register"]

_RETRY_INFO = "google.rpc.RetryInfo"
_RETRY_INFO_TYPE = "type.googleapis.com/google.rpc.RetryInfo"
_JSON_DURATION = re.compile(r"([0-9]{1,12})(?:\.([0-9]{1,9}))?s")  # proto3 JSON, not negative
_MAX_DETAILS = 32


def _detail_delay(detail: object) -> int | None:
    """The delay of one of ``details`` if it is a RetryInfo (message or JSON); else ``None``."""
    if isinstance(detail, Mapping):  # REST: the JSON form
        delay = detail.get("retryDelay") if detail.get("@type") == _RETRY_INFO_TYPE else None
        match = _JSON_DURATION.fullmatch(delay) if isinstance(delay, str) else None
        if match is None:
            return None
        return retry_delay_seconds(int(match[1]), int((match[2] or "").ljust(9, "0")))
    if getattr(getattr(detail, "DESCRIPTOR", None), "full_name", None) != _RETRY_INFO:
        return None
    duration = getattr(detail, "retry_delay", None)
    return retry_delay_seconds(getattr(duration, "seconds", None), getattr(duration, "nanos", None))


def _retry_delay(exc: BaseException) -> int | None:
    """The RetryInfo delay of a google-api-core error; ``None``, never raising."""
    try:
        details = getattr(exc, "details", None)
        if isinstance(details, (list, tuple)):
            for detail in details[:_MAX_DETAILS]:
                delay = _detail_delay(detail)
                if delay is not None:
                    return delay
        # No grpcio-status to unpack them: the call's own trailing metadata.
        return call_retry_delay(getattr(exc, "response", None))
    except Exception:  # noqa: BLE001 - an error whose details cannot be read has no delay
        return None


def _with_delay(found: Classification, exc: BaseException) -> Classification:
    delay = _retry_delay(exc)
    return found if delay is None else found.with_retry_after(delay)


def _retry_after_header(exc: BaseException) -> object:
    """The ``Retry-After`` of the HTTP answer a REST call's error carries; else ``None``."""
    try:
        return header(getattr(getattr(exc, "response", None), "headers", None))
    except Exception:  # noqa: BLE001 - an error whose response cannot be read has none
        return None


def _call_error(exc: BaseException) -> Classification | None:
    code = getattr(exc, "grpc_status_code", None)
    found = by_code(code)
    if found is not None:
        # A REST call's 503 is ServiceUnavailable, with a gRPC code too: the
        # answer's own Retry-After comes first, as for any upstream's.
        delay = parse_retry_after(_retry_after_header(exc)) if found.retryable else None
        if delay is not None:
            return found.with_retry_after(delay)
        name = code if isinstance(code, str) else getattr(code, "name", None)
        return _with_delay(found, exc) if name in RETRY_INFO_CODES else found
    status = getattr(exc, "code", None)
    if is_error_status(status):
        found = upstream(status, _retry_after_header(exc))
        if status in (429, 503) and found.retryable and found.retry_after is None:
            return _with_delay(found, exc)
        return found
    return None


def register() -> bool:
    """Register the google-api-core rules if it is imported; ``False`` if it is not (yet)."""
    # Never import it here: `google` is a namespace, and a protobuf error
    # (``google.protobuf``) says nothing about google-api-core being in use.
    exceptions = sys.modules.get("google.api_core.exceptions")
    if exceptions is None:
        return False
    register_builtin(exceptions.GoogleAPICallError, _call_error)
    return True
