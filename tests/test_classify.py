"""`classify`, `Classification`, `Category`, the registry and `classified`: no framework needed."""

from __future__ import annotations

import errno
import json
import logging
import socket
import ssl
import threading
import urllib.error
from datetime import UTC, datetime, timedelta
from email.message import Message
from typing import Any

import pytest

from interceptor import ApiError, Interceptor, Problem
from interceptor import _classify as classify_module
from interceptor._classify import (
    MAX_RETRY_AFTER,
    Category,
    Classification,
    classified,
    classify,
    classify_status,
    parse_retry_after,
    register_classifier,
    upstream,
)
from interceptor._delivery import delivery
from interceptor._request import RequestInfo
from interceptor._values import InlineHandler

T, TH, TE, P = Category.TIMEOUT, Category.THROTTLED, Category.TEMPORARY, Category.PERMANENT


@pytest.fixture(autouse=True)
def _restore_registry(restore_classifiers: None) -> None:
    """User registrations are global: undo the ones a test makes."""


def check(exc: BaseException, category: Category, status: int, retryable: bool) -> None:
    found = classify(exc)
    assert (found.category, found.status, found.retryable) == (category, status, retryable), (
        exc,
        found,
    )


# -- Category and Classification ----------------------------------------------------


@pytest.mark.parametrize(
    ("category", "status", "retryable"),
    [
        (Category.TIMEOUT, 504, True),
        (Category.THROTTLED, 429, True),
        (Category.TEMPORARY, 503, True),
        (Category.PERMANENT, 500, False),
        (Category.INVALID_ARGUMENT, 400, False),
        (Category.NOT_FOUND, 404, False),
        (Category.PERMISSION_DENIED, 403, False),
        (Category.UNAUTHENTICATED, 401, False),
        (Category.CONFLICT, 409, False),
    ],
)
def test_category_table(category: Category, status: int, retryable: bool) -> None:
    assert (category.status, category.retryable) == (status, retryable)
    assert category.value == category.name
    found = Classification(category)
    assert (found.status, found.retryable, found.retry_after) == (status, retryable, None)
    assert found.code == category.name
    assert found.slo is (status >= 500)


def test_every_category_has_defaults() -> None:
    for category in Category:
        assert 400 <= category.status <= 599


def test_classification_overrides_and_is_frozen() -> None:
    found = Classification(Category.TEMPORARY, 502, retry_after=timedelta(seconds=3))
    assert (found.status, found.retryable, found.retry_after) == (502, True, 3.0)
    assert found.slo
    assert not Classification(Category.NOT_FOUND).slo
    assert Classification(Category.PERMANENT, retryable=True).retryable
    with pytest.raises(AttributeError):
        found.status = 500  # type: ignore[misc]
    assert not hasattr(found, "__dict__")
    assert found == Classification(Category.TEMPORARY, 502, retry_after=3)
    assert found.with_retry_after(9).retry_after == 9.0


