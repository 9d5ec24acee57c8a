"""Validation errors as RFC 9457 problems, with an ``errors`` array and no echoed input.

Recognised without importing any of them: FastAPI's
``RequestValidationError`` (and its websocket twin), pydantic's
``ValidationError``, and Werkzeug's ``BadRequestKeyError`` (a form field or
query value the view asked for and the request lacks). Each item of
``errors`` has a ``detail`` and says where it points, as RFC 9457's own
example does:

- ``pointer``: an RFC 6901 JSON Pointer into the body (``"/items/0/price"``);
- ``parameter``: a query, path or cookie parameter's name;
- ``header``: a header's name.

The client's input is never copied into the body: pydantic's ``input`` and
``ctx`` members are left out, and so is the exception's own message, which
is a repr of the input. An item's ``detail`` is pydantic's ``msg`` unless
that quotes the input:

- the error types whose message carries something of the input (the tag
  of a discriminated union, a character of a UUID or of base64 data, a
  timezone offset) get a fixed message of their own, made of the schema's
  facts only (the expected tags, the encoding, the offset required);
- any other message with a ``ctx`` (the application's own validators, a
  parser's error text) that contains a value of the error's input, three
  characters or more, is cut to pydantic's fixed part before its first
  ``", "`` ("Value error"), or, if that quotes it too, a fixed one.

Messages with no ``ctx`` ("Field required") and those whose ``ctx`` holds
only the schema's bounds and choices ("Input should be greater than 100")
are kept as they are. A ``pointer`` keeps the object keys the client sent
(``"/scores/some-key"``): it says where the error is in the client's own
document, which a placeholder would not; the value there is never shown.
"""

from __future__ import annotations

import contextlib
import itertools
import re
import weakref
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from interceptor._problem import Problem, replaced
from interceptor._typecache import remember
from interceptor._values import InlineHandler

__all__ = [
    "MAX_ERRORS",
    "VALIDATION_DETAIL",
    "is_missing_field",
    "is_missing_request_key",
    "is_request_validation_type",
    "is_validation_names",
    "is_validation_type",
    "note_missing_key",
    "validation_errors",
    "validation_problem",
    "validation_problem_for",
]

MAX_ERRORS = 100  # items in one body's ``errors``; the rest are counted in its detail
_MAX_ITEM_DETAIL = 512  # characters of one item's detail
_NOT_VALID = "This value is not valid."

# pydantic's error types whose message carries something of the input (in a
# ``ctx`` member), and their message without it, from the ``ctx`` members that
# are the schema's facts.
_REWORDED = {
    "union_tag_invalid": (
        "Input tag found using {discriminator} does not match any of the expected tags: "
        "{expected_tags}"
    ),
    "uuid_parsing": "Input should be a valid UUID",  # "invalid character: found `S` at 0"
    "bytes_invalid_encoding": "Data should be valid {encoding}",  # "Invalid symbol 36, ..."
    "timezone_offset": "Timezone offset of {tz_expected} required",  # "..., got 18000"
}
# pydantic's error types whose ``ctx`` holds only the schema's bounds and
# choices: a value of the input that their message shows is the schema's too.
_SCHEMA_CTX = frozenset(
    {
        "greater_than",
        "greater_than_equal",
        "less_than",
        "less_than_equal",
        "multiple_of",
        "string_too_short",
        "string_too_long",
        "string_pattern_mismatch",
        "bytes_too_short",
        "bytes_too_long",
        "too_short",
        "too_long",
        "literal_error",
        "enum",
        "url_too_long",
        "url_scheme",
        "uuid_version",
        "decimal_max_digits",
        "decimal_max_places",
        "decimal_whole_digits",
    }
)
_MIN_QUOTE = 3  # characters of an input value that, found in a message, quote it
_MAX_QUOTE = 512  # characters of an input value looked for
_MAX_INPUT_VALUES = 64  # values of one error's input (containers too) looked at

