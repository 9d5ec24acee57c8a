"""The resolution loop every adapter runs: one algorithm, as data, and two short drivers.

`first` starts resolving an exception with one interceptor and gives the
answer, ``None`` (nothing matched, or every match declined), or a `Pending`:
a handler must be called. The adapter calls it the way its framework calls
things and hands the result to `Pending.settle`, which gives the next one of
those three. So the order in which handler values are tried, what counts as
declining, what happens when a handler raises and how an answer is logged,
counted and reported are written once, here; `handle_sync` and `finish_async`
are the two drivers, and an adapter with needs of its own (a timeout, a
thread) drives the same three calls itself, as `_asgi.call_handlers` does.
Nothing here imports a framework.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from typing import Any, TypeGuard, TypeVar

from interceptor._callables import is_awaitable
from interceptor._core import Interceptor
from interceptor._render import Outcome
from interceptor._request import RequestInfo
from interceptor._status import is_response_status, is_server_error, new_error_id
from interceptor._values import INLINE_TYPES, Handler, HandlerValue, is_mark_of, mark_of
from interceptor._wire import header_items, safe_headers

__all__ = [
    "DONE_KEY",
    "NOT_CALLED",
    "Marks",
    "Pending",
    "advance",
    "finish_async",
    "first",
    "handle_sync",
    "is_done",
    "mark_done",
]

R = TypeVar("R")

# Marks = the request's own mapping (an ASGI scope, a WSGI environ). Under this
# key it keeps which interceptor is done with which exception (`mark_done`),
# so that the same interceptor never handles it again at another scope of that
# request. Kept there, not on the exception: an application may raise one
# exception object on every request, and a mark on it would outlive the request.
Marks = MutableMapping[str, Any]
DONE_KEY = "interceptor.done"


NOT_CALLED: Any = object()  # `Pending.result` before the handler is called


class Pending:
    """A resolution waiting on a handler: call ``handler(request, leaf)``, then `settle`.

    ``result`` is what the handler gave already, where an adapter called it
    before making this (its straight path for the common answer), else
    `NOT_CALLED`.
    """

    __slots__ = (
        "errors",
        "exc",
        "handler",
        "index",
        "leaf",
        "marks",
        "request",
        "result",
        "values",
    )

    def __init__(  # noqa: PLR0917 - positional: made on every error that calls a handler
        self,
        errors: Interceptor,
        exc: BaseException,
        leaf: BaseException,
        values: tuple[HandlerValue, ...],
        index: int,
        request: RequestInfo,
        marks: Marks | None,
    ) -> None:
        self.errors = errors
        self.exc = exc  # as raised, to chain a handler's own exception to
        self.leaf = leaf  # what handlers receive
        self.values = values
        self.index = index
        self.handler: Handler = values[index]  # type: ignore[assignment]
        self.request = request
        self.marks = marks
        self.result: object = NOT_CALLED

    def settle(self, result: object, is_response: Callable[[object], bool]) -> object:
        """What the handler's ``result`` gives: the answer, ``None``, or the next `Pending`.

        A framework response (``is_response``) is the answer as it is, or
        with the status and headers of a ``(response, status[, headers])``
        tuple set on it; any other result is turned into an `Outcome`, or
        declines with ``None``, and then the next less specific value is tried.
        """
        errors, leaf, request = self.errors, self.leaf, self.request
        if isinstance(result, tuple) and 2 <= len(result) <= 3 and is_response(result[0]):
            result = _response_with(result)
        if is_response(result):
            status = getattr(result, "status_code", 500)
            error_id = _shown_error_id(result) if is_server_error(status) else None
            errors.observe(leaf, status, request, error_id, raised=self.exc)
            return result
        answer = errors.outcome(result, leaf, request, handler=self.handler)
        if answer is not None:
            errors.observe(
                leaf, answer.status, request, answer.error_id, raised=self.exc, slo=answer.slo
            )
            return answer
        return advance(errors, self.exc, leaf, self.values, self.index + 1, request, self.marks)

    def call(self, call: Callable[[Handler, BaseException], object]) -> object:
        """``call(handler, leaf)``'s result; what it raises is marked `raised` and goes on."""
        try:
            return call(self.handler, self.leaf)
        except Exception as new:
            self.raised(new)
            raise

    def raised(self, new: Exception) -> None:
        """The handler raised ``new``: it goes to the next scope out, chained to the original.

        The same interceptor never handles it again in this request.
        """
        if self.marks is not None:
            mark_done(self.marks, self.errors, new)
        if new is not self.exc and new.__context__ is None:
            new.__context__ = self.exc


def _shown_error_id(response: object) -> str:
    """The error_id of a handler's own 5xx response, in its ``X-Error-Id`` header.

    The response is sent as it is but for that header, so that support finds
    the report and the log line from what the client saw, as for every other
    5xx. An id the handler put there itself is kept; headers that cannot take
    one (a response type of its own) leave the id to the log and the report.
    """
    headers: Any = getattr(response, "headers", None)
    try:
        own = headers.get("X-Error-Id")
        if isinstance(own, str) and own:
            return own
        error_id = new_error_id()
        headers["X-Error-Id"] = error_id
    except Exception:  # noqa: BLE001 - see the docstring
        return new_error_id()
    return error_id


