"""OpenTelemetry: intercepted errors on the current span, and an error counter.

    from interceptor.integrations.otel import otel_observer

    errors = Interceptor({...}, observers=[otel_observer()])

For every intercepted error the current span (typically the server span of
your OpenTelemetry ASGI/WSGI instrumentation) gets an ``exception`` event and
``error.type`` set, per the semantic conventions. Only errors that count
against the availability SLO (5xx) mark the span's status as an error: a 4xx
is the client's mistake, not an outage. The meter's ``interceptor.errors``
counter carries the same attributes. Works under multi-worker servers like
any OpenTelemetry SDK setup (one provider per worker process).

Observers run on the response path, so the event holds only what is already
known and bounded: ``exception.type`` (the class's qualified name), the
status, the category and, for a 5xx, ``interceptor.error_id``. It has no
``exception.message`` and no ``exception.stacktrace``, unlike
``span.record_exception()``: those run the exception's ``__str__`` and walk
its whole chain of causes, which may take seconds or megabytes, and the span
has ended by the time the delivery worker could format them within bounds.
The crash report and the 5xx log line carry the bounded traceback; the
``error_id`` finds them from the span.
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
            # Not span.record_exception(): it formats the traceback and reads
            # the message here, on the response path, without bounds.
            recorded: dict[str, str | int] = {
                "exception.type": error_type,
                "http.response.status_code": event.status,
                "interceptor.category": event.category.value,
            }
            if event.error_id is not None:
                recorded["interceptor.error_id"] = event.error_id
            span.add_event("exception", recorded)
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
