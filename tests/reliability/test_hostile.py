"""Hostile input never breaks a response, hangs, or injects a header.

Through the raw ASGI middleware (called with scope, receive and send) and the
core, with hypothesis: exception messages that are huge, hold control
characters, lone surrogates or undecodable bytes; header names and values and
retry delays carrying CR/LF; extension members JSON cannot encode; handlers
returning every wrong type, raising, or (sync ones) returning coroutines.

Every case ends in either exactly one ``http.response.start`` with a body that
is valid UTF-8 JSON (a problem object's ``status`` member equal to the HTTP
status) and headers free of CR, LF and NUL, or, for what nothing matches, the
very exception object raised. ``call_asgi`` fails a test on a hang.
"""

from __future__ import annotations

import asyncio
import datetime
import decimal
import json
import math
import re
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.exceptions import HTTPException
from starlette.responses import PlainTextResponse

from interceptor import ApiError, Interceptor, Problem, RequestInfo, classified
from interceptor.starlette import InterceptorMiddleware
from tests.conftest import http_scope
from tests.reliability.conftest import call_asgi

pytestmark = pytest.mark.usefixtures("quiet_interceptor_log")

HYPOTHESIS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
LIMIT = 4096
CANARY = "CANARY-5xx-secret"
TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")


class Boom(Exception):
    """The exception the endpoints raise."""


class Unmatched(Exception):
    """No interceptor maps this."""


API_ERRORS = {
    status: type(f"Api{status}", (ApiError,), {"status": status, "code": f"API_{status}"})
    for status in (400, 404, 409, 422, 429, 500, 502, 503)
}

# -- strategies ---------------------------------------------------------------------------

_char = st.one_of(
    st.characters(),
    st.integers(0, 0x1F).map(chr),  # control characters, CR and LF among them
    st.integers(0xD800, 0xDFFF).map(chr),  # lone surrogates
    st.sampled_from(["\r\n", "\x00", "\x7f", "\u2028", "\ufeff", '"', "\\", "é"]),
)
messages = st.one_of(
    st.lists(_char, max_size=60).map("".join),
    # Bytes that are not UTF-8, as they arrive from a socket or a file.
    st.binary(max_size=60).map(lambda raw: raw.decode("utf-8", "surrogateescape")),
    st.sampled_from(
        [
            "",
            "\r\nSet-Cookie: stolen=1",
            "x\r\n\r\nHTTP/1.1 200 OK\r\n\r\n<html>",
            "\udcff\udcfe",
            "x" * 1_048_576,  # 1 MB
            "é" * (LIMIT + 1),
        ]
    ),
    st.integers(LIMIT - 2, LIMIT + 2).map(lambda n: "d" * n),
)
injected_values = st.one_of(
    st.lists(st.sampled_from(["a", "1", " ", ":", "\r", "\n", "\r\n", "\x00", "\t", "é"])).map(
        "".join
    ),
    st.sampled_from(["ok\r\nX-Injected: 1", "\r\n\r\n<html>", "v\nSet-Cookie: a=b", "v\x00"]),
)
header_names = st.one_of(
    st.sampled_from(["X-Custom", "Retry-After", "Set-Cookie", "Content-Type", "Allow"]),
    st.lists(st.sampled_from(["X", "-", "a", ":", " ", "\r", "\n", "\x00", "é"]), min_size=1).map(
        "".join
    ),
)


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no str for you")

    __repr__ = __str__


def _recursive() -> list[Any]:
    loop: list[Any] = [1]
    loop.append(loop)
    return loop


