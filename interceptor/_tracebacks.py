"""Traceback text with bounds, for crash reports and 5xx log lines.

Built by the delivery worker, never on the response path: reading an
exception's message calls its ``__str__``, which may be slow or raise, and a
chain of causes can be as long as an attacker makes it. Bounds, next to what
Sentry's SDK keeps:

- `MAX_FRAMES` frames per traceback (the innermost ones, where it failed);
- `MAX_CHAIN` exceptions of a ``__cause__``/``__context__`` chain, and of a
  group's members, the newest first;
- `MAX_GROUP_DEPTH` levels of groups nested in groups (as the stdlib's
  ``max_group_depth``);
- `MAX_MESSAGE` characters of one exception's message, and of each of its
  notes (``add_note``), of which `MAX_NOTES` are shown;
- `MAX_TEXT` characters of the whole text, cut with a note.

The bounds hold the work, not only the text: an exception printed once
(a group may hold the same member many times, at every level) is named the
next time, not walked again, as the stdlib's ``traceback`` does with its
seen-set, and building stops as soon as the text is full.
"""

from __future__ import annotations

import traceback
from collections.abc import Sequence
from types import TracebackType
from typing import cast

from interceptor._http import module_name
from interceptor._scrub import escape_control_in_text, scrub_text

__all__ = [
    "MAX_CHAIN",
    "MAX_FRAMES",
    "MAX_GROUP_DEPTH",
    "MAX_MESSAGE",
    "MAX_NOTES",
    "MAX_TEXT",
    "format_bounded",
]

MAX_FRAMES = 100
MAX_CHAIN = 16
MAX_MESSAGE = 8 * 1024
MAX_TEXT = 64 * 1024
MAX_GROUP_DEPTH = 10
MAX_NOTES = 16

_CAUSE = "\nThe above exception was the direct cause of the following exception:\n\n"
_CONTEXT = "\nDuring handling of the above exception, another exception occurred:\n\n"


def format_bounded(exc: BaseException, tb: TracebackType | None = None) -> str:
    """``traceback.format_exception(exc)``, within the module's bounds.

    ``tb`` is ``exc``'s traceback as it was when the error was answered
    (Starlette clears ``exc.__traceback__`` once its handler returns);
    ``None`` takes ``exc.__traceback__``. Never raises. URL passwords and
    sensitive query parameters in it are ``[Filtered]`` (`scrub_text`): a
    message or a source line may quote the URL a client was called with.
    """
    text = _Text()
    try:
        _chain(exc, tb, text)
    except _Full:
        # Scrubbed before it is cut: a cut must not part a secret from what marks it.
        return f"{scrub_text(''.join(text.parts))[:MAX_TEXT]}\n{_FULL_NOTE}"
    except Exception as failure:  # noqa: BLE001 - a report without text beats none
        return f"<traceback could not be formatted: {type(failure).__qualname__}>\n"
    return scrub_text("".join(text.parts))


_FULL_NOTE = f"... [the text reached {MAX_TEXT} characters: the rest is left out]\n"


class _Full(Exception):
    """The text reached `MAX_TEXT`: nothing more is built."""


class _Text:
    """The text being built: its parts, the room left, and the exceptions already printed."""

    __slots__ = ("left", "parts", "seen")

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.left = MAX_TEXT
        self.seen: set[int] = set()

    def add(self, part: str, prefix: str = "") -> None:
        """Add ``part``, each of its lines after ``prefix``; `_Full` once the text is full."""
        if prefix:
            part = "".join(f"{prefix}{line}\n" for line in part.splitlines())
        self.parts.append(part)
        self.left -= len(part)
        if self.left <= 0:
            raise _Full


# One exception of a chain, its traceback, and the joint printed after it: how
# it led to the newer exception it was found from ("" for the newest).
_Link = tuple[BaseException, TracebackType | None, str]


def _chain(exc: BaseException, tb: TracebackType | None, text: _Text) -> None:
    # The chain, newest first, as far as the bound allows, printed oldest
    # first, as Python does.
    links, cut = _links(exc, tb)
    if cut:
        text.add(f"[{MAX_CHAIN}+ chained exceptions: the oldest are left out]\n")
    for index, (link, link_tb, _) in enumerate(reversed(links)):
        if index:
            text.add(links[len(links) - index][2])
        _one(link, link_tb, text)


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


