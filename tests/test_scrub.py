"""Scrubbing of crash reports and one-line log records, through Starlette, Flask and WSGI."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from flask import Flask
from hypothesis import example, given
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from interceptor import Interceptor, _scrub, _tracebacks
from interceptor._observe import Report
from interceptor._request import RequestInfo
from interceptor._scrub import (
    FILTERED,
    escape_control,
    is_sensitive_name,
    scrub_headers,
    scrub_query,
    scrub_text,
)
from interceptor._tracebacks import MAX_MESSAGE, format_bounded
from interceptor.flask import init_app
from interceptor.starlette import InterceptorMiddleware as AsgiInterceptor
from interceptor.wsgi import InterceptorMiddleware as WsgiInterceptor

# -- what a request carries that a report must not -------------------------------------------

LEAK = "s3cr3t"
# Every header the issue lists, plus the four scrubbed before it.
SECRET_HEADERS = {
    "Authorization": f"Bearer {LEAK}-1",
    "Cookie": f"session={LEAK}-2",
    "Proxy-Authorization": f"Basic {LEAK}-3",
    "X-Api-Key": f"{LEAK}-4",
    "X-Auth-Token": f"{LEAK}-5",
    "api-key": f"{LEAK}-6",
    "Set-Cookie": f"sid={LEAK}-7",
    "X-CSRF-Token": f"{LEAK}-8",
    "X-XSRF-TOKEN": f"{LEAK}-9",
    "Private-Token": f"{LEAK}-10",
    "X-Amz-Security-Token": f"{LEAK}-11",
    "X-Forwarded-For": "203.0.113.7",
    "X-Real-IP": "203.0.113.8",
}
KEPT_HEADERS = {"X-Request-Id": "req-1", "Accept": "application/json"}
SECRET_QUERY = f"token={LEAK}-a&api_key={LEAK}-b&password={LEAK}-c&access_token={LEAK}-d"
QUERY = f"{SECRET_QUERY}&q=kept&page=2"
SCRUBBED_QUERY = (
    "token=[Filtered]&api_key=[Filtered]&password=[Filtered]&access_token=[Filtered]&q=kept&page=2"
)
IPS = ("203.0.113.7", "203.0.113.8")
FORGED = "/a%0D%0AERROR%20interceptor:%20forged%00"


def assert_scrubbed(report: Report) -> None:
    for name, value in report.headers:
        assert LEAK not in value, (name, value)
        assert not any(ip in value for ip in IPS), (name, value)
    names = {name.lower() for name, _ in report.headers}
    assert {name.lower() for name in KEPT_HEADERS} <= names
    assert report.query_string == SCRUBBED_QUERY
    assert LEAK not in repr(report.headers) + report.query_string


def interceptor_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """The interceptor's records, polled for: a line with a traceback is emitted off the
    response path, and a short wait more shows that no second line follows."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if any(r.name == "interceptor" for r in caplog.records):
            time.sleep(0.1)
            break
        time.sleep(0.02)
    return [r for r in caplog.records if r.name == "interceptor"]


def assert_one_safe_line(records: Iterable[logging.LogRecord]) -> None:
    [record] = records
    message = record.getMessage()
    assert not any(char in message for char in "\r\n\x00"), message
    assert "/a\\x0d\\x0aERROR interceptor: forged\\x00" in message
    line = logging.Formatter("%(levelname)s %(name)s: %(message)s").format(
        logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None})
    )
    assert len(line.splitlines()) == 1


def wait_for(reports: list[Report]) -> Report:
    """The one report, polled for: delivery runs off the response path."""
    deadline = time.monotonic() + 5
    while not reports and time.monotonic() < deadline:
        time.sleep(0.02)
    [report] = reports
    return report


# -- the three stacks ---------------------------------------------------------------------


async def crash(request: Request) -> Response:
    raise RuntimeError("database is down")


