"""Small facts about user callables, shared by the core and the adapters."""

from __future__ import annotations

import functools
import inspect
import types
from collections.abc import Awaitable
from typing import Any, TypeGuard

__all__ = ["callable_name", "is_async_callable", "is_awaitable"]


def is_awaitable(obj: object) -> TypeGuard[Awaitable[Any]]:
    """`inspect.isawaitable`, without its ``collections.abc.Awaitable`` check for
    the common answers (a response, a `Problem`, an ``int``, ``None``), which
    costs more than the rest of a handler call's bookkeeping.

    An object is awaitable when its type has ``__await__`` (what the ABC's
    hook checks), or when it is a generator-based coroutine.
    """
    if type(obj) is types.CoroutineType:
        return True
    if getattr(type(obj), "__await__", None) is not None:
        return True
    return inspect.isawaitable(obj) if type(obj) is types.GeneratorType else False


def is_async_callable(obj: object) -> bool:
    """Whether calling ``obj`` gives a coroutine: async functions, partials of
    them, and objects with an async ``__call__`` (stateful handlers).

    Only a ``functools.partial`` is unwrapped (as Starlette does; a
    ``partialmethod`` read from an instance is one): any other object's
    ``func`` attribute says nothing about what calling the object gives.
    """
    while isinstance(obj, functools.partial):
        obj = obj.func
    return inspect.iscoroutinefunction(obj) or inspect.iscoroutinefunction(
        getattr(obj, "__call__", None)  # noqa: B004 - the method, not callable()
    )


def callable_name(func: object) -> str:
    """``module.qualname`` of a function, partial or callable object, for log lines."""
    while isinstance(func, functools.partial):
        func = func.func
    name = getattr(func, "__qualname__", None) or type(func).__qualname__
    module = getattr(func, "__module__", None)
    return f"{module}.{name}" if module else name
