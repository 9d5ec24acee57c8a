"""What goes on the wire: JSON bytes that always encode, and headers that cannot inject.

Both ASGI and WSGI adapters send what this module makes; it imports nothing
of the package.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping

__all__ = ["encode_json", "header_items", "raw_headers", "safe_headers", "to_str"]


def encode_json(value: object) -> bytes:
    """JSON bytes for any value: what JSON can't encode becomes a string.

    Lone surrogates come out as ``\\udXXX`` escapes, so the bytes are always
    valid UTF-8 and valid JSON.
    """
    try:
        text = _ENCODER.encode(value)
    except (TypeError, ValueError, RecursionError):
        text = _ENCODER.encode(_jsonable(value, 0))
    return text.encode("utf-8", "backslashreplace")


# One encoder for every body: json.dumps builds a new one per call whenever an
# option differs from its defaults.
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


_MAX_DEPTH = 32
_MAX_INT_BITS = 4000  # about 1200 decimal digits, well under the default limit of 4300


def _jsonable(value: object, depth: int) -> object:
    if value is None or isinstance(value, str | int | float):
        return _json_scalar(value)
    if depth >= _MAX_DEPTH:
        return to_str(value)
    if isinstance(value, Mapping):
        return {
            k if isinstance(k, str) else to_str(k): _jsonable(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_jsonable(v, depth + 1) for v in value]
    return to_str(value)


def _json_scalar(value: str | int | float | None) -> object:
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, int):
        # Past sys.get_int_max_str_digits() an int has no decimal form at all.
        return value if value.bit_length() <= _MAX_INT_BITS else to_str(value)
    return value if math.isfinite(value) else str(value)


def to_str(value: object) -> str:
    try:
        return str(value)
    except Exception:  # noqa: BLE001 - a broken __str__ must not break the error response
        return f"<unprintable {type(value).__qualname__}>"


# RFC 9110 field names are tokens; values may not carry CR, LF or NUL. Anything
# else is dropped, so an exception message can never inject a header.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
# CR, LF, NUL and other controls could split or corrupt the header block, and
# both ASGI and WSGI need values that Latin-1 can carry.
_BAD_VALUE = re.compile(r"[^\t\x20-\x7e\x80-\xff]")
_OWN_HEADERS = frozenset({"content-type", "content-length"})


def safe_headers(headers: Iterable[tuple[object, object]]) -> list[tuple[str, str]]:
    """Keep only well-formed headers, minus the body headers the outcome sets."""
    kept = []
    for name, value in headers:
        if not isinstance(name, str) or not _TOKEN.match(name):
            continue
        if name.lower() in _OWN_HEADERS:
            continue
        # RFC 9110: whitespace around a field value is no part of it, and h11
        # (uvicorn) refuses to send a value that has some.
        text = (value if isinstance(value, str) else to_str(value)).strip(" \t")
        if _BAD_VALUE.search(text):
            continue
        kept.append((name, text))
    return kept


def header_items(headers: object) -> Iterable[tuple[object, object]]:
    """Pairs from a mapping or an iterable of pairs; anything else gives none.

    Any iterable, not only a list: Werkzeug's ``Headers``, which Flask takes
    wherever it takes a dict, is no mapping and iterates as pairs.
    """
    if isinstance(headers, Mapping):
        return headers.items()
    if isinstance(headers, str | bytes) or not isinstance(headers, Iterable):
        return ()
    return [
        (pair[0], pair[1]) for pair in headers if isinstance(pair, tuple | list) and len(pair) == 2
    ]


def raw_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    """Headers as ASGI sends them: lowercase names, Latin-1 bytes."""
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]

