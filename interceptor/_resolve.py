"""The resolution loop every adapter runs: one algorithm, two drivers.

`handle_sync` runs the loop for blocking code (Flask views and error
handling, plain WSGI); `handle_async` runs the very same steps inside a
coroutine (Starlette, FastAPI, Flask's async views). Both drive `_steps`, so
the order in which handler values are tried, what counts as declining, what
happens when a handler raises and how an answer is logged, counted and
reported are written once. Neither imports a framework: the adapter passes in
how to call a handler and how to recognise its framework's response objects.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Generator
from typing import TypeGuard, TypeVar, cast

from interceptor._core import Handler, Interceptor, is_inline
from interceptor._render import Outcome, RequestInfo

__all__ = ["handle_async", "handle_sync"]

R = TypeVar("R")

# What the loop asks its driver to do: call this handler with this exception.
_Step = Generator[tuple[Handler, BaseException], object, object]


def _steps(
    errors: Interceptor,
    exc: BaseException,
    info: Callable[[], RequestInfo],
    is_response: Callable[[object], bool],
) -> _Step:
    leaf, values = errors.candidates(exc)
    if not values:
        return None
    request = info()
    for value in values:
        if is_inline(value):
            answer: object = errors.outcome(value, leaf, request)
        else:
            result = yield cast("Handler", value), leaf  # a callable: the driver calls it
            answer = (
                result
                if is_response(result)
                else errors.outcome(result, leaf, request, handler=value)
            )
        if answer is None:
            continue  # declined: the next less specific match
        if isinstance(answer, Outcome):
            errors.observe(leaf, answer.status, request, error_id=answer.error_id)
        else:
            errors.observe(leaf, getattr(answer, "status_code", 500), request)
        return answer
    return None


def handle_sync(
    errors: Interceptor,
    exc: BaseException,
    info: Callable[[], RequestInfo],
    call: Callable[[Handler, BaseException], object],
    is_response: Callable[[object], TypeGuard[R]],
) -> Outcome | R | None:
    """Resolve ``exc`` with one interceptor, calling handlers with ``call(handler, leaf)``.

    Returns the `Outcome` to send, a framework response a handler returned
    (recognised by ``is_response``), or ``None`` when nothing matched or every
    match declined; the caller then re-raises the original exception. An
    answer is logged, counted and reported through ``errors.observe``. A
    handler that raises marks its exception as raised by ``errors`` and lets
    it propagate to the next scope out. ``info`` builds the request data, only
    once something matched.
    """
    steps = _steps(errors, exc, info, is_response)
    result: object = None
    while True:
        try:
            handler, leaf = steps.send(result)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        try:
            result = call(handler, leaf)
        except Exception as new:
            _handler_raised(errors, exc, new)
            raise


async def handle_async(
    errors: Interceptor,
    exc: BaseException,
    info: Callable[[], RequestInfo],
    call: Callable[[Handler, BaseException], object],
    is_response: Callable[[object], TypeGuard[R]],
) -> Outcome | R | None:
    """`handle_sync` for code already running in an event loop; awaits async handlers."""
    steps = _steps(errors, exc, info, is_response)
    result: object = None
    while True:
        try:
            handler, leaf = steps.send(result)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        try:
            result = call(handler, leaf)
            while inspect.isawaitable(result):  # a sync handler may hand back a coroutine
                result = await result
        except Exception as new:
            _handler_raised(errors, exc, new)
            raise


def _handler_raised(errors: Interceptor, original: BaseException, new: Exception) -> None:
    errors.mark_raised(new)
    if new is not original and new.__context__ is None:
        new.__context__ = original
