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


def _fail(request: bytes, context: grpc.ServicerContext) -> bytes:
    """Aborts with the status code named in the request; "SLOW" sleeps past any deadline."""
    name = request.decode()
    if name == "SLOW":
        import time  # noqa: PLC0415

        time.sleep(1)
        return b""
    context.abort(grpc.StatusCode[name], f"secret-internal-host failed with {name}")
    return b""  # pragma: no cover - abort raises


@pytest.fixture(scope="module")
def channel() -> Iterator[grpc.Channel]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    handler = grpc.method_handlers_generic_handler(
        "test.Echo", {"Fail": grpc.unary_unary_rpc_method_handler(_fail)}
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    chan = grpc.insecure_channel(f"127.0.0.1:{port}")
    yield chan
    chan.close()
    server.stop(grace=None).wait(5)


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
