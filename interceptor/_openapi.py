"""What the interceptors in scope can answer, as OpenAPI ``responses`` data.

No framework is imported here: adapters hand over the interceptors that
cover an operation, nearest first, and the framework's own exceptions to
probe with, and get back plain dicts for the document.

The answers come from the core's own rendering (`Interceptor.candidates` and
`Interceptor.outcome`), so the document shows the statuses, content types
and bodies the interceptors really send:

- an `ApiError` class registered as a key, or named by the endpoint
  (``raises``), resolved through the scopes as a raised instance would be;
- a status key (``404: Problem(...)``), probed with the framework's HTTP
  exception at that status;
- the validation rendering, probed with the framework's validation error;
- any other class key with an ``int`` or `Problem` value, at the value's status;
- `classified`, the statuses classification can give: 429 (with
  ``Retry-After``), 500, 502, 503, 504, and what the key class itself
  classifies as;
- a callable only what `declare_answers` says it returns.

The default registration of `ApiError` every interceptor has is no answer by
itself: an interceptor with no registered status-bearing value adds nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from interceptor._classify import Category, classified, classify, rule_types
from interceptor._core import Interceptor
from interceptor._errors import ApiError
from interceptor._http import is_http_exception_type
from interceptor._problem import Problem
from interceptor._render import EMPTY_PROBLEM, PROBLEM_JSON
from interceptor._request import RequestInfo
from interceptor._status import reason_phrase
from interceptor._validation import is_validation_type
from interceptor._values import INLINE_TYPES, HandlerValue

__all__ = [
    "ANSWERS_ATTRIBUTE",
    "Answer",
    "answers_for",
    "declare_answers",
    "problem_schema",
    "renders",
    "responses",
    "sample_api_error",
    "scope_answers",
]

# The attribute `declare_answers` sets on a handler: what it may return.
ANSWERS_ATTRIBUTE = "__interceptor_answers__"
# What an example shows where a 5xx body carries its random error_id, so the
# document is the same every time it is generated.
EXAMPLE_ERROR_ID = "5f0c7e4b9a3d4e2f8b1a6c9d0e7f3a21"

_F = TypeVar("_F", bound=Callable[..., Any])


def declare_answers(*answers: int | Problem) -> Callable[[_F], _F]:
    """Say what a handler callable may return, for the OpenAPI document.

    A callable's answers cannot be known without calling it, so it adds
    nothing to the document unless declared. Returns the function unchanged.
    Raises ``TypeError`` for a value that is not an ``int`` or a `Problem`.

    Example::

        @errors.handler(RequestValidationError)
        @declare_answers(Problem(status=422, code="INVALID_REQUEST"))
        def on_invalid(request, exc): ...
    """
    for answer in answers:
        if isinstance(answer, bool) or not isinstance(answer, int | Problem):
            raise TypeError(f"declared answers must be int statuses or Problems, got {answer!r}")
    templates = tuple(a if isinstance(a, Problem) else Problem(status=a) for a in answers)

    def declare(func: _F) -> _F:
        setattr(func, ANSWERS_ATTRIBUTE, (*getattr(func, ANSWERS_ATTRIBUTE, ()), *templates))
        return func

    return declare


@dataclass(frozen=True, slots=True)
class Answer:
    """One response an interceptor in scope can send, rendered from a sample."""

    status: int
    content_type: str
    code: str | None
    # The example body (a JSON object), named after what produced it.
    example: Mapping[str, Any] | None
    name: str
    retry_after: bool


# -- collecting answers -------------------------------------------------------------


def answers_for(chain: Sequence[Interceptor], exc: BaseException, name: str) -> list[Answer]:
    """The answers to ``exc`` raised under ``chain`` (nearest scope first).

    The first value that the core renders itself settles it. A callable
    before it adds what it declares and, since it may decline, the search
    goes on.
    """
    found: list[Answer] = []
    for interceptor in chain:
        leaf, values = interceptor.candidates(exc)
        for value in values:
            if isinstance(value, INLINE_TYPES):
                found += _rendered(interceptor, value, leaf, name)
                return found
            found += _declared(interceptor, value, leaf, name)
    return found


def scope_answers(
    chain: Sequence[Interceptor],
    *,
    raises: Iterable[type[ApiError]] = (),
    validation: BaseException | None = None,
    http_error: Callable[[int], BaseException] | None = None,
) -> tuple[list[Answer], list[Answer]]:
    """What ``chain`` can answer for one operation: (general answers, validation answers).

    ``raises`` are the `ApiError` classes the endpoint names; ``validation``
    is a sample of the framework's request validation error, and
    ``http_error(status)`` makes the framework's HTTP exception, to probe the
    status keys with. The validation answers are kept apart: the adapter
    puts them where the framework documents its own validation response.
    """
    samples, statuses, plain = _registered(chain, raises)
    probes = _probes(samples, statuses, http_error)
    general = [answer for exc, name in probes for answer in answers_for(chain, exc, name)]
    probed = [exc for exc, _ in probes]
    checked: list[Answer] = []
    if validation is not None:
        probed.append(validation)
        checked = answers_for(chain, validation, type(validation).__qualname__)
    for interceptor, key, value, nearer in plain:
        if any(_answered_by(nearer, interceptor, key, exc) for exc in probed):
            continue  # a sample above went through the scopes as this key's instances do
        if _settled_nearer(nearer, key):
            continue  # its instances never get this far out
        general += _key_answers(interceptor, key, value, nearer)
    return general, checked


def _answered_by(
    nearer: Sequence[Interceptor],
    interceptor: Interceptor,
    key: type[BaseException],
    exc: BaseException,
) -> bool:
    """Whether the sample ``exc`` gets past ``nearer`` and ``interceptor`` tries ``key``'s
    value first, found by ``key`` itself.

    Being an instance of the key is not enough: a key on a base class
    (``Exception``) covers the samples too, but a validation error keeps its
    422 and an ApiError its status, and a nearer scope may have answered the
    sample, so the key's own answer is still to show. Nor is the same value:
    one `Problem` registered for two keys renders at each one's status.
    """
    by_class = interceptor.registered()[0]
    found = next((cls for cls in type(exc).__mro__ if cls in by_class), None)
    values = interceptor.candidates(exc)[1]
    return (
        found is key
        and bool(values)
        and values[0] is by_class[key]
        and not renders(nearer, exc)
    )


# A class key other than an ApiError's: the scope it is in, the key, its value,
# and the scopes nearer the endpoint than it.
_PlainKey = tuple[Interceptor, type[BaseException], HandlerValue, Sequence[Interceptor]]


def _registered(
    chain: Sequence[Interceptor], raises: Iterable[type[ApiError]]
) -> tuple[dict[type[ApiError], None], dict[int, None], list[_PlainKey]]:
    """What ``chain`` registers: (ApiError classes to sample, status keys, other class keys).

    The ApiError classes are ``raises`` and those registered as keys, but for
    the default registration of `ApiError` itself.
    """
    samples: dict[type[ApiError], None] = dict.fromkeys(raises)
    statuses: dict[int, None] = {}
    plain: list[_PlainKey] = []
    for position, interceptor in enumerate(chain):
        by_class, by_status = interceptor.registered()
        statuses.update(dict.fromkeys(by_status))
        for key, value in by_class.items():
            if not issubclass(key, ApiError):
                plain.append((interceptor, key, value, chain[:position]))
            elif not (key is ApiError and value is EMPTY_PROBLEM):  # the default
                samples[key] = None
    return samples, statuses, plain


def _probes(
    samples: Iterable[type[ApiError]],
    statuses: Iterable[int],
    http_error: Callable[[int], BaseException] | None,
) -> list[tuple[BaseException, str]]:
    """The exceptions to send through the scopes, each with the name of its answers.

    A sample of each ApiError class, then ``http_error(status)`` for each
    status key, lowest first. A class whose ``__new__`` wants arguments (one
    that is a ``UnicodeDecodeError`` too) has no sample and is left out: the
    document must not fail for it.
    """
    probes: list[tuple[BaseException, str]] = []
    for cls in samples:
        try:
            probes.append((sample_api_error(cls), cls.__qualname__))
        except Exception:  # noqa: BLE001, S112 - see the docstring
            continue
    if http_error is not None:
        for status in sorted(statuses):
            exc = http_error(status)
            probes.append((exc, f"{type(exc).__qualname__} {status}"))
    return probes


def _settled_nearer(nearer: Sequence[Interceptor], key: type[BaseException]) -> bool:
    """Whether a scope in ``nearer`` answers every instance of ``key`` itself.

    It does when it renders a value for ``key`` or a base of it: an instance
    of any subclass finds that value, or a more specific one, there first.
    A callable alone may decline, so it settles nothing.
    """
    try:
        bare = key.__new__(key)  # nothing of the class's own runs, as for classified
    except Exception:  # noqa: BLE001 - no instance to ask with: assume it gets this far
        return False
    return renders(nearer, bare)


def renders(scopes: Sequence[Interceptor], exc: BaseException) -> bool:
    """Whether a scope in ``scopes`` has a value of its own rendering for ``exc``.

    Only then does ``exc`` surely get an answer there: a callable may decline.
    """
    return any(
        isinstance(value, INLINE_TYPES)
        for interceptor in scopes
        for value in interceptor.candidates(exc)[1]
    )


def _key_answers(
    interceptor: Interceptor,
    key: type[BaseException],
    value: HandlerValue,
    nearer: Sequence[Interceptor],
) -> list[Answer]:
    """A class key's answers, rendered with a stand-in for its instances."""
    name = key.__qualname__
    if value is classified:
        return [
            answer
            for template in _classified_templates(key, interceptor, nearer)
            for answer in _rendered(
                interceptor, template, _STAND_IN, template.code or name, handler=classified
            )
        ]
    if isinstance(value, Problem) and value.status is None and (
        is_http_exception_type(key) or is_validation_type(key)
    ):
        return []  # the status is the instance's own: none to show
    if isinstance(value, INLINE_TYPES):  # a status, a Problem, validation_problem, ...
        return _rendered(interceptor, value, _STAND_IN, name)
    return _declared(interceptor, value, _STAND_IN, name)


