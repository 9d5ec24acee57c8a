"""`interceptor.integrations.sentry` with the real sentry_sdk and an in-memory transport.

Unit tests call the reporter directly, with no Sentry integration enabled.
The end-to-end tests enable Sentry's own logging, Starlette, FastAPI and Flask
integrations, which patch those frameworks for the whole process, so they run
in a subprocess: this file, run as ``python -m tests.test_sentry SCENARIO``.
Nothing goes to the network: the DSN's host is ``.invalid`` and the transport
keeps the envelopes.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import json
import logging
import pickle
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sentry_sdk
from fastapi import FastAPI
from flask import Flask
from flask import Response as FlaskResponse
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from interceptor import Category, Interceptor
from interceptor._observe import Report
from interceptor._status import new_error_id
from interceptor.integrations.sentry import SentryReporter
from interceptor.starlette import InterceptorMiddleware

ROOT = Path(__file__).resolve().parent.parent
DSN = "https://public@sentry.invalid/1"
# Every secret holds "zqx", which no event id or other hex value can.
SECRET_HEADERS = {
    "Authorization": "Bearer zqx-auth",
    "Cookie": "session=zqx-cookie",
    "Proxy-Authorization": "Basic zqx-proxy",
    "X-Api-Key": "zqx-key",
    "X-Csrf-Token": "zqx-csrf",
}
SECRET_QUERY = {"page": "2", "token": "zqx-query"}
LEAK_MARK = "zqx"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
POLL_SECONDS = 5.0


class MemoryTransport(Transport):
    """Keeps every envelope; the reporter sends from the delivery worker's thread."""

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self._lock = threading.Lock()
        self._envelopes: list[Envelope] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        with self._lock:
            self._envelopes.append(envelope)

    def envelopes(self) -> list[Envelope]:
        with self._lock:
            return list(self._envelopes)

    def events(self) -> list[dict[str, Any]]:
        return [event for e in self.envelopes() if (event := e.get_event()) is not None]

    def serialized(self) -> str:
        return "\n".join(e.serialize().decode() for e in self.envelopes())


def init_sentry(*integrations: Any, defaults: bool = False, **options: Any) -> MemoryTransport:
    transport = MemoryTransport()
    sentry_sdk.init(
        dsn=DSN,
        transport=transport,
        integrations=list(integrations),
        default_integrations=defaults,
        auto_enabling_integrations=False,
        **options,
    )
    return transport


def close_sentry() -> None:
    sentry_sdk.get_client().close()
    sentry_sdk.Scope.get_global_scope().set_client(None)


@pytest.fixture
def sentry() -> Iterator[MemoryTransport]:
    """Sentry initialised with no integration at all: nothing patched in this process."""
    transport = init_sentry()
    try:
        yield transport
    finally:
        close_sentry()


def raised(exc: BaseException) -> BaseException:
    """``exc`` with a live traceback, as the interceptor has it."""
    try:
        raise exc
    except BaseException as caught:
        return caught


def report_of(
    exc: BaseException,
    *,
    status: int = 500,
    fatal: bool = True,
    client: str | None = None,
    trace_id: str | None = None,
    error_id: str | None = None,
) -> Report:
    return Report(
        error_id=error_id or new_error_id(),
        exception=exc,
        traceback="".join(traceback.format_exception(exc)),
        status=status,
        category=Category.TEMPORARY if status == 503 else Category.PERMANENT,
        title="Internal Server Error",
        method="POST",
        path="/orders/7",
        query_string="page=2&token=[Filtered]",
        client=client,
        headers=(("host", "shop.test"), ("accept", "a/b"), ("accept", "c/d")),
        trace_id=trace_id,
        scope="api",
        fatal=fatal,
    )


def frames_of(event: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        frame
        for value in event["exception"]["values"]
        for frame in value.get("stacktrace", {}).get("frames", [])
    ]


# -- one report, one event -----------------------------------------------------------


