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
from typing import TYPE_CHECKING, Any

from interceptor._observe import ErrorEvent, Observer

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

__all__ = ["prometheus_observer"]

# Each registry's counter, kept no longer than the registry: keyed by id(), a
# registry freed (one per test, say) left its counter to the next registry
# given its address, which then exported nothing.
_counters: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
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
        counter = _counters.get(target)
        if counter is None:
            counter = _counters[target] = Counter(
                "interceptor_errors",
                "Errors intercepted, by category, status, scope and whether they count "
                "against the availability SLO.",
                ["category", "status", "scope", "slo"],
                registry=target,
            )

    def observe(event: ErrorEvent) -> None:
        counter.labels(
            event.category.value, str(event.status), event.scope, "true" if event.slo else "false"
        ).inc()

    return observe