def _declared(
    interceptor: Interceptor, handler: object, exc: BaseException, name: str
) -> list[Answer]:
    """What the callable ``handler`` declares it returns (`declare_answers`), rendered."""
    return [
        answer
        for template in getattr(handler, ANSWERS_ATTRIBUTE, ())
        for answer in _rendered(interceptor, template, exc, name, handler=handler)
    ]


# What classification can give to any exception: the categories' statuses that
# do not depend on the exception type (an upstream that is down answers 502).
_CLASSIFIED = (
    Problem(
        status=429,
        code=Category.THROTTLED.value,
        detail=Category.THROTTLED.detail,
        retryable=True,
        retry_after=30,
    ),
    Problem(status=500, code=Category.PERMANENT.value, retryable=False),
    Problem(status=502, code=Category.TEMPORARY.value, retryable=True),
    Problem(status=502, code=Category.PERMANENT.value, retryable=False),
    Problem(status=503, code=Category.TEMPORARY.value, retryable=True),
    Problem(status=504, code=Category.TIMEOUT.value, retryable=True),
)


def _classified_templates(
    key: type[BaseException], interceptor: Interceptor, nearer: Sequence[Interceptor]
) -> list[Problem]:
    """What `classified` can answer for ``key``: the fixed set, then what the key and
    its subclasses with a rule of their own classify as (``OSError`` covers
    ``PermissionError``, 403)."""
    templates = list(_CLASSIFIED)
    for bare in _classified_instances(key, interceptor, nearer):
        found = classify(bare)
        if not any(t.status == found.status and t.code == found.code for t in templates):
            templates.append(
                Problem(
                    status=found.status,
                    code=found.code,
                    detail=found.detail if found.status < 500 else None,
                    retryable=found.retryable,
                )
            )
    return templates


