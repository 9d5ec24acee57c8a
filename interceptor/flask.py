"""Flask adapter: interceptors at view, blueprint and app scope.

Scopes, nearest first::

    @intercept(errors) on a view
     └── init_app(blueprint, errors)     innermost nested blueprint first
          └── init_app(app, errors)
               └── Flask's own errorhandler()s, blueprint then app
                    └── Flask's 500 / PROPAGATE_EXCEPTIONS, then the server

Flask picks its error handlers by status code first, across the blueprint and
the app, so an interceptor registered through ``register_error_handler`` would
lose to an app ``errorhandler(404)``, and re-raising from a Flask error handler
gives a 500. Instead `init_app` installs one dispatcher per app in front of
``Flask.handle_user_exception``. It tries the interceptor scopes, nearest first,
and calls Flask's original method for whatever none of them matched, so those
exceptions get exactly Flask's usual treatment. The dispatcher takes Flask's
arguments as they come, ``(e)`` up to Flask 3.1 and ``(ctx, e)`` from 3.2, and
holds the app weakly, so that an app is still freed when its last reference
goes, as Flask takes care it is, without waiting for the garbage collector.

A blueprint scope covers the blueprint's views, its ``before_request``
functions and routing errors (404, 405) for paths under its ``url_prefix``
on its subdomain (or host), which Flask itself never sends to blueprint
handlers (Flask issues #1498 and #3228). Redirects raised by routing and
``abort(response)`` pass untouched.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import threading
import weakref
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeGuard, TypeVar, cast

try:
    import flask.globals
    from flask import Blueprint, Flask, current_app, request, request_started
    from flask.sansio.blueprints import BlueprintSetupState
    from werkzeug.routing import BaseConverter, Map, MapAdapter, Rule
    from werkzeug.wrappers import Response as WerkzeugResponse
except ImportError as error:
    raise ImportError(
        "interceptor.flask needs Flask; install it with: pip install 'exception-interceptor[flask]'"
    ) from error

from interceptor._core import Interceptor
from interceptor._http import HttpKind, http_kind
from interceptor._render import Outcome
from interceptor._request import RequestInfo
from interceptor._resolve import Marks, finish_async, first, handle_sync
from interceptor._validation import note_missing_key
from interceptor._values import Handler

__all__ = ["init_app", "intercept"]

F = TypeVar("F", bound=Callable[..., Any])

_EXTENSION = "interceptor"


@dataclass(slots=True)
class _AppState:
    """An app's interceptors, kept in ``app.extensions["interceptor"]``.

    The app holds its state, so the state holds nothing that holds the app.
    """

    app: weakref.ref[Flask]
    # What was in the app's __dict__ before ours was installed: another
    # extension's handle_user_exception, called as is; None: the class's, as
    # it is at each call (a tracer may wrap it on the class later).
    original: Any
    app_errors: Interceptor | None = None
    blueprints: dict[str, Interceptor] = field(default_factory=dict)
    # (url_prefix without its trailing slash, registered blueprint name), longest first.
    prefixes: list[tuple[str, str]] = field(default_factory=list)
    # The subdomain each registered blueprint was given (None: the map's default).
    subdomains: dict[str, str | None] = field(default_factory=dict)
    # By registered blueprint name, its URL space (the paths under its prefix on
    # its domains), matched as the app's url_map matches them; worked out at
    # the first routing error.
    domains: dict[str, Map] = field(default_factory=dict)
    # The scopes of a request by its blueprint's name, worked out once each.
    by_blueprint: dict[str | None, tuple[Interceptor, ...]] = field(default_factory=dict)

    def original_of(self, app: Flask) -> Callable[..., Any]:
        """Flask's handle_user_exception for ``app``, as ``app.handle_user_exception`` was."""
        # (No typing.cast: it is a call, and this runs on every error.)
        original: Callable[..., Any] | None = self.original
        if original is not None:
            return original
        for cls in type(app).__mro__:  # the class attribute, where attribute access finds it
            original = vars(cls).get("handle_user_exception")
            if original is not None:
                break
        get = getattr(type(original), "__get__", None)
        if get is None:  # not a descriptor: attribute access gives it as is
            return original  # type: ignore[return-value] # Flask's class always has one
        bound: Callable[..., Any] = get(original, app, type(app))
        return bound

    def set_app_errors(self, errors: Interceptor) -> None:
        self.app_errors = errors
        self.by_blueprint = {}

    def add_blueprint(self, setup: BlueprintSetupState, name: str, errors: Interceptor) -> None:
        self.blueprints[name] = errors
        self.subdomains[name] = setup.subdomain
        url_prefix = setup.url_prefix
        prefix = (url_prefix or "").rstrip("/")
        self.prefixes = [entry for entry in self.prefixes if entry[1] != name]
        if prefix:  # a blueprint without a prefix owns no URL space of its own
            self.prefixes.append((prefix, name))
            self.prefixes.sort(key=lambda entry: len(entry[0]), reverse=True)
        self.by_blueprint = {}
        self.domains = {}

    def scopes(self, exc: Exception, req: Any) -> tuple[Interceptor, ...]:
        """The interceptors for ``req``, the current request, nearest first."""
        blueprint = req.blueprint  # a property, worked out from the endpoint each time
        if self.blueprints and blueprint is None and exc is req.routing_exception:
            # No blueprint matched the URL: those whose URL space it is in.
            return self._nearest_first(self._owners(req.path))
        # The registration methods replace the dict after changing the scopes,
        # so an entry worked out from before a change lands in a dropped dict.
        cache = self.by_blueprint
        scopes = cache.get(blueprint)
        if scopes is None:
            scopes = cache[blueprint] = self._nearest_first(
                req.blueprints if self.blueprints else []
            )
        return scopes

    def _owners(self, path: str) -> list[str]:
        """The blueprints whose URL space the current request's URL is in, nearest first.

        Under the blueprint's url_prefix, and on its subdomain (or, with
        ``host_matching``, a host of its rules) as the request's URL adapter
        binds the app's url_map: none when the request has no adapter (an
        untrusted host, say).
        """
        names = [(prefix, name) for prefix, name in self.prefixes if _may_be_under(path, prefix)]
        adapter = _url_adapter() if names else None
        app = self.app()
        if adapter is None or app is None:
            return []
        domains = self.domains
        owners = []
        for prefix, name in names:
            matcher = domains.get(name)
            if matcher is None:
                matcher = domains[name] = _url_space(
                    app.url_map, name, prefix, self.subdomains.get(name)
                )
            if matcher.bind(adapter.server_name, subdomain=adapter.subdomain).test(path):
                owners.append(name)
        return owners

    def _nearest_first(self, names: list[str]) -> tuple[Interceptor, ...]:
        scopes: list[Interceptor] = []
        for name in names:
            errors = self.blueprints.get(name)
            if errors is not None and not any(errors is seen for seen in scopes):
                scopes.append(errors)
        if self.app_errors is not None and not any(self.app_errors is s for s in scopes):
            scopes.append(self.app_errors)
        return tuple(scopes)