_VALIDATION_TYPES = frozenset(
    {
        ("fastapi.exceptions", "RequestValidationError"),
        ("fastapi.exceptions", "WebSocketRequestValidationError"),
        ("fastapi.exceptions", "ResponseValidationError"),
        ("pydantic_core._pydantic_core", "ValidationError"),
        ("pydantic.error_wrappers", "ValidationError"),  # pydantic 1
        ("werkzeug.exceptions", "BadRequestKeyError"),
    }
)
_MISSING_FIELD = ("werkzeug.exceptions", "BadRequestKeyError")
# What validates the request itself, answered 4xx by its framework: any other
# (pydantic's own, raised by the app's code) may be about the server's own data.
_REQUEST_VALIDATION_TYPES = frozenset(
    {
        ("fastapi.exceptions", "RequestValidationError"),
        ("fastapi.exceptions", "WebSocketRequestValidationError"),
        _MISSING_FIELD,
    }
)
_RESPONSE_VALIDATION = ("fastapi.exceptions", "ResponseValidationError")

# Where FastAPI's ``loc`` starts: the request part, and the item member naming the
# place in it (the body's places are pointers).
_NAMED_PARTS = {
    "query": "parameter",
    "path": "parameter",
    "cookie": "parameter",
    "header": "header",
}


def _names(tp: type) -> set[tuple[str, str]]:
    names = set()
    for cls in type.mro(tp):
        try:
            module, name = getattr(cls, "__module__", None), getattr(cls, "__qualname__", None)
        except Exception:  # noqa: BLE001, S112 - a metaclass's broken property: no name of ours
            continue
        if isinstance(module, str) and isinstance(name, str):
            names.add((module, name))
    return names


VALIDATION_DETAIL = "The request is not valid."


def is_validation_type(tp: type) -> bool:
    """Whether instances of ``tp`` are validation errors this module renders.

    A FastAPI ``ResponseValidationError`` is the server's own bug (its answer
    did not fit its model), so it is not one: it stays a 500.
    """
    return is_validation_names(_names(tp))


def is_request_validation_type(tp: type) -> bool:
    """Whether ``tp`` is a framework's error about the request's own data.

    FastAPI answers a ``RequestValidationError`` 422 and Werkzeug a missing
    form field 400, so those keep their status as HTTP exceptions do.
    pydantic's own ``ValidationError``, which the app's code raises, is as
    often about the server's data (an upstream's answer, a database row): a
    crash in FastAPI and Flask, answered as the registration says.
    """
    return not _REQUEST_VALIDATION_TYPES.isdisjoint(_names(tp))


def is_validation_names(names: set[tuple[str, str]]) -> bool:
    """`is_validation_type` from the (module, qualname) pairs of a class's MRO."""
    return bool(names & _VALIDATION_TYPES) and _RESPONSE_VALIDATION not in names


def is_missing_field(exc: BaseException) -> bool:
    """Whether ``exc`` is Werkzeug's ``BadRequestKeyError``: a form field or query value missing."""
    return _MISSING_FIELD in _names(type(exc))


def is_missing_request_key(exc: BaseException) -> bool:
    """Whether ``exc`` is a `is_missing_field` whose key the request lacks (`note_missing_key`).

    Any other Werkzeug mapping raises it too: the app's own settings, an
    outbound call's headers. Their keys are the app's, never the client's.
    """
    try:
        return exc in _MISSING_KEY_PLACES
    except TypeError:  # an exception class that refuses weak references or hashing
        return False


