"""Small facts about user callables, shared by the core and the adapters."""

from __future__ import annotations

import inspect

__all__ = ["callable_name", "is_async_callable"]


def is_async_callable(obj: object) -> bool:
    """Whether calling ``obj`` gives a coroutine: async functions, partials of
    them, and objects with an async ``__call__`` (stateful handlers)."""
    while hasattr(obj, "func"):  # functools.partial
        obj = obj.func
    return inspect.iscoroutinefunction(obj) or inspect.iscoroutinefunction(
        getattr(obj, "__call__", None)  # noqa: B004 - the method, not callable()
    )


def callable_name(func: object) -> str:
    """``module.qualname`` of a function, partial or callable object, for log lines."""
    func = getattr(func, "func", func)  # functools.partial
    name = getattr(func, "__qualname__", None) or type(func).__qualname__
    module = getattr(func, "__module__", None)
    return f"{module}.{name}" if module else name