def _may_be_under(path: str, prefix: str) -> bool:
    """Whether ``path`` can be under ``prefix``: not if a literal prefix does not start it.

    A prefix with variable parts (``/<lang>``) is left to its blueprint's map.
    """
    return "<" in prefix or path == prefix or path.startswith(prefix + "/")


def _url_space(url_map: Map, name: str, prefix: str, subdomain: str | None) -> Map:
    """A map matching the paths under ``prefix`` on the domains of blueprint ``name``.

    The domains are its subdomain and those of its rules (nested blueprints'
    too), or with ``host_matching`` the hosts of its rules; the prefix is
    matched as its rules match it, variable parts and all, by the patterns of
    the app's converters (`_patterns_only`).
    """
    hosts = url_map.host_matching
    own = [
        rule
        for rule in url_map.iter_rules()
        # A rule may have no endpoint (a redirect_to rule, say): it is no blueprint's.
        if isinstance(rule.endpoint, str) and rule.endpoint.startswith(name + ".")
    ]
    patterns = {rule.host if hosts else rule.subdomain for rule in own}
    if not hosts:
        patterns.add(subdomain)  # None: the map's default subdomain, as for a rule
    # The prefix itself, with a slash, and anything under it.
    paths = (prefix, prefix + "/", prefix + "/<path:interceptor_rest>")
    return Map(
        [
            Rule(path, endpoint=name, host=p)
            if hosts
            else Rule(path, endpoint=name, subdomain=p)
            for p in patterns
            for path in paths
        ],
        default_subdomain=url_map.default_subdomain,
        converters=_patterns_only(url_map.converters),
        host_matching=hosts,
    )