def _classified_instances(
    key: type[BaseException], interceptor: Interceptor, nearer: Sequence[Interceptor]
) -> Iterator[BaseException]:
    """A bare instance of ``key``, then of each subclass with a classification rule
    that `classified` in ``interceptor`` answers (not a key of its own, nor a
    nearer scope).

    A bare instance, never the class's own __init__: enough for the rules that
    go by type (PermissionError is 403), and nothing runs. A class that cannot
    be made bare has no type rule to show.
    """
    subclasses = [tp for tp in rule_types() if tp is not key and issubclass(tp, key)]
    for tp in (key, *subclasses):
        try:
            bare = tp.__new__(tp)
        except Exception:  # noqa: BLE001, S112 - see the docstring
            continue
        if tp is key or (
            interceptor.candidates(bare)[1][:1] == (classified,) and not renders(nearer, bare)
        ):
            yield bare


# Stands for an instance of a class key: the rendering reads only its status
# (none), its message (for a 4xx detail) and headers (none).
_STAND_IN = Exception()
_REQUEST = RequestInfo()


def sample_api_error(cls: type[ApiError]) -> ApiError:
    """An instance of ``cls`` to render, made with ApiError's own ``__init__``."""
    # ApiError's own __init__, not the subclass's, which may want arguments.
    exc = cls.__new__(cls)
    ApiError.__init__(exc)
    return exc