def test_a_report_becomes_one_event_with_the_tags_and_the_request(
    sentry: MemoryTransport, caplog: pytest.LogCaptureFixture
) -> None:
    report = report_of(raised(RuntimeError("database is down")))
    with caplog.at_level(logging.DEBUG, logger="interceptor.integrations.sentry"):
        event_id = SentryReporter()(report)
    [event] = sentry.events()
    # The Sentry event id is the error_id: pasting it in Sentry's search finds it.
    assert event_id == event["event_id"] == report.error_id
    assert event["level"] == "error"
    assert event["tags"] == {
        "error_id": report.error_id,
        "interceptor.scope": "api",
        "http.status_code": "500",
        "interceptor.category": "PERMANENT",
    }
    assert event["request"] == {
        "method": "POST",
        "url": "/orders/7",
        "query_string": "page=2&token=[Filtered]",
        "headers": {"host": "shop.test", "accept": "a/b, c/d"},
    }
    [value] = event["exception"]["values"]
    assert (value["type"], value["value"]) == ("RuntimeError", "database is down")
    assert value["mechanism"] == {"type": "interceptor", "handled": False}
    assert frames_of(event)  # the live traceback's frames
    [record] = [r for r in caplog.records if r.name == "interceptor.integrations.sentry"]
    assert record.levelno == logging.DEBUG
    assert report.error_id in record.getMessage()
    assert record.sentry_event_id == event_id  # type: ignore[attr-defined]


def test_a_non_fatal_report_is_a_handled_warning(sentry: MemoryTransport) -> None:
    report = report_of(raised(ConnectionError("cache down")), status=503, fatal=False)
    SentryReporter()(report)
    [event] = sentry.events()
    assert event["level"] == "warning"
    assert event["exception"]["values"][0]["mechanism"] == {"type": "interceptor", "handled": True}
    assert event["tags"]["interceptor.category"] == "TEMPORARY"


def test_a_4xx_is_never_sent(sentry: MemoryTransport) -> None:
    assert SentryReporter()(report_of(raised(KeyError("user 42")), status=404)) is None
    assert sentry.envelopes() == []


def test_before_send_gets_the_report_in_its_hint() -> None:
    seen: list[object] = []

    def before_send(event: Any, hint: dict[str, Any]) -> Any:
        seen.append(hint.get("interceptor_report"))
        return event

    init_sentry(before_send=before_send)
    try:
        report = report_of(raised(RuntimeError("boom")))
        SentryReporter()(report)
    finally:
        close_sentry()
    assert seen == [report]


def test_without_sentry_initialised_nothing_is_sent() -> None:
    assert not sentry_sdk.get_client().is_active()
    assert SentryReporter()(report_of(raised(RuntimeError("boom")))) is None


def test_the_client_address_only_when_the_report_has_one_and_pii_is_on() -> None:
    sentry = init_sentry(data_collection={"user_info": True})
    try:
        check_client_addresses(sentry)
    finally:
        close_sentry()


def test_without_send_default_pii_no_client_address_goes_to_sentry(
    sentry: MemoryTransport,
) -> None:
    # Sentry's own integrations send the address only with send_default_pii;
    # report_client_address=True, asked for another reporter, sent it anyway.
    SentryReporter()(report_of(raised(RuntimeError("boom")), client="203.0.113.7:51234"))
    [event] = sentry.events()
    assert "env" not in event["request"]
    assert "203.0.113.7" not in sentry.serialized()


def check_client_addresses(sentry: MemoryTransport) -> None:
    reporter = SentryReporter()
    clients = {
        None: None,
        "203.0.113.7:51234": "203.0.113.7",
        "203.0.113.7": "203.0.113.7",
        "[2001:db8::1]:443": "2001:db8::1",
        "2001:db8::1": "2001:db8::1",
    }
    for client in clients:
        reporter(report_of(raised(RuntimeError("boom")), client=client))
    envs = [event["request"].get("env") for event in sentry.events()]
    assert envs == [None if ip is None else {"REMOTE_ADDR": ip} for ip in clients.values()]
    assert all("cookies" not in event["request"] for event in sentry.events())


def test_the_trace_id_becomes_the_events_trace(sentry: MemoryTransport) -> None:
    SentryReporter()(report_of(raised(RuntimeError("boom")), trace_id=TRACE_ID))
    [event] = sentry.events()
    trace = event["contexts"]["trace"]
    assert trace["trace_id"] == TRACE_ID
    assert len(trace["span_id"]) == 16


