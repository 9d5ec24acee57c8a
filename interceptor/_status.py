"""Facts about HTTP statuses, and the error ids 5xx answers carry.

The lowest layer but one: it imports nothing of the package, and every module
that asks "is this an error status?" or "may a caller retry this status?"
asks here, so the answer is written once.
"""

from __future__ import annotations

import os
from http import HTTPStatus
from typing import TypeGuard

__all__ = [
    "RETRYABLE_STATUSES",
    "is_error_status",
    "is_int",
    "is_response_status",
    "is_server_error",
    "new_error_id",
    "reason_phrase",
    "retryable_for_status",
]

RETRYABLE_STATUSES = frozenset({408, 429, 502, 503, 504})

_PHRASES = {status.value: status.phrase for status in HTTPStatus}


def is_int(value: object) -> TypeGuard[int]:
    """Whether ``value`` is an ``int`` and not a ``bool`` (which ``isinstance`` allows)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_error_status(value: object) -> TypeGuard[int]:
    """Whether ``value`` is an error status: an ``int`` from 400 to 599, not a bool."""
    return is_int(value) and 400 <= value <= 599


def is_server_error(value: object) -> TypeGuard[int]:
    """Whether ``value`` is a 5xx status: an ``int`` from 500 to 599, not a bool."""
    return is_int(value) and 500 <= value <= 599


def is_response_status(value: object) -> TypeGuard[int]:
    """Whether ``value`` is a final response's status: an ``int`` from 200 to 599.

    A 1xx is never a final response, so it is no answer a handler can give.
    """
    return is_int(value) and 200 <= value <= 599


def reason_phrase(status: int) -> str:
    """The status's reason phrase; a generic one for codes HTTP does not name."""
    phrase = _PHRASES.get(status)
    if phrase is None:
        return "Client Error" if status < 500 else "Server Error"
    return phrase


def retryable_for_status(status: int) -> bool | None:
    """Whether a caller may retry, when the status alone decides it, else ``None``.

    408, 429, 502, 503 and 504 are retryable; other 4xx are not; other 5xx
    depend on the cause.
    """
    if status in RETRYABLE_STATUSES:
        return True
    if 400 <= status < 500:
        return False
    return None


def new_error_id() -> str:
    """32 random hex digits, like a UUID4 without the version bits (and 4x faster)."""
    return os.urandom(16).hex()
