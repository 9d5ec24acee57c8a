"""Retry predicates built on `interceptor.classify`, for tenacity and stamina.

Neither library is imported here: the functions take exceptions (and
tenacity's retry state) and read them, so this module works with any version
that calls them.

- `retryable`: ``True`` when `classify` says a retry may succeed (TIMEOUT,
  THROTTLED, TEMPORARY, and whatever a rule marked retryable). For tenacity's
  ``retry=retry_if_exception(retryable)`` and stamina's ``on=retryable``.
- `stamina_hook`: stamina's ``on=`` backoff hook: ``False`` for an error not
  to retry, the upstream's ``Retry-After`` (capped) as the next wait when one
  is known, else ``True`` (stamina's own backoff).
- `wait_retry_after`: a tenacity ``wait=``: the ``Retry-After`` (capped) when
  the last attempt's error has one, else the fallback wait.

Example::

    from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential
    from interceptor.integrations.retry import retryable, stamina_hook, wait_retry_after

    @retry(retry=retry_if_exception(retryable), stop=stop_after_attempt(4),
           wait=wait_retry_after(wait_exponential(max=10)))
    def fetch(): ...

    @stamina.retry(on=stamina_hook(max_delay=30), attempts=4)
    def fetch(): ...
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from interceptor._classify import classify

__all__ = ["DEFAULT_MAX_DELAY", "retryable", "stamina_hook", "wait_retry_after"]

DEFAULT_MAX_DELAY = 60.0
"""The longest wait a ``Retry-After`` may ask of the helpers here, in seconds."""


def retryable(exc: BaseException) -> bool:
    """Whether a retry of what raised ``exc`` may succeed, by `interceptor.classify`.

    Example::

        retryable(TimeoutError())   # True
        retryable(KeyError("x"))    # False
    """
    return classify(exc).retryable


def _check(max_delay: float) -> float:
    if isinstance(max_delay, bool) or not isinstance(max_delay, int | float) or max_delay < 0:
        raise ValueError(f"max_delay must be a number of seconds >= 0, got {max_delay!r}")
    return float(max_delay)


def stamina_hook(*, max_delay: float = DEFAULT_MAX_DELAY) -> Callable[[Exception], bool | float]:
    """A stamina backoff hook: retry what `classify` says is retryable, after its Retry-After.

    The hook answers ``False`` (do not retry), the classification's
    ``retry_after`` capped at ``max_delay`` seconds (stamina waits that long
    before the next attempt), or ``True`` (stamina's own backoff). stamina
    25.2 and newer wait the delay a hook returns; 24.3 to 25.1 take it as
    ``True`` and back off as usual (`retryable` works with all of them).
    Raises ``ValueError`` for a negative ``max_delay``.

    Example::

        @stamina.retry(on=stamina_hook(max_delay=30), attempts=5)
        def fetch(): ...
    """
    cap = _check(max_delay)

    def hook(exc: Exception) -> bool | float:
        found = classify(exc)
        if not found.retryable:
            return False
        if not found.retry_after:  # None, or 0: "now" is stamina's own first backoff
            return True
        return min(found.retry_after, cap)

    return hook


def wait_retry_after(
    fallback: Callable[[Any], float], *, max_delay: float = DEFAULT_MAX_DELAY
) -> Callable[[Any], float]:
    """A tenacity ``wait=``: the last error's Retry-After when known, else ``fallback``.

    ``fallback`` is any tenacity wait (``wait_exponential()``, ...). The
    delay is the classification's ``retry_after`` capped at ``max_delay``
    seconds. Raises ``ValueError`` for a negative ``max_delay``.

    Example::

        @retry(retry=retry_if_exception(retryable), wait=wait_retry_after(wait_fixed(1)))
        def fetch(): ...
    """
    cap = _check(max_delay)

    def wait(retry_state: Any) -> float:
        outcome = getattr(retry_state, "outcome", None)
        exc = outcome.exception() if outcome is not None and outcome.failed else None
        if isinstance(exc, BaseException):
            delay = classify(exc).retry_after
            if delay is not None:
                return min(delay, cap)
        return float(fallback(retry_state))

    return wait
