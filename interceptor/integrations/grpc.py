"""`classify` rules for gRPC (``grpcio``, sync and ``grpc.aio``): by the call's status code.

An ``RpcError`` from a call is the upstream's answer, so as for an HTTP
upstream (`interceptor._classify.upstream`) its codes are never our own: an
upstream's INVALID_ARGUMENT or NOT_FOUND is our request failing (a 502), not
the caller's 400 or 404. Which codes are retryable follows Google's guidance
(AIP-194: UNAVAILABLE; RESOURCE_EXHAUSTED with backoff; ABORTED at a higher
level; DEADLINE_EXCEEDED where the call is idempotent).

===================================  ==========  ======  ===================================
status code                          category    status  retryable
===================================  ==========  ======  ===================================
DEADLINE_EXCEEDED                    TIMEOUT     504     yes
RESOURCE_EXHAUSTED                   THROTTLED   429     yes; after its RetryInfo, if any
UNAVAILABLE                          TEMPORARY   502     yes; after its RetryInfo, if any
ABORTED                              TEMPORARY   502     yes; after its RetryInfo, if any
INTERNAL                             TEMPORARY   502     yes (as an upstream 500)
UNAUTHENTICATED, PERMISSION_DENIED   PERMANENT   502     no
INVALID_ARGUMENT, NOT_FOUND,         PERMANENT   502     no
ALREADY_EXISTS, FAILED_PRECONDITION,
OUT_OF_RANGE, UNIMPLEMENTED,
CANCELLED
UNKNOWN, DATA_LOSS                   PERMANENT   502     no
===================================  ==========  ======  ===================================

An ``RpcError`` that is not a call (no ``code()``) gets no answer here.

``retry_after``: for RESOURCE_EXHAUSTED, UNAVAILABLE and ABORTED, the delay
of a ``google.rpc.RetryInfo`` the upstream attached (AIP-193): a serialized
``google.rpc.Status`` in the ``grpc-status-details-bin`` trailing metadata
whose ``details`` hold an ``Any`` of ``type.googleapis.com/google.rpc.RetryInfo``.
Its ``retry_delay`` is rounded up to whole seconds, at least 1 and at most a
day (86400); a negative or malformed delay, or bytes that are no such
message, give no ``retry_after`` and the same answer otherwise. The bytes are
read here by protobuf's wire format, so neither ``protobuf`` nor
``googleapis-common-protos`` is needed or imported; the reading never
raises and is bounded (64 KiB of details, 64 metadata entries).

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

from collections.abc import Iterable, Mapping
from itertools import islice

from interceptor._classify import (
    MAX_RETRY_AFTER,
    UPSTREAM_REFUSED_US,
    UPSTREAM_REJECTED,
    UPSTREAM_TIMED_OUT,
    UPSTREAM_UNAVAILABLE,
    UPSTREAM_UNUSABLE,
    Category,
    Classification,
    register_builtin,
)

__all__ = [
    "BY_CODE",
    "RETRY_INFO_CODES",
    "by_code",
    "call_retry_delay",
    "register",
    "retry_delay_seconds",
]

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


# The codes whose RetryInfo is read: those a client retries after a delay.
RETRY_INFO_CODES = frozenset({"RESOURCE_EXHAUSTED", "UNAVAILABLE", "ABORTED"})
_RETRY_INFO_TYPE = b"type.googleapis.com/google.rpc.RetryInfo"
_DETAILS_KEY = "grpc-status-details-bin"
_MAX_DETAILS = 65_536
_MAX_ENTRIES = 64

_Fields = list[tuple[int, "int | bytes"]]


class _Malformed(Exception):
    """Bytes that are not the protobuf message they should be."""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    for _ in range(10):  # a varint has at most 10 bytes
        if pos >= len(data):
            raise _Malformed
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value & 0xFFFFFFFFFFFFFFFF, pos
        shift += 7
    raise _Malformed


def _fields(data: bytes) -> _Fields:
    """A message's fields in order, ``(number, value)``: a varint's int or a length's bytes."""
    found: _Fields = []
    pos = 0
    while pos < len(data):  # every turn consumes at least one byte
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise _Malformed
        if wire == 0:
            value, pos = _varint(data, pos)
            found.append((number, value))
        elif wire == 2:
            size, pos = _varint(data, pos)
            if size > len(data) - pos:
                raise _Malformed
            found.append((number, data[pos : pos + size]))
            pos += size
        elif wire in (1, 5):  # 64 or 32 fixed bits: no field read here has them
            pos += 8 if wire == 1 else 4
            if pos > len(data):
                raise _Malformed
        else:  # groups (3, 4) are in none of these messages; 6 and 7 do not exist
            raise _Malformed
    return found