def starlette_app(errors: Interceptor) -> Starlette:
    return Starlette(
        routes=[Route("/crash", crash)],
        middleware=[Middleware(AsgiInterceptor, interceptor=errors)],
    )


async def raising_asgi(scope: Any, receive: Any, send: Any) -> None:
    # No router matches a path with CR or LF in it: a plain app raises for any path.
    raise RuntimeError("database is down")


def flask_app(errors: Interceptor) -> Flask:
    app = Flask(__name__)

    @app.before_request  # before routing's 404, which a path with CR or LF would get
    def fail() -> None:
        raise RuntimeError("database is down")

    init_app(app, errors)
    return app


def raising_wsgi(environ: Any, start_response: Callable[..., Any]) -> list[bytes]:
    raise RuntimeError("database is down")


def asgi_client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


def wsgi_client(app: Any) -> httpx.Client:
    return httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://testserver")


# -- (a) the crash report carries no secret -----------------------------------------------


async def test_starlette_report_carries_no_secret() -> None:
    reports: list[Report] = []
    errors = Interceptor({RuntimeError: 500}, reporter=reports.append)
    headers = [*SECRET_HEADERS.items(), ("x_api_key", f"{LEAK}-12"), *KEPT_HEADERS.items()]
    async with asgi_client(starlette_app(errors)) as client:
        response = await client.get(f"/crash?{QUERY}", headers=headers)
        report = await asyncio.to_thread(wait_for, reports)
    assert response.status_code == 500
    assert report.error_id == response.json()["error_id"]
    assert_scrubbed(report)


def test_flask_report_carries_no_secret() -> None:
    reports: list[Report] = []
    app = flask_app(Interceptor({RuntimeError: 500}, reporter=reports.append))
    client = app.test_client()
    client.set_cookie("session", f"{LEAK}-jar")  # the test client sends its jar, not a header
    response = client.get(f"/crash?{QUERY}", headers={**SECRET_HEADERS, **KEPT_HEADERS})
    assert response.status_code == 500
    assert_scrubbed(wait_for(reports))


def test_wsgi_report_carries_no_secret() -> None:
    reports: list[Report] = []
    errors = Interceptor({RuntimeError: 500}, reporter=reports.append)
    with wsgi_client(WsgiInterceptor(raising_wsgi, interceptor=errors)) as client:
        response = client.get(f"/crash?{QUERY}", headers={**SECRET_HEADERS, **KEPT_HEADERS})
    assert response.status_code == 500
    assert_scrubbed(wait_for(reports))