def _rendered(
    interceptor: Interceptor,
    value: object,
    exc: BaseException,
    name: str,
    *,
    handler: object = None,
) -> list[Answer]:
    outcome = interceptor.outcome(value, exc, _REQUEST, handler=handler)
    if outcome is None:
        return []
    headers = {name.lower(): text for name, text in outcome.headers}
    content_type = headers.get("content-type", PROBLEM_JSON)
    example: dict[str, Any] | None = None
    try:
        body = json.loads(outcome.body) if outcome.body else None
    except ValueError:
        body = None
    if isinstance(body, dict):
        example = body
        if "error_id" in example:
            example["error_id"] = EXAMPLE_ERROR_ID
    code = example.get("code") if example is not None else None
    return [
        Answer(
            status=outcome.status,
            content_type=content_type,
            code=code if isinstance(code, str) else None,
            example=example,
            name=name,
            retry_after="retry-after" in headers,
        )
    ]


# -- the document -----------------------------------------------------------------


def problem_schema() -> dict[str, Any]:
    """The JSON Schema of a problem details body (RFC 9457 and our members)."""
    return {
        "title": "Problem",
        "description": "An RFC 9457 problem details object.",
        "type": "object",
        "properties": {
            "type": {
                "type": "string",
                "format": "uri-reference",
                "default": "about:blank",
                "description": "A URI reference that identifies the problem type.",
            },
            "title": {"type": "string", "description": "A short summary of the problem type."},
            "status": {
                "type": "integer",
                "minimum": 400,
                "maximum": 599,
                "description": "The HTTP status code.",
            },
            "detail": {"description": "An explanation specific to this occurrence."},
            "instance": {
                "type": "string",
                "format": "uri-reference",
                "description": "A URI reference that identifies this occurrence.",
            },
            "code": {"type": "string", "description": "A stable machine-readable code."},
            "user_message": {"type": "string", "description": "A message for the end user."},
            "error_id": {
                "type": "string",
                "description": "Present on every 5xx: the id in the log line and the crash report.",
            },
            "retryable": {
                "type": "boolean",
                "description": "Whether the caller may retry the request.",
            },
            "errors": {
                "type": "array",
                "description": "For a validation error: what is wrong, and where.",
                "items": {
                    "type": "object",
                    "properties": {
                        "detail": {"type": "string"},
                        "pointer": {
                            "type": "string",
                            "description": "An RFC 6901 JSON Pointer into the request body.",
                        },
                        "parameter": {
                            "type": "string",
                            "description": "A query, path or cookie parameter's name.",
                        },
                        "header": {"type": "string", "description": "A header's name."},
                    },
                    "required": ["detail"],
                },
            },
        },
        "required": ["type", "title", "status"],
    }