# Where a BadRequestKeyError looked its key up, by the exception: noted by the
# WSGI adapters, which have the request (`note_missing_key`); held no longer
# than the exception.
_MISSING_KEY_PLACES: weakref.WeakKeyDictionary[BaseException, str] = (
    weakref.WeakKeyDictionary()
)
_MISSING_BY_TYPE: dict[type, bool] = {}  # is_missing_field, by KeyError type
# A Werkzeug request's parts, in its __dict__ once read, and where each is. (A
# missing header is a plain KeyError from Werkzeug, a crash as without us.)
_REQUEST_PARTS = (
    ("args", "parameter"),
    ("values", "parameter"),  # the query's values, and the form's but for a GET
    ("cookies", "parameter"),
    ("form", "pointer"),
    ("files", "pointer"),
)


def note_missing_key(exc: BaseException, environ: Mapping[str, Any]) -> None:
    """Note where ``exc``, if it is Werkzeug's ``BadRequestKeyError``, looked its key up.

    The exception names only the key: the part of the request (the
    ``werkzeug.request`` of ``environ``) whose mapping raised it says whether
    it is a query or cookie parameter or a place in the body.
    """
    if not isinstance(exc, KeyError):  # as BadRequestKeyError is: most errors stop here
        return
    missing = _MISSING_BY_TYPE.get(type(exc))
    if missing is None:  # a KeyError of the app's, on every error of its type: once
        missing = remember(_MISSING_BY_TYPE, type(exc), is_missing_field(exc), "missing_key")
    request = environ.get("werkzeug.request") if missing else None
    tb = exc.__traceback__
    if request is None or tb is None:
        return
    while tb.tb_next is not None:
        tb = tb.tb_next
    raised_by = tb.tb_frame.f_locals.get("self")  # the mapping's __getitem__ raised it
    parts = getattr(request, "__dict__", {})
    for name, place in _REQUEST_PARTS:
        if raised_by is not None and parts.get(name) is raised_by:
            with contextlib.suppress(TypeError):  # an exception class that is unhashable
                _MISSING_KEY_PLACES[exc] = place
            return


def validation_problem_for(exc: BaseException, template: Problem | None = None) -> Problem:
    """The problem for validation error ``exc``: 422 with ``errors`` (400 for a missing field).

    ``template`` (a registered `Problem`, or one made from a registered
    status) wins for what it sets; its ``detail`` too, else a fixed one of
    ours. An exception that is no validation error gets no items.
    """
    missing_field = _MISSING_FIELD in _names(type(exc))
    items, count = validation_errors(exc)
    status = 400 if missing_field else 422
    if template is not None and template.status is not None:
        status = template.status
    if missing_field:
        detail = "A required field is missing from the request."
    elif count:
        detail = f"The request is not valid: {count} error{'s' if count != 1 else ''}."
        if count > len(items):
            detail += f" The first {len(items)} are listed."
    else:
        detail = VALIDATION_DETAIL
    base = template if template is not None else Problem()
    return replaced(
        base,
        status=status,
        detail=base.detail or detail,
        extensions={"errors": items, **base.extensions},
    )


def validation_errors(exc: BaseException) -> tuple[list[dict[str, str]], int]:
    """The ``errors`` items for ``exc`` (at most `MAX_ERRORS`), and how many there are.

    Each item has a ``detail`` and a ``pointer``, ``parameter`` or ``header``.
    Never raises: an exception whose ``errors()`` fails or gives something
    else than mappings gives no items.
    """
    try:
        names = _names(type(exc))
        if _MISSING_FIELD in names:
            return _missing_key_items(exc)
        errors = getattr(exc, "errors", None)
        raw = errors() if callable(errors) else None
        if not isinstance(raw, Iterable):
            return [], 0
        # FastAPI's locations start with the part of the request: "body", "query", ...
        # and it keeps the body it parsed, which the pointers are walked through.
        from_request = any(module.startswith("fastapi.") for module, _ in names)
        document = getattr(exc, "body", _NO_DOCUMENT) if from_request else _NO_DOCUMENT
        items, count = [], 0
        for error in raw:
            if isinstance(error, Mapping):
                count += 1
                if count <= MAX_ERRORS:
                    items.append(_item(error, from_request=from_request, document=document))
    except Exception:  # noqa: BLE001 - a validation library's failure must not break the answer
        return [], 0
    return items, count