def _patterns_only(
    converters: Mapping[str, type[BaseConverter]],
) -> dict[str, type[BaseConverter]]:
    """``converters`` as the URL space matches with them: the app's by their patterns alone.

    The app's converters are the app's code (a lookup in a database, an
    exception of its own for what it does not know), and Flask calls one only
    for a rule it matched: working out whose URL space a routing error is in
    must not call them. Werkzeug's own are kept whole: they only parse, and a
    value they refuse (an int past its ``max``) is outside the space.
    """
    return {name: _pattern_only(converter) for name, converter in converters.items()}


def _pattern_only(converter: type[BaseConverter]) -> type[BaseConverter]:
    """One of `_patterns_only`: the app's converter, whose values are taken as they are."""
    if getattr(converter, "__module__", "").startswith("werkzeug."):
        return converter
    try:
        return type(converter.__name__, (converter,), {"to_python": BaseConverter.to_python})
    except Exception:  # noqa: BLE001 - a class that refuses subclasses: matched as it is
        return converter


def init_app(app_or_blueprint: Flask | Blueprint, errors: Interceptor) -> None:
    """Intercept exceptions raised under a Flask app or a blueprint with ``errors``.

    For an app, the scope is every request. For a blueprint, it is the
    blueprint's views and ``before_request`` functions, including those of
    blueprints nested in it, and 404/405 routing errors for paths under its
    ``url_prefix`` on its subdomain (with ``host_matching``, the hosts of its
    routes), as the app's url_map matches them. A blueprint registered twice
    (under two names) is covered at both places. Calling it again for the
    same app or blueprint with the same interceptor changes nothing; with
    another one it raises ``ValueError``: one scope takes one interceptor.

    Exceptions no interceptor matches get Flask's usual treatment: its
    ``errorhandler``s, ``got_request_exception``, ``PROPAGATE_EXCEPTIONS``.

    Raises ``TypeError`` when given something else than a `Flask` app or
    `Blueprint` and an `Interceptor`. For a blueprint, call it before the
    blueprint is registered; after, it raises ``RuntimeError`` saying so.

    Example::

        api = Blueprint("api", __name__, url_prefix="/api")
        init_app(api, Interceptor({LookupError: 404}))
        app.register_blueprint(api)
    """
    _check_interceptor(errors)
    if isinstance(app_or_blueprint, Flask):
        state = _install(app_or_blueprint)
        _check_once(app_or_blueprint, state.app_errors, errors)
        state.set_app_errors(errors)
    elif isinstance(app_or_blueprint, Blueprint):
        blueprint = app_or_blueprint
        if getattr(blueprint, "_got_registered_once", False):
            raise RuntimeError(
                f"init_app() for blueprint {blueprint.name!r} must come before "
                f"app.register_blueprint({blueprint.name}): Flask lets a blueprint record "
                "nothing more once it is registered"
            )
        current = _blueprint_scope(blueprint)
        _check_once(blueprint, current, errors)
        if current is None:
            key = id(blueprint)
            gone = functools.partial(_forget_blueprint, key)
            _BLUEPRINT_SCOPES[key] = (weakref.ref(blueprint, gone), errors)
            blueprint.record(functools.partial(_on_blueprint_registered, errors))
    else:
        raise TypeError(f"init_app() takes a Flask app or a Blueprint, got {app_or_blueprint!r}")


# The interceptor each blueprint was given, by id(): a blueprint need not be
# hashable (Flask keeps them in lists and by name). Held no longer than the
# blueprint: the weak reference's callback forgets it as it goes, before its
# id can be given to another object.
_BLUEPRINT_SCOPES: dict[int, tuple[weakref.ref[Blueprint], Interceptor]] = {}


def _blueprint_scope(blueprint: Blueprint) -> Interceptor | None:
    entry = _BLUEPRINT_SCOPES.get(id(blueprint))
    return entry[1] if entry is not None and entry[0]() is blueprint else None


def _forget_blueprint(key: int, gone: weakref.ref[Blueprint]) -> None:
    entry = _BLUEPRINT_SCOPES.get(key)
    if entry is not None and entry[0] is gone:  # not an entry for a newer blueprint of that id
        del _BLUEPRINT_SCOPES[key]