def _one(
    exc: BaseException, tb: TracebackType | None, text: _Text, prefix: str = "", depth: int = 0
) -> None:
    if id(exc) in text.seen:
        text.add(f"[the same {_type_name(exc)} shown above]\n", prefix)
        return
    text.seen.add(id(exc))
    if tb is not None:
        _frames(tb, text, prefix)
    text.add(_header(exc), prefix)
    _notes(exc, text, prefix)
    if issubclass(type(exc), BaseExceptionGroup):  # type(), not a __class__ that may lie
        group = cast("BaseExceptionGroup[BaseException]", exc)
        _members(group.exceptions, text, prefix, depth + 1)


def _frames(tb: TracebackType, text: _Text, prefix: str) -> None:
    """The innermost `MAX_FRAMES` frames; only those have their source lines read."""
    total = sum(1 for _ in traceback.walk_tb(tb))
    if total > MAX_FRAMES:
        text.add(f"[{total - MAX_FRAMES} outer frames left out]\n", prefix)
    text.add("Traceback (most recent call last):\n", prefix)
    for frame in traceback.extract_tb(tb, limit=-MAX_FRAMES).format():
        text.add(frame, prefix)


def _members(members: Sequence[BaseException], text: _Text, prefix: str, depth: int) -> None:
    """A group's members, each after its number; ``depth`` is how deep they are nested."""
    if depth > MAX_GROUP_DEPTH:
        note = f"[{len(members)} members left out: groups nested more than {MAX_GROUP_DEPTH} deep]"
        text.add(note + "\n", prefix)
        return
    for number, member in enumerate(members[:MAX_CHAIN], start=1):
        text.add(f"+---------------- {number} ----------------\n", prefix)
        _one(member, member.__traceback__, text, prefix + "| ", depth)
    if len(members) > MAX_CHAIN:
        text.add(f"+---------------- {len(members) - MAX_CHAIN} more ----------------\n", prefix)


def _header(exc: BaseException) -> str:
    """``Type: message``, the message cut at `MAX_MESSAGE`, whatever ``__str__`` does.

    Control characters in the message but line feeds and tabs are escaped
    (`escape_control_in_text`): it may quote the request, and the text is
    a log line's too.
    """
    name = _type_name(exc)
    message = _message(exc, "<exception str() failed>")
    return f"{name}: {message}\n" if message else f"{name}\n"


def _message(value: object, failed: str) -> str:
    """``str(value)``, or ``failed`` if that raises; cut at `MAX_MESSAGE`, controls escaped."""
    try:
        message = str(value)
    except Exception:  # noqa: BLE001 - as Python prints it
        message = failed
    if len(message) > MAX_MESSAGE:
        # Scrubbed (within a bound) before it is cut, as the whole text is.
        kept = scrub_text(message[: 2 * MAX_MESSAGE])[:MAX_MESSAGE]
        message = f"{kept}... [{len(message) - MAX_MESSAGE} more characters]"
    # The message may quote the request; the text goes to log lines.
    return escape_control_in_text(message)


def _notes(exc: BaseException, text: _Text, prefix: str) -> None:
    """The notes ``add_note`` gave ``exc``, after its message, as Python prints them.

    Often what a report needs most (the order or row being handled); the
    first `MAX_NOTES`, each cut and escaped as a message is.
    """
    try:
        notes = exc.__dict__.get("__notes__") if hasattr(exc, "__dict__") else None
    except Exception:  # noqa: BLE001 - a type whose __dict__ lies shows no notes
        return
    if not isinstance(notes, list | tuple):
        return
    for note in notes[:MAX_NOTES]:
        text.add(_message(note, "<note str() failed>") + "\n", prefix)
    if len(notes) > MAX_NOTES:
        text.add(f"[{len(notes) - MAX_NOTES} more notes left out]\n", prefix)


def _type_name(exc: BaseException) -> str:
    """``module.Qualname`` of ``exc``'s type, as Python prints it, whatever the type claims."""
    tp = type(exc)
    module = module_name(tp) or "?"
    name = getattr(tp, "__qualname__", None)
    name = name if isinstance(name, str) else "?"
    return name if module in ("builtins", "__main__") else f"{module}.{name}"
