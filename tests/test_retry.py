"""The retry predicates with the real tenacity and stamina."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import metadata
from typing import Any

import pytest
import stamina
import tenacity
from stamina.instrumentation import RetryDetails, get_on_retry_hooks, set_on_retry_hooks

from interceptor.integrations.retry import retryable, stamina_hook, wait_retry_after


class Throttled(Exception):
    """Duck-typed: a 429 with a Retry-After, as an SDK's error would be."""

    status = 429
    retry_after = 7


class Flaky:
    """Raises the given errors in turn, then answers "ok"."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def test_retryable_by_classification() -> None:
    assert retryable(TimeoutError())
    assert retryable(ConnectionResetError())
    assert retryable(Throttled())
    assert not retryable(KeyError("x"))
    assert not retryable(PermissionError())


def test_tenacity_retries_what_is_retryable_only() -> None:
    sleeps: list[float] = []
    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception(retryable),
        stop=tenacity.stop_after_attempt(5),
        wait=tenacity.wait_fixed(0.5),
        sleep=sleeps.append,
    )
    flaky = Flaky(ConnectionResetError(), TimeoutError())
    assert retrying(flaky) == "ok"
    assert flaky.calls == 3
    assert sleeps == [0.5, 0.5]
    permanent = Flaky(KeyError("x"))
    with pytest.raises(KeyError):
        retrying(permanent)
    assert permanent.calls == 1


def test_tenacity_waits_the_retry_after() -> None:
    sleeps: list[float] = []
    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception(retryable),
        stop=tenacity.stop_after_attempt(5),
        wait=wait_retry_after(tenacity.wait_fixed(0.5), max_delay=5),
        sleep=sleeps.append,
    )
    flaky = Flaky(Throttled(), ConnectionResetError())
    assert retrying(flaky) == "ok"
    assert sleeps == [5.0, 0.5]  # the 7 s Retry-After, capped; then the fallback


async def test_tenacity_async() -> None:
    sleeps: list[float] = []

    async def sleep(delay: float) -> None:
        sleeps.append(delay)

    flaky = Flaky(TimeoutError())
    retrying = tenacity.AsyncRetrying(
        retry=tenacity.retry_if_exception(retryable),
        stop=tenacity.stop_after_attempt(3),
        wait=wait_retry_after(tenacity.wait_fixed(0.25)),
        sleep=sleep,
    )
    async for attempt in retrying:
        with attempt:
            flaky()
    assert flaky.calls == 2
    assert sleeps == [0.25]


@pytest.fixture
def stamina_retries() -> Iterator[list[RetryDetails]]:
    """Stamina's on-retry instrumentation, recording each retry's details."""
    seen: list[RetryDetails] = []
    saved = get_on_retry_hooks()
    set_on_retry_hooks([seen.append])
    yield seen
    set_on_retry_hooks(saved)


@pytest.fixture(autouse=True)
def _no_real_sleeping(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("time.sleep", lambda _delay: None)


def test_stamina_on_retryable(stamina_retries: list[RetryDetails]) -> None:
    flaky = Flaky(ConnectionResetError(), TimeoutError())
    call: Any = stamina.retry(on=retryable, attempts=5, wait_initial=0.01, wait_jitter=0)(flaky)
    assert call() == "ok"
    assert flaky.calls == 3
    assert len(stamina_retries) == 2
    permanent = Flaky(KeyError("x"))
    with pytest.raises(KeyError):
        stamina.retry(on=retryable, attempts=5)(permanent)()
    assert permanent.calls == 1


def test_stamina_hook_waits_the_retry_after(stamina_retries: list[RetryDetails]) -> None:
    flaky = Flaky(Throttled(), ConnectionResetError())
    call: Any = stamina.retry(
        on=stamina_hook(max_delay=3), attempts=5, wait_initial=0.01, wait_jitter=0
    )(flaky)
    assert call() == "ok"
    assert flaky.calls == 3
    if tuple(int(part) for part in metadata.version("stamina").split(".")[:2]) >= (25, 2):
        # Older stamina takes a hook's delay as True and uses its own backoff.
        assert [round(d.wait_for, 3) for d in stamina_retries] == [3.0, 0.02]
    assert stamina_hook()(KeyError("x")) is False
    assert stamina_hook()(TimeoutError()) is True
    assert stamina_hook()(Throttled()) == 7.0

    class Now(Throttled):
        retry_after = 0

    assert stamina_hook()(Now()) is True  # 0 would read as False to older stamina


def test_max_delay_is_checked() -> None:
    with pytest.raises(ValueError, match="max_delay"):
        stamina_hook(max_delay=-1)
    with pytest.raises(ValueError, match="max_delay"):
        wait_retry_after(tenacity.wait_fixed(1), max_delay=-1)