async def test_a_report_has_no_client_address_unless_asked_and_a_hook_scrubs_more() -> None:
    reports: list[Report] = []
    errors = Interceptor({RuntimeError: 500}, reporter=reports.append)
    asked = Interceptor(
        {RuntimeError: 500},
        reporter=reports.append,
        report_client_address=True,
        scrub_report=lambda report: dataclasses.replace(report, path="/[redacted]"),
    )
    async with asgi_client(starlette_app(errors)) as client:
        await client.get("/crash")
        report = await asyncio.to_thread(wait_for, reports)
    assert report.client is None
    reports.clear()
    async with asgi_client(starlette_app(asked)) as client:
        await client.get("/crash")
        report = await asyncio.to_thread(wait_for, reports)
    assert report.client is not None
    assert report.path == "/[redacted]"
    with pytest.raises(TypeError, match="report_client_address must be a bool"):
        Interceptor(report_client_address="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="scrub_report must be callable"):
        Interceptor(scrub_report="no")  # type: ignore[arg-type]



# -- (c) credentials in an exception's text are not in the log line or the report ----------

UPSTREAM = f"https://svc:{LEAK}-pw@billing.internal/v1/charge?access_token={LEAK}-tok&amount=5"


async def test_credentials_in_exception_text_are_scrubbed_off_the_response_path(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    upstream = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(503)))

    def pay(request: Request) -> Response:
        upstream.get(UPSTREAM).raise_for_status()
        return Response()

    def missing(request: Request) -> Response:
        raise LookupError(UPSTREAM)  # a 4xx: counted and logged, never with its text

    scrubbed_in: list[str] = []

    def spy(text: str) -> str:
        scrubbed_in.append(threading.current_thread().name)
        return _scrub.scrub_text(text)

    monkeypatch.setattr(_tracebacks, "scrub_text", spy)
    reports: list[Report] = []
    errors = Interceptor({LookupError: 404, Exception: 500}, reporter=reports.append)
    app = Starlette(
        routes=[Route("/pay", pay), Route("/missing", missing)],
        middleware=[Middleware(AsgiInterceptor, interceptor=errors)],
    )
    with caplog.at_level(logging.INFO, logger="interceptor"):
        async with asgi_client(app) as client:
            assert (await client.get("/missing")).status_code == 404
            assert (await client.get("/pay")).status_code == 500
        report = await asyncio.to_thread(wait_for, reports)
        assert errors.flush(5)
    logged = caplog.text
    for text in (logged, report.traceback):
        assert LEAK not in text
        assert f"https://svc:{FILTERED}@billing.internal/v1/charge" in text
        assert f"?access_token={FILTERED}&amount=5" in text
        assert "HTTPStatusError: Server error '503 Service Unavailable'" in text
    # Only the 5xx's log line and report are scrubbed, both by the delivery worker.
    assert len(scrubbed_in) == 2
    assert threading.main_thread().name not in scrubbed_in


@pytest.mark.parametrize(
    ("text", "scrubbed"),
    [
        (
            "for url 'https://svc:pw@h/v1?access_token=tok&amount=5'",
            f"for url 'https://svc:{FILTERED}@h/v1?access_token={FILTERED}&amount=5'",
        ),
        ("postgresql://app:p%40ss@db:5432/app", f"postgresql://app:{FILTERED}@db:5432/app"),
        ("amqp://app:p@ss:w@rd@mq/", f"amqp://app:{FILTERED}@mq/"),  # userinfo ends at the last @
        ("redis://:pw@cache:6379/0", f"redis://:{FILTERED}@cache:6379/0"),
        # A lone userinfo is a token as often as a name (GitHub's and GitLab's form).
        ("https://user@host/p and mailto:a@b.c", f"https://{FILTERED}@host/p and mailto:a@b.c"),
        ("git clone https://ghp_PAT123@github.internal/o/r", f"git clone https://{FILTERED}@github.internal/o/r"),
        ("https://host/p/@v1 and x@y", "https://host/p/@v1 and x@y"),
        # OAuth's implicit flow puts the token in the fragment.
        ("https://app/cb#access_token=FRAG&expires_in=60", f"https://app/cb#access_token={FILTERED}&expires_in=60"),
        ("see issue #42 and #top", "see issue #42 and #top"),
        ("https://host:8443/p?q=a@b", "https://host:8443/p?q=a@b"),
        ("GET https://h/p?q=shoes&api_key=k#top", f"GET https://h/p?q=shoes&api_key={FILTERED}#top"),
        ("https://h/blob?sp=r&se=2030&sig=abc;x=1", f"https://h/blob?sp=r&se=2030&sig={FILTERED};x=1"),
        ("a\nhttps://h/?password=x\nb", f"a\nhttps://h/?password={FILTERED}\nb"),
        ("is it? token=x", "is it? token=x"),
        ("x = a if b else c", "x = a if b else c"),
    ],
)
def test_scrub_text(text: str, scrubbed: str) -> None:
    assert scrub_text(text) == scrubbed
    assert scrub_text(scrubbed) == scrubbed


@given(st.text(st.characters(blacklist_characters="?:#")))
def test_scrub_text_keeps_text_with_no_url_or_query(text: str) -> None:
    assert scrub_text(text) == text


