"""The httpx, requests, aiohttp and SQLAlchemy classification rules, with the libraries'
real objects."""

from __future__ import annotations

import contextlib
import http.server
import json
import socket
import ssl
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import aiohttp
import httpx
import pytest
import requests
import sqlalchemy
import urllib3
from multidict import CIMultiDict, CIMultiDictProxy
from sqlalchemy import exc as sa_exc
from sqlalchemy.pool import QueuePool
from yarl import URL

from interceptor._classify import Category, Classification, classify, register_classifier

T, TH, TE, P = Category.TIMEOUT, Category.THROTTLED, Category.TEMPORARY, Category.PERMANENT
UPSTREAM = "http://upstream.test/items"
# The fixed details, by their endings: "The upstream service ..."
THROTTLED = "answered 429 Too Many Requests."
TIMED_OUT = "timed out."
UNAVAILABLE = "is unavailable."
REFUSED_US = "refused our credentials."
REJECTED = "rejected our request."
UNUSABLE = "gave an answer that could not be used."
UNREACHABLE = "could not be reached."
HUNG_UP = "closed the connection."
INCOMPLETE = "sent an incomplete answer."
CONNECTION = "The connection to the upstream service failed."
TLS = "The secure connection to the upstream service failed."
REQUEST_INVALID = "The request to the upstream service could not be made."


def detail_of(exc: BaseException) -> str:
    """The classification's detail, with "The upstream service " taken off its front."""
    return classify(exc).detail.removeprefix("The upstream service ")


@pytest.fixture(autouse=True)
def _restore_registry(restore_classifiers: None) -> None:
    """User registrations are global: undo the ones a test makes."""


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
    # An upstream's date with an absurd zone made the whole answer PERMANENT 500.
    odd_date = {"Retry-After": "Wed, 21 Oct 2015 07:28:00 -99999999999999999999"}
    assert check(httpx_status_error(429, odd_date), TH, 429, True).retry_after is None


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


@pytest.mark.parametrize(
    ("exc", "detail"),
    [
        (httpx_status_error(429), THROTTLED),
        (httpx_status_error(408), TIMED_OUT),
        (httpx_status_error(503), UNAVAILABLE),
        (httpx_status_error(401), REFUSED_US),
        (httpx_status_error(403), REFUSED_US),
        (httpx_status_error(404), REJECTED),
        (httpx.ReadTimeout("read"), TIMED_OUT),
        (httpx.ConnectError("refused"), UNREACHABLE),
        (httpx.ProxyError("proxy"), UNREACHABLE),
        (httpx.ReadError("reset"), CONNECTION),
        (httpx.RemoteProtocolError("server disconnected"), CONNECTION),
        (httpx.DecodingError("bad gzip"), UNUSABLE),
        (httpx.InvalidURL("bad"), REQUEST_INVALID),
    ],
    ids=repr,
)
def test_httpx_details_are_fixed(exc: Exception, detail: str) -> None:
    assert detail_of(exc) == detail
    assert "upstream.test" not in classify(exc).detail


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


@pytest.mark.parametrize(
    ("exc", "detail"),
    [
        (requests_http_error(429), THROTTLED),
        (requests_http_error(503), UNAVAILABLE),
        (requests_http_error(401), REFUSED_US),
        (requests_http_error(404), REJECTED),
        (requests.HTTPError("no response"), UNUSABLE),
        (requests.ConnectTimeout(), TIMED_OUT),
        (requests.ConnectionError(), CONNECTION),
        (requests.exceptions.ProxyError(), UNREACHABLE),
        (requests.exceptions.ChunkedEncodingError(), INCOMPLETE),
        (requests.exceptions.SSLError(), TLS),
        (requests.TooManyRedirects(), UNUSABLE),
        (requests.exceptions.MissingSchema(), REQUEST_INVALID),
    ],
    ids=repr,
)
def test_requests_details_are_fixed(exc: Exception, detail: str) -> None:
    assert detail_of(exc) == detail


# -- aiohttp ------------------------------------------------------------------------------


def request_info() -> aiohttp.RequestInfo:
    url = URL(f"{UPSTREAM}?api_key=SECRET")
    return aiohttp.RequestInfo(url, "GET", CIMultiDictProxy(CIMultiDict()), url)


