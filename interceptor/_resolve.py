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
from typing import NamedTuple, TypeGuard, TypeVar, cast

from interceptor._core import INLINE_TYPES, Handler, HandlerValue, Interceptor, is_inline
from interceptor._render import Outcome, RequestInfo

__all__ = ["Pending", "finish_async", "first", "handle_async", "handle_sync"]

R = TypeVar("R")

# What the loop asks its driver to do: call this handler with this exception.
_Step = Generator[tuple[Handler, BaseException], object, object]


class Pending(NamedTuple):
    """A resolution `first` could not finish: a handler must be called."""

    exc: BaseException  # as raised, to chain a handler's own exception to
    leaf: BaseException  # what handlers receive
    values: tuple[HandlerValue, ...]
    request: RequestInfo


def first(errors: Interceptor, exc: BaseException, info: Callable[[], RequestInfo]) -> object:
    """Resolution's first step: the answer, ``None``, or a `Pending` to finish.

    The common declarative case, an `int`, `Problem` or `classified` value
    first, never declines: its answer is final, and no handler runs, so it
    takes no coroutine and no handler-calling closure. ``info`` builds the
    request data, only once something matched.
    """
    leaf, values = errors.candidates(exc)
    if not values:
        return None
    request = info()
    value = values[0]
    if not isinstance(value, INLINE_TYPES):
        return Pending(exc, leaf, values, request)
    answer = errors.outcome(value, leaf, request)
    if answer is not None:  # None would decline, which an inline value never does
        errors.observe(leaf, answer.status, request, answer.error_id)
    return answer


def _steps(errors: Interceptor, pending: Pending, is_response: Callable[[object], bool]) -> _Step:
    leaf, request = pending.leaf, pending.request
    for value in pending.values:
        if is_inline(value):
            answer: object = errors.outcome(value, leaf, request)
        else:
            result = yield cast("Handler", value), leaf  # a callable: the driver calls it
            answer = (
                result
                if is_response(result)
                else errors.outcome(result, leaf, request, handler=value)
            )
        if answer is not None:
            return _answered(errors, leaf, request, answer)
    return None  # every match declined


def _answered(
    errors: Interceptor, leaf: BaseException, request: RequestInfo, answer: object
) -> object:
    """``answer`` once observed (logged, counted, reported); ``None`` declines."""
    if isinstance(answer, Outcome):
        errors.observe(leaf, answer.status, request, answer.error_id)
    elif answer is not None:  # a framework response a handler returned
        errors.observe(leaf, getattr(answer, "status_code", 500), request)
    return answer


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
    answer = first(errors, exc, info)
    if not isinstance(answer, Pending):
        return answer  # type: ignore[return-value]
    steps = _steps(errors, answer, is_response)
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
    answer = first(errors, exc, info)
    if not isinstance(answer, Pending):
        return answer  # type: ignore[return-value]
    return await finish_async(errors, answer, call, is_response)


async def finish_async(
    errors: Interceptor,
    pending: Pending,
    call: Callable[[Handler, BaseException], object],
    is_response: Callable[[object], TypeGuard[R]],
) -> Outcome | R | None:
    """The rest of `handle_async`, from the `Pending` that `first` gave."""
    steps = _steps(errors, pending, is_response)
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
            _handler_raised(errors, pending.exc, new)
            raise


def _handler_raised(errors: Interceptor, original: BaseException, new: Exception) -> None:
    errors.mark_raised(new)
    if new is not original and new.__context__ is None:
        new.__context__ = original
