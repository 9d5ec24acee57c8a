"""`classify` rules for gRPC (``grpcio``, sync and ``grpc.aio``): by the call's status code.

An ``RpcError`` from a call is the upstream's answer, so as for an HTTP
upstream (`interceptor._classify.upstream`) its codes are never our own: an
upstream's INVALID_ARGUMENT or NOT_FOUND is our request failing (a 502), not
the caller's 400 or 404. Which codes are retryable follows Google's guidance
(AIP-194: UNAVAILABLE; RESOURCE_EXHAUSTED with backoff; ABORTED at a higher
level; DEADLINE_EXCEEDED where the call is idempotent).

===================================  ==========  ======  =========
status code                          category    status  retryable
===================================  ==========  ======  =========
DEADLINE_EXCEEDED                    TIMEOUT     504     yes
RESOURCE_EXHAUSTED                   THROTTLED   429     yes
UNAVAILABLE                          TEMPORARY   502     yes
ABORTED                              TEMPORARY   502     yes
INTERNAL                             TEMPORARY   502     yes (as an upstream 500)
UNAUTHENTICATED, PERMISSION_DENIED   PERMANENT   502     no
INVALID_ARGUMENT, NOT_FOUND,         PERMANENT   502     no
ALREADY_EXISTS, FAILED_PRECONDITION,
OUT_OF_RANGE, UNIMPLEMENTED,
CANCELLED
UNKNOWN, DATA_LOSS                   PERMANENT   502     no
===================================  ==========  ======  =========

An ``RpcError`` that is not a call (no ``code()``) gets no answer here.
gRPC's ``RetryInfo`` (a delay in the binary trailing metadata) is not read.

Each answer's ``detail``, what `interceptor.classified` shows instead of the
call's ``details()`` (the upstream's own text) is fixed: "The upstream service
timed out.", "The upstream service throttled our requests.", "The upstream
service is unavailable.", "The upstream service refused our credentials.",
"The upstream service rejected our request.", "The upstream service gave an
answer that could not be used."

Registered by `classify` the first time it sees a grpc exception; calling
`register` again is harmless.
"""

from __future__ import annotations

from collections.abc import Mapping

from interceptor._classify import (
    UPSTREAM_REFUSED_US,
    UPSTREAM_REJECTED,
    UPSTREAM_TIMED_OUT,
    UPSTREAM_UNAVAILABLE,
    UPSTREAM_UNUSABLE,
    Category,
    Classification,
    register_builtin,
)

__all__ = ["BY_CODE", "by_code", "register"]

UPSTREAM_THROTTLING = "The upstream service throttled our requests."

_UNAVAILABLE = Classification(Category.TEMPORARY, 502, detail=UPSTREAM_UNAVAILABLE)
_REJECTED = Classification(Category.PERMANENT, 502, detail=UPSTREAM_REJECTED)
_REFUSED_US = Classification(Category.PERMANENT, 502, detail=UPSTREAM_REFUSED_US)
_UNUSABLE = Classification(Category.PERMANENT, 502, detail=UPSTREAM_UNUSABLE)

# By the code's name (grpc.StatusCode member names), so no grpc import is needed.
BY_CODE: Mapping[str, Classification] = {
    "DEADLINE_EXCEEDED": Classification(Category.TIMEOUT, detail=UPSTREAM_TIMED_OUT),
    "RESOURCE_EXHAUSTED": Classification(Category.THROTTLED, detail=UPSTREAM_THROTTLING),
    "UNAVAILABLE": _UNAVAILABLE,
    "ABORTED": _UNAVAILABLE,
    "INTERNAL": _UNAVAILABLE,
    "UNAUTHENTICATED": _REFUSED_US,
    "PERMISSION_DENIED": _REFUSED_US,
    "INVALID_ARGUMENT": _REJECTED,
    "NOT_FOUND": _REJECTED,
    "ALREADY_EXISTS": _REJECTED,
    "FAILED_PRECONDITION": _REJECTED,
    "OUT_OF_RANGE": _REJECTED,
    "UNIMPLEMENTED": _REJECTED,
    "CANCELLED": _REJECTED,
    "UNKNOWN": _UNUSABLE,
    "DATA_LOSS": _UNUSABLE,
}


def by_code(code: object) -> Classification | None:
    """The answer for a gRPC status code (a ``grpc.StatusCode`` or its name); else ``None``."""
    name = code if isinstance(code, str) else getattr(code, "name", None)
    return BY_CODE.get(name) if isinstance(name, str) else None


def _rpc_error(exc: BaseException) -> Classification | None:
    code = getattr(exc, "code", None)
    if not callable(code):
        return None
    try:
        return by_code(code())
    except Exception:  # noqa: BLE001 - a call that cannot say its code says nothing
        return None


def register() -> None:
    """Register the gRPC rules (imports grpc)."""
    import grpc  # type: ignore[import-untyped]  # noqa: PLC0415 - only once in use

    register_builtin(grpc.RpcError, _rpc_error)
