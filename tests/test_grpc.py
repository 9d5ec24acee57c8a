"""The gRPC and google-api-core rules, with a real grpc server on 127.0.0.1."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest
import requests
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status
from hypothesis import given, settings
from hypothesis import strategies as st

with warnings.catch_warnings():
    # Some google-api-core releases warn at import that Python 3.11's support ends
    # in 2027: not this suite's concern, and the warning filter makes it an error.
    warnings.filterwarnings("ignore", "You are using a Python version", FutureWarning)
    from google.api_core import exceptions as gexc
    from google.api_core import retry as gretry

from interceptor import classified
from interceptor._classify import Category, Classification, classify

T, TH, TE, P = Category.TIMEOUT, Category.THROTTLED, Category.TEMPORARY, Category.PERMANENT
REJECTED = "The upstream service rejected our request."
REFUSED = "The upstream service refused our credentials."
METHOD = "/test.Echo/Fail"
DETAILS_KEY = "grpc-status-details-bin"
GARBAGE = b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x1a\x05not a status"
RETRY_INFO_TYPE = "type.googleapis.com/google.rpc.RetryInfo"


def status_details(code: grpc.StatusCode, message: str, *details: Message) -> bytes:
    """A serialized ``google.rpc.Status``: what ``grpc-status-details-bin`` carries."""
    status = status_pb2.Status(code=code.value[0], message=message)
    for detail in details:
        status.details.add().Pack(detail)
    return status.SerializeToString()


def retry_info(seconds: int, nanos: int = 0) -> error_details_pb2.RetryInfo:
    info = error_details_pb2.RetryInfo()
    info.retry_delay.seconds = seconds
    info.retry_delay.nanos = nanos
    return info


def _fail(request: bytes, context: grpc.ServicerContext) -> bytes:
    """Aborts with the status code named in the request; "SLOW" sleeps past any deadline.

    ``CODE:retry:SECONDS:NANOS`` attaches a RetryInfo of that delay (as servers
    do, with grpcio-status), ``CODE:garbage`` garbage status-details bytes.
    """
    name, _, extra = request.decode().partition(":")
    if name == "SLOW":
        import time  # noqa: PLC0415

        time.sleep(1)
        return b""
    code = grpc.StatusCode[name]
    message = f"secret-internal-host failed with {name}"
    if extra.startswith("retry:"):
        seconds, nanos = (int(part) for part in extra.split(":")[1:])
        status = status_pb2.Status.FromString(
            status_details(code, message, retry_info(seconds, nanos))
        )
        context.abort_with_status(rpc_status.to_status(status))
    if extra == "garbage":
        context.set_trailing_metadata(((DETAILS_KEY, GARBAGE),))
    context.abort(code, message)
    return b""  # pragma: no cover - abort raises


@pytest.fixture(scope="module")
def target() -> Iterator[str]:
    """A real grpc server on 127.0.0.1 answering METHOD with `_fail`; its address."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    handler = grpc.method_handlers_generic_handler(
        "test.Echo", {"Fail": grpc.unary_unary_rpc_method_handler(_fail)}
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop(grace=None).wait(5)


@pytest.fixture(scope="module")
def channel(target: str) -> Iterator[grpc.Channel]:
    chan = grpc.insecure_channel(target)
    yield chan
    chan.close()


def call(channel: grpc.Channel, name: str, timeout: float = 5) -> grpc.RpcError:
    stub = channel.unary_unary(METHOD)
    with pytest.raises(grpc.RpcError) as info:
        stub(name.encode(), timeout=timeout)
    return info.value


