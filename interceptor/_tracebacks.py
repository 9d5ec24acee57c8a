"""Traceback text with bounds, for crash reports and 5xx log lines.

Built by the delivery worker, never on the response path: reading an
exception's message calls its ``__str__``, which may be slow or raise, and a
chain of causes can be as long as an attacker makes it. Bounds, next to what
Sentry's SDK keeps:

- `MAX_FRAMES` frames per traceback (the innermost ones, where it failed);
- `MAX_CHAIN` exceptions of a ``__cause__``/``__context__`` chain, and of a
  group's members, the newest first;
- `MAX_MESSAGE` characters of one exception's message;
- `MAX_TEXT` characters of the whole text, cut with a note.
"""

from __future__ import annotations

import traceback
from types import TracebackType
from typing import cast

from interceptor._http import module_name

__all__ = ["MAX_CHAIN", "MAX_FRAMES", "MAX_MESSAGE", "MAX_TEXT", "format_bounded"]

MAX_FRAMES = 100
MAX_CHAIN = 16
MAX_MESSAGE = 8 * 1024
MAX_TEXT = 64 * 1024

_CAUSE = "\nThe above exception was the direct cause of the following exception:\n\n"
_CONTEXT = "\nDuring handling of the above exception, another exception occurred:\n\n"


def format_bounded(exc: BaseException, tb: TracebackType | None = None) -> str:
    """``traceback.format_exception(exc)``, within the module's bounds.

    ``tb`` is ``exc``'s traceback as it was when the error was answered
    (Starlette clears ``exc.__traceback__`` once its handler returns);
    ``None`` takes ``exc.__traceback__``. Never raises.
    """
    try:
        parts = _chain(exc, tb)
    except Exception as failure:  # noqa: BLE001 - a report without text beats none
        return f"<traceback could not be formatted: {type(failure).__qualname__}>\n"
    text = "".join(parts)
    if len(text) > MAX_TEXT:
        cut = len(text) - MAX_TEXT
        text = f"{text[:MAX_TEXT]}\n... [{cut} more characters cut]\n"
    return text


# One exception of a chain, its traceback, and the joint printed after it: how
# it led to the newer exception it was found from ("" for the newest).
_Link = tuple[BaseException, TracebackType | None, str]


def _chain(exc: BaseException, tb: TracebackType | None) -> list[str]:
    # The chain, newest first, as far as the bound allows, printed oldest
    # first, as Python does.
    links, cut = _links(exc, tb)
    parts: list[str] = []
    if cut:
        parts.append(f"[{MAX_CHAIN}+ chained exceptions: the oldest are left out]\n")
    for index, (link, link_tb, _) in enumerate(reversed(links)):
        if index:
            parts.append(links[len(links) - index][2])
        parts.extend(_one(link, link_tb))
    return parts


def _links(exc: BaseException, tb: TracebackType | None) -> tuple[list[_Link], bool]:
    """Walk from ``exc`` back through its causes: (the links, whether older ones are left out)."""
    links: list[_Link] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    current_tb = tb if tb is not None else exc.__traceback__
    joint = ""
    while current is not None and id(current) not in seen and len(links) < MAX_CHAIN:
        seen.add(id(current))
        links.append((current, current_tb, joint))
        current, joint = _older(current)
        current_tb = current.__traceback__ if current is not None else None
    return links, current is not None and id(current) not in seen


def _older(exc: BaseException) -> tuple[BaseException | None, str]:
    """The exception before ``exc`` in its chain, as Python prints it, and the joint between."""
    if exc.__cause__ is not None:
        return exc.__cause__, _CAUSE
    if exc.__context__ is not None and not exc.__suppress_context__:
        return exc.__context__, _CONTEXT
    return None, ""


def _one(exc: BaseException, tb: TracebackType | None) -> list[str]:
    parts = []
    if tb is not None:
        frames = traceback.extract_tb(tb)
        if len(frames) > MAX_FRAMES:
            parts.append(f"[{len(frames) - MAX_FRAMES} outer frames left out]\n")
            frames = traceback.StackSummary.from_list(frames[-MAX_FRAMES:])
        parts.append("Traceback (most recent call last):\n")
        parts.extend(frames.format())
    parts.append(_header(exc))
    if issubclass(type(exc), BaseExceptionGroup):  # type(), not a __class__ that may lie
        members = cast("BaseExceptionGroup[BaseException]", exc).exceptions
        for number, member in enumerate(members[:MAX_CHAIN], start=1):
            parts.append(f"+---------------- {number} ----------------\n")
            parts.extend(_indented(_one(member, member.__traceback__)))
        if len(members) > MAX_CHAIN:
            parts.append(f"+---------------- {len(members) - MAX_CHAIN} more ----------------\n")
    return parts


def _header(exc: BaseException) -> str:
    """``Type: message``, the message cut at `MAX_MESSAGE`, whatever ``__str__`` does."""
    tp = type(exc)
    module = module_name(tp) or "?"
    name = getattr(tp, "__qualname__", None)
    name = name if isinstance(name, str) else "?"
    if module not in ("builtins", "__main__"):
        name = f"{module}.{name}"
    try:
        message = str(exc)
    except Exception:  # noqa: BLE001 - as Python prints it
        message = "<exception str() failed>"
    if len(message) > MAX_MESSAGE:
        message = f"{message[:MAX_MESSAGE]}... [{len(message) - MAX_MESSAGE} more characters]"
    return f"{name}: {message}\n" if message else f"{name}\n"


def _indented(parts: list[str]) -> list[str]:
    return ["| " + line + "\n" for part in parts for line in part.splitlines()]
