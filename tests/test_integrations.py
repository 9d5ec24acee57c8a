"""The httpx, requests and SQLAlchemy classification rules, with the libraries' real objects."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest
import requests
import sqlalchemy
from sqlalchemy import exc as sa_exc
from sqlalchemy.pool import QueuePool

from interceptor import _classify as classify_module
from interceptor._classify import Category, Classification, classify, register_classifier

T, TH, TE, P = Category.TIMEOUT, Category.THROTTLED, Category.TEMPORARY, Category.PERMANENT
UPSTREAM = "http://upstream.test/items"


@pytest.fixture(autouse=True)
def _restore_registry() -> Iterator[None]:
    saved = classify_module._tables
    yield
    with classify_module._lock:
        classify_module._tables = classify_module._Tables(
            user=saved.user, builtin=classify_module._tables.builtin
        )


@pytest.fixture
def closed_port() -> int:
    """A local port nothing listens on: connecting to it is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def check(exc: BaseException, category: Category, status: int, retryable: bool) -> Classification:
    found = classify(exc)
    assert (found.category, found.status, found.retryable) == (category, status, retryable), (
        exc,
        found,
    )
    return found


def in_a_minute() -> str:
    return format_datetime(datetime.now(UTC) + timedelta(seconds=60), usegmt=True)


# -- httpx --------------------------------------------------------------------------------


def httpx_status_error(status: int, headers: dict[str, str] | None = None) -> httpx.HTTPStatusError:
    response = httpx.Response(status, headers=headers, request=httpx.Request("GET", UPSTREAM))
    with pytest.raises(httpx.HTTPStatusError) as caught:
        response.raise_for_status()
    return caught.value


@pytest.mark.parametrize(
    ("status", "category", "our_status", "retryable"),
    [
        (429, TH, 429, True),
        (408, T, 504, True),
        (500, TE, 502, True),
        (502, TE, 502, True),
        (503, TE, 502, True),
        (504, TE, 502, True),
        (401, P, 502, False),  # the upstream refused *us*: not our own 401
        (403, P, 502, False),
        (404, P, 502, False),
        (400, P, 502, False),
    ],
)
def test_httpx_upstream_status(
    status: int, category: Category, our_status: int, retryable: bool
) -> None:
    check(httpx_status_error(status), category, our_status, retryable)


def test_httpx_429_carries_retry_after_seconds() -> None:
    found = check(httpx_status_error(429, {"Retry-After": "17"}), TH, 429, True)
    assert found.retry_after == 17.0


def test_httpx_429_carries_retry_after_http_date() -> None:
    found = check(httpx_status_error(429, {"Retry-After": in_a_minute()}), TH, 429, True)
    assert found.retry_after is not None
    assert 0 < found.retry_after <= 60


def test_httpx_503_carries_retry_after() -> None:
    assert classify(httpx_status_error(503, {"retry-after": "5"})).retry_after == 5.0


def test_httpx_429_without_or_with_bad_retry_after() -> None:
    assert classify(httpx_status_error(429)).retry_after is None
    assert classify(httpx_status_error(429, {"Retry-After": "soon"})).retry_after is None


@pytest.mark.parametrize(
    ("exc", "category", "status", "retryable"),
    [
        (httpx.ConnectTimeout("connect"), T, 504, True),
        (httpx.ReadTimeout("read"), T, 504, True),
        (httpx.WriteTimeout("write"), T, 504, True),
        (httpx.PoolTimeout("pool"), T, 504, True),
        (httpx.ConnectError("refused"), TE, 502, True),
        (httpx.ReadError("reset"), TE, 502, True),
        (httpx.WriteError("broken"), TE, 502, True),
        (httpx.CloseError("close"), TE, 502, True),
        (httpx.RemoteProtocolError("server disconnected"), TE, 502, True),
        (httpx.ProxyError("proxy"), TE, 502, True),
        (httpx.DecodingError("bad gzip"), P, 502, False),
        (httpx.TooManyRedirects("loop"), P, 502, False),
        (httpx.InvalidURL("bad"), P, 500, False),
        (httpx.UnsupportedProtocol("ftp"), P, 500, False),
        (httpx.LocalProtocolError("bad header"), P, 500, False),
    ],
    ids=repr,
)
def test_httpx_exceptions(exc: Exception, category: Category, status: int, retryable: bool) -> None:
    check(exc, category, status, retryable)