def aiohttp_response_error(
    status: int, headers: dict[str, str] | None = None, tp: type = aiohttp.ClientResponseError
) -> aiohttp.ClientResponseError:
    exc: aiohttp.ClientResponseError = tp(
        request_info(),
        (),
        status=status,
        message="Upstream says no",
        headers=CIMultiDictProxy(CIMultiDict(headers or {})),
    )
    return exc


class _ConnectionKey:
    """What aiohttp's connector errors read for their message."""

    host, port, ssl, is_ssl = "upstream.test", 443, True, True


def connector_error(tp: type, os_error: OSError | None = None) -> Exception:
    exc: Exception = tp(_ConnectionKey(), os_error or ConnectionRefusedError(111, "refused"))
    return exc


@pytest.mark.parametrize(
    ("status", "category", "our_status", "retryable", "detail"),
    [
        (429, TH, 429, True, THROTTLED),
        (408, T, 504, True, TIMED_OUT),
        (500, TE, 502, True, UNAVAILABLE),
        (503, TE, 502, True, UNAVAILABLE),
        (401, P, 502, False, REFUSED_US),  # the upstream refused *us*: not our own 401
        (403, P, 502, False, REFUSED_US),
        (404, P, 502, False, REJECTED),
        (400, P, 502, False, REJECTED),
    ],
)
def test_aiohttp_upstream_status(
    status: int, category: Category, our_status: int, retryable: bool, detail: str
) -> None:
    exc = aiohttp_response_error(status)
    check(exc, category, our_status, retryable)
    assert detail_of(exc) == detail


def test_aiohttp_429_carries_retry_after_seconds_and_http_date() -> None:
    found = check(aiohttp_response_error(429, {"Retry-After": "17"}), TH, 429, True)
    assert found.retry_after == 17.0
    found = classify(aiohttp_response_error(429, {"retry-after": in_a_minute()}))
    assert found.retry_after is not None
    assert 0 < found.retry_after <= 60
    assert classify(aiohttp_response_error(503, {"Retry-After": "5"})).retry_after == 5.0
    no_headers = aiohttp.ClientResponseError(request_info(), (), status=429)
    assert classify(no_headers).retry_after is None