def _deep(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


unencodable = st.one_of(
    st.sampled_from(
        [
            object(),
            {1, 2},
            b"\xff\xfe",
            complex(1, 2),
            math.nan,
            math.inf,
            -math.inf,
            10**5000,
            decimal.Decimal("1.5"),
            datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
            Unprintable(),
            {(1, 2): "tuple key", None: "none key"},
            _deep(5000),
        ]
    ),
    st.builds(_recursive),
    messages.map(lambda text: {text: text}),
)

# -- checking a response ---------------------------------------------------------------------


def _valid_response(
    sent: list[dict[str, Any]], *, method: str = "GET", problem: bool = True
) -> tuple[int, dict[bytes, bytes], Any]:
    """Assert ``sent`` is one valid response; return (status, headers, JSON body or None)."""
    starts = [m for m in sent if m["type"] == "http.response.start"]
    assert len(starts) == 1, sent
    assert sent[0] is starts[0]
    status = starts[0]["status"]
    assert isinstance(status, int)
    assert 200 <= status <= 599, status
    headers: dict[bytes, bytes] = {}
    for name, value in starts[0]["headers"]:
        assert isinstance(name, bytes)
        assert isinstance(value, bytes)
        assert TOKEN.match(name), name
        assert not re.search(rb"[\r\n\x00]", value), (name, value)
        headers[name.lower()] = value
    bodies = sent[1:]
    assert bodies
    assert all(m["type"] == "http.response.body" for m in bodies)
    assert not bodies[-1].get("more_body", False)
    body = b"".join(m.get("body", b"") for m in bodies)
    if status in (204, 304):
        assert body == b""
        return status, headers, None
    if b"content-length" in headers:
        declared = int(headers[b"content-length"])
        assert declared == len(body) or (method == "HEAD" and body == b"")
    if method == "HEAD":
        assert body == b""
        return status, headers, None
    text = body.decode("utf-8")  # strict: valid UTF-8
    document = json.loads(text)
    if problem:
        assert headers[b"content-type"].startswith(b"application/problem+json")
        assert isinstance(document, dict)
        assert document["status"] == status
    return status, headers, document


def _raising(make: Callable[[], BaseException]) -> Callable[..., Any]:
    async def endpoint(scope: dict[str, Any], receive: Any, send: Any) -> None:
        raise make()

    return endpoint


def _run(app: Any, method: str = "GET") -> tuple[list[dict[str, Any]], BaseException | None]:
    return asyncio.run(call_asgi(app, "/hostile", method))


# -- messages ------------------------------------------------------------------------------------


@HYPOTHESIS
@given(
    message=messages,
    status=st.sampled_from(sorted(API_ERRORS)),
    kind=st.sampled_from(["plain", "api", "starlette"]),
    debug=st.booleans(),
    method=st.sampled_from(["GET", "HEAD"]),
)
def test_hostile_messages_give_valid_bodies(
    message: str, status: int, kind: str, debug: bool, method: str
) -> None:
    text = message if status < 500 else CANARY + message
    if kind == "plain":
        errors = Interceptor({Boom: status}, debug=debug)
        make: Callable[[], BaseException] = lambda: Boom(text)  # noqa: E731
    elif kind == "api":
        errors = Interceptor(debug=debug)
        make = lambda: API_ERRORS[status](text)  # noqa: E731
    else:
        errors = Interceptor({HTTPException: Problem()}, debug=debug)
        make = lambda: HTTPException(status, detail=text)  # noqa: E731
    sent, raised = _run(InterceptorMiddleware(_raising(make), interceptor=errors), method)
    assert raised is None
    got, _, document = _valid_response(sent, method=method)
    assert got == status
    if method == "HEAD":
        return
    if status >= 500 and not debug:
        assert "detail" not in document
        assert CANARY not in json.dumps(document)
        assert document["error_id"]
    elif not text:
        assert "detail" not in document
    elif len(text) > LIMIT:
        assert document["detail_truncated"] is True
        assert document["detail"].startswith(_as_json_reads(text[:LIMIT]))
        assert len(document["detail"]) <= LIMIT + 1
    else:
        assert document["detail"] == _as_json_reads(text)
        assert "detail_truncated" not in document


def _as_json_reads(text: str) -> str:
    """``text`` as a JSON reader gets it back: a high and a low surrogate make one pair."""
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


@HYPOTHESIS
@given(raw=st.binary(max_size=200), status=st.sampled_from([400, 500]))
def test_bytes_messages_give_valid_bodies(raw: bytes, status: int) -> None:
    errors = Interceptor({Boom: status}, debug=True)
    sent, raised = _run(InterceptorMiddleware(_raising(lambda: Boom(raw)), interceptor=errors))
    assert raised is None
    _valid_response(sent)


@pytest.mark.parametrize("limit", [1, 10, LIMIT])
def test_a_detail_over_the_limit_is_truncated_and_marked(limit: int) -> None:
    message = "m" * 1_048_576
    errors = (
        Interceptor({Boom: 400}, detail_limit=limit) if limit != LIMIT else Interceptor({Boom: 400})
    )
    sent, raised = _run(InterceptorMiddleware(_raising(lambda: Boom(message)), interceptor=errors))
    assert raised is None
    _, _, document = _valid_response(sent)
    assert document["detail_truncated"] is True
    assert document["detail"].rstrip("…") == "m" * limit
    assert len(json.dumps(document)) < limit + 500


# -- header injection ------------------------------------------------------------------------------


@HYPOTHESIS
@given(
    name=header_names,
    value=injected_values,
    route=st.sampled_from(
        ["api", "problem", "handler-problem", "tuple-dict", "tuple-list", "starlette"]
    ),
    method=st.sampled_from(["GET", "HEAD"]),
)
def test_no_header_is_ever_injected(name: str, value: str, route: str, method: str) -> None:
    headers = {name: value}

    async def on_boom(request: Any, exc: Exception) -> Any:
        if route == "handler-problem":
            return Problem(status=429, headers=headers)
        if route == "tuple-dict":
            return {"error": value}, 400, headers
        return {"error": value}, 400, [(name, value), (value, name)]

    if route == "api":
        make: Callable[[], BaseException] = lambda: API_ERRORS[429](value, headers=headers)  # noqa: E731
        errors = Interceptor()
    elif route == "problem":
        make = lambda: Boom(value)  # noqa: E731
        errors = Interceptor({Boom: Problem(status=503, headers=headers, retry_after=5)})
    elif route == "starlette":
        make = lambda: HTTPException(405, detail=value, headers=headers)  # noqa: E731
        errors = Interceptor({405: 405})
    else:
        make = lambda: Boom(value)  # noqa: E731
        errors = Interceptor({Boom: on_boom})
    sent, raised = _run(InterceptorMiddleware(_raising(make), interceptor=errors), method)
    assert raised is None
    _valid_response(sent, method=method, problem=not route.startswith("tuple"))


class Throttled(Exception):
    temporary = True

    def __init__(self, retry_after: object) -> None:
        super().__init__("slow down")
        self.retry_after = retry_after


retry_values = st.one_of(
    injected_values,
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**6), 10**6),
    st.sampled_from([True, None, b"5\r\nX-Injected: 1", datetime.timedelta(seconds=3)]),
)


