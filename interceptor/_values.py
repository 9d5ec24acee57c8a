"""Handler keys and values: what may be registered, checked once, at registration.

A key is an `Exception` subclass, a tuple of them, or an ``int`` status; a
value is an ``int`` status, a `Problem`, an `InlineHandler` the core renders
itself, or a callable ``handler(request, exc)``. Below the registry and the
classifier, above nothing but the status facts and `Problem`.
"""

from __future__ import annotations

import functools
import inspect
import weakref
from typing import Any, Final, Protocol, TypeVar

from interceptor._callables import callable_name
from interceptor._problem import Problem, check_error_status
from interceptor._status import is_int

__all__ = [
    "HANDLER_SKIPPED",
    "HANDLER_TIMED_OUT",
    "INLINE_TYPES",
    "ExceptionHandler",
    "Handler",
    "HandlerValue",
    "InlineHandler",
    "Key",
    "check_value",
    "expand_key",
    "is_inline",
    "is_mark_of",
    "mark_of",
    "single_leaf",
]

E_contra = TypeVar("E_contra", bound=Exception, contravariant=True)


class Handler(Protocol):
    """``handler(request, exc)``, sync or async, returning what section 3 of the spec lists."""

    def __call__(self, request: Any, exc: Any, /) -> Any: ...


class ExceptionHandler(Protocol[E_contra]):
    """A handler for exceptions of type ``E_contra``: ``handler(request, exc)``.

    ``request`` is the framework's own request object; the result is one of
    those `Interceptor` accepts (a response, a `Problem`, an ``int`` status,
    a ``(body, status[, headers])`` tuple, or ``None`` to decline), or an
    awaitable of one. With it a type checker sees that a handler registered
    for ``KeyError`` takes a ``KeyError``.

    Example::

        def on_missing(request: Request, exc: KeyError) -> Problem:
            return Problem(status=404, detail=f"no {exc.args[0]}")

        handler: ExceptionHandler[KeyError] = on_missing
    """

    def __call__(self, request: Any, exc: E_contra, /) -> Any: ...


class InlineHandler:
    """A handler value the core renders itself, with no call into the framework.

    Under ASGI it runs on the event loop, with no thread hop, like an ``int``
    or a `Problem`. Subclasses implement `problem`; calling the object as a
    plain ``handler(request, exc)`` gives the same `Problem`.
    """

    __slots__ = ()

    def problem(self, exc: BaseException) -> Problem:
        raise NotImplementedError

    def __call__(self, request: object, exc: BaseException) -> Problem:
        return self.problem(exc)


HandlerValue = int | Problem | Handler
Key = type[Exception] | tuple[type[Exception], ...] | int

# The handler values the core renders itself, with no call into a handler.
INLINE_TYPES = (int, Problem, InlineHandler)

# What an adapter hands back as a handler's result when the handler did not
# answer within `Interceptor.handler_timeout`.
HANDLER_TIMED_OUT: Final = object()
# What it hands back when it did not start a handler, since too many calls it
# gave up on still run: answered as `HANDLER_TIMED_OUT` is, logged by the adapter.
HANDLER_SKIPPED: Final = object()


def is_inline(value: HandlerValue) -> bool:
    """Whether the core renders ``value`` itself (no call into a handler)."""
    return isinstance(value, INLINE_TYPES)


_MEMBERS: Final = BaseExceptionGroup.__dict__["exceptions"]  # the C slot, not overridable


def single_leaf(exc: BaseException) -> BaseException:
    """The one leaf of a (nested) exception group holding exactly one; else ``exc``."""
    leaf = exc
    # type(), not isinstance(): a property can make `__class__` claim a group.
    while issubclass(type(leaf), BaseExceptionGroup):
        # The members the group was built with, as `except*` reads them: a
        # subclass's ``exceptions`` property could answer the group itself,
        # and this walk would never end.
        members = _MEMBERS.__get__(leaf)
        if len(members) != 1:
            return exc
        leaf = members[0]
    return leaf


_ACCEPTED_KEYS = "an Exception subclass, a tuple of them, or an int status from 400 to 599"
_ACCEPTED_VALUES = "an int status from 400 to 599, a Problem, or a callable handler(request, exc)"