def test_a_message_cut_at_its_bound_is_scrubbed_before_it_is_cut() -> None:
    # The cut falls inside the password: what is kept must not hold the part before it.
    message = "x" * (MAX_MESSAGE - 20) + f" https://svc:{LEAK}{LEAK}{LEAK}@host/"
    text = format_bounded(RuntimeError(message))
    assert LEAK[:3] not in text.replace("x" * 100, "")
    assert "more characters]" in text


def test_an_ipv6_client_address_keeps_its_port_apart() -> None:
    # "2001:db8::1" and port 443 made "2001:db8::1:443": another IPv6 address,
    # which the Sentry reporter then sent as the client's.
    scope = {"type": "http", "client": ("2001:db8::1", 443)}
    assert RequestInfo.from_scope(scope).client == "[2001:db8::1]:443"
    environ = {"REMOTE_ADDR": "2001:db8::1", "REMOTE_PORT": "443"}
    assert RequestInfo.from_environ(environ).client == "[2001:db8::1]:443"
    assert RequestInfo.from_scope({"client": ("203.0.113.7", 5)}).client == "203.0.113.7:5"
    assert RequestInfo.from_environ({"REMOTE_ADDR": "2001:db8::1"}).client == "2001:db8::1"


# -- (b) a forged path gives one log line -------------------------------------------------


async def test_asgi_forged_path_logs_one_line(caplog: pytest.LogCaptureFixture) -> None:
    app = AsgiInterceptor(raising_asgi, interceptor=Interceptor({RuntimeError: 500}))
    with caplog.at_level(logging.DEBUG, logger="interceptor"):
        async with asgi_client(app) as client:
            response = await client.get(FORGED)
        records = await asyncio.to_thread(interceptor_records, caplog)
    assert response.status_code == 500
    assert_one_safe_line(records)


def test_flask_forged_path_logs_one_line(caplog: pytest.LogCaptureFixture) -> None:
    app = flask_app(Interceptor({RuntimeError: 500}))
    with caplog.at_level(logging.DEBUG, logger="interceptor"):
        response = app.test_client().get(FORGED)
        records = interceptor_records(caplog)
    assert response.status_code == 500
    assert_one_safe_line(records)


def test_wsgi_forged_path_logs_one_line(caplog: pytest.LogCaptureFixture) -> None:
    app = WsgiInterceptor(raising_wsgi, interceptor=Interceptor({RuntimeError: 500}))
    with caplog.at_level(logging.DEBUG, logger="interceptor"), wsgi_client(app) as client:
        response = client.get(FORGED)
        records = interceptor_records(caplog)
    assert response.status_code == 500
    assert_one_safe_line(records)