def _last_int(fields: _Fields, number: int) -> int:
    """A singular varint field as protobuf reads it (the last one wins), signed; 0 if absent."""
    values = [value for n, value in fields if n == number and isinstance(value, int)]
    if not values:
        return 0
    return values[-1] - (1 << 64) if values[-1] >= 1 << 63 else values[-1]


def _last_bytes(fields: _Fields, number: int) -> bytes | None:
    values = [value for n, value in fields if n == number and isinstance(value, bytes)]
    return values[-1] if values else None


def retry_delay_seconds(seconds: object, nanos: object) -> int | None:
    """A ``google.protobuf.Duration`` as a retry delay: whole seconds, 1 to a day; else ``None``.

    Rounded up; ``None`` for a negative duration, nanos outside 0 to
    999,999,999, or values that are not ints.
    """
    if type(seconds) is not int or type(nanos) is not int:
        return None
    if seconds < 0 or not 0 <= nanos <= 999_999_999:
        return None
    return max(1, min(int(MAX_RETRY_AFTER), seconds + (1 if nanos else 0)))


def _retry_info_delay(serialized: bytes) -> int | None:
    """The delay of a serialized ``google.rpc.RetryInfo``; ``None`` when it gives none."""
    delays = [v for n, v in _fields(serialized) if n == 1 and isinstance(v, bytes)]
    if not delays:
        return None
    # An embedded message given more than once is merged: read them concatenated.
    duration = _fields(b"".join(delays))
    return retry_delay_seconds(_last_int(duration, 1), _last_int(duration, 2))


def _status_retry_delay(serialized: object) -> int | None:
    """The RetryInfo delay in a serialized ``google.rpc.Status``; ``None``, never raising."""
    try:
        if not isinstance(serialized, (bytes, bytearray, memoryview)):
            return None
        data = bytes(serialized)
        if len(data) > _MAX_DETAILS:
            return None
        for number, detail in _fields(data):
            if number != 3 or not isinstance(detail, bytes):  # Status.details, each an Any
                continue
            any_fields = _fields(detail)
            if _last_bytes(any_fields, 1) == _RETRY_INFO_TYPE:  # Any.type_url
                return _retry_info_delay(_last_bytes(any_fields, 2) or b"")  # Any.value
    except Exception:  # noqa: BLE001 - malformed or hostile bytes give no delay
        return None
    return None


def call_retry_delay(call: object) -> int | None:
    """The RetryInfo delay in a gRPC call's trailing metadata; ``None``, never raising."""
    try:
        trailing = getattr(call, "trailing_metadata", None)
        metadata = trailing() if callable(trailing) else None
        if not isinstance(metadata, Iterable):
            return None
        for entry in islice(metadata, _MAX_ENTRIES):
            if isinstance(entry, tuple) and len(entry) == 2 and entry[0] == _DETAILS_KEY:
                return _status_retry_delay(entry[1])
    except Exception:  # noqa: BLE001 - a call that cannot give its metadata has no delay
        return None
    return None


def _rpc_error(exc: BaseException) -> Classification | None:
    code = getattr(exc, "code", None)
    if not callable(code):
        return None
    try:
        status = code()
        name = status if isinstance(status, str) else getattr(status, "name", None)
        found = by_code(name)
        delayed = found is not None and name in RETRY_INFO_CODES
    except Exception:  # noqa: BLE001 - a call that cannot say its code says nothing
        return None
    if found is None or not delayed:
        return found
    delay = call_retry_delay(exc)
    return found if delay is None else found.with_retry_after(delay)


def register() -> None:
    """Register the gRPC rules (imports grpc)."""
    import grpc  # type: ignore[import-untyped]  # noqa: PLC0415 - only once in use

    register_builtin(grpc.RpcError, _rpc_error)