def _response_with(answer: tuple[object, ...]) -> object:
    """``(response, status[, headers])``, as Flask's ``make_response`` reads it
    (``return jsonify(...), 409``): the response, with that status and those
    headers set on it. With a status that is none, the tuple as it is: the
    core answers it as the wrong answer it is.
    """
    response, status = answer[0], answer[1]
    if not is_response_status(status):
        return answer
    response.status_code = status  # type: ignore[attr-defined]
    if len(answer) == 3:
        for name, value in safe_headers(header_items(answer[2])):
            response.headers[name] = value  # type: ignore[attr-defined]
    return response


def first(
    errors: Interceptor,
    exc: BaseException,
    info: Callable[[], RequestInfo],
    marks: Marks | None = None,
) -> object:
    """Resolution's first step: the answer, ``None``, or a `Pending` to finish.

    ``info`` builds the request data, only once something matched. An answer
    is logged, counted and reported (`Interceptor.observe`) before it is given.
    ``marks`` is the request's own mapping, where what an interceptor is done
    with is marked (`mark_done`): given none, there is no mark to find or to
    make.
    """
    leaf, values = errors.candidates(exc)
    if not values:
        return None
    if marks is not None and DONE_KEY in marks and is_done(marks, errors, exc, leaf):
        return None
    if not isinstance(values[0], INLINE_TYPES):  # `advance`'s first step, the common one
        return Pending(errors, exc, leaf, values, 0, info(), marks)
    return advance(errors, exc, leaf, values, 0, info(), marks)


def mark_done(marks: Marks, errors: Interceptor, exc: BaseException) -> None:
    """Record in ``marks`` that ``errors`` is done with ``exc`` for this request.

    Marked: what a handler of ``errors`` raised (`Pending.raised`), and what
    an adapter already resolved with ``errors`` to no answer, where the same
    request would offer it to ``errors`` again. From then on `first` gives
    ``None`` for ``exc``, and for the leaf of a group so marked.
    """
    marks[DONE_KEY] = (*marks.get(DONE_KEY, ()), (mark_of(exc), errors))


def is_done(marks: Marks, errors: Interceptor, exc: BaseException, leaf: BaseException) -> bool:
    """Whether ``marks``, holding `DONE_KEY`, say ``errors`` is done with ``exc`` (or
    ``leaf``, its group's leaf) in this request: `first` then gives ``None`` for it."""
    return any(
        by is errors and (is_mark_of(mark, leaf) or is_mark_of(mark, exc))
        for mark, by in marks[DONE_KEY]
    )


def advance(  # noqa: PLR0917 - positional: on the error path of every request
    errors: Interceptor,
    exc: BaseException,
    leaf: BaseException,
    values: tuple[HandlerValue, ...],
    start: int,
    request: RequestInfo,
    marks: Marks | None,
) -> object:
    """Resolution from ``values[start]`` on: the answer, ``None`` or a `Pending`.

    Values the core renders itself answer at once (they never decline); the
    first callable stops the walk, since the driver must call it.
    """
    for index in range(start, len(values)):
        value = values[index]
        if not isinstance(value, INLINE_TYPES):
            return Pending(errors, exc, leaf, values, index, request, marks)
        answer = errors.outcome(value, leaf, request)
        if answer is not None:
            slo = answer.slo
            if slo is not None or not errors.counted_alone(leaf, answer.status):
                errors.observe(leaf, answer.status, request, answer.error_id, raised=exc, slo=slo)
            return answer
    return None  # every match declined


def handle_sync(
    errors: Interceptor,
    exc: BaseException,
    info: Callable[[], RequestInfo],
    call: Callable[[Handler, BaseException], object],
    is_response: Callable[[object], TypeGuard[R]],
    *,
    marks: Marks | None = None,
) -> Outcome | R | None:
    """Resolve ``exc`` with one interceptor, calling handlers with ``call(handler, leaf)``.

    Returns the `Outcome` to send, a framework response a handler returned
    (recognised by ``is_response``), or ``None`` when nothing matched or every
    match declined; the caller then re-raises the original exception. A
    handler that raises lets its exception propagate to the next scope out.
    ``marks``: as for `first`.
    """
    answer = first(errors, exc, info, marks)
    while isinstance(answer, Pending):
        answer = answer.settle(answer.call(call), is_response)
    return answer  # type: ignore[return-value]


async def finish_async(
    answer: object,
    call: Callable[[Handler, BaseException], object],
    is_response: Callable[[object], TypeGuard[R]],
) -> Outcome | R | None:
    """`handle_sync` for code in an event loop, from what `first` gave; awaits what ``call`` gives.

    ``finish_async(first(errors, exc, info), call, is_response)`` resolves
    from the start; an adapter that must look at `first`'s answer (to call
    handlers its own way) passes it on.
    """
    while isinstance(answer, Pending):
        try:  # as `Pending.call`, with the await inside
            result = call(answer.handler, answer.leaf)
            while is_awaitable(result):  # a sync handler may hand back a coroutine
                result = await result
        except Exception as new:
            answer.raised(new)
            raise
        answer = answer.settle(result, is_response)
    return answer  # type: ignore[return-value]