def test_httpx_real_connect_error(closed_port: int) -> None:
    with httpx.Client() as client, pytest.raises(httpx.ConnectError) as caught:
        client.get(f"http://127.0.0.1:{closed_port}/")
    check(caught.value, TE, 502, True)


def test_httpx_real_invalid_urls() -> None:
    with httpx.Client() as client:
        with pytest.raises(httpx.UnsupportedProtocol) as unsupported:
            client.get("ftp://upstream.test/")
        check(unsupported.value, P, 500, False)
    with pytest.raises(httpx.InvalidURL) as invalid:
        httpx.URL("http://upstream.test/\x00")
    check(invalid.value, P, 500, False)


# -- requests -----------------------------------------------------------------------------


def requests_http_error(status: int, headers: dict[str, str] | None = None) -> requests.HTTPError:
    response = requests.Response()
    response.status_code = status
    response.url = UPSTREAM
    response.reason = "Upstream"
    response.headers.update(headers or {})
    with pytest.raises(requests.HTTPError) as caught:
        response.raise_for_status()
    assert caught.value.response is response
    return caught.value


@pytest.mark.parametrize(
    ("status", "category", "our_status", "retryable"),
    [
        (429, TH, 429, True),
        (408, T, 504, True),
        (500, TE, 502, True),
        (503, TE, 502, True),
        (401, P, 502, False),
        (403, P, 502, False),
        (404, P, 502, False),
    ],
)
def test_requests_upstream_status(
    status: int, category: Category, our_status: int, retryable: bool
) -> None:
    check(requests_http_error(status), category, our_status, retryable)


def test_requests_429_carries_retry_after_seconds_and_http_date() -> None:
    assert classify(requests_http_error(429, {"Retry-After": "42"})).retry_after == 42.0
    found = classify(requests_http_error(429, {"retry-after": in_a_minute()}))
    assert found.retry_after is not None
    assert 0 < found.retry_after <= 60


def test_requests_http_error_without_a_response() -> None:
    check(requests.HTTPError("no response"), P, 502, False)


@pytest.mark.parametrize(
    ("exc", "category", "status", "retryable"),
    [
        (requests.Timeout(), T, 504, True),
        (requests.ReadTimeout(), T, 504, True),
        (requests.ConnectTimeout(), T, 504, True),  # also a ConnectionError: still a timeout
        (requests.ConnectionError(), TE, 502, True),
        (requests.exceptions.ProxyError(), TE, 502, True),
        (requests.exceptions.ChunkedEncodingError(), TE, 502, True),
        (requests.exceptions.SSLError(), P, 502, False),
        (requests.exceptions.ContentDecodingError(), P, 502, False),
        (requests.TooManyRedirects(), P, 502, False),
        (requests.exceptions.InvalidURL(), P, 500, False),
        (requests.exceptions.MissingSchema(), P, 500, False),
        (requests.exceptions.InvalidSchema(), P, 500, False),
    ],
    ids=repr,
)
def test_requests_exceptions(
    exc: Exception, category: Category, status: int, retryable: bool
) -> None:
    check(exc, category, status, retryable)


def test_requests_real_errors(closed_port: int) -> None:
    with requests.Session() as session:
        with pytest.raises(requests.ConnectionError) as refused:
            session.get(f"http://127.0.0.1:{closed_port}/", timeout=5)
        check(refused.value, TE, 502, True)
        with pytest.raises(requests.exceptions.InvalidURL) as invalid:
            session.get("http://", timeout=5)
        check(invalid.value, P, 500, False)
        with pytest.raises(requests.exceptions.MissingSchema) as missing:
            session.get("upstream.test/items", timeout=5)
        check(missing.value, P, 500, False)


def test_requests_errors_are_oserrors_but_not_classified_by_errno() -> None:
    # requests' exceptions subclass OSError; with an errno they must still
    # get the requests answer, not the errno one.
    exc = requests.ConnectionError(13, "permission-like errno")
    assert isinstance(exc, OSError)
    assert exc.errno == 13
    check(exc, TE, 502, True)


# -- SQLAlchemy -----------------------------------------------------------------------------


