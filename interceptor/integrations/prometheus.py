"""Prometheus counters for intercepted errors.

    from interceptor.integrations.prometheus import prometheus_observer

    errors = Interceptor({...}, name="api", observers=[prometheus_observer()])

Exposes ``interceptor_errors_total{category, status, scope, slo}``. Under a
multi-worker server (gunicorn), set ``PROMETHEUS_MULTIPROC_DIR`` as
prometheus_client documents: the counter then lives in the shared directory and
``prometheus_client.multiprocess.MultiProcessCollector`` sums every worker.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from interceptor._observe import ErrorEvent, Observer

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

__all__ = ["prometheus_observer"]

# Each registry's counter by id(), with a reference to the registry it is
# for: a registry freed (one per test, say) left its counter to the next one
# given its address, which then exported nothing. Weak where the registry
# allows it (the entry goes with it); strong otherwise, so its id stays its own.
_counters: dict[int, tuple[Callable[[], object], Any]] = {}
_lock = threading.Lock()


def prometheus_observer(registry: CollectorRegistry | None = None) -> Observer:
    """An observer counting every intercepted error in ``registry`` (default: the global one).

    Several interceptors may share it; the ``scope`` label (the interceptor's
    ``name``) tells them apart. Raises ``ImportError`` with an install hint
    when prometheus_client is missing.

    Example::

        Interceptor(name="api", observers=[prometheus_observer()])
    """
    try:
        from prometheus_client import REGISTRY, Counter  # noqa: PLC0415 - optional extra
    except ImportError as exc:
        raise ImportError(
            "prometheus_observer needs prometheus_client: "
            "pip install 'exception-interceptor[prometheus]'"
        ) from exc
    target = REGISTRY if registry is None else registry
    with _lock:  # one counter per registry: registering the name twice is an error there
        entry = _counters.get(id(target))
        counter = entry[1] if entry is not None and entry[0]() is target else None
        if counter is None:
            counter = Counter(
                "interceptor_errors",
                "Errors intercepted, by category, status, scope and whether they count "
                "against the availability SLO.",
                ["category", "status", "scope", "slo"],
                registry=target,
            )
            _counters[id(target)] = (_reference(target), counter)

    def observe(event: ErrorEvent) -> None:
        counter.labels(
            event.category.value, str(event.status), event.scope, "true" if event.slo else "false"
        ).inc()

    return observe


def _reference(registry: object) -> Callable[[], object]:
    """A weak reference to ``registry`` that drops its entry, or a strong one if it takes none."""
    key = id(registry)
    try:
        return weakref.ref(registry, lambda _: _counters.pop(key, None))
    except TypeError:  # a registry type with __slots__ and no __weakref__
        return lambda: registry