def _item(error: Mapping[str, Any], *, from_request: bool, document: object) -> dict[str, str]:
    detail = _detail(error)
    if len(detail) > _MAX_ITEM_DETAIL:
        detail = detail[:_MAX_ITEM_DETAIL] + "…"
    loc = error.get("loc")
    parts = list(loc) if isinstance(loc, list | tuple) else []
    member, place = _place(parts, error, from_request=from_request, document=document)
    return {"detail": detail, member: place}


def _detail(error: Mapping[str, Any]) -> str:
    """The error's message, unless it quotes the input (see the module's docstring)."""
    message = error.get("msg")
    if not isinstance(message, str) or not message:
        return _NOT_VALID
    kind = error.get("type")
    kind = kind if isinstance(kind, str) else ""
    ctx = error.get("ctx")
    if kind in _REWORDED:
        return _reworded(_REWORDED[kind], ctx)
    if not isinstance(ctx, Mapping) or not ctx or kind in _SCHEMA_CTX:
        return message  # pydantic's template and the schema's facts: nothing of the input
    return _unquoted(message, error.get("input"))


def _reworded(template: str, ctx: object) -> str:
    """``template`` filled from ``ctx``; the fixed `_NOT_VALID` if that lacks a member."""
    # Only pydantic's own str and int members: no __str__ of anyone else's runs.
    members = ctx.items() if isinstance(ctx, Mapping) else ()
    facts = {name: value for name, value in members if type(value) in (str, int)}
    try:
        return template.format_map(facts)
    except (KeyError, ValueError):
        return _NOT_VALID


def _unquoted(message: str, value: object) -> str:
    """``message``, or if it quotes ``value`` its fixed part before the first ``", "``,
    or if that quotes it too `_NOT_VALID`."""
    # What is looked at is what the detail can show: the start of the
    # message, and the start of each value (one quoted from within the
    # detail starts there).
    quoted = [text for text in _input_texts(value) if len(text) >= _MIN_QUOTE]
    shown = message[: _MAX_ITEM_DETAIL + _MAX_QUOTE]
    if not any(text in shown for text in quoted):
        return message
    head, comma, _ = shown.partition(", ")
    return head if comma and not any(text in head for text in quoted) else _NOT_VALID


def _input_texts(value: object) -> Iterator[str]:
    """The start of each string and number in ``value``, breadth first through the
    keys and items of JSON's containers, at most `_MAX_INPUT_VALUES` values in all."""
    queue = [value]
    for item in queue:  # it grows as containers are met, never past the bound
        if type(item) is str:
            yield item[:_MAX_QUOTE]
        elif type(item) is int or type(item) is float:
            yield _number(item)
        else:
            queue.extend(itertools.islice(_members(item), _MAX_INPUT_VALUES - len(queue)))


def _members(value: object) -> Iterator[object]:
    """The keys and values of a dict, the items of a list or tuple; nothing of anything else."""
    if type(value) is dict:
        for key, member in value.items():
            yield key
            yield member
    elif type(value) is list or type(value) is tuple:
        yield from value


def _number(value: float) -> str:
    try:
        return repr(value)  # an int or a float itself: its own repr
    except ValueError:  # an int too long to print (sys.set_int_max_str_digits)
        return ""


def _place(
    parts: list[Any], error: Mapping[str, Any], *, from_request: bool, document: object
) -> tuple[str, str]:
    """Where an item points: ``pointer``, ``parameter`` or ``header``, and its value."""
    if from_request and parts:
        where, rest = parts[0], parts[1:]
        if where == "body":
            return "pointer", _pointer(_body_keys(rest, error, document))
        member = _NAMED_PARTS.get(where)
        if member is not None and rest:
            return member, str(rest[0])
    return "pointer", _pointer(_keys(parts))