def test_sqlalchemy_integrity_error_is_a_conflict() -> None:
    engine = sqlalchemy.create_engine("sqlite://")
    try:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("CREATE TABLE users (email TEXT UNIQUE)"))
            conn.execute(sqlalchemy.text("INSERT INTO users VALUES ('a@example.test')"))
            with pytest.raises(sa_exc.IntegrityError) as caught:
                conn.execute(sqlalchemy.text("INSERT INTO users VALUES ('a@example.test')"))
    finally:
        engine.dispose()
    check(caught.value, Category.CONFLICT, 409, False)


def test_sqlalchemy_operational_error_is_temporary(tmp_path: Path) -> None:
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'missing-dir' / 'app.db'}")
    try:
        with pytest.raises(sa_exc.OperationalError) as caught:
            engine.connect()
    finally:
        engine.dispose()
    check(caught.value, TE, 503, True)


def test_sqlalchemy_pool_timeout_is_temporary(tmp_path: Path) -> None:
    engine = sqlalchemy.create_engine(
        f"sqlite:///{tmp_path / 'app.db'}",
        poolclass=QueuePool,
        pool_size=1,
        max_overflow=0,
        pool_timeout=0.01,
    )
    try:
        with engine.connect(), pytest.raises(sa_exc.TimeoutError) as caught:
            engine.connect()
    finally:
        engine.dispose()
    check(caught.value, TE, 503, True)


def test_sqlalchemy_invalidated_connection_and_other_dbapi_errors() -> None:
    lost = sa_exc.DBAPIError("SELECT 1", {}, Exception("gone"), connection_invalidated=True)
    check(lost, TE, 503, True)
    check(sa_exc.DisconnectionError("gone"), TE, 503, True)
    check(sa_exc.ProgrammingError("SELEC 1", {}, Exception("syntax")), P, 500, False)
    check(sa_exc.DBAPIError("SELECT 1", {}, Exception("other")), P, 500, False)


# -- precedence and loading -------------------------------------------------------------------


def test_user_registration_beats_an_integration() -> None:
    check(httpx.ConnectError("refused"), TE, 502, True)  # the integration is loaded now
    register_classifier(httpx.ConnectError, Classification(Category.TEMPORARY, 503))
    check(httpx.ConnectError("refused"), TE, 503, True)
    register_classifier(sa_exc.IntegrityError, lambda exc: None)  # no opinion
    check(sa_exc.IntegrityError("INSERT", {}, Exception("dup")), Category.CONFLICT, 409, False)


def test_register_again_is_harmless() -> None:
    from interceptor.integrations import httpx as httpx_rules  # noqa: PLC0415

    httpx_rules.register()
    httpx_rules.register()
    check(httpx_status_error(429, {"Retry-After": "3"}), TH, 429, True)


_ISOLATION = textwrap.dedent(
    """
    import json, sys
    import interceptor, interceptor._classify, interceptor.integrations
    from interceptor._classify import Category, classify, register_classifier

    libraries = ("httpx", "requests", "sqlalchemy")
    report = {"after_import": sorted(m for m in sys.modules if m.split(".")[0] in libraries)}
    classify(TimeoutError())
    classify(KeyError("x"))
    report["after_classify"] = sorted(m for m in sys.modules if m.split(".")[0] in libraries)
    report["rules_loaded"] = sorted(
        m for m in sys.modules if m.startswith("interceptor.integrations.")
    )

    import httpx
    register_classifier(httpx.ReadTimeout, Category.THROTTLED)  # before the rules load
    report["loaded_before"] = "interceptor.integrations.httpx" in sys.modules
    report["connect"] = classify(httpx.ConnectError("x")).category.value
    report["loaded_after"] = "interceptor.integrations.httpx" in sys.modules
    report["user_wins"] = classify(httpx.ReadTimeout("x")).category.value
    report["requests_loaded"] = "interceptor.integrations.requests" in sys.modules
    print(json.dumps(report))
    """
)


def test_import_interceptor_imports_no_integration_library() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _ISOLATION], capture_output=True, text=True, check=True, timeout=60
    )
    report = json.loads(done.stdout)
    assert report["after_import"] == []
    assert report["after_classify"] == []
    assert report["rules_loaded"] == []
    assert report["loaded_before"] is False
    assert report["connect"] == "TEMPORARY"
    assert report["loaded_after"] is True
    assert report["user_wins"] == "THROTTLED"
    assert report["requests_loaded"] is False
