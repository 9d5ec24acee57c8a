"""The bound on every per-type cache: what resolution and classification remember.

Four caches remember what was worked out for an exception type, so that the
next error of that type costs one dict lookup: each interceptor's handler
values (`Interceptor.candidates`), `http_kind`'s framework kinds,
`classify`'s rules, and which ``KeyError`` types are Werkzeug's missing key
(`interceptor._validation.note_missing_key`). Each holds at most
`MAX_TYPES` classes, then starts over. An application raises tens of
exception types, but one that makes classes at run time (``type(name,
(ValueError,), {})`` per request, a class factory, a mocking library) must
not keep every class it ever raised alive: 100,000 of them held about
160 MiB before this bound.

A bound, not ``weakref.WeakKeyDictionary``: a hit costs ~29 ns in a dict and
~105 ns in a WeakKeyDictionary (a weak reference made per lookup), and an
error takes up to three lookups. Starting over costs one MRO walk per type
seen again, after `MAX_TYPES` new ones.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Final, TypeVar

__all__ = ["CLEARS", "MAX_TYPES", "remember"]

MAX_TYPES: Final = 1024
"""How many classes one per-type cache holds before it is emptied."""

CLEARS: Counter[str] = Counter()
"""How many times each cache (by name) was emptied for reaching `MAX_TYPES`."""

_lock = threading.Lock()  # for CLEARS only; the caches are plain dicts, read without it

K = TypeVar("K")
V = TypeVar("V")


def remember(cache: dict[K, V], key: K, value: V, name: str) -> V:
    """Store ``value`` under ``key`` in ``cache``, emptying it first if it is full."""
    if len(cache) >= MAX_TYPES:
        cache.clear()  # readers racing with it miss, and work the value out again
        with _lock:
            CLEARS[name] += 1
    cache[key] = value
    return value
