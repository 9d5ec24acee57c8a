"""Handled errors leave nothing behind: no memory growth, no exception, traceback or frame.

A raw loop (no server, no client) calls the middleware directly many times,
cycling through every way an error ends: an ``int`` mapping, a ``Problem``
5xx (with its ``error_id`` and log line), an async handler, a sync handler (a
worker thread under ASGI), a declining handler followed by the unmatched
re-raise, and, under WSGI, a failure after the first body chunk. Then, after
``gc.collect()``: traced memory grew less than 1 MB, and no exception of the
marker classes, no traceback through the endpoint and no endpoint frame is
alive; weak references to sampled exceptions and to objects only an endpoint
frame held are dead.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sys
import time
import tracemalloc
import types
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

from interceptor import Interceptor, Problem
from interceptor._delivery import delivery
from interceptor.starlette import InterceptorMiddleware
from interceptor.wsgi import InterceptorMiddleware as WSGIInterceptor
from tests.conftest import http_scope, record_figure

ITERATIONS = 100_000  # the same in both forms: about half a minute under tracemalloc
WARMUP = 2_000
GROWTH_LIMIT = 1024 * 1024
SAMPLE_EVERY = 199  # weak references to a sample of exceptions and frame locals

pytestmark = pytest.mark.usefixtures("quiet_interceptor_log")


class Marker(Exception):
    """Every exception the loops raise is one of these."""


class MappedInt(Marker):
    pass


class Mapped5xx(Marker):
    pass


class AsyncHandled(Marker):
    pass


class SyncHandled(Marker):
    pass


class Declined(Marker):
    pass


class MidStream(Marker):
    pass


class FrameLocal:
    """Held only by a local variable of the endpoint's frame."""


KINDS: list[type[Marker]] = [MappedInt, Mapped5xx, AsyncHandled, Declined, MappedInt, Mapped5xx]


async def on_async(request: Any, exc: Exception) -> Problem:
    return Problem(status=409, code="ASYNC")


def on_sync(request: Any, exc: Exception) -> Problem:
    return Problem(status=422, code="SYNC")


def declines(request: Any, exc: Exception) -> None:
    return None


def errors() -> Interceptor:
    return Interceptor(
        {
            MappedInt: 404,
            Mapped5xx: Problem(status=503, code="DOWN"),
            AsyncHandled: on_async,
            SyncHandled: on_sync,
            Declined: declines,
            MidStream: 500,
        }
    )


class Probe:
    """Weak references to a sample of what each request made."""

    def __init__(self) -> None:
        self.refs: list[weakref.ref[Any]] = []
        self.count = 0

    def raise_(self, kind: type[Marker]) -> None:
        self.count += 1
        local = FrameLocal()
        exc = kind(f"request {self.count}")
        if self.count % SAMPLE_EVERY == 0:
            self.refs.append(weakref.ref(local))
            self.refs.append(weakref.ref(exc))
        raise exc

    def alive(self) -> int:
        return sum(1 for ref in self.refs if ref() is not None)


def _survivors(code: types.CodeType) -> dict[str, int]:
    markers = frames = tracebacks = 0
    for obj in gc.get_objects():
        if isinstance(obj, Marker):
            markers += 1
        elif isinstance(obj, types.FrameType) and obj.f_code is code:
            frames += 1
        elif isinstance(obj, types.TracebackType) and obj.tb_frame.f_code is code:
            tracebacks += 1
    return {"marker exceptions": markers, "endpoint frames": frames, "tracebacks": tracebacks}


