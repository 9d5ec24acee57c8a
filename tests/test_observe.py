"""Crash reports, logs, counters, Prometheus and OpenTelemetry, through a Starlette app."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import ClassVar

import httpx
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route

from interceptor import ApiError, Category, Interceptor, Problem
from interceptor._observe import ErrorCounts, ErrorEvent, Report
from interceptor._request import RequestInfo
from interceptor.integrations.otel import otel_observer
from interceptor.integrations.prometheus import prometheus_observer
from interceptor.starlette import InterceptorMiddleware

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
SECRETS = {
    "Authorization": "Bearer secret-token",
    "Cookie": "session=secret-cookie",
    "Proxy-Authorization": "Basic secret-proxy",
    "X-Api-Key": "secret-key",
}


def mw(errors: Interceptor) -> list[Middleware]:
    return [Middleware(InterceptorMiddleware, interceptor=errors)]


async def crash(request: Request) -> Response:
    raise RuntimeError("database is down")


async def missing(request: Request) -> Response:
    raise KeyError("user 42")


def client_for(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


def app_with(errors: Interceptor) -> Starlette:
    return Starlette(
        routes=[Route("/crash", crash), Route("/missing", missing)], middleware=mw(errors)
    )


async def settle() -> None:
    """Let background report tasks (and their worker threads) finish."""
    for _ in range(50):
        await asyncio.sleep(0.01)


async def test_reporter_gets_every_5xx_once_with_the_bodys_error_id() -> None:
    reports: list[Report] = []
    errors = Interceptor({RuntimeError: 500, KeyError: 404}, reporter=reports.append, name="api")
    async with client_for(app_with(errors)) as client:
        response = await client.get(
            "/crash", params={"q": "1"}, headers={**SECRETS, "traceparent": TRACEPARENT}
        )
        await client.get("/missing")
        await settle()
    [report] = reports
    assert report.error_id == response.json()["error_id"]
    assert isinstance(report.exception, RuntimeError)
    assert "database is down" in report.traceback
    assert "Traceback (most recent call last)" in report.traceback
    assert (report.status, report.category, report.title) == (
        500,
        Category.PERMANENT,
        "Internal Server Error",
    )
    assert (report.method, report.path, report.query_string) == ("GET", "/crash", "q=1")
    assert report.client is None  # only with report_client_address=True
    assert report.scope == "api"
    assert report.fatal is True
    assert report.trace_id == TRACE_ID
    headers = {name.lower(): value for name, value in report.headers}
    assert headers["traceparent"] == TRACEPARENT
    assert all(headers[name.lower()] == "[Filtered]" for name in SECRETS)
    assert not any("secret" in value for _, value in report.headers)


async def test_nested_scopes_report_once() -> None:
    reports: list[Report] = []

    class Translated(Exception):
        pass

    def translate(request: Request, exc: Exception) -> None:
        raise Translated("from the inner scope")

    inner = Interceptor({RuntimeError: translate}, reporter=reports.append, name="inner")
    outer = Interceptor({Translated: 503}, reporter=reports.append, name="outer")
    app = Starlette(
        routes=[Mount("/api", routes=[Route("/crash", crash)], middleware=mw(inner))],
        middleware=mw(outer),
    )
    async with client_for(app) as client:
        response = await client.get("/api/crash")
        await settle()
    assert response.status_code == 503
    assert [(r.scope, r.status, type(r.exception)) for r in reports] == [("outer", 503, Translated)]


async def test_a_failing_reporter_never_breaks_the_response(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(report: Report) -> None:
        raise OSError("reporting backend unreachable")

    errors = Interceptor({RuntimeError: 500}, reporter=broken)
    with caplog.at_level(logging.ERROR, logger="interceptor"):
        async with client_for(app_with(errors)) as client:
            response = await client.get("/crash")
            await settle()
    assert response.status_code == 500
    assert "error_id" in response.json()
    assert any("reporter" in r.getMessage() and "failed" in r.getMessage() for r in caplog.records)


async def test_a_slow_async_reporter_does_not_delay_the_response() -> None:
    release = asyncio.Event()
    finished: list[str] = []

    async def slow(report: Report) -> None:
        await release.wait()
        finished.append(report.error_id)

    errors = Interceptor({RuntimeError: 500}, reporter=slow)
    async with client_for(app_with(errors)) as client:
        response = await client.get("/crash")
    # The response is complete while the reporter is still waiting.
    assert response.status_code == 500
    assert finished == []
    release.set()
    await settle()
    assert finished == [response.json()["error_id"]]


async def test_a_hanging_reporter_is_abandoned_after_its_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def hang(report: Report) -> None:
        await asyncio.Event().wait()

    errors = Interceptor({RuntimeError: 500}, reporter=hang, report_timeout=0.05)
    with caplog.at_level(logging.ERROR, logger="interceptor"):
        async with client_for(app_with(errors)) as client:
            assert (await client.get("/crash")).status_code == 500
            await settle()
    assert any("did not finish" in r.getMessage() for r in caplog.records)


async def test_log_records_carry_structured_fields(caplog: pytest.LogCaptureFixture) -> None:
    errors = Interceptor({RuntimeError: 500, KeyError: 404}, name="api")
    with caplog.at_level(logging.INFO, logger="interceptor"):
        async with client_for(app_with(errors)) as client:
            crash_response = await client.get("/crash", headers={"traceparent": TRACEPARENT})
            await client.get("/missing")
        assert errors.flush(5)  # the worker emits the 5xx line, with its traceback
    records = [r for r in caplog.records if r.name == "interceptor"]
    [error] = [r for r in records if r.levelno == logging.ERROR]
    [info] = [r for r in records if r.levelno == logging.INFO]
    assert error.exc_info is not None
    assert error.error_id == crash_response.json()["error_id"]  # type: ignore[attr-defined]
    assert error.error_id in error.getMessage()  # type: ignore[attr-defined]
    assert (error.status, error.category, error.scope) == (500, "PERMANENT", "api")  # type: ignore[attr-defined]
    assert error.trace_id == TRACE_ID  # type: ignore[attr-defined]
    assert info.exc_info is None
    assert (info.status, info.category, info.scope) == (404, "NOT_FOUND", "api")  # type: ignore[attr-defined]
    assert info.error_id is None  # type: ignore[attr-defined]


@pytest.mark.parametrize("status", [404, 500])
async def test_an_exception_class_name_in_a_log_line_is_bounded_and_forges_no_line(
    caplog: pytest.LogCaptureFixture, status: int
) -> None:
    huge = type("E" * 1_000_000, (Exception,), {})
    forging = type("Bad\nINFO forged line", (Exception,), {})
    errors = Interceptor({Exception: status}, name="api")

    async def raises(request: Request) -> Response:
        raise (huge if request.url.path == "/huge" else forging)()

    app = Starlette(
        routes=[Route("/huge", raises), Route("/forging", raises)],
        middleware=[Middleware(InterceptorMiddleware, interceptor=errors)],
    )
    with caplog.at_level(logging.INFO, logger="interceptor"):
        async with client_for(app) as client:
            assert (await client.get("/huge")).status_code == status
            assert (await client.get("/forging")).status_code == status
        assert errors.flush(5)
    lines = [r.getMessage() for r in caplog.records if r.name == "interceptor"]
    assert len(lines) == 2
    assert all(len(line) < 1_000 for line in lines)
    assert all("\n" not in line for line in lines)
    assert "E" * 200 + "…" in lines[0]


async def test_counters_and_observers_see_every_intercepted_error() -> None:
    events: list[ErrorEvent] = []

    def boom(event: ErrorEvent) -> None:
        raise RuntimeError("observer bug")

    errors = Interceptor(
        {RuntimeError: 500, KeyError: 404, TimeoutError: Problem(status=504)},
        name="api",
        observers=[events.append, boom],
    )
    async with client_for(app_with(errors)) as client:
        for path in ["/crash", "/missing", "/missing"]:
            await client.get(path)
    assert errors.counts.snapshot() == {
        ("PERMANENT", 500, "api", True): 1,
        ("NOT_FOUND", 404, "api", False): 2,
    }
    assert [(e.status, e.slo) for e in events] == [(500, True), (404, False), (404, False)]


async def test_report_error_sends_a_non_fatal_report_from_an_endpoint() -> None:
    reports: list[Report] = []
    errors = Interceptor(reporter=reports.append, name="api")

    async def degraded(request: Request) -> Response:
        try:
            raise ConnectionResetError("cache went away")
        except ConnectionResetError as exc:
            error_id = errors.report_error(exc, request)
        return JSONResponse({"degraded": True, "error_id": error_id})

    app = Starlette(routes=[Route("/degraded", degraded)], middleware=mw(errors))
    async with client_for(app) as client:
        response = await client.get("/degraded", headers=SECRETS)
        await settle()
    assert response.status_code == 200
    [report] = reports
    assert report.fatal is False
    assert report.error_id == response.json()["error_id"]
    assert report.category is Category.TEMPORARY
    assert report.path == "/degraded"
    assert not any("secret" in value for _, value in report.headers)
    assert errors.counts.snapshot() == {}


def test_observer_and_constructor_validation() -> None:
    with pytest.raises(TypeError, match="observer must be callable"):
        Interceptor(observers=[42])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="name"):
        Interceptor(name="")
    with pytest.raises(ValueError, match="report_timeout"):
        Interceptor(report_timeout=0)


# -- Prometheus -------------------------------------------------------------------------


async def test_prometheus_counter_values_from_a_real_registry() -> None:
    registry = CollectorRegistry()
    errors = Interceptor(
        {RuntimeError: 500, KeyError: 404}, name="api", observers=[prometheus_observer(registry)]
    )
    async with client_for(app_with(errors)) as client:
        for path in ["/crash", "/missing", "/missing", "/crash", "/crash"]:
            await client.get(path)

    def value(category: str, status: str, slo: str) -> float | None:
        labels = {"category": category, "status": status, "scope": "api", "slo": slo}
        return registry.get_sample_value("interceptor_errors_total", labels)

    assert value("PERMANENT", "500", "true") == 3
    assert value("NOT_FOUND", "404", "false") == 2
    # A second observer on the same registry shares the counter.
    prometheus_observer(registry)


def test_each_new_registry_gets_the_counter_even_at_a_freed_ones_address() -> None:
    # A registry per test is common; a freed one's address is soon reused.
    addresses: set[int] = set()
    for _ in range(200):
        registry = CollectorRegistry()
        reused = id(registry) in addresses
        addresses.add(id(registry))
        observe = prometheus_observer(registry)
        observe(
            ErrorEvent(RuntimeError(), 500, Category.PERMANENT, True, "api", "x", RequestInfo())
        )
        labels = {"category": "PERMANENT", "status": "500", "scope": "api", "slo": "true"}
        assert registry.get_sample_value("interceptor_errors_total", labels) == 1, reused
        del registry, observe
        gc.collect()
    assert len(addresses) < 200  # an address was reused, so the case was met

    class Bare:  # a registry of its own that takes no weak reference
        __slots__ = ("registered",)

        def __init__(self) -> None:
            self.registered: list[object] = []

        def register(self, collector: object) -> None:
            self.registered.append(collector)

    bare = Bare()
    prometheus_observer(bare)  # type: ignore[arg-type]
    prometheus_observer(bare)  # type: ignore[arg-type]
    assert len(bare.registered) == 1


def test_prometheus_counter_in_multiprocess_mode(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys
        from prometheus_client import CollectorRegistry
        from prometheus_client.multiprocess import MultiProcessCollector
        from interceptor import Category
        from interceptor._observe import ErrorEvent
        from interceptor._request import RequestInfo
        from interceptor.integrations.prometheus import prometheus_observer

        if sys.argv[1] == "write":
            observe = prometheus_observer()
            event = ErrorEvent(RuntimeError(), 500, Category.PERMANENT, True, "api", "x",
                               RequestInfo())
            observe(event)
            observe(event)
        else:
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
            print(registry.get_sample_value("interceptor_errors_total", {
                "category": "PERMANENT", "status": "500", "scope": "api", "slo": "true"}))
        """
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for _worker in range(2):  # two worker processes write, a third collects
        subprocess.run([sys.executable, "-c", script, "write"], env=env, check=True)
    collected = subprocess.run(
        [sys.executable, "-c", script, "read"], env=env, check=True, capture_output=True, text=True
    )
    assert float(collected.stdout) == 4.0