def _body_keys(parts: list[Any], error: Mapping[str, Any], document: object) -> list[str]:
    """The keys and indexes of ``parts`` that are places in the client's ``document``.

    pydantic's ``loc`` also names a union's member (its class or type) and a
    validator between the keys: text of the app's model, no place in the
    document. A key the document lacks stays only where it is the missing
    one. Malformed JSON points at the whole document, not at an offset.
    """
    kind = error.get("type")
    if kind == "json_invalid":
        return []
    if document is _NO_DOCUMENT or document is None:  # none kept, or none sent
        return _keys(parts)
    kept, node, last = [], document, len(parts) - 1
    for at, part in enumerate(parts):
        if _holds(node, part):
            kept.append(str(part))
            node = node[part]  # type: ignore[index]
        elif at == last and kind == "missing" and isinstance(node, Mapping):
            kept.append(str(part))  # where the key it did not send belongs
    return kept


def _holds(node: object, part: object) -> bool:
    """Whether ``part`` is a key of the JSON object or an index of the array ``node``."""
    if isinstance(node, Mapping):
        return isinstance(part, str) and part in node
    return type(node) is list and type(part) is int and 0 <= part < len(node)


def _keys(parts: list[Any]) -> list[str]:
    """``parts`` as a pointer's keys, less what can only be pydantic's own labels."""
    return [str(part) for part in parts if not (type(part) is str and _LABEL.fullmatch(part))]


# pydantic's labels in a loc: a validator ("function-after[check(), str]"), a
# key of a dict ("[key]"), a schema ("tagged-union[...]", "list[int]").
_LABEL = re.compile(r"[a-z][a-z0-9-]*\[.*\]|\[key\]", re.DOTALL)
_NO_DOCUMENT = object()  # an error that keeps no document of the client's


def _missing_key_items(exc: BaseException) -> tuple[list[dict[str, str]], int]:
    """`validation_errors` for a ``BadRequestKeyError``: none for a key not the request's."""
    place = _MISSING_KEY_PLACES.get(exc)
    if place is None:  # the app's own key, never named
        return [], 0
    key = str(exc.args[0]) if exc.args else ""
    return [_missing_key_item(key, place)], 1


def _missing_key_item(key: str, place: str) -> dict[str, str]:
    """The ``errors`` item for a key the request lacks, by where it was looked up."""
    if place == "parameter":
        return {"detail": "This parameter is required.", "parameter": key}
    return {"detail": "This field is required.", "pointer": _pointer([key])}


def _pointer(parts: list[str]) -> str:
    """An RFC 6901 JSON Pointer: ``""`` is the whole document."""
    return "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in parts)


class _ValidationProblem(InlineHandler):
    """The ready rendering of validation errors; see `validation_problem`."""

    __slots__ = ()

    def problem(self, exc: BaseException) -> Problem:
        return validation_problem_for(exc)

    def __repr__(self) -> str:
        return "validation_problem"


validation_problem: InlineHandler = _ValidationProblem()
"""A handler value for validation errors: RFC 9457 ``errors``, never the input.

For FastAPI's ``RequestValidationError``, pydantic's ``ValidationError`` and
Werkzeug's missing form field: 422 (400 for the form field), a fixed
``detail`` and an ``errors`` array of ``{"detail", "pointer"}`` (an RFC 6901
JSON Pointer into the body) or ``{"detail", "parameter"}`` /
``{"detail", "header"}`` for query, path and header values. The client's
input is never echoed: a message of pydantic's that would quote it is
replaced by one made without it. A registered ``int`` or `Problem` for those
exceptions renders the same way, with its own status and members.

Example::

    errors = Interceptor({RequestValidationError: validation_problem})
    # POST {"price": "x"} ->
    # 422 {"title": "Unprocessable Content", "detail": "The request is not valid: 1 error.",
    #      "errors": [{"detail": "Input should be a valid number, ...", "pointer": "/price"}]}
"""
