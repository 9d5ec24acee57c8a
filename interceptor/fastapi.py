"""Router scope for FastAPI: an ``APIRoute`` class carrying interceptors.

An ``APIRouter`` is not an ASGI app, so it cannot take middleware. Give it a
route class instead; the routes keep it when the router is included anywhere::

    from interceptor.fastapi import intercepted_route

    users = APIRouter(prefix="/users", route_class=intercepted_route(user_errors))
    app.include_router(users)

For nested routers, build the inner class on the outer one; the inner
interceptor is tried first::

    admin = APIRouter(route_class=intercepted_route(admin_errors, base=users.route_class))

The interceptor sees exceptions from the endpoint and its dependencies,
including FastAPI's ``RequestValidationError`` (register it to answer 422s as
problem details), and what fails after the endpoint returned but before the
response started (a function-scoped dependency's teardown). What it does not
match goes on to FastAPI's own handlers unchanged. Routing errors (404, 405)
happen before any route is chosen: an app-level
`interceptor.starlette.InterceptorMiddleware` handles those.

The OpenAPI document can say which errors each operation answers: call
`install_openapi` once, and name what an endpoint raises on purpose with
`error_responses`::

    install_openapi(app)

    @users.get("/{user_id}", responses=error_responses(UserNotFound, AccountLocked))
    async def get_user(user_id: int): ...
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

from interceptor import _openapi
from interceptor._core import Interceptor
from interceptor._errors import ApiError
from interceptor._openapi import declare_answers

try:
    from fastapi import FastAPI, HTTPException
    from fastapi.exceptions import RequestValidationError
    from fastapi.routing import APIRoute
    from starlette.types import Receive, Scope, Send

    from interceptor.starlette import (
        InterceptorMiddleware,
        ScopeTable,
        claimed_after_start,
        observe_after_start,
    )
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    # Our Starlette adapter too: FastAPI's users install the fastapi extra.
    raise ImportError(
        "interceptor.fastapi needs FastAPI: pip install 'exception-interceptor[fastapi]'"
    ) from exc

__all__ = ["declare_answers", "error_responses", "install_openapi", "intercepted_route"]

class _InterceptedRoute(APIRoute):
    """A route answering as a route-scoped `InterceptorMiddleware` does, at less cost.

    The route puts its interceptors in the table Starlette consults around
    FastAPI's handler, innermost, as the middleware does, with no layer
    between FastAPI and its handler. That table is asked outside the
    dependencies' exit stacks, so what the endpoint raises is answered only
    once its yield dependencies have seen it (a session's rollback, an
    exception one turns into another), as without the interceptor; so is
    what fails after the endpoint returned (a function-scoped dependency's
    teardown, a response that fails before it starts). What fails after the
    response started is logged and reported once, as there.
    """

    # Innermost first: the router the route was declared on, then outwards.
    interceptors: ClassVar[tuple[Interceptor, ...]] = ()
    table: ClassVar[ScopeTable] = ScopeTable(())

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.table.enter(scope)
        try:
            await super().handle(scope, receive, send)
            return
        except RuntimeError as exc:
            if not claimed_after_start(exc):
                raise
            cause = observe_after_start(self.interceptors[0], exc, scope)
            if cause is exc:
                del cause  # exc's traceback holds this frame: no cycle through a local
                raise
        # Raised outside the except clause, so that the cause's __context__
        # stays its own; a local left behind would hold its traceback's frames.
        try:
            raise cause
        finally:
            del cause


def intercepted_route(
    interceptor: Interceptor, *, base: type[APIRoute] = APIRoute
) -> type[APIRoute]:
    """An ``APIRoute`` subclass whose routes are intercepted by ``interceptor``.

    Pass it as ``APIRouter(route_class=...)``. ``base`` is the route class to
    extend: another intercepted class nests scopes (``interceptor`` is tried
    before the base's), any other ``APIRoute`` subclass keeps its behaviour.
    It covers the router's HTTP routes: FastAPI makes websocket routes with
    its own ``APIWebSocketRoute``, whatever the route class.
    Raises ``TypeError`` for a non-`Interceptor` or a base that is not an
    ``APIRoute`` subclass.

    Example::

        router = APIRouter(route_class=intercepted_route(Interceptor({KeyError: 404})))
    """
    if not isinstance(interceptor, Interceptor):
        raise TypeError(f"interceptor must be an Interceptor, got {interceptor!r}")
    if not (isinstance(base, type) and issubclass(base, APIRoute)):
        raise TypeError(f"base must be an APIRoute subclass, got {base!r}")
    if issubclass(base, _InterceptedRoute):
        bases: tuple[type, ...] = (base,)
        inherited = base.interceptors
    else:
        bases = (_InterceptedRoute, base)
        inherited = ()
    return type(
        "InterceptedRoute",
        bases,
        {
            "interceptors": (interceptor, *inherited),
            "table": ScopeTable((interceptor, *inherited)),
            "__module__": __name__,
        },
    )


# -- OpenAPI ------------------------------------------------------------------------

_PROBLEM_COMPONENT = "Problem"
_FALLBACK_COMPONENT = "interceptor.Problem"  # when the app has a schema named Problem
_REF_PREFIX = "#/components/schemas/"
_FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")
# What the validation rendering is probed with: a body field and a query parameter.
_VALIDATION_SAMPLE = RequestValidationError(
    [
        {"type": "missing", "loc": ("body", "name"), "msg": "Field required", "input": {}},
        {
            "type": "int_parsing",
            "loc": ("query", "limit"),
            "msg": "Input should be a valid integer, unable to parse string as an integer",
            "input": "x",
        },
    ]
)


class _Declared(dict[str, Any]):
    """One entry of `error_responses`: a plain response dict that remembers its errors.

    FastAPI keeps the objects given in ``responses=`` (routers merge the
    mappings, not the entries), so `install_openapi` finds them on the route
    and documents those errors with the interceptors in scope.
    """

    api_errors: tuple[type[ApiError], ...] = ()


def error_responses(
    *api_errors: type[ApiError], interceptor: Interceptor | None = None
) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries for the `ApiError` classes an endpoint raises on purpose.

    Each status gets a self-contained problem details entry, with the codes
    and an example of each error, so the document is right even without
    `install_openapi`; with it, the errors are rendered by the interceptors
    in the operation's scope and share the ``Problem`` component.
    ``interceptor`` renders the self-contained entries (its body shape); by
    default a plain `Interceptor`'s. Merge it with your own entries, which
    are left as they are: ``{**error_responses(UserNotFound), 200: {...}}``.
    Raises ``TypeError`` for anything that is not an `ApiError` subclass.

    Example::

        @router.get("/users/{user_id}", responses=error_responses(UserNotFound, OrderLocked))
        async def get_user(user_id: int): ...
    """
    _check_error_responses(api_errors, interceptor)
    chain = (interceptor if interceptor is not None else Interceptor(),)
    found = {
        cls: _openapi.answers_for(chain, _openapi.sample_api_error(cls), cls.__qualname__)
        for cls in dict.fromkeys(api_errors)
    }
    answers = [answer for its_answers in found.values() for answer in its_answers]
    generated = _openapi.responses(answers, problem=_openapi.problem_schema())
    # A class is documented under the status of its first answer.
    status_of = {cls: str(its[0].status) for cls, its in found.items() if its}
    declared: dict[int | str, dict[str, Any]] = {}
    for status, entry in generated.items():
        item = _Declared(entry)
        item.api_errors = tuple(cls for cls, at in status_of.items() if at == status)
        declared[int(status)] = item
    return declared


def _check_error_responses(
    api_errors: tuple[type[ApiError], ...], interceptor: Interceptor | None
) -> None:
    """Raise ``TypeError`` for arguments `error_responses` does not take."""
    for cls in api_errors:
        if not (isinstance(cls, type) and issubclass(cls, ApiError)):
            raise TypeError(f"error_responses takes ApiError subclasses, got {cls!r}")
    if interceptor is not None and not isinstance(interceptor, Interceptor):
        raise TypeError(f"interceptor must be an Interceptor, got {interceptor!r}")


def install_openapi(app: FastAPI) -> FastAPI:
    """Make ``app``'s OpenAPI document say which errors each operation can answer.

    Wraps ``app.openapi`` (whatever it is when called, so a custom one of
    yours keeps working): each operation under an interceptor, from its
    `intercepted_route` class or an app-level `InterceptorMiddleware`, gets
    the statuses those interceptors can answer, as ``application/problem+json``
    with a shared ``Problem`` schema, the known codes and examples. Where the
    validation rendering is in scope it replaces FastAPI's 422 (a handler
    callable, which may decline, is listed beside it). A status (or
    a range, ``"4XX"``) you declare in ``responses=`` (or ``openapi_extra``)
    is left as you declared it, and an operation with no interceptor in scope
    is not touched. The document is built once and kept in
    ``app.openapi_schema``, as FastAPI does, so register handlers before it
    is first served. Calling it again
    does nothing. Returns ``app``.

    Example::

        app = FastAPI(middleware=[Middleware(InterceptorMiddleware, interceptor=errors)])
        install_openapi(app)
    """
    if not isinstance(app, FastAPI):
        raise TypeError(f"install_openapi takes a FastAPI app, got {app!r}")
    original = app.openapi
    if getattr(original, _INSTALLED, False):
        return app
    done: list[dict[str, Any]] = []  # the document last completed, to do it once

    def openapi() -> dict[str, Any]:
        document = original()
        if not done or done[0] is not document:
            _add_errors(app, document)
            done[:] = [document]
            app.openapi_schema = document
        return document

    setattr(openapi, _INSTALLED, True)
    app.openapi = openapi  # type: ignore[method-assign]
    return app


_INSTALLED = "__interceptor_openapi__"


def _app_interceptors(app: FastAPI) -> tuple[Interceptor, ...]:
    """The app-level interceptors, nearest the routes first."""
    found = []
    for middleware in reversed(app.user_middleware):
        cls = getattr(middleware, "cls", None)
        interceptor = getattr(middleware, "kwargs", {}).get("interceptor")
        if (
            isinstance(cls, type)
            and issubclass(cls, InterceptorMiddleware)
            and isinstance(interceptor, Interceptor)
        ):
            found.append(interceptor)
    return tuple(found)


def _add_errors(app: FastAPI, document: dict[str, Any]) -> None:
    name = _problem_component(document)
    problem = {"$ref": _REF_PREFIX + name}
    used, replaced = _add_to_paths(app, document.get("paths") or {}, problem)
    if used:
        components = document.setdefault("components", {}).setdefault("schemas", {})
        components[name] = _openapi.problem_schema()
        document["components"]["schemas"] = dict(sorted(components.items()))
    if replaced:
        _drop_unused(document, _FASTAPI_VALIDATION)


def _problem_component(document: dict[str, Any]) -> str:
    """The name of the Problem schema component: a fallback if the app has another ``Problem``."""
    schemas = document.get("components", {}).get("schemas", {})
    if schemas.get(_PROBLEM_COMPONENT, None) not in (None, _openapi.problem_schema()):
        return _FALLBACK_COMPONENT
    return _PROBLEM_COMPONENT


def _add_to_paths(
    app: FastAPI, paths: dict[str, Any], problem: dict[str, Any]
) -> tuple[bool, bool]:
    """Add the answers in scope to each operation: (added any, dropped any FastAPI 422)."""
    outer = _app_interceptors(app)
    used = replaced = False
    found: _Found = {}
    for original, route in _api_routes(app):
        inner = original.interceptors if isinstance(original, _InterceptedRoute) else ()
        chain = (*inner, *outer)
        if not chain:
            continue
        operations = paths.get(route.path_format) or {}
        for method in sorted(route.methods or ()):
            operation = operations.get(method.lower())
            if isinstance(operation, dict):
                touched, dropped = _add_to_operation(route, chain, operation, problem, found)
                used |= touched
                replaced |= dropped
    return used, replaced


def _api_routes(app: FastAPI) -> Iterator[tuple[APIRoute, Any]]:
    """Each API route in the document: (the route as declared, as the document sees it).

    FastAPI 0.13x and later keep an included router's routes in place and
    give the document a context combining the include's prefix and
    responses with the route; earlier ones copy the routes into the app.
    """
    try:
        from fastapi.routing import iter_route_contexts  # noqa: PLC0415 - newer FastAPI only
    except ImportError:  # pragma: no cover - older FastAPI
        contexts: Iterable[tuple[Any, Any]] = ((route, route) for route in app.routes)
    else:
        contexts = ((c.original_route, c) for c in iter_route_contexts(app.routes))
    for original, route in contexts:
        if isinstance(original, APIRoute) and route.include_in_schema:
            yield original, route


# What a scope answers, by its interceptors and the ApiErrors the operation names:
# one document's operations mostly share a few scopes, each rendered once.
_Found = dict[
    tuple[tuple[Interceptor, ...], tuple[type[ApiError], ...]],
    tuple[list[_openapi.Answer], list[_openapi.Answer]],
]


def _add_to_operation(
    route: Any,
    chain: tuple[Interceptor, ...],
    operation: dict[str, Any],
    problem: dict[str, Any],
    found: _Found,
) -> tuple[bool, bool]:
    """Add the answers of ``chain`` to one operation: (added any, dropped FastAPI's 422)."""
    ours, declared = _route_responses(route)
    raises = tuple(cls for entry in ours.values() for cls in entry.api_errors)
    general, validation = _scope_answers(chain, raises, found)
    responses = operation.setdefault("responses", {})
    dropped = False
    if validation and "422" in responses and "422" not in declared and "422" not in ours:
        general += validation
        # FastAPI's own 422 goes where a scope answers every validation error
        # itself; a handler alone may decline, and FastAPI's then goes out.
        dropped = _openapi.renders(chain, _VALIDATION_SAMPLE)
        if dropped:
            del responses["422"]
    # A copy of its own (JSON text is the quickest): the examples are the
    # scope's, shared with its other operations, and a user may edit one.
    generated = json.loads(json.dumps(_openapi.responses(general, problem=problem)))
    touched = _merge_responses(responses, generated, declared, ours) or dropped
    if touched:
        operation["responses"] = dict(sorted(responses.items(), key=_status_order))
    return touched, dropped


def _scope_answers(
    chain: tuple[Interceptor, ...], raises: tuple[type[ApiError], ...], found: _Found
) -> tuple[list[_openapi.Answer], list[_openapi.Answer]]:
    """What ``chain`` answers for an operation raising ``raises``, rendered once in ``found``."""
    answers = found.get((chain, raises))
    if answers is None:
        answers = found[chain, raises] = _openapi.scope_answers(
            chain,
            raises=raises,
            validation=_VALIDATION_SAMPLE,
            http_error=lambda status: HTTPException(status_code=status),
        )
    return list(answers[0]), answers[1]


def _route_responses(route: Any) -> tuple[dict[str, _Declared], set[str]]:
    """The route's own responses: (`error_responses` entries, statuses declared otherwise).

    The statuses declared otherwise, in ``responses=`` or ``openapi_extra``,
    are left as they are.
    """
    ours: dict[str, _Declared] = {}
    declared: set[str] = set()
    for status, entry in route.responses.items():
        key = str(status).upper()
        if isinstance(entry, _Declared):
            ours[key] = entry
        else:
            declared.add("default" if key == "DEFAULT" else key)
    extra = (route.openapi_extra or {}).get("responses")
    if isinstance(extra, dict):
        declared.update(str(status) for status in extra)
    return ours, declared


def _merge_responses(
    responses: dict[str, Any],
    generated: dict[str, Any],
    declared: set[str],
    ours: dict[str, _Declared],
) -> bool:
    """Put the ``generated`` entries in ``responses`` but for the ``declared`` statuses.

    A declared range (``"4XX"``) covers its statuses: an entry for one of
    them would override what the user says of them all, as an explicit code
    beats a range. An entry replaces one of ours (`error_responses`, now
    rendered in scope) and joins one FastAPI made. One of ours with no entry
    goes: its errors answer at another status in this scope (a handler of
    their own), and it would list one never sent. Returns whether any went
    in or out.
    """
    touched = False
    for status in ours.keys() - generated.keys():
        responses.pop(status, None)
        touched = True
    for status, entry in generated.items():
        if status in declared or f"{status[0]}XX" in declared:
            continue
        current = responses.get(status)
        if current is None or status in ours:
            responses[status] = entry
        else:  # one FastAPI made: add our content types next to its own
            _join(current, entry)
        touched = True
    return touched


def _join(current: dict[str, Any], entry: dict[str, Any]) -> None:
    """Add ``entry``'s content types and headers to ``current``, keeping those it has."""
    content = current.setdefault("content", {})
    for media_type, media in entry["content"].items():
        content.setdefault(media_type, media)
    if "headers" in entry:
        current.setdefault("headers", {}).update(
            {k: v for k, v in entry["headers"].items() if k not in current["headers"]}
        )


def _status_order(item: tuple[str, Any]) -> tuple[int, str]:
    status = item[0]
    return (1, status) if status == "default" else (0, status)


def _drop_unused(document: dict[str, Any], names: Iterable[str]) -> None:
    """Drop FastAPI's validation components once nothing refers to them."""
    schemas = document.get("components", {}).get("schemas", {})
    for name in names:
        if name not in schemas:
            continue
        rest = {k: v for k, v in schemas.items() if k != name}
        text = json.dumps({**document, "components": {**document["components"], "schemas": rest}})
        if f'"{_REF_PREFIX}{name}"' not in text:
            del schemas[name]