# -- OpenTelemetry ----------------------------------------------------------------------


async def test_otel_records_the_exception_and_marks_only_slo_errors() -> None:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = tracer_provider.get_tracer("test")
    reader = InMemoryMetricReader()
    errors = Interceptor(
        {RuntimeError: 500, KeyError: 404},
        name="api",
        observers=[otel_observer(MeterProvider(metric_readers=[reader]))],
    )
    async with client_for(app_with(errors)) as client:
        with tracer.start_as_current_span("server-5xx"):
            await client.get("/crash")
        with tracer.start_as_current_span("server-4xx"):
            await client.get("/missing")
    spans = {span.name: span for span in exporter.get_finished_spans()}
    five, four = spans["server-5xx"], spans["server-4xx"]
    assert five.status.status_code is StatusCode.ERROR
    assert five.attributes is not None
    assert five.attributes["error.type"] == "RuntimeError"
    assert [event.name for event in five.events] == ["exception"]
    assert four.status.status_code is StatusCode.UNSET
    assert four.attributes is not None
    assert four.attributes["error.type"] == "KeyError"
    assert [event.name for event in four.events] == ["exception"]

    data = reader.get_metrics_data()
    assert data is not None
    points = [
        point
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == "interceptor.errors"
        for point in metric.data.data_points  # type: ignore[union-attr]
    ]
    by_status = {point.attributes["http.response.status_code"]: point.value for point in points}  # type: ignore[index]
    assert by_status == {500: 1, 404: 1}