def test_the_delivering_threads_scope_never_reaches_the_event(sentry: MemoryTransport) -> None:
    # Sentry's threading integration starts a thread in its starter's scopes:
    # a delivery thread started during a request would carry that request's.
    sentry_sdk.Scope.get_global_scope().set_tag("deployment", "blue")
    try:
        with sentry_sdk.isolation_scope() as request_scope:
            request_scope.set_user({"id": "someone-else"})
            request_scope.set_tag("customer", "acme")
            request_scope.add_breadcrumb(message="an earlier request's crumb")
            request_scope.add_event_processor(
                lambda event, hint: {**event, "request": {"url": "/a-stale-request"}}
            )
            SentryReporter()(report_of(raised(RuntimeError("boom"))))
    finally:
        sentry_sdk.Scope.get_global_scope().remove_tag("deployment")
    [event] = sentry.events()
    assert event["request"]["url"] == "/orders/7"
    assert "user" not in event
    assert "customer" not in event["tags"]
    assert event["tags"]["deployment"] == "blue"  # the global scope applies
    assert not event.get("breadcrumbs", {}).get("values")


def test_reports_from_many_threads_each_send_one_event(sentry: MemoryTransport) -> None:
    reporter = SentryReporter()
    reports = [report_of(raised(RuntimeError(f"boom {n}"))) for n in range(40)]
    threads = [
        threading.Thread(target=lambda part=part: [reporter(r) for r in part])
        for part in (reports[n::8] for n in range(8))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = [event["event_id"] for event in sentry.events()]
    assert sorted(ids) == sorted(report.error_id for report in reports)


# -- frames and local variables -------------------------------------------------------


def fail_with_a_request_in_hand(authorization: str) -> None:
    # What the frames of a web request hold: the raw ASGI scope, credentials included.
    scope = {"type": "http", "headers": [(b"authorization", authorization.encode())]}
    raise RuntimeError(f"failed on {len(scope)} keys")


def failure_in_a_request() -> BaseException:
    # The secret comes from afar: the source lines around a frame are sent too.
    try:
        fail_with_a_request_in_hand(SECRET_HEADERS["Authorization"])
    except RuntimeError as exc:
        return exc
    raise AssertionError("unreachable")


@pytest.mark.parametrize("shape", ["plain", "chained", "group"])
def test_the_exception_messages_in_the_event_are_scrubbed_as_the_report_is(
    sentry: MemoryTransport, shape: str
) -> None:
    # A client library's error quotes the URL it called, credentials and all;
    # the report's traceback text is scrubbed, and so is the event built from it.
    url = "https://svc:hunter2@billing.internal/v1/charge?access_token=SECRETTOK&n=5"
    exc: BaseException = RuntimeError(f"connection refused: {url}")
    if shape == "chained":
        exc.__cause__ = OSError(f"while calling {url}")
    elif shape == "group":
        exc = ExceptionGroup(f"calls to {url}", [exc, ValueError(url)])
    SentryReporter()(report_of(raised(exc)))
    [event] = sentry.events()
    sent = sentry.serialized()
    assert "hunter2" not in sent
    assert "SECRETTOK" not in sent
    values = [value["value"] for value in event["exception"]["values"]]
    assert any("https://svc:[Filtered]@billing.internal/v1/charge?access_token=[Filtered]&n=5"
               in value for value in values)
    assert len(values) == {"plain": 1, "chained": 2, "group": 3}[shape]


def test_frames_are_sent_without_their_local_variables(sentry: MemoryTransport) -> None:
    SentryReporter()(report_of(failure_in_a_request()))
    [event] = sentry.events()
    frames = frames_of(event)
    assert [f["function"] for f in frames][-1] == "fail_with_a_request_in_hand"
    assert all("vars" not in frame for frame in frames)
    assert LEAK_MARK not in sentry.serialized()


def test_locals_left_out_are_never_read(sentry: MemoryTransport) -> None:
    # Sentry's SDK reprs every frame local when it builds the event; left out
    # afterwards, a slow or hanging __repr__ still held up (or timed out) each report.
    reads: list[str] = []

    class Loud:
        def __repr__(self) -> str:
            reads.append("repr")
            return "loud"

    def fail(holding: Loud) -> None:
        raise RuntimeError("failed holding a local")

    try:
        fail(Loud())
    except RuntimeError as exc:
        failure = exc
    SentryReporter()(report_of(failure))
    [event] = sentry.events()
    assert all("vars" not in frame for frame in frames_of(event))
    assert reads == []


def test_a_deep_chain_of_causes_is_sent_as_its_newest_links(sentry: MemoryTransport) -> None:
    # Sentry's SDK built every link: 10,000 causes made an event of megabytes
    # (more than Sentry takes) and seconds of the delivery worker's time.
    exc = raised(ValueError("root cause"))
    for level in range(10_000):
        try:
            raise RuntimeError(f"level {level}") from exc
        except RuntimeError as caught:
            exc = caught
    report = dataclasses.replace(report_of(RuntimeError("short")), exception=exc)
    assert SentryReporter()(report) == report.error_id
    [event] = sentry.events()
    values = event["exception"]["values"]
    assert len(values) == 16
    assert [v["value"] for v in values[-2:]] == ["level 9998", "level 9999"]
    assert values[-1]["mechanism"]["type"] == "interceptor"
    assert len(sentry.serialized()) < 200_000


def test_a_group_whose_members_have_deep_chains_is_still_sent(sentry: MemoryTransport) -> None:
    # Sentry's SDK builds a group by recursion: a member with 3,000 causes
    # raised RecursionError, and the report was lost.
    def deep() -> BaseException:
        exc = raised(ValueError("root cause"))
        for level in range(3_000):
            try:
                raise RuntimeError(f"level {level}") from exc
            except RuntimeError as caught:
                exc = caught
        return exc

    small = raised(ExceptionGroup("small", [raised(KeyError("a")), raised(OSError("b"))]))
    big = raised(ExceptionGroup("big", [deep(), deep()]))
    reporter = SentryReporter()
    for group in (small, big):
        report = dataclasses.replace(report_of(RuntimeError("x")), exception=group)
        assert reporter(report) == report.error_id
    small_event, big_event = sentry.events()
    # A small group keeps Sentry's own nesting of its members.
    assert len(small_event["exception"]["values"]) == 3
    assert small_event["exception"]["values"][-1]["mechanism"]["is_exception_group"]
    assert big_event["exception"]["values"][-1]["type"] == "ExceptionGroup"
    assert len(big_event["exception"]["values"]) <= 16


def test_local_variables_only_when_asked_and_then_raw(sentry: MemoryTransport) -> None:
    SentryReporter(include_local_variables=True)(report_of(failure_in_a_request()))
    [event] = sentry.events()
    assert "scope" in frames_of(event)[-1]["vars"]
    assert LEAK_MARK in sentry.serialized()  # why it is off by default


def test_a_cleared_traceback_is_taken_from_the_tb_argument(sentry: MemoryTransport) -> None:
    exc = raised(RuntimeError("answered"))
    tb = exc.__traceback__
    exc.__traceback__ = None  # as Starlette does once a handler answered
    reporter = SentryReporter()
    reporter(report_of(exc))
    reporter(report_of(exc), tb)
    without, with_tb = sentry.events()
    assert frames_of(without) == []
    assert without["extra"]["traceback"].startswith("RuntimeError: answered")
    assert frames_of(with_tb)
    assert "traceback" not in with_tb.get("extra", {})


def test_a_reported_exception_still_pickles(sentry: MemoryTransport) -> None:
    exc = raised(ValueError("sent"))
    SentryReporter()(report_of(exc))
    assert pickle.loads(pickle.dumps(exc)).args == ("sent",)  # noqa: S301 - our own bytes


# -- never twice ------------------------------------------------------------------------


def elsewhere(exc: BaseException) -> str | None:
    """Sentry capturing ``exc`` in another context, as its ASGI or WSGI middleware does."""
    return contextvars.Context().run(sentry_sdk.capture_exception, exc)


def test_sentrys_own_capture_of_a_raise_already_reported_is_dropped(
    sentry: MemoryTransport,
) -> None:
    exc = raised(RuntimeError("late"))
    event_id = SentryReporter()(report_of(exc))
    assert elsewhere(exc) is None
    [event] = sentry.events()
    assert event["event_id"] == event_id
    assert event["tags"]["error_id"] == event_id


def test_a_raise_sentry_already_has_is_not_sent_again(
    sentry: MemoryTransport, caplog: pytest.LogCaptureFixture
) -> None:
    exc = raised(RuntimeError("late"))
    sentrys = elsewhere(exc)
    report = report_of(exc)
    with caplog.at_level(logging.DEBUG, logger="interceptor.integrations.sentry"):
        assert SentryReporter()(report) == sentrys
    [event] = sentry.events()
    assert event["event_id"] == sentrys
    assert any(
        report.error_id in r.getMessage() and str(sentrys) in r.getMessage() for r in caplog.records
    )


def test_a_wrapped_raise_counts_as_the_same(sentry: MemoryTransport) -> None:
    # Starlette wraps a handled exception that comes after the response started.
    cause = raised(RuntimeError("streamed body failed"))
    try:
        raise RuntimeError("Caught handled exception, but response already started.") from cause
    except RuntimeError as wrapper:
        elsewhere(wrapper)
    SentryReporter()(report_of(cause))
    assert len(sentry.events()) == 1


def test_a_reused_exception_raised_again_is_a_new_report(sentry: MemoryTransport) -> None:
    shared = RuntimeError("a module-level instance")
    reporter = SentryReporter()
    elsewhere(raised(shared))
    shared.__traceback__ = None
    reporter(report_of(raised(shared)))
    assert len(sentry.events()) == 2


def test_sentrys_own_double_captures_are_left_to_sentry(sentry: MemoryTransport) -> None:
    SentryReporter()
    exc = raised(RuntimeError("not ours"))
    elsewhere(exc)
    elsewhere(exc)
    assert len(sentry.events()) == 2


def test_the_interceptors_own_error_records_never_become_events(
    sentry: MemoryTransport,
) -> None:
    SentryReporter()

    def record(name: str, **attrs: object) -> logging.LogRecord:
        made = logging.LogRecord(name, logging.ERROR, __file__, 1, "msg", (), None)
        made.__dict__.update(attrs)
        return made

    dropped = record("interceptor", error_id="e" * 32, status=500)
    kept = [
        record("interceptor", error_id="e" * 32),  # e.g. "reporter failed": no status
        record("interceptor.other", error_id="e" * 32, status=500),
        record("app", error_id="e" * 32, status=500),
    ]
    for log_record in [dropped, *kept]:
        sentry_sdk.capture_event({"message": log_record.name}, hint={"log_record": log_record})
    assert [event["message"] for event in sentry.events()] == [r.name for r in kept]


@pytest.mark.parametrize("adapter", ["starlette", "wsgi"])
async def test_an_interceptor_failure_line_never_takes_the_crashs_event(
    sentry: MemoryTransport, adapter: str
) -> None:
    # A failing observer's line has the crash as its failure's __context__;
    # sent by Sentry's logging handler before the report, it was taken for
    # the crash's event, and the report's (tags, id = error_id) was dropped.
    from sentry_sdk.integrations.logging import EventHandler  # noqa: PLC0415
    from werkzeug.test import Client  # noqa: PLC0415

    from interceptor.wsgi import InterceptorMiddleware as WSGIInterceptor  # noqa: PLC0415

    def observer(event: Any) -> None:
        raise OSError("metrics dir not writable")

    async def crash(request: Request) -> Response:
        raise RuntimeError("database is down")

    def wsgi_crash(environ: Any, start_response: Any) -> list[bytes]:
        raise RuntimeError("database is down")

    errors = Interceptor(
        {RuntimeError: 500}, name="api", reporter=SentryReporter(), observers=[observer]
    )
    handler = EventHandler(level=logging.ERROR)
    logging.getLogger("interceptor").addHandler(handler)
    try:
        if adapter == "starlette":
            app = Starlette(
                routes=[Route("/crash", crash)],
                middleware=[Middleware(InterceptorMiddleware, interceptor=errors)],
            )
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                error_id = (await client.get("/crash")).json()["error_id"]
        else:
            wsgi = WSGIInterceptor(wsgi_crash, interceptor=errors)
            error_id = Client(wsgi).get("/crash").get_json()["error_id"]
        assert await asyncio.to_thread(errors.flush, 10)
    finally:
        logging.getLogger("interceptor").removeHandler(handler)
    by_id = {event["event_id"]: event for event in sentry.events()}
    assert by_id[error_id]["tags"]["error_id"] == error_id
    [failure] = [event for event in by_id.values() if event["event_id"] != error_id]
    assert failure["exception"]["values"][-1]["type"] == "OSError"


# -- installing ---------------------------------------------------------------------------


def test_a_missing_or_old_sentry_sdk_fails_with_an_install_hint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sentry_sdk, "VERSION", "1.45.1")
    with pytest.raises(ImportError, match=r"2\.x, found 1\.45\.1.*interceptor\[sentry\]"):
        SentryReporter()
    monkeypatch.setitem(sys.modules, "sentry_sdk", None)
    with pytest.raises(ImportError, match=r"pip install 'exception-interceptor\[sentry\]'"):
        SentryReporter()