def _check_once(target: Flask | Blueprint, current: Interceptor | None, new: Interceptor) -> None:
    """One interceptor per app or blueprint: a second, different one is a mistake."""
    if current is not None and current is not new:
        raise ValueError(
            f"init_app() was already called for {target!r} with {current!r}; one app or "
            "blueprint takes one Interceptor: register the other handlers on it "
            "(errors.add_handler) or scope them to a blueprint or view"
        )


def intercept(errors: Interceptor) -> Callable[[F], F]:
    """Decorate one view so ``errors`` handles what it raises, before any other scope.

    Works on sync and ``async`` views (the wrapper stays a coroutine function),
    below or above the route decorator, the same either way: the scope is the
    view call, not the app's or blueprint's ``before_request`` functions.
    Above it, the route registered the view itself, so at the app's first
    request the endpoints that function is registered under get the wrapper
    this returns, as the route would have registered below. The scope is the
    registration decorated: a function also registered as is elsewhere (next
    to the wrapper in the app, or in another app, by a factory that
    decorates the module's function for some apps only) is not intercepted
    there.
    Unmatched exceptions are re-raised unchanged,
    so the blueprint and app scopes and Flask's own handlers still see them.
    Raises ``TypeError`` if ``errors`` is not an `Interceptor`.

    Example::

        @app.get("/users/<int:user_id>")
        @intercept(Interceptor({KeyError: 404}))
        def user(user_id):
            return USERS[user_id]
    """
    _check_interceptor(errors)
    _watch_for_views_decorated_too_late()

    def decorate(view: F) -> F:
        wrapper = _wrap(view, errors)
        # Above the route decorator, the view registered is `view` itself, not
        # the wrapper made here: remember both, for the app's first request.
        with contextlib.suppress(TypeError):  # not weakly referable: nothing to find later
            _DECORATED.setdefault(view, []).append((errors, weakref.ref(wrapper)))
        return wrapper

    return decorate