class MessageRead(RuntimeError):
    """An error whose message is long and whose ``__str__`` records the thread reading it.

    The stand-in for a ``__str__`` that takes seconds (a lazy message doing
    I/O): what matters is not how long it takes but whether the response path
    calls it at all.
    """

    readers: ClassVar[list[threading.Thread]] = []  # reset by each test

    def __str__(self) -> str:
        self.readers.append(threading.current_thread())
        return "x" * 2000


async def one_message_read(request: Request) -> Response:
    raise MessageRead


async def a_deep_chain(request: Request) -> Response:
    error: BaseException | None = None
    for _ in range(10_000):  # README: a 10,000-deep chain of causes does not delay the 5xx
        try:
            raise MessageRead from error
        except MessageRead as caught:
            error = caught
    assert error is not None
    raise error


@pytest.mark.parametrize("endpoint", [one_message_read, a_deep_chain])
async def test_otel_reads_no_message_and_formats_no_traceback_on_the_response_path(
    endpoint: Callable[[Request], Awaitable[Response]],
) -> None:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = tracer_provider.get_tracer("test")
    errors = Interceptor({RuntimeError: 500}, name="api", observers=[otel_observer()])
    app = Starlette(routes=[Route("/crash", endpoint)], middleware=mw(errors))
    MessageRead.readers.clear()
    async with client_for(app) as client:
        with tracer.start_as_current_span("server"):
            response = await client.get("/crash")
    # The response went out without its message read here; the delivery
    # worker reads it later, for the log line, in its own thread.
    assert threading.current_thread() not in MessageRead.readers
    assert errors.flush(5)
    assert response.status_code == 500
    [span] = exporter.get_finished_spans()
    [event] = span.events
    assert event.name == "exception"
    assert dict(event.attributes or {}) == {
        "exception.type": "tests.test_observe.MessageRead",
        "http.response.status_code": 500,
        "interceptor.category": "PERMANENT",
        "interceptor.error_id": response.json()["error_id"],
    }
    assert span.attributes is not None
    assert span.attributes["interceptor.error_id"] == response.json()["error_id"]
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "500 tests.test_observe.MessageRead"