@pytest.mark.server
@pytest.mark.parametrize(
    ("code", "category", "status", "retryable"),
    [
        ("DEADLINE_EXCEEDED", T, 504, True),
        ("RESOURCE_EXHAUSTED", TH, 429, True),
        ("UNAVAILABLE", TE, 502, True),
        ("ABORTED", TE, 502, True),
        ("INTERNAL", TE, 502, True),
        ("UNAUTHENTICATED", P, 502, False),
        ("PERMISSION_DENIED", P, 502, False),
        ("INVALID_ARGUMENT", P, 502, False),
        ("NOT_FOUND", P, 502, False),
        ("ALREADY_EXISTS", P, 502, False),
        ("FAILED_PRECONDITION", P, 502, False),
        ("OUT_OF_RANGE", P, 502, False),
        ("UNIMPLEMENTED", P, 502, False),
        ("CANCELLED", P, 502, False),
        ("UNKNOWN", P, 502, False),
        ("DATA_LOSS", P, 502, False),
    ],
)
def test_real_grpc_status_codes(
    channel: grpc.Channel, code: str, category: Category, status: int, retryable: bool
) -> None:
    exc = call(channel, code)
    assert exc.code() is grpc.StatusCode[code]  # type: ignore[attr-defined]
    found = classify(exc)
    assert (found.category, found.status, found.retryable) == (category, status, retryable)
    assert "secret-internal-host" not in repr(classified.problem(exc))
    # google-api-core's own conversion of the same error gets the same answer.
    converted = gexc.from_grpc_error(exc)
    assert classify(converted) == found


@pytest.mark.server
def test_real_deadline_and_unreachable(channel: grpc.Channel) -> None:
    exc = call(channel, "SLOW", timeout=0.1)
    assert classify(exc) == Classification(T, detail="The upstream service timed out.")
    with grpc.insecure_channel("127.0.0.1:1") as nowhere, pytest.raises(grpc.RpcError) as info:
        nowhere.unary_unary(METHOD)(b"x", timeout=2)
    assert classify(info.value).category is TE


@pytest.mark.parametrize(
    ("exc", "category", "status", "detail"),
    [
        (
            gexc.TooManyRequests("x"),
            TH,
            429,
            "The upstream service answered 429 Too Many Requests.",
        ),
        (gexc.ServiceUnavailable("x"), TE, 502, "The upstream service is unavailable."),
        (gexc.BadGateway("x"), TE, 502, "The upstream service is unavailable."),
        (gexc.InternalServerError("x"), TE, 502, "The upstream service is unavailable."),
        (gexc.Forbidden("x"), P, 502, REFUSED),
        (gexc.NotFound("x"), P, 502, REJECTED),
        (gexc.Conflict("x"), P, 502, REJECTED),
        (gexc.BadRequest("x"), P, 502, REJECTED),
    ],
    ids=repr,
)
def test_google_api_core_http_errors(
    exc: Exception, category: Category, status: int, detail: str
) -> None:
    found = classify(exc)
    assert (found.category, found.status, found.detail) == (category, status, detail)


def test_google_api_core_gave_up_retrying_is_decided_by_the_last_error() -> None:
    attempts = []

    def flaky() -> None:
        attempts.append(1)
        raise gexc.ServiceUnavailable("down")

    retry = gretry.Retry(
        predicate=gretry.if_exception_type(gexc.ServiceUnavailable),
        initial=0.01,
        maximum=0.01,
        timeout=0.1,
    )
    with pytest.raises(gexc.RetryError) as info:
        retry(flaky)()
    assert len(attempts) > 1
    assert classify(info.value).category is TE


