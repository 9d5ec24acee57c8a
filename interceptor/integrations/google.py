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

``google`` is a namespace shared by other packages (protobuf's
``google.protobuf``): a protobuf error does not import google-api-core, and
until google-api-core is imported `register` registers nothing (and is asked
again for the next new ``google`` exception type). The details are the gRPC table's and the upstream
table's, never the service's message. Registered by `classify` the first
time it sees an exception from a ``google`` package; calling `register`
again is harmless.
"""

from __future__ import annotations

import sys

from interceptor._classify import Classification, header, register_builtin, upstream
from interceptor.integrations.grpc import by_code

__all__ = ["register"]


def _call_error(exc: BaseException) -> Classification | None:
    found = by_code(getattr(exc, "grpc_status_code", None))
    if found is not None:
        return found
    status = getattr(exc, "code", None)
    if isinstance(status, int) and not isinstance(status, bool) and 400 <= status <= 599:
        headers = getattr(getattr(exc, "response", None), "headers", None)
        return upstream(status, header(headers))
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