async def test_a_message_quoting_the_request_brings_no_control_character_into_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A path parameter in the message: CR, an escape sequence (clear the
    # screen), a bidi override and NUL reached the log line's traceback raw.
    async def tenant(request: Request) -> Response:
        raise RuntimeError(f"no tenant {request.path_params['t']}\nsecond line\tkept")

    errors = Interceptor({RuntimeError: 500})
    app = Starlette(
        routes=[Route("/t/{t}", tenant)],
        middleware=[Middleware(AsgiInterceptor, interceptor=errors)],
    )
    with caplog.at_level(logging.ERROR, logger="interceptor"):
        async with asgi_client(app) as client:
            response = await client.get("/t/x%0D%1B%5B2J%E2%80%AEevil%00")
        assert await asyncio.to_thread(errors.flush, 10)
    assert response.status_code == 500
    [record] = [r for r in caplog.records if r.name == "interceptor"]
    text = logging.Formatter("%(message)s").format(record)
    assert not any(char in text for char in "\r\x1b\u202e\x00"), repr(text)
    assert "RuntimeError: no tenant x\\x0d\\x1b[2J\\u202eevil\\x00\nsecond line\tkept" in text


def test_format_bounded_escapes_control_characters_in_messages_only() -> None:
    try:
        raise ValueError("a\rb\x1b[31mc\u2028d\ud800\ne\tf")
    except ValueError as exc:
        text = format_bounded(exc)
    assert text.endswith("ValueError: a\\x0db\\x1b[31mc\\u2028d\\ud800\ne\tf\n")


# -- which names are sensitive ------------------------------------------------------------

# The list, the names scrubbed before it, and the Sentry SDK's defaults
# (sentry_sdk.scrubber.DEFAULT_DENYLIST and DEFAULT_PII_DENYLIST).
SENSITIVE_NAMES = [
    *SECRET_HEADERS,
    "Forwarded",
    "token",
    "api_key",
    "password",
    "access_token",
    # sentry_sdk.scrubber.DEFAULT_DENYLIST
    "password",
    "passwd",
    "secret",
    "api_key",
    "apikey",
    "auth",
    "credentials",
    "mysql_pwd",
    "privatekey",
    "private_key",
    "token",
    "session",
    "csrftoken",
    "sessionid",
    "x_csrftoken",
    "x_forwarded_for",
    "set_cookie",
    "cookie",
    "authorization",
    "x_api_key",
    "aiohttp_session",
    "connect.sid",
    "csrf_token",
    "csrf",
    "_csrf",
    "_csrf_token",
    "PHPSESSID",
    "_session",
    "symfony",
    "user_session",
    "_xsrf",
    "XSRF-TOKEN",
    # sentry_sdk.scrubber.DEFAULT_PII_DENYLIST
    "x_forwarded_for",
    "x_real_ip",
    "ip_address",
    "remote_addr",
    # more seen in the wild
    "X-Client-IP",
    "True-Client-IP",
    "CF-Connecting-IP",
    "X-Original-Forwarded-For",
    "Ocp-Apim-Subscription-Key",
    "X-Goog-Api-Key",
    "X-Amz-Signature",
    "X-Amz-Credential",
    "sig",
    "clientSecret",
    "accessKey",
    "refresh_token",
    "id_token",
    "oauth_verifier",
    "JSESSIONID",
    "user[password]",
]
HARMLESS_NAMES = [
    "Accept",
    "Accept-Encoding",
    "Accept-Language",
    "Cache-Control",
    "Connection",
    "Content-Length",
    "Content-Type",
    "Host",
    "Keep-Alive",
    "Origin",
    "Referer",
    "User-Agent",
    "Upgrade",
    "Via",
    "Pragma",
    "Range",
    "If-None-Match",
    "If-Modified-Since",
    "Sec-Fetch-Mode",
    "traceparent",
    "tracestate",
    "X-Request-Id",
    "X-Forwarded-Proto",
    "X-Forwarded-Host",
    "X-Forwarded-Port",
    "q",
    "page",
    "sort",
    "limit",
    "author",
    "authority",
    "monkey",
    "turkey",
    "hockey",
    "keyboard",
    "zip",
    "description",
    "strip",
]


def spellings(name: str) -> set[str]:
    """``name`` as clients and servers spell it: any case, ``-`` or ``_``."""
    forms = {name, name.lower(), name.upper(), name.title()}
    return (
        forms
        | {form.replace("-", "_") for form in forms}
        | {form.replace("_", "-") for form in forms}
    )


@pytest.mark.parametrize("name", sorted(set(SENSITIVE_NAMES)))
def test_every_listed_name_is_sensitive_however_spelled(name: str) -> None:
    for spelling in spellings(name):
        assert is_sensitive_name(spelling), spelling
        assert scrub_headers([(spelling, "v")]) == ((spelling, FILTERED),)
        assert scrub_query(f"{spelling}=v&q=1") == f"{spelling}={FILTERED}&q=1"


@pytest.mark.parametrize("name", HARMLESS_NAMES)
def test_harmless_names_are_kept_however_spelled(name: str) -> None:
    for spelling in spellings(name):
        assert not is_sensitive_name(spelling), spelling
        assert scrub_headers([(spelling, "v")]) == ((spelling, "v"),)
        assert scrub_query(f"{spelling}=v") == f"{spelling}=v"


def test_scrub_headers_keeps_order_duplicates_and_names() -> None:
    headers = [
        ("Accept", "*/*"),
        ("Cookie", "a=1"),
        ("cookie", "b=2"),
        ("X-Trace", "t"),
        ("Referer", f"https://example.com/back?q=1&token={LEAK}"),
    ]
    assert scrub_headers(headers) == (
        ("Accept", "*/*"),
        ("Cookie", FILTERED),
        ("cookie", FILTERED),
        ("X-Trace", "t"),
        ("Referer", f"https://example.com/back?q=1&token={FILTERED}"),
    )
    assert scrub_headers([("Referer", "https://example.com/")]) == (
        ("Referer", "https://example.com/"),
    )


@pytest.mark.parametrize(
    ("query", "scrubbed"),
    [
        ("", ""),
        ("q=1", "q=1"),
        ("token", "token"),  # no value, nothing to hide
        ("token=", "token="),
        ("a=%2F+b&&token=x&", f"a=%2F+b&&token={FILTERED}&"),
        ("a=1;session=x;b=2", f"a=1;session={FILTERED};b=2"),  # some servers split on ";"
        ("api%5Fkey=x", f"api%5Fkey={FILTERED}"),  # compared decoded
        ("pass+word=x", f"pass+word={FILTERED}"),
        ("token=a=b&q=c=d", f"token={FILTERED}&q=c=d"),
        ("q=%ZZ&x=%C3", "q=%ZZ&x=%C3"),  # not valid escapes: kept as they are
    ],
)
def test_scrub_query(query: str, scrubbed: str) -> None:
    assert scrub_query(query) == scrubbed


query_names = st.sampled_from([*SENSITIVE_NAMES, *HARMLESS_NAMES]) | st.text(max_size=6)
query_values = st.text(max_size=8)


@given(st.lists(st.tuples(query_names, query_values), max_size=8), st.sampled_from("&;"))
def test_scrub_query_changes_only_sensitive_values(
    pairs: list[tuple[str, str]], separator: str
) -> None:
    # Percent-encoded as a client sends them: "&", ";" and "=" stay inside a name or value.
    encoded = [
        (quote(name, errors="surrogatepass"), quote(value, errors="surrogatepass"))
        for name, value in pairs
    ]
    query = separator.join(f"{name}={value}" for name, value in encoded)
    expected = separator.join(
        f"{name}={FILTERED if value and is_sensitive_name(raw) else value}"
        for (name, value), (raw, _) in zip(encoded, pairs, strict=True)
    )
    assert scrub_query(query) == expected


def test_the_name_cache_is_bounded() -> None:
    _scrub._cached.cache_clear()
    assert is_sensitive_name("x-" * 100 + "token")  # too long to cache, still tested
    assert _scrub._cached.cache_info().currsize == 0
    for index in range(3000):
        assert not is_sensitive_name(f"x-name-{index}")
    assert _scrub._cached.cache_info().currsize == _scrub._cached.cache_info().maxsize == 1024


# -- log lines stay one line ---------------------------------------------------------------

BIDI = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def is_control(char: str) -> bool:
    return unicodedata.category(char) in {"Cc", "Zl", "Zp", "Cs"} or char in BIDI


@given(st.text())
@example("/a\r\nERROR interceptor: forged\x00")
@example("\x7f\x85\x9f\u2028\u2029\u202e\ud800\t\v\f\x1c\x1d\x1e")
def test_escape_control_leaves_no_control_character(text: str) -> None:
    escaped = escape_control(text)
    assert not any(is_control(char) for char in escaped)
    assert len(escaped.splitlines()) <= 1
    assert escape_control(escaped) == escaped
    escaped.encode("utf-8")  # no lone surrogate left either


@given(st.text(st.characters(exclude_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"))))
@example("GET /a\\x0d\\x0a \\u2028 é ü 中文 🙂 \\")
def test_escape_control_keeps_printable_text(text: str) -> None:
    assert escape_control(text) == text


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("\r\n", "\\x0d\\x0a"),
        ("\x00", "\\x00"),
        ("\t", "\\x09"),
        ("\x7f", "\\x7f"),
        ("\x85", "\\x85"),
        ("\u2028\u2029", "\\u2028\\u2029"),
        ("\u202e", "\\u202e"),
        ("\udc80", "\\udc80"),
        ("a\\x0a", "a\\x0a"),  # a backslash is printable: kept
    ],
)
def test_escape_control_escapes(text: str, escaped: str) -> None:
    assert escape_control(text) == escaped


# -- RequestInfo scrubs whatever way the request came in -----------------------------------


def test_request_info_from_a_scope_scrubs_headers_and_query() -> None:
    scope = {
        "type": "http",
        "path": "/x",
        "query_string": f"token={LEAK}&q=1".encode(),
        "headers": [
            (b"x_api_key", LEAK.encode()),  # underscores reach an ASGI app as sent
            (b"x-forwarded-for", b"203.0.113.7"),
            (b"accept", b"*/*"),
        ],
        "client": ("203.0.113.7", 51234),
    }
    info = RequestInfo.from_scope(scope)
    assert info.query_string == f"token={FILTERED}&q=1"
    assert info.headers == (
        ("x_api_key", FILTERED),
        ("x-forwarded-for", FILTERED),
        ("accept", "*/*"),
    )
    assert info.client == "203.0.113.7:51234"
    assert info.scrubbed_client() is None
    assert info.scrubbed_client(include=True) == "203.0.113.7:51234"
    assert LEAK not in repr(info)
    assert "203.0.113.7" not in repr(info)


def test_request_info_from_an_environ_scrubs_headers_and_query() -> None:
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/x",
        "QUERY_STRING": f"password={LEAK}&q=1",
        "HTTP_X_AUTH_TOKEN": LEAK,
        "HTTP_X_REAL_IP": "203.0.113.8",
        "HTTP_ACCEPT": "*/*",
        "REMOTE_ADDR": "203.0.113.8",
    }
    info = RequestInfo.from_environ(environ)
    assert info.query_string == f"password={FILTERED}&q=1"
    assert dict(info.headers) == {"X-Auth-Token": FILTERED, "X-Real-Ip": FILTERED, "Accept": "*/*"}
    assert (info.client, info.scrubbed_client()) == ("203.0.113.8", None)


def test_request_info_built_directly_is_scrubbed_too() -> None:
    info = RequestInfo("GET", "/x", f"api_key={LEAK}", "203.0.113.9", [("Cookie", LEAK)])
    assert (info.query_string, info.headers) == (f"api_key={FILTERED}", (("Cookie", FILTERED),))
    assert info.scrubbed_client() is None


def test_leaving_the_client_out_reads_nothing() -> None:
    class Unread(dict[str, Any]):
        def get(self, key: str, default: Any = None) -> Any:
            if key not in ("method", "path", "app"):  # "app": its debug flag
                raise AssertionError(f"read {key}")
            return super().get(key, default)

    info = RequestInfo.from_scope(Unread(method="GET", path="/x"))
    assert info.scrubbed_client() is None
    assert info.scrubbed_client(include=False) is None


def test_a_url_with_a_port_then_an_email_address_is_no_password() -> None:
    """Compact JSON or a repr holding a URL with a port and, later, an email
    address: no userinfo spans the quotes between them, and the text stays."""
    from interceptor._scrub import scrub_text  # noqa: PLC0415

    for text in (
        '{"upstream":"http://db:5432","owner":"root@example.com"}',
        "('http://cache:6379', 'alice@example.com')",
    ):
        assert scrub_text(text) == text
    assert scrub_text("'https://svc:pw@h/x'") == "'https://svc:[Filtered]@h/x'"