@HYPOTHESIS
@given(retry_after=retry_values)
def test_a_retry_delay_never_injects_a_header(retry_after: object) -> None:
    errors = Interceptor({Throttled: classified})
    make = lambda: Throttled(retry_after)  # noqa: E731
    sent, raised = _run(InterceptorMiddleware(_raising(make), interceptor=errors))
    assert raised is None
    _, headers, _ = _valid_response(sent)
    assert headers.get(b"retry-after", b"0").isdigit()


@HYPOTHESIS
@given(value=injected_values)
def test_an_upstream_retry_after_never_injects_a_header(value: str) -> None:
    request = httpx.Request("GET", "http://upstream.invalid/")
    try:
        response = httpx.Response(429, headers={"Retry-After": value}, request=request)
    except Exception:  # httpx itself may refuse the value; nothing to send then
        return
    make = lambda: httpx.HTTPStatusError("429", request=request, response=response)  # noqa: E731
    errors = Interceptor({httpx.HTTPError: classified})
    sent, raised = _run(InterceptorMiddleware(_raising(make), interceptor=errors))
    assert raised is None
    status, headers, _ = _valid_response(sent)
    assert status == 429
    assert headers.get(b"retry-after", b"0").isdigit()


def test_a_retry_delay_beyond_float_range_still_answers() -> None:
    errors = Interceptor({Throttled: classified})
    sent, raised = _run(
        InterceptorMiddleware(_raising(lambda: Throttled(10**400)), interceptor=errors)
    )
    assert raised is None
    status, headers, _ = _valid_response(sent)
    assert status == 503
    assert headers[b"retry-after"] == b"86400"  # as long a delay as any: the cap


# -- extension members JSON cannot encode ------------------------------------------------------