def _wrap(view: F, errors: Interceptor) -> F:
    """``view``, calling which ``errors`` handles what it raises."""
    if inspect.iscoroutinefunction(view):

        @functools.wraps(view)
        async def async_view(*args: Any, **kwargs: Any) -> Any:
            try:
                return await view(*args, **kwargs)
            except Exception as exc:
                response = await _async_view_response(errors, exc)
                if response is None:
                    raise
                return response

        return cast("F", async_view)

    @functools.wraps(view)
    def sync_view(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except Exception as exc:
            response = _view_response(errors, exc)
            if response is None:
                raise
            return response

    return cast("F", sync_view)


# The view wrappers' frames are in the traceback of the exception they catch,
# and what the core returns for it refers to it: worked out in a frame of its
# own, it puts no cycle around the frame, which refers to the app.


def _view_response(errors: Interceptor, exc: Exception) -> WerkzeugResponse | None:
    app = _current_app()
    marks = _current_request().environ
    note_missing_key(exc, marks)
    result = handle_sync(errors, exc, _request_info, _sync_call(app), _is_response, marks=marks)
    return None if result is None else _to_response(app, result)


async def _async_view_response(errors: Interceptor, exc: Exception) -> WerkzeugResponse | None:
    app = _current_app()
    marks = _current_request().environ
    note_missing_key(exc, marks)
    answer = first(errors, exc, _request_info, marks)
    result = await finish_async(answer, _direct_call(), _is_response)
    return None if result is None else _to_response(app, result)


# -- @intercept above the route decorator ------------------------------------------

# What @intercept was given, by the function it decorated (what the route
# decorator registered, if it ran first): for each time, the interceptor and
# the wrapper made. Held no longer than the function; the wrapper refers to
# the function, so it is held weakly.
_Decoration = tuple[Interceptor, weakref.ref[Callable[..., Any]]]
_DECORATED: weakref.WeakKeyDictionary[Callable[..., Any], list[_Decoration]] = (
    weakref.WeakKeyDictionary()
)
# Apps whose views were looked at for such a view, at their first request, by
# id(): an app need not be hashable (a subclass defining __eq__ is not), and an
# app that uses no interceptor is only read. The weak reference's callback
# forgets the app as it goes, before its id can be given to another object.
_CHECKED_APPS: dict[int, weakref.ref[Flask]] = {}


@functools.cache  # once per process
def _watch_for_views_decorated_too_late() -> None:
    # A view that got @intercept above its route decorator was registered
    # undecorated: each app's first request puts the wrapper in its place.
    request_started.connect(_check_views, weak=False)


def _check_views(sender: Flask, **extra: Any) -> None:
    key = id(sender)
    if _checked(key, sender):
        return
    # The app's first requests may come at once, on several threads: each
    # waits until the views are swapped, so none runs a view undecorated.
    with _CHECKING:
        if not _checked(key, sender):
            _swap_decorated_views(sender)
            _CHECKED_APPS[key] = weakref.ref(sender, functools.partial(_forget_app, key))


_CHECKING = threading.Lock()


def _checked(key: int, app: Flask) -> bool:
    checked = _CHECKED_APPS.get(key)
    return checked is not None and checked() is app


def _swap_decorated_views(sender: Flask) -> None:
    views = sender.view_functions
    registered = {id(view) for view in list(views.values())}
    for endpoint, view in list(views.items()):
        decorated = _decorated_after_registering(view, registered)
        if decorated is not view:
            # What the route would have registered below @intercept: the same
            # wrapper, around the view call only.
            views[endpoint] = decorated


def _decorated_after_registering(
    view: Callable[..., Any], registered: set[int]
) -> Callable[..., Any]:
    """What @intercept made of ``view`` after it was registered, or ``view``.

    A function registered both as is and decorated (one of the wrappers made
    for it is in ``registered``, the ids of the app's views) is meant to be
    undecorated where it is registered as is (a wrapper gone is None, never a
    view). So is a function its module still has under its own name: above
    the route decorator, that name is the wrapper's; a function decorated by
    a call (``intercept(errors)(view)``, in an app factory, say) is meant to
    be decorated only where the wrapper is registered, not in every app that
    registers the function itself. A wrapper no longer referred to is made
    again.
    """
    if _module_keeps(view):
        return view
    current = view
    while True:  # each wrapper is newer than what it wraps: no cycle
        try:
            decorations = _DECORATED.get(current)
        except TypeError:  # not weakly referable: never decorated
            return current
        if not decorations or any(id(wrapper()) in registered for _, wrapper in decorations):
            return current
        errors, wrapper = decorations[-1]
        current = wrapper() or _wrap(current, errors)


def _module_keeps(view: Callable[..., Any]) -> bool:
    """Whether ``view``'s module has it under its own name, as it is."""
    names = getattr(view, "__globals__", None)
    name = getattr(view, "__name__", None)
    return isinstance(names, dict) and isinstance(name, str) and names.get(name) is view


def _forget_app(key: int, checked: weakref.ref[Flask]) -> None:
    if _CHECKED_APPS.get(key) is checked:  # not an entry for a newer app of that id
        del _CHECKED_APPS[key]


# -- the per-app dispatcher -------------------------------------------------------


def _install(app: Flask) -> _AppState:
    state = app.extensions.get(_EXTENSION)
    if state is None:
        # What app.handle_user_exception gives: another extension's, in the
        # app's __dict__, or else the class's function, looked up at each call.
        state = _AppState(app=weakref.ref(app), original=vars(app).get("handle_user_exception"))
        app.extensions[_EXTENSION] = state
        # An instance attribute, so Flask's own method (and whatever another
        # extension put in front of it) stays available as `state.original`.
        setattr(  # noqa: B010 - mypy refuses assigning to a method
            app, "handle_user_exception", functools.partial(_handle_user_exception, state)
        )
    elif not isinstance(state, _AppState):
        raise TypeError(f"app.extensions[{_EXTENSION!r}] holds {state!r}, not interceptor state")
    return state


def _on_blueprint_registered(errors: Interceptor, setup: BlueprintSetupState) -> None:
    if not isinstance(setup.app, Flask):
        raise TypeError(f"init_app() needs a Flask app to register on, got {setup.app!r}")
    name = f"{setup.name_prefix}.{setup.name}".lstrip(".")
    _install(setup.app).add_blueprint(setup, name, errors)


def _handle_user_exception(state: _AppState, *args: Any, **kwargs: Any) -> Any:
    # Called by Flask's full_dispatch_request inside its `except` for the
    # exception, which comes last: `(e)` up to Flask 3.1, `(ctx, e)` from 3.2.
    # Flask's original gets the arguments as they came.
    if not args:
        raise TypeError(
            "handle_user_exception() takes the exception as its last positional argument"
        )
    exc = args[-1]
    app = state.app()
    if app is None:
        raise ReferenceError("the Flask app this interceptor was installed on is gone")
    if http_kind(exc) is HttpKind.PASSTHROUGH:
        return state.original_of(app)(*args, **kwargs)
    head = args[:-1]

    def fallback(unmatched: Exception) -> Any:
        return state.original_of(app)(*head, unmatched, **kwargs)

    req = _current_request()
    note_missing_key(exc, req.environ)
    scopes = state.scopes(exc, req)
    return _resolve(
        app,
        scopes,
        exc,
        lambda: _request_info(req),
        call=_sync_call(app),
        fallback=fallback,
        marks=req.environ,
    )


def _resolve(
    app: Flask,
    scopes: tuple[Interceptor, ...],
    exc: Exception,
    info: Callable[[], RequestInfo],
    *,
    call: Callable[[Handler, BaseException], object],
    fallback: Callable[[Exception], Any],
    marks: Marks,
) -> Any:
    for index, errors in enumerate(scopes):
        try:
            result = handle_sync(errors, exc, info, call, _is_response, marks=marks)
        except Exception as new:  # noqa: BLE001 - a handler's error goes to the next scope
            # Still inside the `except` for `new`: Flask's original method
            # re-raises with a bare `raise`, which must find `new`.
            return _resolve(
                app, scopes[index + 1 :], new, info, call=call, fallback=fallback, marks=marks
            )
        if result is not None:
            return _to_response(app, result)
    return fallback(exc)


# -- calling handlers and building responses ----------------------------------------


def _request_info(req: Any = None) -> RequestInfo:
    """What the core needs of ``req``, by default the current request."""
    if req is None:
        req = _current_request()
    return RequestInfo.from_environ(req.environ, debug=_current_app().debug)


# The context holding the request's URL adapter: the request context up to
# Flask 3.1, the one context from Flask 3.2.
_URL_CONTEXT: Any = getattr(flask.globals, "_cv_request", None) or flask.globals._cv_app


def _url_adapter() -> MapAdapter | None:
    adapter: MapAdapter | None = getattr(_URL_CONTEXT.get(None), "url_adapter", None)
    return adapter


def _current_app() -> Flask:
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    return app  # (no typing.cast: a call, on every error)


def _current_request() -> Any:
    return request._get_current_object()  # type: ignore[attr-defined]


def _sync_call(app: Flask) -> Callable[[Handler, BaseException], object]:
    def call(handler: Handler, exc: BaseException) -> object:
        result = app.ensure_sync(handler)(_current_request(), exc)
        if inspect.isawaitable(result):  # e.g. an object with an `async def __call__`
            result = app.async_to_sync(_await)(result)
        return result

    return call


def _direct_call() -> Callable[[Handler, BaseException], object]:
    def call(handler: Handler, exc: BaseException) -> object:
        return handler(_current_request(), exc)  # finish_async awaits what needs it

    return call


async def _await(awaitable: Awaitable[object]) -> object:
    return await awaitable


def _is_response(value: object) -> TypeGuard[WerkzeugResponse]:
    return isinstance(value, WerkzeugResponse)


def _to_response(app: Flask, result: Outcome | WerkzeugResponse) -> WerkzeugResponse:
    if isinstance(result, WerkzeugResponse):
        return result
    content_type = length = None
    extra = []
    for name, value in result.headers:
        lowered = name.lower()
        if lowered == "content-type":
            content_type = value
        elif lowered == "content-length":
            length = value
        else:
            extra.append((name, value))
    response = app.response_class(
        result.body, result.status, extra or None, content_type=content_type
    )
    if length is not None and not result.body:
        # HEAD: the body is empty, and Werkzeug would count it and send 0.
        response.headers["Content-Length"] = length
    return response


def _check_interceptor(errors: object) -> None:
    if not isinstance(errors, Interceptor):
        raise TypeError(f"expected an interceptor.Interceptor, got {errors!r}")
