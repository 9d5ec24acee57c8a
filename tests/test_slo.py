"""SLO accounting by category: who may say whether an error counts, and who honours it.

The default stays: every 5xx counts against the availability SLO, no 4xx
does. A `Problem(slo=...)`, an `ApiError` subclass's ``slo``, a registered
classifier's ``Classification(slo=...)`` and ``Interceptor(slo_categories=...)``
can say otherwise, most specific first; the counters, Prometheus and
OpenTelemetry count by it, while the reporter and the log level still go by
the status (a 5xx is a crash to report whatever the SLO says).
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import pickle
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from interceptor import (
    ApiError,
    Category,
    Classification,
    Interceptor,
    Problem,
    classified,
    classify,
    register_classifier,
)
from interceptor.integrations.otel import otel_observer
from interceptor.integrations.prometheus import prometheus_observer
from interceptor.starlette import InterceptorMiddleware


class PoolClosed(Exception):
    """A connection pool shut down on purpose: operational, not counted."""


class Maintenance(ApiError):
    status = 503
    code = "MAINTENANCE"
    slo = False


class Abuse(ApiError):
    status = 429
    code = "ABUSE"
    slo = True


async def raise_it(request: Request) -> Response:
    raise request.app.state.error


def app_with(errors: Interceptor | None) -> Starlette:
    middleware = [Middleware(InterceptorMiddleware, interceptor=errors)] if errors else []
    return Starlette(routes=[Route("/", raise_it)], middleware=middleware)


def client_for(app: Starlette) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def counted(errors: Interceptor, *raised: Exception) -> dict[tuple[str, int, str, bool], int]:
    app = app_with(errors)
    async with client_for(app) as client:
        for exc in raised:
            app.state.error = exc
            await client.get("/")
    errors.flush(5)
    return dict(errors.counts.snapshot())


@pytest.fixture
def pool_closed_not_counted(restore_classifiers: None) -> None:
    register_classifier(
        PoolClosed, Classification(Category.TEMPORARY, 503, slo=False, detail="Pool closed.")
    )


async def test_by_default_every_5xx_counts_and_no_4xx() -> None:
    errors = Interceptor({RuntimeError: 500, KeyError: 404, TimeoutError: classified})
    assert await counted(errors, RuntimeError(), KeyError("k"), TimeoutError()) == {
        ("PERMANENT", 500, "default", True): 1,
        ("NOT_FOUND", 404, "default", False): 1,
        ("TIMEOUT", 504, "default", True): 1,
    }


async def test_a_problem_says_whether_its_answers_count() -> None:
    errors = Interceptor(
        {
            RuntimeError: Problem(status=503, slo=False),  # planned: a registered value
            KeyError: Problem(status=429, slo=True),
            ValueError: lambda request, exc: Problem(status=502, slo=False),  # returned
        }
    )
    assert await counted(errors, RuntimeError(), KeyError("k"), ValueError()) == {
        ("TEMPORARY", 503, "default", False): 1,
        ("THROTTLED", 429, "default", True): 1,
        ("TEMPORARY", 502, "default", False): 1,
    }


async def test_an_api_error_subclass_says_whether_it_counts() -> None:
    errors = Interceptor({ApiError: Problem()})
    assert await counted(errors, Maintenance(), Abuse()) == {
        ("TEMPORARY", 503, "default", False): 1,
        ("THROTTLED", 429, "default", True): 1,
    }


@pytest.mark.usefixtures("pool_closed_not_counted")
async def test_a_registered_classifier_says_whether_it_counts() -> None:
    # Through `classified`, and through a plain 503 the classification agrees with.
    for errors in (Interceptor({PoolClosed: classified}), Interceptor({PoolClosed: 503})):
        assert await counted(errors, PoolClosed()) == {("TEMPORARY", 503, "default", False): 1}
    # A status the classification did not choose: its say does not carry over.
    assert await counted(Interceptor({PoolClosed: 500}), PoolClosed()) == {
        ("PERMANENT", 500, "default", True): 1
    }


async def test_slo_categories_decide_by_category_and_lose_to_a_more_specific_say() -> None:
    errors = Interceptor(
        {ConnectionError: classified, KeyError: 404, RuntimeError: Problem(status=502, slo=True)},
        slo_categories={Category.TEMPORARY: False, Category.NOT_FOUND: True},
    )
    assert await counted(errors, ConnectionError(), KeyError("k"), RuntimeError()) == {
        ("TEMPORARY", 502, "default", False): 1,  # the category's say
        ("NOT_FOUND", 404, "default", True): 1,
        ("TEMPORARY", 502, "default", True): 1,  # the Problem's say wins over the category's
    }


async def test_slo_categories_assigned_later_count_4xx_as_given_at_construction() -> None:
    later = Interceptor({KeyError: 404})
    assert await counted(later, KeyError("k")) == {("NOT_FOUND", 404, "default", False): 1}
    later.slo_categories = {Category.NOT_FOUND: True}
    assert await counted(later, KeyError("k")) == {
        ("NOT_FOUND", 404, "default", False): 1,
        ("NOT_FOUND", 404, "default", True): 1,  # as one given at construction counts it
    }
    with pytest.raises(TypeError, match="slo_categories"):
        later.slo_categories = {"NOT_FOUND": True}  # type: ignore[dict-item]
    assert later.slo_categories == {Category.NOT_FOUND: True}


async def test_reporting_and_log_levels_still_go_by_the_status(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reports = []
    errors = Interceptor({RuntimeError: Problem(status=503, slo=False)}, reporter=reports.append)
    with caplog.at_level(logging.INFO, logger="interceptor"):
        await counted(errors, RuntimeError("pool closed"))
    assert [report.status for report in reports] == [503]
    assert [record.levelno for record in caplog.records if "->" in record.getMessage()] == [
        logging.ERROR
    ]


async def test_prometheus_and_opentelemetry_honour_the_say() -> None:
    registry = CollectorRegistry()
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    errors = Interceptor(
        {RuntimeError: Problem(status=503, slo=False), KeyError: Problem(status=429, slo=True)},
        name="api",
        observers=[prometheus_observer(registry), otel_observer()],
    )
    app = app_with(errors)
    tracer = provider.get_tracer("test")
    async with client_for(app) as client:  # in this task, so the current span is ours
        for name, exc in (("not-counted-5xx", RuntimeError()), ("counted-4xx", KeyError("k"))):
            app.state.error = exc
            with tracer.start_as_current_span(name):
                await client.get("/")

    def value(category: str, status: str, slo: str) -> float | None:
        labels = {"category": category, "status": status, "scope": "api", "slo": slo}
        return registry.get_sample_value("interceptor_errors_total", labels)

    assert value("TEMPORARY", "503", "false") == 1
    assert value("TEMPORARY", "503", "true") is None
    assert value("THROTTLED", "429", "true") == 1
    spans = {span.name: span for span in exporter.get_finished_spans()}
    assert spans["not-counted-5xx"].status.status_code is StatusCode.UNSET
    assert spans["counted-4xx"].status.status_code is StatusCode.ERROR


async def test_with_and_without_an_interceptor_that_matches_nothing() -> None:
    # The SLO settings change counting only: an unmatched error passes as before.
    errors = Interceptor({ZeroDivisionError: 500}, slo_categories={Category.PERMANENT: False})
    for interceptor in (None, errors):
        app = app_with(interceptor)
        app.state.error = KeyError("k")
        async with client_for(app) as client:
            response = await client.get("/")
        assert (response.status_code, response.text) == (500, "Internal Server Error")
    assert errors.counts.snapshot() == {}


def test_bad_slo_settings_are_refused_by_name() -> None:
    with pytest.raises(TypeError, match="Problem slo"):
        Problem(status=503, slo="no")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Classification slo"):
        Classification(Category.TEMPORARY, slo=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"Odd\.slo"):

        class Odd(ApiError):
            slo = "yes"  # type: ignore[assignment]

    with pytest.raises(TypeError, match="slo_categories"):
        Interceptor(slo_categories={"TEMPORARY": False})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="slo_categories"):
        Interceptor(slo_categories={Category.TEMPORARY: "no"})  # type: ignore[dict-item]


def test_the_say_survives_a_retry_after_and_the_repr() -> None:
    found = Classification(Category.THROTTLED, slo=False).with_retry_after(3)
    assert (found.slo, found.counts_against_slo, found.retry_after) == (False, False, 3)
    assert Classification(Category.PERMANENT).counts_against_slo is None
    assert "slo=False" in repr(Problem(status=503, slo=False))
    assert Problem(status=503).slo is None


async def test_an_api_error_subclass_says_so_however_it_is_answered() -> None:
    def own_response(request: Request, exc: Exception) -> Response:
        return Response("down", status_code=503)

    def own_tuple(request: Request, exc: Exception) -> object:
        return {"down": True}, 429

    assert await counted(Interceptor({Maintenance: own_response}), Maintenance()) == {
        ("TEMPORARY", 503, "default", False): 1
    }
    assert await counted(Interceptor({Abuse: own_tuple}), Abuse()) == {
        ("THROTTLED", 429, "default", True): 1
    }
    assert (classify(Maintenance()).slo, classify(Abuse()).slo) == (False, True)


async def test_a_late_api_error_says_so_too() -> None:
    async def stream(request: Request) -> Response:
        async def chunks() -> AsyncIterator[bytes]:
            yield b"partial"
            raise Maintenance

        return StreamingResponse(chunks())

    errors = Interceptor({KeyError: 404})
    app = Starlette(
        routes=[Route("/", stream)],
        middleware=[Middleware(InterceptorMiddleware, interceptor=errors)],
    )
    async with client_for(app) as client:
        await client.get("/")
    assert errors.counts.snapshot() == {("PERMANENT", 500, "default", False): 1}


def test_slo_is_no_body_member_of_an_api_error_instance() -> None:
    with pytest.raises(ValueError, match="set it on the class"):
        Maintenance("down", slo=False)


def test_slo_categories_are_checked_as_copied() -> None:
    class Lying(dict):  # type: ignore[type-arg]
        def items(self) -> Any:
            return [(Category.PERMANENT, False)]

    with pytest.raises(TypeError, match="slo_categories"):
        Interceptor(slo_categories=Lying({Category.PERMANENT: "no", "junk": 1}))

    class Broken(Mapping[Category, bool]):
        def __getitem__(self, key: Category) -> bool:
            raise RuntimeError("broken")

        def __iter__(self) -> Iterator[Category]:
            return iter([Category.PERMANENT])

        def __len__(self) -> int:
            return 1

    with pytest.raises(TypeError, match=r"slo_categories.*reading it failed"):
        Interceptor(slo_categories=Broken())


def test_classifications_and_problems_copy_and_pickle_with_their_say() -> None:
    found = Classification(Category.TEMPORARY, 503, slo=False)
    assert dataclasses.replace(found, status=502).counts_against_slo is False
    assert Classification(**dataclasses.asdict(found)) == found
    with pytest.raises(ValueError, match="disagree"):
        Classification(Category.TEMPORARY, slo=True, counts_against_slo=False)
    problem = Problem(status=503, code="DOWN", headers={"X-A": "b"}, slo=False, region="eu")
    for copied in (pickle.loads(pickle.dumps(problem)), copy.deepcopy(problem)):  # noqa: S301
        assert copied == problem
        assert copied.slo is False
        assert dict(copied.extensions) == {"region": "eu"}