@HYPOTHESIS
@given(
    value=unencodable,
    where=st.sampled_from(["problem", "handler", "api", "tuple"]),
    status=st.sampled_from([404, 500]),
)
def test_unencodable_extensions_still_give_json(value: object, where: str, status: int) -> None:
    async def handler(request: Any, exc: Exception) -> Any:
        if where == "tuple":
            return {"value": value, "nested": [value, {"v": value}]}, status
        return Problem(status=status, member=value, nested=[value])

    if where == "problem":
        errors = Interceptor({Boom: Problem(status=status, member=value, nested=[value])})
        make: Callable[[], BaseException] = lambda: Boom("x")  # noqa: E731
    elif where == "api":
        errors = Interceptor()
        make = lambda: API_ERRORS[status if status == 404 else 500]("x", member=value)  # noqa: E731
    else:
        errors = Interceptor({Boom: handler})
        make = lambda: Boom("x")  # noqa: E731
    sent, raised = _run(InterceptorMiddleware(_raising(make), interceptor=errors))
    assert raised is None
    got, _, _ = _valid_response(sent, problem=where != "tuple")
    assert got == status


@HYPOTHESIS
@given(value=unencodable, message=messages)
def test_the_core_renders_anything_to_json(value: object, message: str) -> None:
    errors = Interceptor({Boom: 400})
    for result in (Problem(status=422, member=value), ({"v": value}, 409), 400):
        outcome = errors.outcome(result, Boom(message), RequestInfo(path=message))
        assert outcome is not None
        json.loads(outcome.body.decode("utf-8"))
        for name, header in outcome.headers:
            assert TOKEN.match(name.encode("latin-1"))
            assert not re.search(r"[\r\n\x00]", header)


# -- handlers that misbehave ----------------------------------------------------------------------

WRONG_RESULTS: list[Any] = [
    object(),
    "404",
    b"404",
    200,
    302,
    600,
    True,
    1.5,
    [],
    {},
    (1,),
    ({}, 404, {}, "extra"),
    ({}, "404"),
    ({}, 99),
    ({}, 600),
    ({}, True),
    Problem,
    PlainTextResponse,  # the class, not a response
    Ellipsis,
    NotImplemented,
    iter([1, 2]),
]


STYLES = ["async", "sync", "sync-returning-coroutine"]


def _handler(style: str, answer: Callable[[], Any]) -> Callable[[Any, Exception], Any]:
    """A handler in ``style`` whose result is ``answer()`` (which may raise)."""

    async def run_async() -> Any:
        return answer()

    if style == "async":

        async def async_handler(request: Any, exc: Exception) -> Any:
            return answer()

        return async_handler
    if style == "sync":
        return lambda request, exc: answer()
    return lambda request, exc: run_async()  # a coroutine from a sync handler


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("result", WRONG_RESULTS, ids=lambda value: type(value).__name__)
def test_a_handler_returning_a_wrong_type_gives_a_plain_500(result: Any, style: str) -> None:
    handler = _handler(style, lambda: result)
    errors = Interceptor({Boom: handler})
    sent, raised = _run(InterceptorMiddleware(_raising(lambda: Boom("x")), interceptor=errors))
    assert raised is None
    status, _, document = _valid_response(sent)
    assert status == 500
    assert document["error_id"]


@pytest.mark.parametrize("style", STYLES)
def test_a_sync_or_async_handler_answer_is_sent(style: str) -> None:
    answer = Problem(status=409, code="CONFLICT_ANSWER")
    handler = _handler(style, lambda: answer)
    errors = Interceptor({Boom: handler})
    sent, raised = _run(InterceptorMiddleware(_raising(lambda: Boom("x")), interceptor=errors))
    assert raised is None
    status, _, document = _valid_response(sent)
    assert (status, document["code"]) == (409, "CONFLICT_ANSWER")


def _answered_with_tuple(status: int) -> list[dict[str, Any]]:
    """What is sent when a handler answers ``({"error": "x"}, status)``."""

    async def handler(request: Any, exc: Exception) -> Any:
        return {"error": "x"}, status

    errors = Interceptor({Boom: handler})
    sent, raised = _run(InterceptorMiddleware(_raising(lambda: Boom("x")), interceptor=errors))
    assert raised is None
    return sent


@pytest.mark.parametrize("status", [204, 304])
def test_a_tuple_with_a_bodiless_status_is_sent_without_a_body(status: int) -> None:
    got, headers, _ = _valid_response(_answered_with_tuple(status), problem=False)
    assert got == status
    assert b"content-length" not in headers
    assert b"content-type" not in headers


@pytest.mark.parametrize("status", [100, 103, 199])
def test_a_tuple_with_an_informational_status_is_a_wrong_answer(status: int) -> None:
    got, _, document = _valid_response(_answered_with_tuple(status))
    assert (got, document["status"]) == (500, 500)  # the log line: tests/test_render.py