def test_a_protobuf_error_imports_no_google_api_core_and_loads_its_rules_later() -> None:
    script = textwrap.dedent(
        """
        import sys
        from google.protobuf.message import DecodeError
        from interceptor import classify
        assert classify(DecodeError("bad")).category.value == "PERMANENT"
        assert "google.api_core" not in sys.modules, "a protobuf error imported api_core"
        from google.api_core import exceptions
        found = classify(exceptions.ServiceUnavailable("down"))
        assert (found.category.value, found.status) == ("TEMPORARY", 502), found
        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-W", "ignore::ImportWarning", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.stdout.strip() == "ok", result.stderr


def test_an_rpc_error_that_is_no_call_or_cannot_say_its_code() -> None:
    assert classify(grpc.RpcError()) == Classification(P)

    class Broken(grpc.RpcError):
        def code(self) -> grpc.StatusCode:
            raise RuntimeError("no")

    assert classify(Broken()) == Classification(P)

    class Odd(grpc.RpcError):
        def code(self) -> str:
            return "NOT_A_CODE"

    assert classify(Odd()) == Classification(P)


def test_a_google_api_call_error_with_neither_code() -> None:
    exc = gexc.GoogleAPICallError("x")
    assert exc.code is None
    assert exc.grpc_status_code is None
    assert classify(exc) == Classification(P)


# -- RetryInfo: the upstream's delay in grpc-status-details-bin ------------------------


@pytest.mark.server
@pytest.mark.parametrize(
    ("code", "seconds", "nanos", "retry_after"),
    [
        ("RESOURCE_EXHAUSTED", 7, 200_000_000, 8),  # 7.2 s, rounded up
        ("UNAVAILABLE", 30, 0, 30),
        ("ABORTED", 0, 1, 1),  # at least a second
        ("RESOURCE_EXHAUSTED", 0, 0, 1),
        ("UNAVAILABLE", 10**9, 0, 86_400),  # at most a day
    ],
)
def test_real_retry_info_gives_retry_after(
    channel: grpc.Channel, code: str, seconds: int, nanos: int, retry_after: int
) -> None:
    category = TH if code == "RESOURCE_EXHAUSTED" else TE
    exc = call(channel, f"{code}:retry:{seconds}:{nanos}")
    assert exc.code() is grpc.StatusCode[code]  # type: ignore[attr-defined]
    assert any(key == DETAILS_KEY for key, _ in exc.trailing_metadata())  # type: ignore[attr-defined]
    found = classify(exc)
    assert (found.category, found.retry_after) == (category, retry_after)
    assert found.retryable
    assert "secret-internal-host" not in repr(classified.problem(exc))
    # google-api-core unpacks the same RetryInfo into .details: the same answer.
    converted = gexc.from_grpc_error(exc)
    assert any(isinstance(d, error_details_pb2.RetryInfo) for d in converted.details)
    assert classify(converted) == found
    # Without grpcio-status google-api-core unpacks nothing: the call's metadata says it.
    bare = gexc.from_grpc_status(exc.code(), "x", response=exc)  # type: ignore[attr-defined]
    assert bare.details == []
    assert classify(bare) == found


@pytest.mark.server
def test_real_retry_info_of_a_code_not_retried_or_negative_is_ignored(
    channel: grpc.Channel,
) -> None:
    found = classify(call(channel, "INVALID_ARGUMENT:retry:7:0"))
    assert (found.category, found.status, found.retry_after) == (P, 502, None)
    found = classify(call(channel, "DEADLINE_EXCEEDED:retry:7:0"))
    assert (found.category, found.retry_after) == (T, None)
    found = classify(call(channel, "UNAVAILABLE:retry:-5:0"))
    assert (found.category, found.status, found.retry_after) == (TE, 502, None)
    found = classify(call(channel, "UNAVAILABLE:retry:5:-1"))  # not a valid Duration
    assert (found.category, found.retry_after) == (TE, None)


@pytest.mark.server
def test_real_garbage_status_details_still_classify(channel: grpc.Channel) -> None:
    exc = call(channel, "RESOURCE_EXHAUSTED:garbage")
    assert (DETAILS_KEY, GARBAGE) in tuple(exc.trailing_metadata())  # type: ignore[attr-defined]
    assert classify(exc) == Classification(
        TH, detail="The upstream service throttled our requests."
    )
    assert classify(call(channel, "UNAVAILABLE:garbage")).retry_after is None


@pytest.mark.server
async def test_real_retry_info_over_grpc_aio(target: str) -> None:
    async with grpc.aio.insecure_channel(target) as chan:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await chan.unary_unary(METHOD)(b"RESOURCE_EXHAUSTED:retry:7:200000000", timeout=5)
        with pytest.raises(grpc.aio.AioRpcError) as garbage:
            await chan.unary_unary(METHOD)(b"UNAVAILABLE:garbage", timeout=5)
    found = classify(info.value)
    assert (found.category, found.status, found.retry_after) == (TH, 429, 8)
    found = classify(garbage.value)
    assert (found.category, found.status, found.retry_after) == (TE, 502, None)


class FakeCall(grpc.RpcError):
    """An ``RpcError`` with the code and trailing metadata given, as a grpc call has."""

    def __init__(self, metadata: object, code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE):
        super().__init__()
        self._metadata = metadata
        self._code = code

    def code(self) -> grpc.StatusCode:
        return self._code

    def trailing_metadata(self) -> object:
        if isinstance(self._metadata, BaseException):
            raise self._metadata
        return self._metadata


def _details(*details: Message, code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE) -> object:
    return ((DETAILS_KEY, status_details(code, "m", *details)),)


def _any(type_url: str, value: bytes) -> bytes:
    status = status_pb2.Status(code=14)
    status.details.add(type_url=type_url, value=value)
    return status.SerializeToString()


def _infinite() -> Iterator[tuple[str, bytes]]:
    while True:
        yield ("x-other", b"")


@pytest.mark.parametrize(
    ("metadata", "retry_after"),
    [
        (_details(retry_info(7, 200_000_000)), 8),
        (_details(error_details_pb2.ErrorInfo(reason="r"), retry_info(3)), 3),  # after another
        (_details(error_details_pb2.ErrorInfo(reason="r")), None),  # no RetryInfo
        (((DETAILS_KEY, _any(RETRY_INFO_TYPE, b"")),), None),  # RetryInfo without a delay
        (((DETAILS_KEY, _any("type.googleapis.com/x.RetryInfo", b"\x0a\x02\x08\x07")),), None),
        (((DETAILS_KEY, _any(RETRY_INFO_TYPE, b"\x0a\x02\x08\x07")),), 7),  # by hand: 7 s
        (((DETAILS_KEY, _any(RETRY_INFO_TYPE, b"\x0a\x02\x08\x07\x0a\x02\x10\x01")),), 8),
        (((DETAILS_KEY, _any(RETRY_INFO_TYPE, b"\x0a\x05\x08\x07")),), None),  # too short
        (((DETAILS_KEY, _any(RETRY_INFO_TYPE, b"\x0a\x01\x0b")),), None),  # a group
        (((DETAILS_KEY, _any(RETRY_INFO_TYPE, b"\x0a\x0b\x08" + b"\xff" * 10)),), None),
        (((DETAILS_KEY, _any(RETRY_INFO_TYPE, b"\x0a\x0a\x08" + b"\xff" * 9)),), None),
        (((DETAILS_KEY, GARBAGE),), None),
        (((DETAILS_KEY, b""),), None),
        (((DETAILS_KEY, b"\x1a"),), None),  # a length with no length
        (((DETAILS_KEY, b"\x1a\xff\xff\xff\xff\x0f"),), None),  # longer than the bytes
        (((DETAILS_KEY, b"\x00\x00"),), None),  # field number 0
        (((DETAILS_KEY, b"\x80" * 100_000),), None),  # over the size bound
        (((DETAILS_KEY, "text, not bytes"),), None),
        (((DETAILS_KEY, None),), None),
        ((("x-other", b"1"), (DETAILS_KEY, 7)), None),
        ((DETAILS_KEY,), None),  # not pairs
        (((DETAILS_KEY, b"x", b"y"),), None),
        (None, None),
        (7, None),
        ("grpc-status-details-bin", None),
        (RuntimeError("no metadata"), None),
        (_infinite(), None),  # bounded: read 64 entries at most
    ],
)
def test_retry_info_parsing_never_raises(metadata: object, retry_after: int | None) -> None:
    found = classify(FakeCall(metadata))
    assert (found.category, found.status, found.retry_after) == (TE, 502, retry_after)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_retry_info_parsing_of_any_bytes_never_raises(data: bytes) -> None:
    for value in (data, _any(RETRY_INFO_TYPE, data), b"\x1a" + bytes([len(data) % 128]) + data):
        found = classify(FakeCall(((DETAILS_KEY, value),)))
        assert found.category is TE
        assert found.retry_after is None or 1 <= found.retry_after <= 86_400


def test_retry_info_parsing_needs_no_protobuf() -> None:
    # The bytes of a real Status with a RetryInfo of 7.2 s, read with protobuf absent.
    data = status_details(grpc.StatusCode.RESOURCE_EXHAUSTED, "m", retry_info(7, 200_000_000))
    script = textwrap.dedent(
        f"""
        import sys
        import grpc
        from interceptor import classify

        class Call(grpc.RpcError):
            def code(self):
                return grpc.StatusCode.RESOURCE_EXHAUSTED
            def trailing_metadata(self):
                return (("grpc-status-details-bin", bytes.fromhex("{data.hex()}")),)

        found = classify(Call())
        assert (found.category.value, found.retry_after) == ("THROTTLED", 8), found
        loaded = [m for m in sys.modules if m.startswith(("google.protobuf", "google.rpc"))]
        assert not loaded, loaded
        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.stdout.strip() == "ok", result.stderr


class _Response:
    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers


class _HostileDetail:
    @property
    def DESCRIPTOR(self) -> object:  # protobuf's name
        raise RuntimeError("no")


def test_google_api_core_retry_info_in_details() -> None:
    rest = [{"@type": RETRY_INFO_TYPE, "retryDelay": "7.2s"}]  # REST's JSON form
    found = classify(gexc.from_http_status(429, "x", details=rest))
    assert (found.category, found.status, found.retry_after) == (TH, 429, 8)
    found = classify(gexc.ServiceUnavailable("x", details=rest))
    assert (found.category, found.status, found.retry_after) == (TE, 502, 8)
    found = classify(gexc.ResourceExhausted("x", details=[retry_info(2, 500)]))
    assert (found.category, found.retry_after) == (TH, 3)
    # An upstream's own Retry-After header wins over the JSON detail.
    with_header = gexc.from_http_status(
        429, "x", details=rest, response=_Response({"Retry-After": "3"})
    )
    assert classify(with_header).retry_after == 3
    # Not for a code that is not retried.
    assert classify(gexc.NotFound("x", details=rest)).retry_after is None
    assert classify(gexc.InternalServerError("x", details=rest)).retry_after is None


@pytest.mark.parametrize(
    "details",
    [
        [{"@type": RETRY_INFO_TYPE, "retryDelay": "-1s"}],
        [{"@type": RETRY_INFO_TYPE, "retryDelay": "1e3s"}],
        [{"@type": RETRY_INFO_TYPE, "retryDelay": 7}],
        [{"@type": RETRY_INFO_TYPE}],
        [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "retryDelay": "7s"}],
        [{"@type": RETRY_INFO_TYPE, "retryDelay": "7.1234567890s"}],
        [_HostileDetail()],
        [error_details_pb2.ErrorInfo(reason="r")],
        ["7s", None, 7],
        [],
    ],
    ids=repr,
)
def test_google_api_core_malformed_retry_info_is_ignored(details: list[object]) -> None:
    found = classify(gexc.ServiceUnavailable("x", details=details))
    assert (found.category, found.status, found.retry_after) == (TE, 502, None)


@pytest.mark.parametrize("status", [503, 500])
def test_google_api_core_rest_5xx_carries_its_retry_after_header(status: int) -> None:
    # A REST call's 503 is ServiceUnavailable, which has a gRPC code (UNAVAILABLE):
    # that path read only RetryInfo, and the answer's own Retry-After was lost.
    response = requests.Response()
    response.status_code = status
    response.headers["Retry-After"] = "30"
    response.request = requests.Request("GET", "https://svc.googleapis.com/v1/x").prepare()
    response._content = b'{"error": {"message": "backend secret-host is down"}}'
    exc = gexc.from_http_response(response)
    found = classify(exc)
    assert (found.category, found.status, found.retryable) == (TE, 502, True)
    assert found.retry_after == 30  # as for the same answer met by httpx or requests
