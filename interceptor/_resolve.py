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

from interceptor._core import Handler, HandlerValue, Interceptor, is_inline
from interceptor._render import Outcome, RequestInfo

__all__ = ["handle_async", "handle_sync"]

R = TypeVar("R")

# What the loop asks its driver to do: call this handler with this exception.
_Step = Generator[tuple[Handler, BaseException], object, object]


def _first(
    errors: Interceptor, exc: BaseException, info: Callable[[], RequestInfo]
) -> tuple[BaseException, tuple[HandlerValue, ...], RequestInfo | None, object]:
    """Where resolution starts: (leaf, values, request, answer).

    The common declarative case, an `int`, `Problem` or `classified` value
    first, never declines: its answer is final, and no handler runs.
    """
    leaf, values = errors.candidates(exc)
    if not values:
        return leaf, values, None, None
    request = info()
    if is_inline(values[0]):
        answer = _answered(errors, leaf, request, errors.outcome(values[0], leaf, request))
        return leaf, values, request, answer
    return leaf, values, request, None


def _steps(
    errors: Interceptor,
    leaf: BaseException,
    values: tuple[HandlerValue, ...],
    request: RequestInfo,
    is_response: Callable[[object], bool],
) -> _Step:
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
    leaf, values, request, answer = _first(errors, exc, info)
    if answer is not None or request is None:
        return answer  # type: ignore[return-value]
    steps = _steps(errors, leaf, values, request, is_response)
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
    leaf, values, request, answer = _first(errors, exc, info)
    if answer is not None or request is None:
        return answer  # type: ignore[return-value]
    steps = _steps(errors, leaf, values, request, is_response)
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