@pytest.mark.parametrize("style", STYLES)
def test_a_handler_that_raises_sends_its_exception_on_chained(style: str) -> None:
    original = Boom("original")
    second = LookupError("from the handler")

    def raise_second() -> Any:
        raise second

    handler = _handler(style, raise_second)
    errors = Interceptor({Boom: handler})
    sent, raised = _run(InterceptorMiddleware(_raising(lambda: original), interceptor=errors))
    assert raised is second
    assert second.__context__ is original
    assert sent == []


@HYPOTHESIS
@given(message=messages, started=st.booleans())
def test_an_unmatched_exception_is_the_same_object(message: str, started: bool) -> None:
    exc = Unmatched(message)

    async def endpoint(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if started:
            await send({"type": "http.response.start", "status": 200, "headers": []})
        raise exc

    sent, raised = _run(InterceptorMiddleware(endpoint, interceptor=Interceptor({Boom: 400})))
    assert raised is exc
    assert endpoint.__code__ in _traceback_codes(raised)  # the traceback reaches the raise
    assert [m["type"] for m in sent] == (["http.response.start"] if started else [])
    if started:
        # Once the response started, even a matched exception is re-raised unchanged.
        catch_all = Interceptor({Exception: Problem(status=500)}, debug=True)
        sent, raised = _run(InterceptorMiddleware(endpoint, interceptor=catch_all))
        assert raised is exc
        assert len(sent) == 1


def _traceback_codes(exc: BaseException) -> list[Any]:
    codes = []
    tb = exc.__traceback__
    while tb is not None:
        codes.append(tb.tb_frame.f_code)
        tb = tb.tb_next
    return codes


# -- handlers that never answer ------------------------------------------------------------


@pytest.mark.parametrize("style", STYLES)
def test_a_handler_that_hangs_past_the_timeout_gives_a_500(style: str) -> None:
    release = threading.Event()

    async def hang_async() -> Any:
        await asyncio.sleep(60)

    def hang() -> Any:
        if style == "sync":
            release.wait(60)  # a blocked worker thread, released when the test ends
            return Problem(status=409)
        return hang_async()  # awaited by the async styles

    if style == "async":

        async def handler(request: Any, exc: Exception) -> Any:
            return await hang_async()

    else:
        handler = _handler(style, hang)
    errors = Interceptor({Boom: handler}, handler_timeout=0.2)
    try:
        sent, raised = _run(InterceptorMiddleware(_raising(lambda: Boom("x")), interceptor=errors))
    finally:
        release.set()
    assert raised is None
    status, _, document = _valid_response(sent)
    assert (status, document["status"]) == (500, 500)
    assert document["error_id"]


# -- a scope a broken server built -----------------------------------------------------------


@pytest.mark.parametrize(
    "broken",
    [
        {"headers": [("x-text", "str, not bytes"), (b"x-ok", b"1")]},
        {"headers": [(b"x-ok", b"1"), b"not a pair", (b"a", b"b", b"c"), None]},
        {"headers": None},
        {"client": ["only-a-host"]},
        {"client": 12345},
        {"query_string": None},
        {"query_string": 12},
    ],
)
def test_a_malformed_scope_still_gets_the_mapped_answer_logged_and_reported(
    broken: dict[str, Any],
) -> None:
    reports: list[Any] = []
    seen: list[RequestInfo] = []
    errors = Interceptor(
        {Boom: 503}, reporter=reports.append, observers=[lambda event: seen.append(event.request)]
    )
    app = InterceptorMiddleware(_raising(lambda: Boom("down")), interceptor=errors)
    scope = {**http_scope("/hostile"), **broken}
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def call() -> None:
        await app(scope, receive, send)
        for _ in range(50):  # the report goes out off the response path
            if reports:
                break
            await asyncio.sleep(0.01)

    asyncio.run(call())  # the log line is made too (and dropped by quiet_interceptor_log)

    status, _, body = _valid_response(sent)
    assert status == 503
    [request] = seen
    assert request.path == "/hostile"
    assert isinstance(request.query_string, str)
    assert request.client is None or isinstance(request.client, str)
    assert all(isinstance(name, str) and isinstance(value, str) for name, value in request.headers)
    if broken.get("headers"):
        assert ("x-ok", "1") in request.headers
    [report] = reports
    assert report.error_id == body["error_id"]
    assert report.headers == request.headers
