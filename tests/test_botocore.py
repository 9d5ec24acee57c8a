"""The botocore rules, with real ClientErrors from botocore's own Stubber and real
connection errors from a client pointed at 127.0.0.1."""

from __future__ import annotations

import io
import socket
import threading
from collections.abc import Iterator
from typing import Any

import botocore.session
import pytest
from botocore import exceptions as aws
from botocore.config import Config
from botocore.stub import Stubber

from interceptor import classified
from interceptor._classify import Category, Classification, classify

T, TH, TE, P = Category.TIMEOUT, Category.THROTTLED, Category.TEMPORARY, Category.PERMANENT
THROTTLING = "The upstream service throttled our requests."


def client(service: str = "s3", endpoint_url: str | None = None, **config: Any) -> Any:
    session = botocore.session.get_session()
    return session.create_client(
        service,
        region_name="us-east-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",  # noqa: S106 - a fake key for a stubbed client
        endpoint_url=endpoint_url,
        config=Config(retries={"total_max_attempts": 1}, **config),
    )


def client_error(
    code: str, status: int = 400, headers: dict[str, str] | None = None, service: str = "s3"
) -> aws.ClientError:
    """A real ClientError, raised by a stubbed client's call."""
    c = client(service)
    method = "get_object" if service == "s3" else "get_item"
    params = {"Bucket": "b", "Key": "k"} if service == "s3" else {"TableName": "table", "Key": {}}
    with Stubber(c) as stub:
        stub.add_client_error(
            method,
            service_error_code=code,
            service_message="secret-bucket-name internal text",
            http_status_code=status,
            response_meta={"HTTPHeaders": headers or {}},
        )
        with pytest.raises(aws.ClientError) as info:
            getattr(c, method)(**params)
    return info.value


THROTTLING_CODES = [
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
]


@pytest.mark.parametrize("code", THROTTLING_CODES)
def test_throttling_codes_are_throttled_whatever_the_status(code: str) -> None:
    for status in (400, 503):
        found = classify(client_error(code, status))
        assert found == Classification(TH, 429, detail=THROTTLING), (code, status)


def test_the_throttling_codes_are_botocores_own() -> None:
    from botocore.retries import standard  # noqa: PLC0415 - only this test reads it

    from interceptor.integrations import botocore as rules  # noqa: PLC0415

    ours = rules.THROTTLING_CODES
    assert ours == set(standard.ThrottledRetryableChecker._THROTTLED_ERROR_CODES)
    transient = set(standard.TransientRetryableChecker._TRANSIENT_ERROR_CODES)
    assert transient - ours == rules.TRANSIENT_CODES
    assert set(standard.TransientRetryableChecker._TRANSIENT_STATUS_CODES) == {500, 502, 503, 504}


def test_throttling_carries_retry_after_from_the_http_headers() -> None:
    found = classify(client_error("SlowDown", 503, {"retry-after": "7"}))
    assert (found.category, found.status, found.retry_after) == (TH, 429, 7.0)
    found = classify(client_error("ThrottlingException", 400, {"Retry-After": "3"}, "dynamodb"))
    assert (found.category, found.retry_after) == (TH, 3.0)


@pytest.mark.parametrize("code", ["RequestTimeout", "RequestTimeoutException"])
def test_transient_timeout_codes(code: str) -> None:
    found = classify(client_error(code, 400))
    assert (found.category, found.status, found.retryable) == (T, 504, True)
    assert found.detail == "The upstream service timed out."


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_transient_statuses_are_retryable_502s(status: int) -> None:
    found = classify(client_error("InternalError", status, {"retry-after": "2"}))
    assert found == Classification(
        TE, 502, retry_after=2, detail="The upstream service is unavailable."
    )


def test_other_5xx_are_not_retried_as_botocore_does_not() -> None:
    found = classify(client_error("NotImplemented", 501))
    assert (found.category, found.status, found.retryable) == (P, 502, False)


def test_429_without_a_throttling_code_is_throttled() -> None:
    found = classify(client_error("SomethingNew", 429, {"retry-after": "4"}))
    assert (found.category, found.status, found.retry_after) == (TH, 429, 4.0)


@pytest.mark.parametrize(
    ("code", "status", "detail"),
    [
        ("NoSuchKey", 404, "The upstream service rejected our request."),
        ("NoSuchBucket", 404, "The upstream service rejected our request."),
        ("ValidationException", 400, "The upstream service rejected our request."),
        ("ResourceNotFoundException", 400, "The upstream service rejected our request."),
        ("AccessDenied", 403, "The upstream service refused our credentials."),
        ("ExpiredToken", 400, "The upstream service refused our credentials."),
        ("UnrecognizedClientException", 400, "The upstream service refused our credentials."),
        ("SignatureDoesNotMatch", 403, "The upstream service refused our credentials."),
    ],
)
def test_other_aws_4xx_is_the_upstream_rejecting_us_never_our_own_4xx(
    code: str, status: int, detail: str
) -> None:
    assert classify(client_error(code, status)) == Classification(P, 502, detail=detail)