def test_importing_the_integration_imports_no_sentry_sdk() -> None:
    script = (
        "import sys\nimport interceptor.integrations.sentry\nprint('sentry_sdk' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert result.stdout.strip() == "False"


# -- end to end, with Sentry's own integrations (in a subprocess) ---------------------------


def scenario_output(name: str) -> str:
    """What the scenario ``name`` printed, run in a fresh interpreter; it must succeed."""
    result = subprocess.run(
        [sys.executable, "-W", "error", "-m", "tests.test_sentry", name],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout


def run_scenario(name: str) -> dict[str, Any]:
    return json.loads(scenario_output(name).strip().splitlines()[-1])  # type: ignore[no-any-return]


def assert_one_event_per_5xx(outcome: dict[str, Any], app: str) -> None:
    requests = outcome["apps"][app]
    events = outcome["events"]

    def about(text: str) -> list[dict[str, Any]]:
        return [e for e in events if any(text in line for line in e["exceptions"])]

    assert requests["statuses"] == {"crash": 500, "missing": 404}
    [crash] = about(f"{app}: database is down")
    assert crash["event_id"] == requests["crash_id"]
    assert crash["level"] == "error"
    assert crash["mechanism"] == "interceptor"
    assert crash["tags"] == {
        "error_id": requests["crash_id"],
        "interceptor.scope": app,
        "http.status_code": "500",
        "interceptor.category": "PERMANENT",
    }
    request = crash["request"]
    assert (request["method"], request["url"]) == ("GET", "/crash")
    assert "page=2" in request["query_string"]
    assert "cookies" not in request
    assert about(f"{app}: no such user") == []  # the 4xx
    assert len(about(f"{app}: stream broke")) == 1  # after the response started
    assert all(e["logger"] != "interceptor" for e in events)


def test_starlette_and_fastapi_with_sentrys_integrations_send_one_event_per_5xx() -> None:
    outcome = run_scenario("asgi")
    for app in ("starlette", "fastapi"):
        assert_one_event_per_5xx(outcome, app)
        status, error_id = outcome["apps"][app]["unavailable"]
        assert status == 503
        [event] = [e for e in outcome["events"] if f"{app}: upstream unavailable" in str(e)]
        assert (event["event_id"], event["mechanism"]) == (error_id, "interceptor")
    enabled = set(outcome["integrations"])
    assert enabled >= {"logging", "starlette", "fastapi", "dedupe", "threading"}
    for secret in [*SECRET_HEADERS.values(), SECRET_QUERY["token"], LEAK_MARK]:
        assert secret not in outcome["blob"]


def test_flask_with_sentrys_integrations_sends_one_event_per_5xx() -> None:
    outcome = run_scenario("flask")
    assert_one_event_per_5xx(outcome, "flask")
    enabled = set(outcome["integrations"])
    assert enabled >= {"logging", "flask", "dedupe", "threading"}
    for secret in [*SECRET_HEADERS.values(), SECRET_QUERY["token"], LEAK_MARK]:
        assert secret not in outcome["blob"]


def test_a_report_in_flight_at_exit_reaches_sentry_before_it_shuts_down() -> None:
    # Sentry's atexit callback, registered by its init after the interceptor
    # was imported, closes the transport; the interceptor's flush runs first.
    lines = scenario_output("exit").split()
    error_id = lines[0]
    assert lines[1:] == [f"sent:{error_id}"], lines


def test_events_from_the_delivery_threads_carry_no_earlier_requests_scope() -> None:
    # Sentry's threading integration gave the delivery threads the scope of
    # the request that started them: the user and tags of request "a" went
    # with the event about request "b"'s failed reporter.
    [event] = run_scenario("threads")["events"]
    assert "failed for error_id" in event["message"]
    assert (event["user"], event["tags"]) == (None, {})


# The scenarios, run in the subprocess. Each app answers /crash (a 5xx, asked
# with every secret), /missing (a 4xx) and /stream (fails after the response
# started), then /sentinel: once its event is in, every earlier one is (one
# delivery worker, first in first out; Sentry's own capture synchronously).


def summary(event: dict[str, Any]) -> dict[str, Any]:
    values = event.get("exception", {}).get("values", [])
    return {
        "event_id": event["event_id"],
        "level": event.get("level"),
        "logger": event.get("logger"),
        "tags": event.get("tags", {}),
        "request": event.get("request", {}),
        "mechanism": values[-1]["mechanism"]["type"] if values else None,
        "exceptions": [f"{v['type']}: {v.get('value')}" for v in values],
    }


def wait_for_event(transport: MemoryTransport, error_id: str) -> None:
    """Poll, for at most `POLL_SECONDS`, until the event tagged ``error_id`` is in."""
    deadline = time.monotonic() + POLL_SECONDS
    while time.monotonic() < deadline:
        if any(e.get("tags", {}).get("error_id") == error_id for e in transport.events()):
            return
        time.sleep(0.01)
    raise AssertionError(f"no Sentry event for error_id {error_id} in {POLL_SECONDS}s")


def outcome_of(transport: MemoryTransport, apps: dict[str, Any]) -> dict[str, Any]:
    return {
        "apps": apps,
        "events": [summary(event) for event in transport.events()],
        "blob": transport.serialized(),
        "integrations": sorted(sentry_sdk.get_client().integrations),
    }


def asgi_routes(app: str) -> list[Route]:
    async def crash(request: Request) -> Response:
        raise RuntimeError(f"{app}: database is down")

    async def missing(request: Request) -> Response:
        raise KeyError(f"{app}: no such user")

    async def stream(request: Request) -> Response:
        async def body() -> Any:
            yield b"partial"
            raise ValueError(f"{app}: stream broke")

        return StreamingResponse(body())

    async def unavailable(request: Request) -> Response:
        # Sentry's Starlette integration captures a 5xx HTTPException that
        # reaches Starlette's handlers; the interceptor answers it first.
        raise HTTPException(503, f"{app}: upstream unavailable")

    async def sentinel(request: Request) -> Response:
        raise RuntimeError(f"{app}: sentinel")

    return [
        Route("/crash", crash),
        Route("/missing", missing),
        Route("/stream", stream),
        Route("/unavailable", unavailable),
        Route("/sentinel", sentinel),
    ]


def asgi_scenario() -> dict[str, Any]:
    from sentry_sdk.integrations.fastapi import FastApiIntegration  # noqa: PLC0415
    from sentry_sdk.integrations.logging import LoggingIntegration  # noqa: PLC0415
    from sentry_sdk.integrations.starlette import StarletteIntegration  # noqa: PLC0415

    transport = init_sentry(
        LoggingIntegration(), StarletteIntegration(), FastApiIntegration(), defaults=True
    )

    def middleware(name: str) -> list[Middleware]:
        errors = Interceptor(
            {RuntimeError: 500, KeyError: 404, ValueError: 500, 503: 503},
            name=name,
            reporter=SentryReporter(),
        )
        return [Middleware(InterceptorMiddleware, interceptor=errors)]

    apps = {
        "starlette": Starlette(routes=asgi_routes("starlette"), middleware=middleware("starlette")),
        "fastapi": FastAPI(routes=asgi_routes("fastapi"), middleware=middleware("fastapi")),
    }

    async def run() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        sentinel_id = ""
        for name, app in apps.items():
            transport_ = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport_, base_url="http://testserver") as c:
                crash = await c.get("/crash", params=SECRET_QUERY, headers=SECRET_HEADERS)
                missing = await c.get("/missing", params=SECRET_QUERY, headers=SECRET_HEADERS)
                # ValueError is claimed, so Starlette wraps it once the body started.
                with pytest.raises(RuntimeError, match="response already started"):
                    await c.get("/stream")
                unavailable = await c.get("/unavailable")
                sentinel_id = (await c.get("/sentinel")).json()["error_id"]
            seen[name] = {
                "statuses": {"crash": crash.status_code, "missing": missing.status_code},
                "crash_id": crash.json()["error_id"],
                "unavailable": [unavailable.status_code, unavailable.json()["error_id"]],
            }
        # Polled in a thread: the loop stays free for whatever delivery needs it.
        await asyncio.to_thread(wait_for_event, transport, sentinel_id)
        return seen

    return outcome_of(transport, asyncio.run(run()))


def flask_scenario() -> dict[str, Any]:
    from sentry_sdk.integrations.flask import FlaskIntegration  # noqa: PLC0415
    from sentry_sdk.integrations.logging import LoggingIntegration  # noqa: PLC0415

    from interceptor.flask import init_app  # noqa: PLC0415
    from interceptor.wsgi import InterceptorMiddleware as WSGIInterceptor  # noqa: PLC0415

    transport = init_sentry(LoggingIntegration(), FlaskIntegration(), defaults=True)
    errors = Interceptor(
        {RuntimeError: 500, KeyError: 404, ValueError: 500}, name="flask", reporter=SentryReporter()
    )
    app = Flask(__name__)
    init_app(app, errors)
    # Flask answers in its view; what fails while the body streams reaches
    # the WSGI layer, where interceptor.wsgi and then Sentry see it.
    app.wsgi_app = WSGIInterceptor(app.wsgi_app, interceptor=errors)  # type: ignore[method-assign]

    @app.get("/crash")
    def crash() -> str:
        raise RuntimeError("flask: database is down")

    @app.get("/missing")
    def missing() -> str:
        raise KeyError("flask: no such user")

    @app.get("/stream")
    def stream() -> FlaskResponse:
        def body() -> Iterator[str]:
            yield "partial"
            raise ValueError("flask: stream broke")

        return FlaskResponse(body())

    @app.get("/sentinel")
    def sentinel() -> str:
        raise RuntimeError("flask: sentinel")

    client = app.test_client()
    crash_response = client.get("/crash", query_string=SECRET_QUERY, headers=SECRET_HEADERS)
    missing_response = client.get("/missing", query_string=SECRET_QUERY, headers=SECRET_HEADERS)
    streamed = client.get("/stream")
    with pytest.raises(ValueError, match="stream broke"):
        streamed.get_data()  # the test client iterates the body only now
    sentinel_id = client.get("/sentinel").get_json()["error_id"]
    wait_for_event(transport, sentinel_id)
    statuses = {"crash": crash_response.status_code, "missing": missing_response.status_code}
    seen = {"flask": {"statuses": statuses, "crash_id": crash_response.get_json()["error_id"]}}
    return outcome_of(transport, seen)


def threads_scenario() -> dict[str, Any]:
    from sentry_sdk.integrations.logging import LoggingIntegration  # noqa: PLC0415
    from sentry_sdk.integrations.threading import ThreadingIntegration  # noqa: PLC0415

    transport = init_sentry(LoggingIntegration(), ThreadingIntegration())

    def reporter(report: Report) -> None:
        if str(report.exception) == "b":
            raise ValueError("tracker down")

    errors = Interceptor(reporter=reporter)
    for name in ("a", "b"):  # "a" starts the delivery threads, within its scope
        with sentry_sdk.isolation_scope():
            sentry_sdk.set_user({"id": f"user-{name}"})
            sentry_sdk.set_tag("request", name)
            errors.report_error(RuntimeError(name))
        assert errors.flush(10)
    events = [
        {
            "message": event.get("logentry", {}).get("message", ""),
            "user": event.get("user"),
            "tags": event.get("tags", {}),
        }
        for event in transport.events()
    ]
    return {"events": events}


class PrintingTransport(Transport):
    """Prints each event's id as it is sent: the exit scenario's events come after its output."""

    def capture_envelope(self, envelope: Envelope) -> None:
        event = envelope.get_event()
        if event is not None:
            print(f"sent:{event['event_id']}", flush=True)  # noqa: T201 - the parent reads it


def exit_scenario() -> dict[str, Any]:
    from werkzeug.test import Client  # noqa: PLC0415

    from interceptor.wsgi import InterceptorMiddleware as WSGIInterceptor  # noqa: PLC0415

    sentry_sdk.init(dsn=DSN, transport=PrintingTransport(), auto_enabling_integrations=False)
    send = SentryReporter()

    def reporter(report: Report) -> object:
        time.sleep(0.2)  # still being delivered when the interpreter exits
        return send(report)

    errors = Interceptor({RuntimeError: 500}, reporter=reporter)

    def app(environ: Any, start_response: Any) -> list[bytes]:
        raise RuntimeError("exit: database is down")

    response = Client(WSGIInterceptor(app, interceptor=errors)).get("/crash")
    print(response.get_json()["error_id"], flush=True)  # noqa: T201 - the parent reads it
    sys.exit(0)


if __name__ == "__main__":
    scenarios = {
        "asgi": asgi_scenario,
        "flask": flask_scenario,
        "exit": exit_scenario,
        "threads": threads_scenario,
    }
    print(json.dumps(scenarios[sys.argv[1]]()))  # noqa: T201 - the parent test reads it