@pytest.mark.parametrize(
    ("args", "kwargs", "error"),
    [
        (("TIMEOUT",), {}, TypeError),
        ((Category.TIMEOUT, 200), {}, ValueError),
        ((Category.TIMEOUT, "504"), {}, TypeError),
        ((Category.TIMEOUT,), {"retry_after": -1}, ValueError),
        ((Category.TIMEOUT,), {"retryable": "yes"}, TypeError),
    ],
)
def test_classification_refuses_bad_values(
    args: tuple[Any, ...], kwargs: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        Classification(*args, **kwargs)


def test_every_category_has_a_fixed_detail_and_a_classification_takes_it() -> None:
    details = {category: category.detail for category in Category}
    assert all(text and text.endswith(".") for text in details.values())
    assert len(set(details.values())) == len(details)  # each says something of its own
    for category in Category:
        assert Classification(category).detail == category.detail
    assert Category.TIMEOUT.detail == "The operation timed out."
    assert Category.CONFLICT.detail == (
        "The request conflicts with the current state of the resource."
    )


def test_a_classification_detail_is_its_own_and_survives_a_delay() -> None:
    found = Classification(Category.THROTTLED, detail="Quota exceeded.")
    assert found.detail == "Quota exceeded."
    assert found.with_retry_after(5).detail == "Quota exceeded."
    assert Classification(Category.PERMANENT, detail="").detail == ""  # say nothing
    assert found != Classification(Category.THROTTLED)
    with pytest.raises(TypeError, match="detail"):
        Classification(Category.PERMANENT, detail=42)  # type: ignore[arg-type]


# -- the built-in table --------------------------------------------------------------


class _OwnOSError(OSError):
    """Not remapped by OSError.__new__, so only the errno rule can classify it."""


@pytest.mark.parametrize(
    ("exc", "category", "status", "retryable"),
    [
        (TimeoutError("slow"), T, 504, True),
        (PermissionError(errno.EACCES, "denied", "/srv/x"), Category.PERMISSION_DENIED, 403, False),
        (FileNotFoundError(errno.ENOENT, "missing", "/srv/x"), Category.NOT_FOUND, 404, False),
        (ConnectionRefusedError(), TE, 502, True),
        (ConnectionResetError(), TE, 502, True),
        (ConnectionAbortedError(), TE, 502, True),
        (BrokenPipeError(), TE, 502, True),
        (ConnectionError(), TE, 502, True),
        (InterruptedError(), TE, 503, True),
        (BlockingIOError(), TE, 503, True),
        # OSError by errno, for subclasses OSError.__new__ does not remap
        (_OwnOSError(errno.ETIMEDOUT, "x"), T, 504, True),
        (_OwnOSError(errno.ECONNREFUSED, "x"), TE, 502, True),
        (_OwnOSError(errno.ECONNRESET, "x"), TE, 502, True),
        (_OwnOSError(errno.ENETUNREACH, "x"), TE, 502, True),
        (_OwnOSError(errno.EHOSTUNREACH, "x"), TE, 502, True),
        (_OwnOSError(errno.EAGAIN, "x"), TE, 503, True),
        (_OwnOSError(errno.EINTR, "x"), TE, 503, True),
        (_OwnOSError(errno.EMFILE, "x"), TE, 503, True),
        (_OwnOSError(errno.ENFILE, "x"), TE, 503, True),
        (_OwnOSError(errno.EACCES, "x"), Category.PERMISSION_DENIED, 403, False),
        (_OwnOSError(errno.EPERM, "x"), Category.PERMISSION_DENIED, 403, False),
        (_OwnOSError(errno.ENOENT, "x"), Category.NOT_FOUND, 404, False),
        (OSError(errno.EMFILE, "too many open files"), TE, 503, True),
        (OSError(errno.ENOSPC, "disk full"), P, 500, False),
        (OSError("no errno"), P, 500, False),
        # ssl, before OSError
        (ssl.SSLCertVerificationError(1, "certificate verify failed"), P, 502, False),
        (ssl.CertificateError("hostname mismatch"), P, 502, False),
        (ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"), P, 502, False),
        (ssl.SSLEOFError(8, "EOF occurred in violation of protocol"), TE, 502, True),
        (ssl.SSLZeroReturnError(6, "TLS/SSL connection has been closed"), TE, 502, True),
        (ssl.SSLSyscallError(5, "Some I/O error occurred"), TE, 502, True),
        (ssl.SSLWantReadError(2, "The operation did not complete"), TE, 503, True),
        (ssl.SSLWantWriteError(3, "The operation did not complete"), TE, 503, True),
        # DNS, before OSError: resolver codes are not errno codes
        (socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"), TE, 502, True),
        (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), P, 502, False),
        (socket.herror(1, "Unknown host"), P, 502, False),
        # everything else
        (KeyError("x"), P, 500, False),
        (ValueError("bad"), P, 500, False),
        (RuntimeError(), P, 500, False),
    ],
    ids=repr,
)
def test_builtin_table(
    exc: BaseException, category: Category, status: int, retryable: bool
) -> None:
    check(exc, category, status, retryable)


UNREACHABLE = "The upstream service could not be reached."
HUNG_UP = "The upstream service closed the connection."
TLS = "The secure connection to the upstream service failed."


@pytest.mark.parametrize(
    ("exc", "detail"),
    [
        (TimeoutError("db.internal:5432 slow"), "The operation timed out."),
        (PermissionError(errno.EACCES, "denied", "/srv/x"), "Access to the resource is denied."),
        (FileNotFoundError(errno.ENOENT, "missing", "/srv/x"), Category.NOT_FOUND.detail),
        (ConnectionRefusedError(), UNREACHABLE),
        (ConnectionResetError(), HUNG_UP),
        (ConnectionAbortedError(), HUNG_UP),
        (BrokenPipeError(), HUNG_UP),
        (ConnectionError(), "The connection to the upstream service failed."),
        (_OwnOSError(errno.ECONNREFUSED, "x"), UNREACHABLE),
        (_OwnOSError(errno.ECONNRESET, "x"), HUNG_UP),
        (_OwnOSError(errno.EMFILE, "x"), Category.TEMPORARY.detail),
        (ssl.SSLCertVerificationError(1, "certificate verify failed"), TLS),
        (ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"), TLS),
        (ssl.SSLEOFError(8, "EOF occurred in violation of protocol"), HUNG_UP),
        (socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"), UNREACHABLE),
        (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), UNREACHABLE),
        (KeyError("secret"), "The request could not be completed."),
    ],
    ids=repr,
)
def test_builtin_details(exc: BaseException, detail: str) -> None:
    assert classify(exc).detail == detail


def test_subclass_is_checked_before_its_base() -> None:
    # Each of these would get the OSError/ConnectionError answer if the base came first.
    assert issubclass(ConnectionRefusedError, OSError)
    check(ConnectionRefusedError(errno.EACCES, "odd errno"), TE, 502, True)
    check(PermissionError(errno.ENOENT, "odd errno"), Category.PERMISSION_DENIED, 403, False)
    check(FileNotFoundError(errno.EACCES, "odd errno"), Category.NOT_FOUND, 404, False)
    check(TimeoutError(errno.EPERM, "odd errno"), T, 504, True)


def test_ssl_errors_are_not_swallowed_by_the_errno_rule() -> None:
    # An SSLError's errno is an OpenSSL code: 1 reads as EPERM, 2 as ENOENT.
    # The ssl branch must run first, or these come out as 403 and 404.
    assert ssl.SSLCertVerificationError(1, "x").errno == errno.EPERM
    assert ssl.SSLWantReadError(2, "x").errno == errno.ENOENT
    cert = classify(ssl.SSLCertVerificationError(1, "certificate verify failed"))
    assert cert.category is Category.PERMANENT
    assert cert.status != 403
    assert not cert.retryable
    want_read = classify(ssl.SSLWantReadError(2, "x"))
    assert want_read.category is Category.TEMPORARY
    assert want_read.status != 404
    # and CertificateError, which is also a ValueError, is the same class
    assert issubclass(ssl.CertificateError, ValueError)
    assert classify(ssl.CertificateError(1, "x")) == cert


def test_ssl_rules_registered_under_the_ssl_module_run() -> None:
    # The rule that answered is the ssl one, not the OSError errno one.
    rules = classify_module._rules(ssl.SSLCertVerificationError)
    assert rules[0] != rules[-1]
    assert rules[-1] is classify_module._by_errno


def test_urllib_http_error_is_an_upstream_answer() -> None:
    headers = Message()
    headers["Retry-After"] = "12"
    throttled = urllib.error.HTTPError("http://upstream.test/", 429, "Too Many", headers, None)
    found = classify(throttled)
    assert (found.category, found.status, found.retry_after) == (TH, 429, 12.0)
    forbidden = urllib.error.HTTPError("http://upstream.test/", 403, "Forbidden", Message(), None)
    check(forbidden, P, 502, False)
    check(urllib.error.URLError(ConnectionRefusedError()), TE, 502, True)
    check(urllib.error.URLError(TimeoutError()), T, 504, True)
    check(urllib.error.URLError("unknown url type: foo"), P, 500, False)
    assert classify(throttled).detail == "The upstream service answered 429 Too Many Requests."
    assert classify(forbidden).detail == "The upstream service refused our credentials."
    assert classify(urllib.error.URLError(ConnectionRefusedError())).detail == UNREACHABLE


def test_exception_group_with_one_leaf_is_classified_by_the_leaf() -> None:
    check(ExceptionGroup("g", [ExceptionGroup("h", [TimeoutError()])]), T, 504, True)
    check(ExceptionGroup("g", [TimeoutError(), TimeoutError()]), P, 500, False)


# -- duck typing -----------------------------------------------------------------------


class Ducky(Exception):
    def __init__(self, **attrs: object) -> None:
        super().__init__("ducky")
        for name, value in attrs.items():
            setattr(self, name, value)


class GoStyle(Exception):
    def __init__(self, temporary: bool, timeout: bool = False) -> None:
        super().__init__("go style")
        self._temporary = temporary
        self._timeout = timeout

    def temporary(self) -> bool:
        return self._temporary

    def timeout(self) -> bool:
        return self._timeout


@pytest.mark.parametrize(
    ("attrs", "category", "status", "retryable"),
    [
        ({"status": 503}, TE, 503, True),
        ({"status_code": 404}, Category.NOT_FOUND, 404, False),
        ({"status_code": 429}, TH, 429, True),
        ({"status": 401}, Category.UNAUTHENTICATED, 401, False),
        ({"status": 409}, Category.CONFLICT, 409, False),
        ({"status": 422}, Category.INVALID_ARGUMENT, 422, False),
        ({"status": 504}, T, 504, True),
        ({"status": 501}, P, 501, False),
        ({"status": 200}, P, 500, False),  # not an error status: ignored
        ({"status": "503"}, P, 500, False),  # not an int: ignored
        ({"status": True}, P, 500, False),
        ({"timeout": True}, T, 504, True),
        ({"timeout": False}, P, 500, False),
        ({"timeout": 30.0}, P, 500, False),  # a configured timeout, not a flag
        ({"temporary": True}, TE, 503, True),
        ({"temporary": False}, P, 500, False),
        ({"timeout": False, "temporary": True}, TE, 503, True),
        ({"retry_after": 5}, TE, 503, True),
        # in order: status, then timeout, then temporary
        ({"status": 404, "timeout": True}, Category.NOT_FOUND, 404, False),
        ({"timeout": True, "temporary": False}, T, 504, True),
        ({"status_code": 400, "temporary": True}, Category.INVALID_ARGUMENT, 400, False),
    ],
    ids=repr,
)
def test_duck_typed_attributes(
    attrs: dict[str, object], category: Category, status: int, retryable: bool
) -> None:
    check(Ducky(**attrs), category, status, retryable)


def test_duck_typed_methods() -> None:
    check(GoStyle(temporary=True), TE, 503, True)
    check(GoStyle(temporary=False), P, 500, False)
    check(GoStyle(temporary=False, timeout=True), T, 504, True)


def test_retry_after_number_or_timedelta() -> None:
    assert classify(Ducky(temporary=True, retry_after=7)).retry_after == 7.0
    assert classify(Ducky(temporary=True, retry_after=1.5)).retry_after == 1.5
    assert classify(Ducky(status=429, retry_after=timedelta(minutes=2))).retry_after == 120.0
    assert classify(Ducky(retry_after=timedelta(seconds=3))).retry_after == 3.0
    # a delay on an error nobody should retry is dropped
    assert classify(Ducky(temporary=False, retry_after=7)).retry_after is None
    # nonsense delays are ignored
    for bad in (-1, float("nan"), float("-inf"), "7", True):
        assert classify(Ducky(temporary=True, retry_after=bad)).retry_after is None


def test_an_upstreams_delay_given_as_a_number_is_capped_as_its_header_is() -> None:
    # The SDK's retry_after comes from the upstream's answer: relayed as our own
    # Retry-After, it is held to MAX_RETRY_AFTER as the header's value is.
    for huge in (1e30, 10**40, 10**400, float("inf"), timedelta.max, MAX_RETRY_AFTER + 1):
        assert classify(Ducky(temporary=True, retry_after=huge)).retry_after == MAX_RETRY_AFTER
        assert classify_status(503, retry_after=huge).retry_after == MAX_RETRY_AFTER
    assert classify_status(503, retry_after=str(10**30)).retry_after == MAX_RETRY_AFTER
    at_the_cap = Ducky(temporary=True, retry_after=MAX_RETRY_AFTER)
    assert classify(at_the_cap).retry_after == MAX_RETRY_AFTER


def test_retry_after_attribute_fills_in_a_builtin_answer() -> None:
    class SlowDown(TimeoutError):
        retry_after = 4

    assert classify(SlowDown()) == Classification(T, retry_after=4)


def test_broken_duck_typing_says_nothing() -> None:
    class Broken(Exception):
        @property
        def status(self) -> int:
            raise RuntimeError("boom")

        def temporary(self) -> bool:
            raise RuntimeError("boom")

        def timeout(self, needed: object) -> bool:
            return True

    check(Broken(), P, 500, False)


class _Sent:
    """A response the application sends itself: a status, and no request or URL."""

    def __init__(self, status_code: int) -> None:
        self.status_code = status_code
        self.headers = {"Retry-After": "9"}


class _Received(_Sent):
    """A response an HTTP client received: it names the request and URL it answers."""

    def __init__(self, status_code: int, headers: dict[str, str] | None = None) -> None:
        super().__init__(status_code)
        self.headers = headers or {}
        self.url = "http://billing.internal/charge?api_key=SECRET"
        self.request = object()


class ClientAnswerError(Exception):
    """Shaped like an SDK's error for an upstream's answer (openai's ``APIStatusError``)."""

    def __init__(self, response: object, status_code: int | None = None) -> None:
        super().__init__("Error code: 401 - {'error': 'invalid api key sk-...'}")
        self.response = response
        if status_code is not None:
            self.status_code = status_code


class RequestInfoError(Exception):
    """Shaped like aiohttp's ``ClientResponseError``: ``status``, ``request_info``, ``headers``."""

    __module__ = "someclient.errors"

    def __init__(self, status: int, headers: object = None) -> None:
        super().__init__(f"{status}, url='http://billing.internal/?api_key=SECRET'")
        self.status = status
        self.request_info = object()
        self.headers = headers


@pytest.mark.parametrize(
    ("exc", "category", "status", "retryable", "detail"),
    [
        (ClientAnswerError(_Received(401), 401), P, 502, False, "refused our credentials."),
        (ClientAnswerError(_Received(403)), P, 502, False, "refused our credentials."),
        (ClientAnswerError(_Received(404)), P, 502, False, "rejected our request."),
        (ClientAnswerError(_Received(503)), TE, 502, True, "is unavailable."),
        (ClientAnswerError(_Received(408)), T, 504, True, "timed out."),
        (RequestInfoError(401), P, 502, False, "refused our credentials."),
        (RequestInfoError(400), P, 502, False, "rejected our request."),
        (RequestInfoError(500), TE, 502, True, "is unavailable."),
        (RequestInfoError(200), P, 502, False, "gave an answer that could not be used."),
    ],
    ids=repr,
)
def test_an_http_clients_error_carries_the_upstreams_status_not_ours(
    exc: Exception, category: Category, status: int, retryable: bool, detail: str
) -> None:
    found = classify(exc)
    assert (found.category, found.status, found.retryable) == (category, status, retryable)
    assert found.detail == f"The upstream service {detail}"


def test_an_http_clients_429_carries_the_upstreams_retry_after() -> None:
    found = classify(RequestInfoError(429, {"retry-after": "11"}))
    assert (found.category, found.status, found.retry_after) == (TH, 429, 11.0)
    found = classify(ClientAnswerError(_Received(429, {"Retry-After": "4"})))
    assert (found.category, found.status, found.retry_after) == (TH, 429, 4.0)


def test_a_response_the_application_sends_is_no_upstreams_answer() -> None:
    # No request, no URL: the status is the exception's own, as duck typing says.
    check(ClientAnswerError(_Sent(404), 404), Category.NOT_FOUND, 404, False)
    check(ClientAnswerError(None, 409), Category.CONFLICT, 409, False)
    # An upstream's answer with no status anywhere says nothing; the rest decides.
    check(RequestInfoError(0), P, 500, False)

    class OurOwn(ApiError):
        status = 404
        response = _Received(503)

    check(OurOwn(), Category.NOT_FOUND, 404, False)  # an ApiError's status is ours


def test_a_hostile_upstream_answer_says_nothing_and_never_raises() -> None:
    class Headers:
        def get(self, name: str) -> str:
            raise RuntimeError("boom")

    class Lying:
        @property
        def url(self) -> str:
            raise RuntimeError("boom")

        @property
        def request(self) -> object:
            return object()

        @property
        def status_code(self) -> int:
            raise RuntimeError("boom")

    found = classify(RequestInfoError(429, Headers()))
    assert (found.category, found.retry_after) == (TH, None)
    check(ClientAnswerError(Lying(), 401), P, 502, False)  # status from the exception
    check(ClientAnswerError(Lying()), P, 500, False)  # none readable: nothing declared


def test_declared_http_statuses() -> None:
    class Gone(ApiError):
        status = 410
        code = "GONE"

    class Busy(ApiError):
        status = 503

    check(Gone(), Category.NOT_FOUND, 410, False)
    assert classify(Busy(retry_after=30)) == Classification(TE, 503, retry_after=30)


def test_classify_status_for_returned_responses() -> None:
    assert classify_status(503) == Classification(TE, 503)
    assert classify_status(503, retry_after="30").retry_after == 30.0
    assert classify_status(429, retry_after=timedelta(seconds=2)).retry_after == 2.0
    assert classify_status(502).slo
    assert not classify_status(404).slo
    assert classify_status(500) == Classification(P)
    assert classify_status(400, retry_after=5).retry_after is None
    with pytest.raises(ValueError, match="200"):
        classify_status(200)


# -- the registry ----------------------------------------------------------------------


class AppError(Exception):
    pass


class QuotaError(AppError):
    pass


class DailyQuotaError(QuotaError):
    pass


def test_register_a_category() -> None:
    check(QuotaError(), P, 500, False)
    register_classifier(QuotaError, Category.THROTTLED)
    check(QuotaError(), TH, 429, True)
    check(DailyQuotaError(), TH, 429, True)
    check(AppError(), P, 500, False)


def test_most_specific_registration_wins() -> None:
    register_classifier(AppError, Category.INVALID_ARGUMENT)
    register_classifier(DailyQuotaError, Category.THROTTLED)
    check(DailyQuotaError(), TH, 429, True)
    check(QuotaError(), Category.INVALID_ARGUMENT, 400, False)


def test_registering_again_replaces_and_invalidates_the_cache() -> None:
    register_classifier(QuotaError, Category.THROTTLED)
    check(QuotaError(), TH, 429, True)
    register_classifier(QuotaError, Classification(Category.TEMPORARY, 502))
    check(QuotaError(), TE, 502, True)


def test_user_registration_beats_builtin() -> None:
    check(TimeoutError(), T, 504, True)
    register_classifier(TimeoutError, Classification(Category.TEMPORARY, 503))
    check(TimeoutError(), TE, 503, True)
    register_classifier(OSError, Category.UNAUTHENTICATED)
    # a more specific built-in still beats a user's rule for a base class
    check(ConnectionRefusedError(), TE, 502, True)


def test_function_decides_from_the_instance() -> None:
    def by_message(exc: BaseException) -> Category | None:
        return Category.THROTTLED if "quota" in str(exc) else None

    register_classifier(AppError, by_message)
    check(AppError("quota exceeded"), TH, 429, True)
    check(AppError("other"), P, 500, False)


def test_function_returning_none_falls_through() -> None:
    calls: list[str] = []

    def specific(exc: BaseException) -> None:
        calls.append("specific")

    def general(exc: BaseException) -> Classification:
        calls.append("general")
        return Classification(Category.CONFLICT)

    register_classifier(QuotaError, specific)
    register_classifier(AppError, general)
    check(DailyQuotaError(), Category.CONFLICT, 409, False)
    assert calls == ["specific", "general"]


def test_function_returning_none_falls_through_to_builtin_then_duck_typing() -> None:
    register_classifier(TimeoutError, lambda exc: None)
    check(TimeoutError(), T, 504, True)

    class Flaky(AppError):
        temporary = True

    register_classifier(AppError, lambda exc: None)
    check(Flaky(), TE, 503, True)


def test_function_answers_per_instance_not_per_type() -> None:
    register_classifier(AppError, lambda exc: Category.TIMEOUT if exc.args else None)
    check(AppError("x"), T, 504, True)
    check(AppError(), P, 500, False)
    check(AppError("y"), T, 504, True)


def test_function_answer_gets_the_instance_delay() -> None:
    def throttled(exc: BaseException) -> Category:
        return Category.THROTTLED

    class Limited(AppError):
        retry_after = timedelta(seconds=8)

    register_classifier(AppError, throttled)
    assert classify(Limited()).retry_after == 8.0


def test_decorator_form_returns_the_function() -> None:
    @register_classifier(QuotaError)
    def quota(exc: BaseException) -> Category:
        return Category.THROTTLED

    assert callable(quota)
    assert quota(QuotaError()) is Category.THROTTLED
    check(QuotaError(), TH, 429, True)


def test_tuple_of_types() -> None:
    register_classifier((QuotaError, LookupError), Category.NOT_FOUND)
    check(QuotaError(), Category.NOT_FOUND, 404, False)
    check(KeyError(), Category.NOT_FOUND, 404, False)


def test_broken_function_is_logged_and_skipped(caplog: pytest.LogCaptureFixture) -> None:
    def broken(exc: BaseException) -> Category:
        raise RuntimeError("classifier bug")

    def wrong(exc: BaseException) -> object:
        return 503

    register_classifier(QuotaError, broken)
    register_classifier(AppError, wrong)  # type: ignore[arg-type]
    with caplog.at_level(logging.ERROR, logger="interceptor"):
        check(QuotaError(), P, 500, False)
        assert delivery.flush(5)  # the failure's line is emitted by the delivery worker
    assert "raised" in caplog.text
    assert "returned 503" in caplog.text


@pytest.mark.parametrize(
    ("exc_type", "value", "error", "match"),
    [
        (KeyboardInterrupt, Category.TIMEOUT, TypeError, "KeyboardInterrupt"),
        (ValueError(), Category.TIMEOUT, TypeError, "instance"),
        ("ValueError", Category.TIMEOUT, TypeError, "ValueError"),
        ((), Category.TIMEOUT, ValueError, "empty"),
        ((ValueError, int), Category.TIMEOUT, TypeError, "int"),
        (ValueError, "TIMEOUT", TypeError, "TIMEOUT"),
        (ValueError, 504, TypeError, "504"),
        (ValueError, Category, TypeError, "Category"),
    ],
)
def test_bad_registrations_fail_at_once(
    exc_type: Any, value: Any, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        register_classifier(exc_type, value)


# -- Retry-After and upstream answers ---------------------------------------------------


def test_parse_retry_after() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("120", now=now) == 120.0
    assert parse_retry_after(b" 7 ", now=now) == 7.0
    assert parse_retry_after("Wed, 01 Jan 2025 12:01:30 GMT", now=now) == 90.0
    assert parse_retry_after("Wed, 01 Jan 2025 11:00:00 GMT", now=now) == 0.0
    for bad in ("soon", "", "-5", "1.5", "²", None, 7):
        assert parse_retry_after(bad, now=now) is None
    # A zone offset beyond a C int, where the stdlib's date parser raises OverflowError.
    assert parse_retry_after("Wed, 01 Jan 2025 12:00:00 -99999999999999999999", now=now) is None


def test_an_upstreams_delay_is_capped_at_a_day_as_grpcs_is() -> None:
    # Relayed as our own Retry-After: 8,000 years, or 300 digits, is no advice
    # a client can follow, and some parse the header into a 32-bit int.
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("86400", now=now) == 86400.0
    assert parse_retry_after("86401", now=now) == 86400.0
    assert parse_retry_after("9" * 300, now=now) == 86400.0
    # Beyond float range: as long a delay as 300 digits, not none at all.
    assert parse_retry_after("9" * 400, now=now) == 86400.0
    assert parse_retry_after("9" * 5000, now=now) == 86400.0
    assert parse_retry_after("Wed, 21 Oct 9999 07:28:00 GMT", now=now) == 86400.0


def test_a_delay_beyond_float_range_is_the_longest_delay() -> None:
    class Busy(Exception):
        retry_after = 10**400
        temporary = True

    assert classify(Busy()).retry_after == MAX_RETRY_AFTER


@pytest.mark.parametrize(
    ("status", "category", "our_status", "retryable"),
    [
        (429, TH, 429, True),
        (408, T, 504, True),
        (500, TE, 502, True),
        (502, TE, 502, True),
        (503, TE, 502, True),
        (504, TE, 502, True),
        (401, P, 502, False),
        (403, P, 502, False),
        (404, P, 502, False),
        (302, P, 502, False),
        (None, P, 502, False),
    ],
)
def test_upstream(status: int | None, category: Category, our_status: int, retryable: bool) -> None:
    found = upstream(status)
    assert (found.category, found.status, found.retryable) == (category, our_status, retryable)


@pytest.mark.parametrize(
    ("status", "detail"),
    [
        (429, "The upstream service answered 429 Too Many Requests."),
        (408, "The upstream service timed out."),
        (500, "The upstream service is unavailable."),
        (503, "The upstream service is unavailable."),
        (401, "The upstream service refused our credentials."),
        (403, "The upstream service refused our credentials."),
        (407, "The upstream service refused our credentials."),
        (404, "The upstream service rejected our request."),
        (422, "The upstream service rejected our request."),
        (302, "The upstream service gave an answer that could not be used."),
        (None, "The upstream service gave an answer that could not be used."),
    ],
)
def test_upstream_details_are_fixed(status: int | None, detail: str) -> None:
    assert upstream(status, "5").detail == detail


# -- classified -------------------------------------------------------------------------


def render(exc: Exception, errors: Interceptor | None = None) -> tuple[int, dict[str, str], Any]:
    errors = errors or Interceptor({Exception: classified})
    leaf, values = errors.candidates(exc)
    outcome = errors.outcome(values[0], leaf, RequestInfo(path="/x"))
    assert outcome is not None
    return outcome.status, dict(outcome.headers), json.loads(outcome.body)


def test_classified_is_an_inline_handler() -> None:
    assert isinstance(classified, InlineHandler)
    Interceptor({OSError: classified})  # accepted as a handler value
    problem = classified.problem(TimeoutError())
    assert problem == Problem(
        status=504, code="TIMEOUT", retryable=True, detail="The operation timed out."
    )
    assert classified(object(), TimeoutError()) == problem
    assert repr(classified) == "interceptor.classified"


def test_classified_renders_the_classification() -> None:
    status, headers, body = render(TimeoutError("upstream slow"))
    assert status == 504
    assert headers["Content-Type"] == "application/problem+json"
    assert body["code"] == "TIMEOUT"
    assert body["retryable"] is True
    assert body["detail"] == "The operation timed out."  # fixed: never the message
    assert "upstream slow" not in json.dumps(body)
    assert "error_id" in body
    assert "Retry-After" not in headers


def test_classified_sends_retry_after_when_a_delay_is_known() -> None:
    status, headers, body = render(Ducky(status=429, retry_after=timedelta(seconds=2.5)))
    assert status == 429
    assert headers["Retry-After"] == "3"
    assert body["code"] == "THROTTLED"
    assert body["retryable"] is True


def test_classified_non_retryable_and_4xx() -> None:
    # A foreign exception's message may be a library's: the category's detail instead.
    status, _, body = render(Ducky(status_code=404))
    assert (status, body["code"], body["retryable"], body["detail"]) == (
        404,
        "NOT_FOUND",
        False,
        "The requested resource was not found.",
    )
    status, _, body = render(KeyError("secret"))
    assert (status, body["code"], body["retryable"]) == (500, "PERMANENT", False)


def test_classified_hides_system_error_messages() -> None:
    status, _, body = render(FileNotFoundError(errno.ENOENT, "No such file", "/srv/app/secret"))
    assert (status, body["code"], body["retryable"]) == (404, "NOT_FOUND", False)
    assert "/srv/app/secret" not in json.dumps(body)


def test_classified_keeps_an_api_errors_own_code() -> None:
    class Busy(ApiError):
        status = 503
        code = "BUSY"

    errors = Interceptor({Busy: classified})
    status, headers, body = render(Busy(retry_after=10), errors)
    assert (status, body["code"], body["retryable"], headers["Retry-After"]) == (
        503,
        "BUSY",
        True,
        "10",
    )


def test_classified_keeps_an_api_errors_own_message() -> None:
    class Taken(ApiError):
        status = 409

    status, _, body = render(Taken("email already registered"), Interceptor({Taken: classified}))
    assert (status, body["code"], body["detail"]) == (409, "CONFLICT", "email already registered")


def test_classified_shows_a_users_own_classification_detail() -> None:
    class QuotaExceeded(Exception):
        pass

    register_classifier(
        QuotaExceeded, Classification(Category.THROTTLED, retry_after=60, detail="Quota exceeded.")
    )
    status, headers, body = render(QuotaExceeded("tenant 7 at 10001/10000"))
    assert (status, headers["Retry-After"], body["detail"]) == (429, "60", "Quota exceeded.")
    register_classifier(QuotaExceeded, Classification(Category.THROTTLED, detail=""))
    assert "detail" not in render(QuotaExceeded("tenant 7"))[2]  # "" says nothing


def test_classified_never_shows_a_foreign_message_in_a_4xx() -> None:
    status, _, body = render(RequestInfoError(429, {"Retry-After": "3"}))
    assert (status, body["detail"]) == (429, "The upstream service answered 429 Too Many Requests.")
    assert "billing.internal" not in json.dumps(body)
    status, _, body = render(Ducky(status=409))
    assert (status, body["detail"]) == (409, Category.CONFLICT.detail)


def test_parse_retry_after_minus_zero_zone_means_utc() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Wed, 01 Jan 2025 12:00:10 -0000", now=now) == 10.0


def test_a_broken_rule_set_is_logged_once_and_classify_goes_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[str] = []

    def broken() -> None:
        calls.append("load")
        raise ImportError("no such library")

    monkeypatch.setitem(classify_module._LOADERS, "brokenlib", broken)
    monkeypatch.setattr(classify_module, "_loaded", set(classify_module._loaded))
    monkeypatch.setattr(classify_module, "_done", set(classify_module._done))
    error = type("BrokenLibError", (Exception,), {"__module__": "brokenlib.errors", "status": 503})
    other = type("OtherError", (error,), {"__module__": "brokenlib.other"})
    with caplog.at_level(logging.ERROR, logger="interceptor"):
        check(error(), TE, 503, True)
        check(other(), TE, 503, True)
        assert delivery.flush(5)  # the failure's line is emitted by the delivery worker
    assert calls == ["load"]
    assert "could not register the brokenlib classifiers" in caplog.text


def test_a_classification_racing_a_rule_set_being_registered_waits_for_its_rules(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The first classification of a library registers its rules; another
    # thread classifying one of its errors meanwhile saw the library as loaded
    # and answered without them (PERMANENT 500 for an upstream's timeout).
    error = type("SlowLibError", (Exception,), {"__module__": "slowlib.errors"})
    answers: list[Classification] = []

    def racer() -> None:
        answers.append(classify(error()))

    def load() -> None:
        other = threading.Thread(target=racer)
        other.start()
        # Fixed, the racer waits for this registration: it is still waiting here.
        other.join(timeout=0.5)
        classify_module.register_builtin(error, Category.TIMEOUT)
        threads.append(other)

    threads: list[threading.Thread] = []
    monkeypatch.setitem(classify_module._LOADERS, "slowlib", load)
    monkeypatch.setattr(classify_module, "_loaded", set(classify_module._loaded))
    monkeypatch.setattr(classify_module, "_done", set(classify_module._done))
    assert classify(error()).category is T
    threads[0].join()
    assert [found.category for found in answers] == [T]