@pytest.mark.parametrize(
    ("exc", "category", "status", "retryable", "detail"),
    [
        (aiohttp_response_error(200, tp=aiohttp.ContentTypeError), P, 502, False, UNUSABLE),
        (aiohttp_response_error(302, tp=aiohttp.TooManyRedirects), P, 502, False, UNUSABLE),
        (aiohttp_response_error(407, tp=aiohttp.ClientHttpProxyError), P, 502, False, REFUSED_US),
        (aiohttp_response_error(403, tp=aiohttp.WSServerHandshakeError), P, 502, False, REFUSED_US),
        (aiohttp.ServerTimeoutError("read"), T, 504, True, TIMED_OUT),
        (aiohttp.ConnectionTimeoutError("connect"), T, 504, True, TIMED_OUT),
        (aiohttp.SocketTimeoutError("read"), T, 504, True, TIMED_OUT),
        (connector_error(aiohttp.ClientConnectorError), TE, 502, True, UNREACHABLE),
        (connector_error(aiohttp.ClientProxyConnectionError), TE, 502, True, UNREACHABLE),
        (
            connector_error(aiohttp.ClientConnectorDNSError, OSError(-2, "Name unknown")),
            TE,
            502,
            True,
            UNREACHABLE,
        ),
        (aiohttp.ServerDisconnectedError(), TE, 502, True, HUNG_UP),
        (aiohttp.ClientConnectionResetError("reset"), TE, 502, True, HUNG_UP),
        (aiohttp.ClientOSError(104, "Connection reset by peer"), TE, 502, True, CONNECTION),
        (aiohttp.ClientConnectionError("Connection closed"), TE, 502, True, CONNECTION),
        (aiohttp.ClientPayloadError("Response payload is incomplete"), TE, 502, True, INCOMPLETE),
        (connector_error(aiohttp.ClientSSLError), P, 502, False, TLS),
        (connector_error(aiohttp.ClientConnectorSSLError), P, 502, False, TLS),
        (
            connector_error(aiohttp.ClientConnectorCertificateError, ValueError("bad cert")),
            P,
            502,
            False,
            TLS,
        ),
        (aiohttp.ServerFingerprintMismatch(b"a", b"b", "upstream.test", 443), P, 502, False, TLS),
        (aiohttp.InvalidURL("http://"), P, 500, False, REQUEST_INVALID),
        (aiohttp.InvalidUrlClientError("http://"), P, 500, False, REQUEST_INVALID),
        (aiohttp.NonHttpUrlClientError("ftp://upstream.test/"), P, 500, False, REQUEST_INVALID),
        (aiohttp.InvalidUrlRedirectClientError("http://"), P, 502, False, UNUSABLE),
        (aiohttp.NonHttpUrlRedirectClientError("ftp://x/"), P, 502, False, UNUSABLE),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else repr(value),
)
def test_aiohttp_exceptions(
    exc: Exception, category: Category, status: int, retryable: bool, detail: str
) -> None:
    check(exc, category, status, retryable)
    assert detail_of(exc) == detail


def test_aiohttp_errors_that_are_oserrors_or_timeouts_get_aiohttps_answer() -> None:
    # ClientOSError is an OSError and ServerTimeoutError a TimeoutError; ClientSSLError
    # is a ClientConnectorError, and the certificate error an SSLCertVerificationError.
    refused = aiohttp.ClientOSError(13, "an errno that reads as EACCES")
    assert isinstance(refused, OSError)
    check(refused, TE, 502, True)
    assert isinstance(aiohttp.ServerTimeoutError(), TimeoutError)
    assert issubclass(aiohttp.ClientSSLError, aiohttp.ClientConnectorError)
    check(connector_error(aiohttp.ClientSSLError), P, 502, False)


async def test_aiohttp_real_connect_refused_and_invalid_url(closed_port: int) -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectorError) as refused:
            await session.get(f"http://127.0.0.1:{closed_port}/")
        check(refused.value, TE, 502, True)
        with pytest.raises(aiohttp.InvalidURL) as invalid:
            await session.get("http://")
        check(invalid.value, P, 500, False)
        with pytest.raises(aiohttp.NonHttpUrlClientError) as scheme:
            await session.get("ftp://upstream.test/")
        check(scheme.value, P, 500, False)


@pytest.fixture
def untrusted_tls_port(tmp_path: Path) -> Iterator[int]:
    """A TLS server on 127.0.0.1 whose certificate (self-signed) no client trusts."""
    from cryptography import x509  # noqa: PLC0415 - only this fixture makes certificates
    from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    listener = socket.create_server(("127.0.0.1", 0))
    port: int = listener.getsockname()[1]

    def serve() -> None:
        with contextlib.suppress(OSError):  # the listener closed: done
            while True:
                conn, _ = listener.accept()
                with contextlib.suppress(OSError):  # the client refused our certificate
                    context.wrap_socket(conn, server_side=True).close()
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        listener.close()
        thread.join(5)


def test_a_certificate_no_client_trusts_is_a_tls_failure_for_every_client(
    untrusted_tls_port: int,
) -> None:
    # httpcore raises a failed certificate check as ConnectError (from the
    # SSLCertVerificationError): it was TEMPORARY 502 "could not be reached",
    # retryable, where requests and urllib say the TLS failure it is.
    url = f"https://127.0.0.1:{untrusted_tls_port}/items"
    with pytest.raises(httpx.ConnectError) as by_httpx:
        httpx.get(url, timeout=5)
    with pytest.raises(requests.exceptions.SSLError) as by_requests:
        requests.get(url, timeout=5)
    for caught in (by_httpx, by_requests):
        found = check(caught.value, P, 502, False)
        assert found.detail == TLS


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