def test_report_is_json_friendly() -> None:
    # Reporters often ship reports as JSON; every field but the exception encodes.
    report = Report(
        "id",
        RuntimeError("x"),
        "tb",
        500,
        Category.PERMANENT,
        "Internal Server Error",
        "GET",
        "/",
        "",
        None,
        (),
        None,
        "default",
    )
    fields = {name: getattr(report, name) for name in Report.__slots__ if name != "exception"}
    assert json.loads(json.dumps(fields))["category"] == "PERMANENT"


async def test_a_failing_background_task_is_reported_once_and_nothing_more_is_sent() -> None:
    reports: list[Report] = []

    class SendMailFailed(Exception):
        pass

    def send_mail() -> None:
        raise SendMailFailed("smtp down")

    async def signup(request: Request) -> Response:
        return JSONResponse({"ok": True}, background=BackgroundTask(send_mail))

    # The same exception passes two scopes on its way out, matched by the outer one.
    inner = Interceptor({KeyError: 404}, reporter=reports.append, name="inner")
    outer = Interceptor({Exception: 500}, reporter=reports.append, name="outer")
    app = Starlette(
        routes=[Mount("/api", routes=[Route("/signup", signup)], middleware=mw(inner))],
        middleware=mw(outer),
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get("/api/signup")
        await settle()
    assert (response.status_code, response.json()) == (200, {"ok": True})
    [report] = reports
    assert (report.scope, report.status, type(report.exception)) == ("outer", 500, SendMailFailed)


@pytest.mark.usefixtures("fast_switching")
def test_counters_lose_no_error_to_racing_threads_or_readers() -> None:
    counts = ErrorCounts()
    threads, per_thread = 6, 20_000
    keys = [(Category.NOT_FOUND, 404, "api", False), (Category.PERMANENT, 500, "api", True)]
    seen: list[Mapping[tuple[str, int, str, bool], int]] = []
    done = threading.Event()

    def add() -> None:
        for index in range(per_thread):
            counts.add(*keys[index % 2])

    def read() -> None:
        while not done.is_set():
            seen.append(counts.snapshot())

    reader = threading.Thread(target=read)
    reader.start()
    writers = [threading.Thread(target=add) for _ in range(threads)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    done.set()
    reader.join()

    expected = threads * per_thread // 2
    assert counts.snapshot() == {
        ("NOT_FOUND", 404, "api", False): expected,
        ("PERMANENT", 500, "api", True): expected,
    }
    assert len(seen) > 1
    for key in [("NOT_FOUND", 404, "api", False), ("PERMANENT", 500, "api", True)]:
        values = [snapshot.get(key, 0) for snapshot in seen]
        assert values == sorted(values)  # a reader never sees a count go back
        assert values[-1] <= expected


@pytest.mark.parametrize("root_path", ["", "/prefix"])
async def test_reports_carry_the_request_path_as_the_client_sent_it(root_path: str) -> None:
    # ASGI's path already holds the root_path (uvicorn's --root-path, a Mount's
    # prefix): the path reported is that path, with no prefix added twice.
    reports: list[Report] = []
    paths: list[str] = []
    errors = Interceptor(
        {RuntimeError: 500},
        reporter=reports.append,
        observers=[lambda event: paths.append(event.request.path)],
    )
    app = Starlette(routes=[Mount("/api", routes=[Route("/crash", crash)], middleware=mw(errors))])
    transport = httpx.ASGITransport(app=app, root_path=root_path)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get(f"{root_path}/api/crash", params={"q": "1"})
        await settle()
    assert response.status_code == 500
    assert paths == [f"{root_path}/api/crash"]
    [report] = reports
    assert (report.path, report.query_string) == (f"{root_path}/api/crash", "q=1")


# -- the request data is the request's as it came in --------------------------------


async def json_answer(request: Request, exc: Exception) -> Response:
    return JSONResponse(
        {"handled": type(exc).__name__}, status_code=404 if isinstance(exc, KeyError) else 500
    )


async def test_a_handlers_response_gives_observers_and_reports_the_request(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reports: list[Report] = []
    events: list[ErrorEvent] = []
    errors = Interceptor(
        {KeyError: json_answer, RuntimeError: json_answer},
        reporter=reports.append,
        observers=[events.append],
    )
    with caplog.at_level(logging.INFO, logger="interceptor"):
        async with client_for(app_with(errors)) as client:
            assert (await client.get("/missing?q=1")).status_code == 404
            assert (await client.get("/crash?q=2")).status_code == 500
            await settle()
    assert [(e.status, e.request.method, e.request.path) for e in events] == [
        (404, "GET", "/missing"),
        (500, "GET", "/crash"),
    ]
    [report] = reports
    assert (report.method, report.path, report.query_string) == ("GET", "/crash", "q=2")
    assert [r.status for r in caplog.records if r.name == "interceptor"] == [404, 500]  # type: ignore[attr-defined]


def test_request_data_from_a_scope_takes_the_method_and_path_it_is_given() -> None:
    scope = {
        "type": "http",
        "method": "PUT",
        "path": "/index.html",
        "query_string": b"token=secret&q=1",
        "headers": [],
    }
    kept = RequestInfo.from_scope(scope, method="GET", path="/missing")
    assert (kept.method, kept.path) == ("GET", "/missing")
    assert "secret" not in kept.query_string  # the rest still read from the scope, scrubbed
    assert kept.query_string.endswith("&q=1")
    read = RequestInfo.from_scope(scope)
    assert (read.method, read.path) == ("PUT", "/index.html")
    with pytest.raises(TypeError):
        RequestInfo.from_scope(scope, "GET", "/missing")  # type: ignore[misc]


@pytest.mark.parametrize("answer", ["response", "value", "sync response"])
async def test_what_a_handler_does_to_the_scope_is_not_what_the_report_says(
    caplog: pytest.LogCaptureFixture, answer: str
) -> None:
    # A fallback handler may rewrite the scope (an SPA's index page, say): the
    # log line, the event and the report still give the request as it came in.
    reports: list[Report] = []
    events: list[ErrorEvent] = []

    def answers(request: Request) -> object:
        request.scope["path"], request.scope["method"] = "/index.html", "PUT"
        if answer == "value":
            return {"page": "index"}, 500
        return PlainTextResponse("index", status_code=500)

    async def rewrites(request: Request, exc: Exception) -> object:
        return answers(request)

    def rewrites_in_a_thread(request: Request, exc: Exception) -> object:
        return answers(request)

    handler = rewrites_in_a_thread if answer.startswith("sync") else rewrites
    errors = Interceptor({KeyError: handler}, reporter=reports.append, observers=[events.append])
    with caplog.at_level(logging.INFO, logger="interceptor"):
        async with client_for(app_with(errors)) as client:
            assert (await client.get("/missing")).status_code == 500
            await settle()
        assert errors.flush(5)  # the worker emits the 5xx line
    assert [(e.request.method, e.request.path) for e in events] == [("GET", "/missing")]
    [report] = reports
    assert (report.method, report.path) == ("GET", "/missing")
    [record] = [r for r in caplog.records if r.name == "interceptor"]
    assert (record.method, record.path) == ("GET", "/missing")  # type: ignore[attr-defined]


def test_what_a_flask_handler_does_to_the_environ_is_not_what_the_report_says() -> None:
    from flask import Flask  # noqa: PLC0415 - only this test needs Flask
    from flask import request as flask_request  # noqa: PLC0415

    from interceptor.flask import init_app  # noqa: PLC0415

    events: list[ErrorEvent] = []

    def rewrites(request: object, exc: Exception) -> object:
        flask_request.environ["PATH_INFO"] = "/rewritten"
        return {"page": "index"}, 500

    app = Flask(__name__)
    init_app(app, Interceptor({KeyError: rewrites}, observers=[events.append]))

    @app.get("/orig")
    def view() -> str:
        raise KeyError("x")

    assert app.test_client().get("/orig").status_code == 500
    assert [(e.status, e.request.path) for e in events] == [(500, "/orig")]


class Throttled(ApiError):
    status = 429
    code = "THROTTLED"
    slo = True  # counts against the SLO: described, never counted alone


class Gone(ApiError):
    status = 410
    code = "GONE"


@pytest.mark.parametrize("raised", [KeyError("k"), Throttled(), Gone()], ids=type)
@pytest.mark.parametrize("status", [404, 503])
@pytest.mark.parametrize("level", [logging.WARNING, logging.INFO], ids=logging.getLevelName)
async def test_an_async_handler_answering_at_once_is_observed_as_a_sync_one(
    caplog: pytest.LogCaptureFixture, raised: Exception, status: int, level: int
) -> None:
    # An async handler that answers without waiting takes a straight path
    # (most of the time, a 4xx response nothing but the count notes); a sync
    # handler goes through the resolution's general path. What the request
    # gets, and what is counted, logged and reported, are the same.
    async def async_answer(request: Request, exc: Exception) -> Response:
        return JSONResponse({"answered": True}, status_code=status)

    def sync_answer(request: Request, exc: Exception) -> Response:
        return JSONResponse({"answered": True}, status_code=status)

    async def fails(request: Request) -> Response:
        raise raised

    seen = {}
    for handler in (async_answer, sync_answer):
        reports: list[Report] = []
        errors = Interceptor({type(raised): handler}, reporter=reports.append)
        app = Starlette(routes=[Route("/x", fails)], middleware=mw(errors))
        caplog.clear()
        with caplog.at_level(level, logger="interceptor"):
            async with client_for(app) as client:
                response = await client.get("/x")
                await settle()
            assert errors.flush(5)
        seen[handler] = (
            response.status_code,
            response.json(),
            "x-error-id" in response.headers,
            errors.counts.snapshot(),
            [(r.levelno, r.status) for r in caplog.records if r.name == "interceptor"],  # type: ignore[attr-defined]
            len(reports),
        )
    assert seen[async_answer] == seen[sync_answer]
    if (type(raised), status, level) == (KeyError, 404, logging.WARNING):  # the common case
        assert seen[async_answer][3] == {(Category.NOT_FOUND, 404, "default", False): 1}
        assert seen[async_answer][4:] == ([], 0)  # nothing logged, nothing reported
