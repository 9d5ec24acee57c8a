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
is a repr of the input.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from interceptor._problem import Problem, replaced
from interceptor._values import InlineHandler

__all__ = [
    "MAX_ERRORS",
    "VALIDATION_DETAIL",
    "is_missing_field",
    "is_validation_names",
    "is_validation_type",
    "validation_errors",
    "validation_problem",
    "validation_problem_for",
]

MAX_ERRORS = 100  # items in one body's ``errors``; the rest are counted in its detail
_MAX_ITEM_DETAIL = 512  # characters of one item's detail

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
        module, name = getattr(cls, "__module__", None), getattr(cls, "__qualname__", None)
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


def is_validation_names(names: set[tuple[str, str]]) -> bool:
    """`is_validation_type` from the (module, qualname) pairs of a class's MRO."""
    return bool(names & _VALIDATION_TYPES) and _RESPONSE_VALIDATION not in names


def is_missing_field(exc: BaseException) -> bool:
    """Whether ``exc`` is Werkzeug's ``BadRequestKeyError``: a form field or query value missing."""
    return _MISSING_FIELD in _names(type(exc))


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
            key = exc.args[0] if exc.args else ""
            return [{"detail": "This field is required.", "pointer": _pointer([str(key)])}], 1
        errors = getattr(exc, "errors", None)
        raw = errors() if callable(errors) else None
        if not isinstance(raw, Iterable):
            return [], 0
        # FastAPI's locations start with the part of the request: "body", "query", ...
        from_request = any(module.startswith("fastapi.") for module, _ in names)
        items, count = [], 0
        for error in raw:
            if isinstance(error, Mapping):
                count += 1
                if count <= MAX_ERRORS:
                    items.append(_item(error, from_request=from_request))
    except Exception:  # noqa: BLE001 - a validation library's failure must not break the answer
        return [], 0
    return items, count


def _item(error: Mapping[str, Any], *, from_request: bool) -> dict[str, str]:
    message = error.get("msg")
    detail = message if isinstance(message, str) and message else "This value is not valid."
    if len(detail) > _MAX_ITEM_DETAIL:
        detail = detail[:_MAX_ITEM_DETAIL] + "…"
    loc = error.get("loc")
    parts = [str(part) for part in loc] if isinstance(loc, list | tuple) else []
    member, place = _place(parts, from_request=from_request)
    return {"detail": detail, member: place}


def _place(parts: list[str], *, from_request: bool) -> tuple[str, str]:
    """Where an item points: ``pointer``, ``parameter`` or ``header``, and its value."""
    if from_request and parts:
        where, rest = parts[0], parts[1:]
        if where == "body":
            return "pointer", _pointer(rest)
        member = _NAMED_PARTS.get(where)
        if member is not None and rest:
            return member, rest[0]
    return "pointer", _pointer(parts)


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
input is never echoed. A registered ``int`` or `Problem` for those
exceptions renders the same way, with its own status and members.

Example::

    errors = Interceptor({RequestValidationError: validation_problem})
    # POST {"price": "x"} ->
    # 422 {"title": "Unprocessable Content", "detail": "The request is not valid: 1 error.",
    #      "errors": [{"detail": "Input should be a valid number, ...", "pointer": "/price"}]}
"""