@pytest.mark.parametrize(
    ("status", "category", "our_status"), [(503, TE, 502), (500, TE, 502), (429, TH, 429)]
)
def test_requests_gave_up_retrying_an_upstreams_error_status(
    status: int, category: Category, our_status: int
) -> None:
    # urllib3's Retry(status_forcelist=...) exhausted: requests raises RetryError,
    # not HTTPError, and with no response; it fell to the default, PERMANENT 500.
    class Failing(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Failing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    retries = urllib3.util.Retry(total=1, status_forcelist=[status], backoff_factor=0)
    try:
        with requests.Session() as session:
            session.mount("http://", requests.adapters.HTTPAdapter(max_retries=retries))
            with pytest.raises(requests.exceptions.RetryError) as caught:
                session.get(f"http://127.0.0.1:{server.server_port}/items", timeout=5)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    check(caught.value, category, our_status, True)
    assert "127.0.0.1" not in classify(caught.value).detail


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
    assert classify(caught.value).detail == "A conflicting record already exists."


def test_sqlalchemy_other_integrity_errors_are_conflicts_with_their_own_detail() -> None:
    engine = sqlalchemy.create_engine("sqlite://")
    try:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("CREATE TABLE users (email TEXT NOT NULL)"))
            with pytest.raises(sa_exc.IntegrityError) as caught:
                conn.execute(sqlalchemy.text("INSERT INTO users VALUES (NULL)"))
    finally:
        engine.dispose()
    found = check(caught.value, Category.CONFLICT, 409, False)
    assert found.detail == "The request conflicts with the data already stored."


EXISTS = "A conflicting record already exists."
STORED = "The request conflicts with the data already stored."


class _PgError(Exception):
    def __init__(self, sqlstate: object) -> None:
        super().__init__("duplicate key value violates unique constraint")
        self.sqlstate = self.pgcode = sqlstate


class _BrokenDriverError(Exception):
    @property
    def sqlite_errorname(self) -> str:
        raise RuntimeError("boom")


@pytest.mark.parametrize(
    ("orig", "detail"),
    [
        (_PgError("23505"), EXISTS),  # unique_violation
        (_PgError("23503"), STORED),  # foreign_key_violation
        (Exception(1062, "Duplicate entry 'a' for key 'email'"), EXISTS),  # MySQL
        (Exception([1062], "unhashable"), STORED),
        (_BrokenDriverError(), STORED),
    ],
    ids=repr,
)
def test_sqlalchemy_integrity_error_detail_by_driver_code(orig: Exception, detail: str) -> None:
    found = check(sa_exc.IntegrityError("INSERT", {}, orig), Category.CONFLICT, 409, False)
    assert found.detail == detail


def test_sqlalchemy_operational_error_is_temporary(tmp_path: Path) -> None:
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'missing-dir' / 'app.db'}")
    try:
        with pytest.raises(sa_exc.OperationalError) as caught:
            engine.connect()
    finally:
        engine.dispose()
    check(caught.value, TE, 503, True)
    assert classify(caught.value).detail == "The database is temporarily unavailable."


@pytest.mark.parametrize(
    "sql", ["SELEC 1", "SELECT * FROM no_such_table", "SELECT no_such_column FROM t"]
)
def test_sqlalchemy_over_sqlite_a_refused_statement_is_no_outage(sql: str) -> None:
    # sqlite3 raises a bad statement as OperationalError (SQLITE_ERROR), which
    # SQLAlchemy's class rule took for the database being down: 503, retry a bug.
    engine = sqlalchemy.create_engine("sqlite://")
    try:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("CREATE TABLE t (a INTEGER)"))
            with pytest.raises(sa_exc.OperationalError) as caught:
                conn.execute(sqlalchemy.text(sql))
    finally:
        engine.dispose()
    check(caught.value, P, 500, False)


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

    libraries = ("aiohttp", "yarl", "multidict", "httpx", "requests", "sqlalchemy")
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
    report["aiohttp_loaded"] = "interceptor.integrations.aiohttp" in sys.modules

    import aiohttp
    report["aiohttp_before"] = "interceptor.integrations.aiohttp" in sys.modules
    report["disconnected"] = classify(aiohttp.ServerDisconnectedError()).status
    report["aiohttp_after"] = "interceptor.integrations.aiohttp" in sys.modules
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
    assert report["aiohttp_loaded"] is False
    assert report["aiohttp_before"] is False
    assert report["disconnected"] == 502
    assert report["aiohttp_after"] is True


def test_the_aiohttp_rules_module_imports_aiohttp_only_to_register() -> None:
    script = (
        "import sys\n"
        "import interceptor.integrations.aiohttp as rules\n"
        "print('aiohttp' in sys.modules)\n"
        "rules.register()\n"
        "print('aiohttp' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.split() == ["False", "True"]