def test_a_client_error_without_metadata_is_an_unusable_answer() -> None:
    found = classify(aws.ClientError({}, "GetObject"))
    assert (found.category, found.status, found.retryable) == (P, 502, False)


def test_the_body_never_carries_the_services_message() -> None:
    exc = client_error("NoSuchBucket", 404)
    assert "secret-bucket-name" in str(exc)
    problem = classified.problem(exc)
    assert problem.status == 502
    assert "secret-bucket-name" not in repr(problem)


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A server that accepts connections and never answers."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join(5)
    for conn in accepted:
        conn.close()
    server.close()


def test_real_endpoint_connection_error(closed_port: int) -> None:
    c = client(endpoint_url=f"http://127.0.0.1:{closed_port}", connect_timeout=2)
    with pytest.raises(aws.EndpointConnectionError) as info:
        c.get_object(Bucket="b", Key="k")
    found = classify(info.value)
    assert found == Classification(TE, 502, detail="The upstream service could not be reached.")


def test_real_read_timeout(silent_server: int) -> None:
    c = client(endpoint_url=f"http://127.0.0.1:{silent_server}", read_timeout=0.2)
    with pytest.raises(aws.ReadTimeoutError) as info:
        c.get_object(Bucket="b", Key="k")
    assert classify(info.value) == Classification(T, detail="The upstream service timed out.")


def test_real_no_credentials(monkeypatch: pytest.MonkeyPatch, closed_port: int) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    session = botocore.session.Session()
    c = session.create_client(
        "s3", region_name="us-east-1", endpoint_url=f"http://127.0.0.1:{closed_port}"
    )
    with pytest.raises(aws.NoCredentialsError) as info:
        c.get_object(Bucket="b", Key="k")
    found = classify(info.value)
    assert (found.category, found.status, found.retryable) == (P, 500, False)
    assert found.detail == "No credentials are configured for the upstream service."


@pytest.mark.parametrize(
    ("exc", "category", "status", "retryable"),
    [
        (aws.ConnectTimeoutError(endpoint_url="http://x"), T, 504, True),
        (aws.ReadTimeoutError(endpoint_url="http://x"), T, 504, True),
        (aws.EndpointConnectionError(endpoint_url="http://x"), TE, 502, True),
        (aws.ProxyConnectionError(proxy_url="http://x"), TE, 502, True),
        (aws.ConnectionClosedError(endpoint_url="http://x"), TE, 502, True),
        (aws.ResponseStreamingError(error="x"), TE, 502, True),
        (aws.HTTPClientError(error="x"), TE, 502, True),
        (aws.SSLError(endpoint_url="http://x", error="x"), P, 502, False),
        (aws.NoCredentialsError(), P, 500, False),
        (aws.PartialCredentialsError(provider="env", cred_var="x"), P, 500, False),
        (aws.NoRegionError(), P, 500, False),
        (aws.ParamValidationError(report="x"), P, 500, False),
    ],
)
def test_botocore_exceptions(
    exc: Exception, category: Category, status: int, retryable: bool
) -> None:
    found = classify(exc)
    assert (found.category, found.status, found.retryable) == (category, status, retryable)


def test_a_body_cut_short_is_an_incomplete_answer() -> None:
    # A response body shorter than its Content-Length, as StreamingBody reads it
    # (an S3 get_object's Body.read()): the upstream's answer was cut off.
    from botocore.response import StreamingBody  # noqa: PLC0415

    body = StreamingBody(io.BytesIO(b"only part"), content_length=1024)
    with pytest.raises(aws.IncompleteReadError) as info:
        body.read()
    found = classify(info.value)
    assert (found.category, found.status, found.retryable) == (TE, 502, True)
    assert found.detail == "The upstream service sent an incomplete answer."


@pytest.mark.parametrize("code", [["ThrottlingException"], {"Code": "x"}, 503, None])
def test_an_error_code_that_is_no_string_is_decided_by_the_status(code: object) -> None:
    # ClientError takes any parsed response; an unhashable code made the rule
    # raise (logged as a broken classifier) and the answer fall to PERMANENT 500.
    response = {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": 503}}
    found = classify(aws.ClientError(response, "GetObject"))
    assert (found.category, found.status, found.retryable) == (TE, 502, True)