def _measure(label: str, run: Callable[[int], None], probe: Probe, code: types.CodeType) -> None:
    run(WARMUP)
    gc.collect()
    sampled_before = len(probe.refs)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        run(ITERATIONS)
        assert delivery.flush(30)  # what the delivery worker holds until it is done
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    survivors = _survivors(code)
    # A worker thread that ran the last sync handler holds its arguments in its
    # frame until it exits, which anyio's threads do shortly after the loop
    # closes: retained means held for good, so wait for that, bounded.
    deadline = time.monotonic() + 10
    while any(survivors.values()) and time.monotonic() < deadline:
        time.sleep(0.05)
        gc.collect()
        survivors = _survivors(code)
    growth = after - before
    # The probe's own weak references are part of the growth: one list slot each.
    sampled = probe.refs[sampled_before:]
    own = sum(sys.getsizeof(ref) + 8 for ref in sampled)
    record_figure(
        f"{label}: {ITERATIONS + WARMUP} handled errors, traced memory {growth / 1024:+.1f} KiB "
        f"({(growth - own) / 1024:+.1f} KiB without the probe's {len(sampled)} weakrefs), "
        f"survivors {survivors}, sampled weakrefs alive {probe.alive()}/{len(probe.refs)}"
    )
    assert growth < GROWTH_LIMIT, f"traced memory grew {growth} bytes over {ITERATIONS} errors"
    assert survivors == {"marker exceptions": 0, "endpoint frames": 0, "tracebacks": 0}
    assert len(probe.refs) > 0
    assert probe.alive() == 0


def test_asgi_loop_retains_nothing() -> None:
    probe = Probe()

    async def endpoint(scope: dict[str, Any], receive: Any, send: Any) -> None:
        probe.raise_(scope["kind"])

    app = InterceptorMiddleware(endpoint, interceptor=errors())
    statuses: dict[int, int] = {}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses[message["status"]] = statuses.get(message["status"], 0) + 1

    async def loop(count: int) -> None:
        for index in range(count):
            # A sync handler costs a worker thread hop; one request in twenty.
            kind = SyncHandled if index % 20 == 0 else KINDS[index % len(KINDS)]
            scope = http_scope("/fail")
            scope["kind"] = kind
            # Declined is unmatched after the decline: re-raised to the server, as it should be.
            with contextlib.suppress(Declined):
                await app(scope, receive, send)

    def run(count: int) -> None:
        asyncio.run(loop(count))

    _measure("ASGI raw loop", run, probe, endpoint.__code__)
    assert set(statuses) == {404, 503, 409, 422}


def test_wsgi_loop_retains_nothing() -> None:
    probe = Probe()

    def chunks(kind: type[Marker]) -> Iterator[bytes]:
        yield b"first chunk"
        probe.raise_(kind)

    def endpoint(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        kind = environ["test.kind"]
        if kind is MidStream:
            start_response("200 OK", [("Content-Type", "text/plain")])
            return chunks(kind)
        probe.raise_(kind)
        return []  # pragma: no cover

    app = WSGIInterceptor(endpoint, interceptor=errors())
    statuses: dict[str, int] = {}
    environ_base = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/fail",
        "QUERY_STRING": "",
        "SERVER_NAME": "reliability",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": None,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }

    def start_response(status: str, headers: list[Any], exc_info: Any = None) -> Any:
        if exc_info is not None and statuses.get("started"):
            # PEP 3333: the headers went out, so the server re-raises.
            try:
                raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        statuses[status] = statuses.get(status, 0) + 1
        return lambda data: None

    wsgi_kinds = [MappedInt, Mapped5xx, SyncHandled, Declined, MidStream]

    def run(count: int) -> None:
        for index in range(count):
            environ = dict(environ_base)
            environ["test.kind"] = wsgi_kinds[index % len(wsgi_kinds)]
            statuses["started"] = 0
            try:
                body = app(environ, start_response)
                try:
                    for _chunk in body:
                        statuses["started"] = 1
                finally:
                    close = getattr(body, "close", None)
                    if close is not None:
                        close()
            except (Declined, MidStream):
                pass  # unmatched, or raised after the first chunk: the server's to handle

    _measure("WSGI raw loop", run, probe, endpoint.__code__)
    # The mid-stream failures raise in the generator, whose code is not the endpoint's.
    assert not _survivors(chunks.__code__)["endpoint frames"]
    answered = {"404 Not Found", "503 Service Unavailable", "422 Unprocessable Entity", "200 OK"}
    assert answered <= set(statuses)