def expand_key(key: object) -> list[type[Exception] | int]:
    """The classes and statuses ``key`` stands for; raises naming a bad one."""
    if isinstance(key, tuple):
        if not key:
            raise ValueError(f"handler key must not be an empty tuple; use {_ACCEPTED_KEYS}")
        return [_check_class(k) for k in key]
    if is_int(key):
        return [check_error_status(key, what="handler status key")]
    return [_check_class(key)]


def _check_class(key: object) -> type[Exception]:
    if isinstance(key, type):
        if issubclass(key, Exception):
            _check_hashable(key)
            return key
        if issubclass(key, BaseException):
            raise TypeError(
                f"cannot register {key.__module__}.{key.__qualname__}: it is a BaseException "
                "but not an Exception, and only Exception subclasses are intercepted"
            )
        raise TypeError(
            f"handler key {key.__qualname__} is not an exception class; use {_ACCEPTED_KEYS}"
        )
    if isinstance(key, BaseException):
        raise TypeError(
            f"handler key {key!r} is an exception instance; register its class "
            f"{type(key).__qualname__} instead"
        )
    raise TypeError(f"handler key {key!r} is not valid; use {_ACCEPTED_KEYS}")


def _check_hashable(key: type[Exception]) -> None:
    """Raise naming ``key`` if its metaclass makes it unhashable: the registry is
    keyed by class, and failing there would leave a tuple's classes half in."""
    try:
        hash(key)
    except Exception as exc:  # noqa: BLE001 - whatever a metaclass's __hash__ raises
        raise TypeError(
            f"handler key {key.__qualname__} cannot be registered: its class is not "
            f"hashable ({exc!r})"
        ) from None


def check_value(value: object) -> HandlerValue:
    """``value`` if it may be registered; raises naming what is wrong with it."""
    if isinstance(value, Problem | InlineHandler):
        return value
    if is_int(value):
        return check_error_status(value, what="handler status value")
    if isinstance(value, type):
        raise TypeError(f"handler value {value.__qualname__} is a class; use {_ACCEPTED_VALUES}")
    if not callable(value):
        raise TypeError(f"handler value {value!r} is not valid; use {_ACCEPTED_VALUES}")
    _check_not_generator(value)
    _check_signature(value)
    return value


def _check_not_generator(handler: Handler) -> None:
    """Raise if calling ``handler`` gives a generator: a handler returns its answer,
    and a ``yield`` in one would otherwise be found out at the first error."""
    target: object = handler
    while isinstance(target, functools.partial):
        target = target.func
    if not (inspect.isfunction(target) or inspect.ismethod(target)):
        # A stateful handler: its method.
        target = getattr(type(target), "__call__", None)  # noqa: B004 - the method, not callable()
    if inspect.isgeneratorfunction(target) or inspect.isasyncgenfunction(target):
        raise TypeError(
            f"handler {callable_name(handler)} is a generator function: it must return "
            "its answer, not yield it"
        )


def _check_signature(handler: Handler) -> None:
    try:
        signature = inspect.signature(handler)
    except (TypeError, ValueError):  # some builtins have no signature; trust them
        return
    try:
        signature.bind(None, None)
    except TypeError:
        raise TypeError(
            f"handler {callable_name(handler)} must accept two positional arguments "
            f"(request, exc); its signature is {signature}"
        ) from None


def mark_of(exc: BaseException) -> object:
    """What stands for ``exc`` in a per-request mapping (an ASGI scope, a WSGI
    environ): a weak reference, else its id. Never the exception itself, whose
    traceback's frames refer to that mapping: the request's data would wait
    for the cyclic collector."""
    try:
        return weakref.ref(exc)
    except TypeError:  # a built-in exception, or a class with __slots__ and no __weakref__
        # It is alive while it passes the scopes, so no other object has its id.
        return id(exc)


def is_mark_of(mark: object, exc: BaseException) -> bool:
    """Whether ``mark`` (from `mark_of`) stands for ``exc``."""
    if isinstance(mark, weakref.ref):
        return mark() is exc
    return mark == id(exc)