_RETRY_AFTER = {
    "description": "Seconds to wait before retrying.",
    "schema": {"type": "integer", "minimum": 0},
}


def responses(answers: Iterable[Answer], *, problem: Mapping[str, Any]) -> dict[str, Any]:
    """An OpenAPI ``responses`` object for ``answers``, by status.

    ``problem`` is the schema a problem details body refers to: a ``$ref``
    to the shared component, or the schema itself for a self-contained entry.
    """
    by_status: dict[int, list[Answer]] = {}
    for answer in answers:
        by_status.setdefault(answer.status, []).append(answer)
    document: dict[str, Any] = {}
    for status in sorted(by_status):
        group = by_status[status]
        content: dict[str, Any] = {}
        for content_type in dict.fromkeys(a.content_type for a in group):
            same = [a for a in group if a.content_type == content_type]
            media: dict[str, Any] = {"schema": _schema(status, same, content_type, problem)}
            examples = _examples(same)
            if examples:
                media["examples"] = examples
            content[content_type] = media
        entry: dict[str, Any] = {"description": reason_phrase(status), "content": content}
        if any(a.retry_after for a in group):
            entry["headers"] = {"Retry-After": dict(_RETRY_AFTER)}
        document[str(status)] = entry
    return document


def _schema(
    status: int, answers: list[Answer], content_type: str, problem: Mapping[str, Any]
) -> dict[str, Any]:
    if content_type != PROBLEM_JSON or not all(_is_problem(a.example) for a in answers):
        # Another body shape (a builder's, or problem+json a rewrite_body
        # reshaped), shown by its examples.
        return {"type": "object"}
    own: dict[str, Any] = {}
    codes = sorted({a.code for a in answers if a.code is not None})
    if codes:
        own["properties"] = {"code": {"type": "string", "enum": codes}}
    required = _required(status, answers)
    if required:
        own["required"] = required
    if not own:
        return dict(problem)
    return {"allOf": [dict(problem), {"type": "object", **own}]}


def _is_problem(example: Mapping[str, Any] | None) -> bool:
    """Whether ``example`` has the members the Problem schema requires."""
    return example is not None and all(name in example for name in ("type", "title", "status"))


def _required(status: int, answers: list[Answer]) -> list[str]:
    """What the bodies at ``status`` always have beyond the Problem schema's required members."""
    required = []
    if status >= 500 and all(a.example is not None and "error_id" in a.example for a in answers):
        required.append("error_id")
    if answers and all(a.example is not None and "errors" in a.example for a in answers):
        required.append("errors")
    return required


def _examples(answers: list[Answer]) -> dict[str, Any]:
    examples: dict[str, Any] = {}
    # By their JSON text: a list of the bodies made this quadratic, and a
    # status thousands of ApiErrors share took seconds an operation.
    seen: set[str] = set()
    for answer in answers:
        if answer.example is None:
            continue
        text = json.dumps(answer.example, sort_keys=True)
        if text in seen:
            continue
        seen.add(text)
        name, n = answer.name, 2
        while name in examples:
            name, n = f"{answer.name} ({n})", n + 1
        examples[name] = {"summary": name, "value": answer.example}
    return examples
