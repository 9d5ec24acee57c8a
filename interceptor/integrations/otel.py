"""OpenTelemetry: intercepted errors on the current span, and an error counter.

    from interceptor.integrations.otel import otel_observer

    errors = Interceptor({...}, observers=[otel_observer()])

For every intercepted error the current span (typically the server span of
your OpenTelemetry ASGI/WSGI instrumentation) gets the exception recorded and
``error.type`` set, per the semantic conventions. Only errors that count
against the availability SLO (5xx) mark the span's status as an error: a 4xx
is the client's mistake, not an outage. The meter's ``interceptor.errors``
counter carries the same attributes. Works under multi-worker servers like
any OpenTelemetry SDK setup (one provider per worker process).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from interceptor._observe import ErrorEvent, Observer

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider

__all__ = ["otel_observer"]


def otel_observer(meter_provider: MeterProvider | None = None) -> Observer:
    """An observer feeding spans and a counter; ``meter_provider`` defaults to the global one.

    Raises ``ImportError`` with an install hint when opentelemetry-api is missing.

    Example::

        Interceptor(observers=[otel_observer()])
    """
    try:
        from opentelemetry import metrics, trace  # noqa: PLC0415 - optional extra
        from opentelemetry.trace import Status, StatusCode  # noqa: PLC0415
    except ImportError as exc:
        raise ImportError(
            "otel_observer needs OpenTelemetry: pip install 'exception-interceptor[otel]'"
        ) from exc
    provider = meter_provider or metrics.get_meter_provider()
    counter = provider.get_meter("interceptor").create_counter(
        "interceptor.errors",
        unit="{error}",
        description="Errors intercepted, by type, status, category and scope.",
    )

    def observe(event: ErrorEvent) -> None:
        exc_type = type(event.exception)
        error_type = (
            exc_type.__qualname__
            if exc_type.__module__ == "builtins"
            else f"{exc_type.__module__}.{exc_type.__qualname__}"
        )
        span = trace.get_current_span()
        if span.is_recording():
            span.record_exception(event.exception)
            span.set_attribute("error.type", error_type)
            if event.error_id is not None:
                span.set_attribute("interceptor.error_id", event.error_id)
            if event.slo:
                span.set_status(Status(StatusCode.ERROR, f"{event.status} {error_type}"))
        counter.add(
            1,
            {
                "error.type": error_type,
                "http.response.status_code": event.status,
                "interceptor.category": event.category.value,
                "interceptor.scope": event.scope,
                "interceptor.slo": event.slo,
            },
        )

    return observe
