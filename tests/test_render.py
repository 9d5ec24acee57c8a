"""What the core renders: every handler return form, and the error body itself."""

from __future__ import annotations

import functools
import json
import logging
import math
from datetime import timedelta
from http import HTTPStatus
from typing import Any

import pytest

from interceptor import ApiError, ErrorInfo, Interceptor, Problem
from interceptor._render import Outcome
from interceptor._request import RequestInfo

GET = RequestInfo(method="GET", path="/things/1")
HEAD = RequestInfo(method="HEAD", path="/things/1")


class ThingNotFound(ApiError):
    status = 404
    code = "RENDER_THING_NOT_FOUND"


class Overloaded(ApiError):
    status = 503
    code = "RENDER_OVERLOADED"
    title = "Try Again Soon"


def render(
    value: object,
    exc: BaseException,
    errors: Interceptor | None = None,
    request: RequestInfo = GET,
    handler: object = None,
) -> Outcome:
    out = (errors or Interceptor()).outcome(value, exc, request, handler=handler)
    assert out is not None
    return out


def header(out: Outcome, name: str) -> list[str]:
    return [v for k, v in out.headers if k.lower() == name.lower()]


def body_of(out: Outcome) -> dict[str, Any]:
    text = out.body.decode("utf-8")  # strict: the body must be valid UTF-8
    body = json.loads(text)
    assert isinstance(body, dict)
    assert header(out, "Content-Length") == [str(len(out.body))]
    return body


def raised(exc: BaseException) -> BaseException:
    """`exc` with a traceback, as an intercepted exception has."""
    try:
        raise exc
    except BaseException as caught:
        return caught


# -- every handler return form -----------------------------------------------------


def test_problem_is_rendered_filling_in_from_the_exception() -> None:
    out = render(Problem(status=409, code="TAKEN", user_id=42), LookupError("name taken"))
    assert out.status == 409
    assert header(out, "Content-Type") == ["application/problem+json"]
    assert body_of(out) == {
        "type": "about:blank",
        "title": "Conflict",
        "status": 409,
        "detail": "name taken",
        "code": "TAKEN",
        "retryable": False,
        "user_id": 42,
    }


def test_problem_detail_and_title_override_the_exception() -> None:
    problem = Problem(status=400, title="Bad Thing", detail="fixed text", type="https://e.x/bad")
    body = body_of(render(problem, ValueError("from the exception")))
    assert (body["title"], body["detail"], body["type"]) == (
        "Bad Thing",
        "fixed text",
        "https://e.x/bad",
    )


def test_int_gives_the_default_body_at_that_status() -> None:
    out = render(422, ValueError("age must be positive"))
    assert out.status == 422
    assert body_of(out) == {
        "type": "about:blank",
        "title": "Unprocessable Entity",
        "status": 422,
        "detail": "age must be positive",
        "retryable": False,
    }


def test_body_status_tuple_is_sent_as_json() -> None:
    out = render(({"message": "nope", "n": [1, 2]}, 418), ValueError())
    assert out.status == 418
    assert header(out, "Content-Type") == ["application/json"]
    assert body_of(out) == {"message": "nope", "n": [1, 2]}


def test_body_status_headers_tuple_keeps_good_headers_only() -> None:
    headers = {"X-Reason": "quota", "X-Evil": "a\r\nSet-Cookie: s=1", "Content-Type": "text/html"}
    out = render((["a", "b"], 429, headers), ValueError())
    assert out.status == 429
    assert json.loads(out.body) == ["a", "b"]
    assert header(out, "X-Reason") == ["quota"]
    assert header(out, "X-Evil") == []
    assert header(out, "Set-Cookie") == []
    assert header(out, "Content-Type") == ["application/json"]
    pairs = render(({}, 400, [("X-A", "1"), ("X-B", 2), "junk"]), ValueError())
    assert header(pairs, "X-A") == ["1"]
    assert header(pairs, "X-B") == ["2"]


@pytest.mark.parametrize("status", [204, 304])
def test_a_bodiless_status_goes_out_without_body_or_content_headers(status: int) -> None:
    out = render(({"a": 1}, status, {"X-Reason": "cached"}), ValueError())
    assert (out.status, out.body) == (status, b"")
    assert out.headers == (("X-Reason", "cached"),)


def test_a_key_error_detail_is_the_key_not_its_repr() -> None:
    # str(KeyError("kiwi")) is "'kiwi'": the quotes are Python's, not the message.
    assert body_of(render(404, KeyError("kiwi")))["detail"] == "kiwi"
    assert body_of(render(404, KeyError(42)))["detail"] == "42"
    assert body_of(render(404, KeyError("a", "b")))["detail"] == "('a', 'b')"
    assert "detail" not in body_of(render(404, KeyError()))

    class NoSuchItem(KeyError):
        pass

    class Described(KeyError):
        def __str__(self) -> str:
            return "no such item, described"

    assert body_of(render(404, NoSuchItem("kiwi")))["detail"] == "kiwi"
    assert body_of(render(404, Described("kiwi")))["detail"] == "no such item, described"


def test_none_declines() -> None:
    assert Interceptor().outcome(None, ValueError(), GET) is None


def on_thing(request: object, exc: BaseException) -> object:
    return None


@pytest.mark.parametrize(
    "returned",
    [
        "a string",
        ["a", "list"],
        True,
        False,
        ({}, 400, {}, "fourth"),
        ({"a": 1}, 700),
        ({"a": 1}, 99),
        ({"a": 1}, 100),
        ({"a": 1}, 103),
        ({"a": 1}, "404"),
        ({"a": 1}, True),
        ({"a": 1},),
        (),
        200,
        302,
        600,
        404.0,
        {"status": 404},
    ],
    ids=repr,
)
def test_a_bad_return_answers_500_and_logs_the_handler(
    returned: object, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="interceptor"):
        out = render(returned, ValueError("secret"), handler=on_thing)
    assert out.status == 500
    body = body_of(out)
    assert set(body) == {"type", "title", "status", "error_id"}
    assert body["status"] == 500
    assert body["title"] == "Internal Server Error"
    assert body["error_id"] == out.error_id
    records = [r for r in caplog.records if r.name == "interceptor" and r.levelno == logging.ERROR]
    assert len(records) == 1
    message = records[0].getMessage()
    assert "on_thing" in message
    assert repr(returned)[:50] in message


def test_a_bad_return_from_a_partial_names_the_wrapped_function(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="interceptor"):
        render("nope", ValueError(), handler=functools.partial(on_thing))
    assert "on_thing" in caplog.records[-1].getMessage()


def test_a_bad_return_whose_repr_raises_is_still_logged(caplog: pytest.LogCaptureFixture) -> None:
    class Unprintable:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    with caplog.at_level(logging.ERROR, logger="interceptor"):
        out = render(Unprintable(), ValueError(), handler=on_thing)
    assert out.status == 500
    assert "Unprintable" in caplog.records[-1].getMessage()


# -- detail, debug, error_id -------------------------------------------------------------


def test_4xx_detail_is_the_message_and_is_left_out_when_empty() -> None:
    assert body_of(render(404, LookupError("user 42 not found")))["detail"] == "user 42 not found"
    assert "detail" not in body_of(render(404, LookupError()))
    assert body_of(render(404, ThingNotFound("thing 7")))["detail"] == "thing 7"


@pytest.mark.parametrize("status", [500, 502, 503, 504, 599])
def test_5xx_never_shows_the_message_in_production(status: int) -> None:
    exc = raised(RuntimeError("password=hunter2"))
    out = render(status, exc)
    assert b"hunter2" not in out.body
    body = body_of(out)
    assert "detail" not in body
    assert "traceback" not in body
    assert "exception" not in body
    # Not from an ApiError's detail or a Problem's extensions of the exception either.
    assert b"hunter2" not in render(Problem(), Overloaded("password=hunter2")).body


def test_debug_5xx_shows_detail_type_and_traceback() -> None:
    exc = raised(RuntimeError("password=hunter2"))
    body = body_of(render(500, exc, Interceptor(debug=True)))
    assert body["detail"] == "password=hunter2"
    assert body["exception"] == "builtins.RuntimeError"
    trace = "".join(body["traceback"])
    assert "Traceback" in trace
    assert "RuntimeError: password=hunter2" in trace
    assert "raised" in trace  # the frame that raised it


def test_debug_adds_nothing_to_4xx() -> None:
    body = body_of(render(400, raised(ValueError("bad")), Interceptor(debug=True)))
    assert "traceback" not in body
    assert "exception" not in body


@pytest.mark.parametrize("status", [500, 501, 502, 503, 504, 507, 599])
def test_every_5xx_carries_an_error_id(status: int) -> None:
    first, second = render(status, ValueError()), render(status, ValueError())
    for out in (first, second):
        body = body_of(out)
        assert isinstance(body["error_id"], str)
        assert len(body["error_id"]) >= 16
        assert body["error_id"] == out.error_id
        assert out.info is not None
        assert out.info.error_id == out.error_id
    assert first.error_id != second.error_id
    assert body_of(render(Problem(status=status), ValueError()))["error_id"]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422, 429, 499])
def test_no_4xx_carries_an_error_id(status: int) -> None:
    out = render(status, ValueError())
    assert "error_id" not in body_of(out)
    assert out.error_id is None
    assert "error_id" not in body_of(render(Problem(status=status), ValueError()))


@pytest.mark.parametrize("status", [400, 401, 404, 405, 418, 429, 451, 500, 503, 511])
def test_title_is_the_reason_phrase(status: int) -> None:
    assert body_of(render(status, ValueError()))["title"] == HTTPStatus(status).phrase


def test_title_for_unassigned_statuses_and_from_api_error() -> None:
    assert body_of(render(499, ValueError()))["title"] == "Client Error"
    assert body_of(render(599, ValueError()))["title"] == "Server Error"
    assert body_of(render(Problem(), Overloaded()))["title"] == "Try Again Soon"


def test_code_comes_from_api_error_and_problem_overrides_it() -> None:
    assert body_of(render(Problem(), ThingNotFound()))["code"] == "RENDER_THING_NOT_FOUND"
    assert body_of(render(410, ThingNotFound()))["code"] == "RENDER_THING_NOT_FOUND"
    assert body_of(render(Problem(code="OTHER"), ThingNotFound()))["code"] == "OTHER"
    assert "code" not in body_of(render(404, LookupError()))


def test_api_error_status_and_user_message() -> None:
    exc = ThingNotFound("thing 7", user_message="We couldn't find that")
    out = render(Problem(), exc)
    assert out.status == 404
    assert body_of(out)["user_message"] == "We couldn't find that"
    assert render(Problem(status=400), exc).status == 400
    assert render(451, exc).status == 451


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (408, True),
        (429, True),
        (502, True),
        (503, True),
        (504, True),
        (400, False),
        (404, False),
        (409, False),
        (499, False),
        (500, None),
        (501, None),
    ],
)
def test_retryable_follows_the_status(status: int, retryable: bool | None) -> None:
    body = body_of(render(status, ValueError()))
    assert body.get("retryable", "absent") == ("absent" if retryable is None else retryable)


def test_problem_retryable_overrides_the_status() -> None:
    assert body_of(render(Problem(status=500, retryable=True), ValueError()))["retryable"] is True
    assert body_of(render(Problem(status=503, retryable=False), ValueError()))["retryable"] is False


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [(1.2, "2"), (30, "30"), (0, "0"), (timedelta(minutes=2), "120"), (0.001, "1")],
)
def test_retry_after_header_is_whole_seconds_rounded_up(
    retry_after: float | timedelta, expected: str
) -> None:
    out = render(Problem(status=503, retry_after=retry_after), ValueError())
    assert header(out, "Retry-After") == [expected]
    from_error = render(Problem(), Overloaded(retry_after=retry_after))
    assert header(from_error, "Retry-After") == [expected]


@pytest.mark.parametrize(
    ("value", "sent"),
    [
        (timedelta(minutes=1), ["60"]),
        (2.5, ["3"]),
        ("30", []),
        (-5, []),
        (math.nan, []),
        (math.inf, []),
    ],
    ids=repr,
)
def test_an_api_error_retry_after_set_after_init_is_read_as_init_reads_it(
    value: object, sent: list[str]
) -> None:
    # `exc.retry_after = timedelta(...)` raised TypeError out of the interceptor (a
    # plain 500), a NaN ValueError, and -5 went out as "Retry-After: -5".
    exc = Overloaded("busy")
    exc.retry_after = value  # type: ignore[assignment]
    for out in (render(Problem(), exc), render(Interceptor().resolve(exc), exc)):
        assert out.status == 503
        assert header(out, "Retry-After") == sent
        assert body_of(out)["status"] == 503


def test_retry_after_header_already_given_is_not_doubled() -> None:
    out = render(Problem(status=429, retry_after=5, headers={"retry-after": "7"}), ValueError())
    assert header(out, "Retry-After") == ["7"]
    assert "Retry-After" not in [k for k, _ in render(503, ValueError()).headers]


# -- JSON that cannot be encoded ----------------------------------------------------------


class BadStr:
    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def test_values_json_cannot_encode_become_strings_and_the_body_stays_json() -> None:
    circular: list[Any] = [1]
    circular.append(circular)
    problem = Problem(
        status=400,
        obj=object(),
        a_set={3},
        nan=math.nan,
        inf=-math.inf,
        raw=b"\xff",
        keys={1: "int", (1, 2): "tuple", None: "none"},
        broken=BadStr(),
        nested={"deep": [{"x": {1, 2}}]},
        huge=10**5000,
        circular=circular,
        ok=[1, "two", 3.5, None, True],
    )
    body = body_of(render(problem, ValueError()))
    assert body["obj"].startswith("<object object")
    assert body["a_set"] == "{3}"
    assert body["nan"] == "nan"
    assert body["inf"] == "-inf"
    assert body["raw"] == "b'\\xff'"
    assert set(body["keys"]) == {"1", "(1, 2)", "None"}
    assert body["broken"] == "<unprintable BadStr>"
    assert body["nested"] == {"deep": [{"x": "{1, 2}"}]}
    assert isinstance(body["huge"], str)
    assert body["circular"][0] == 1
    assert body["ok"] == [1, "two", 3.5, None, True]
    assert body["status"] == 400


def test_unencodable_values_in_a_body_status_tuple_and_api_error_extensions() -> None:
    out = render(({"when": timedelta(1), "n": math.inf}, 400), ValueError())
    assert body_of(out) == {"when": "1 day, 0:00:00", "n": "inf"}
    exc = ThingNotFound("x", thing=object(), ids={7})
    body = body_of(render(Problem(), exc))
    assert body["ids"] == "{7}"
    assert isinstance(body["thing"], str)


@pytest.mark.parametrize(
    "body", [object(), Problem(code="TAKEN"), {1, 2}, b"raw", Exception("internal detail")]
)
def test_a_tuple_whose_body_is_no_json_value_is_the_handlers_bug(
    body: object, caplog: pytest.LogCaptureFixture
) -> None:
    # Its str() would go out as the body: a repr with an address, or whatever
    # the object says of itself, which nobody wrote for the client.
    def handler(request: object, exc: BaseException) -> object:
        return body, 409

    with caplog.at_level(logging.ERROR, logger="interceptor"):
        out = render((body, 409), ValueError(), handler=handler)
    assert out.status == 500
    assert body_of(out)["status"] == 500
    assert "0x" not in out.body.decode()
    assert any("handler" in r.getMessage() and "409" in r.getMessage() for r in caplog.records)


def test_a_message_whose_str_raises_gives_no_detail_and_a_valid_body() -> None:
    class Broken(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    out = render(400, Broken())
    assert body_of(out)["status"] == 400
    assert "detail" not in body_of(out)


@pytest.mark.parametrize(
    "message",
    [
        "lone \ud800 surrogate",
        "low \udfff too",
        "ctrl \x00\x07\x1b\x7f end",
        'quote " and \\',
        "é ✓ 𝄞",
    ],
    ids=repr,
)
def test_any_message_gives_valid_utf8_json(message: str) -> None:
    out = render(Problem(status=400, note=message), ValueError(message))
    body = body_of(out)
    assert body["detail"] == message
    assert body["note"] == message
    flat = render(400, ValueError(message), Interceptor(body="flat"))
    assert body_of(flat)["error_description"] == message


# -- HEAD, headers, truncation ------------------------------------------------------------


def test_head_has_no_body_but_the_full_content_length() -> None:
    exc = ThingNotFound("thing 7")
    get = render(Problem(), exc)
    head = render(Problem(), exc, request=HEAD)
    assert head.body == b""
    assert head.status == 404
    assert header(head, "Content-Length") == [str(len(get.body))]
    assert len(get.body) > 0
    tuple_head = render(({"a": 1}, 400), exc, request=HEAD)
    assert tuple_head.body == b""
    assert header(tuple_head, "Content-Length") == [str(len(b'{"a":1}'))]


@pytest.mark.parametrize(
    "bad",
    [
        "a\r\nSet-Cookie: session=stolen",
        "a\nSet-Cookie: session=stolen",
        "a\rSet-Cookie: session=stolen",
        "nul\x00byte",
    ],
    ids=repr,
)
def test_header_values_with_cr_lf_or_nul_are_dropped(bad: str) -> None:
    problem = Problem(status=400, headers={"X-Ok": "fine", "X-Bad": bad})
    for exc in (ValueError(), ThingNotFound(headers={"X-From-Error": bad, "X-Also-Ok": "1"})):
        out = render(problem, exc)
        names = [k.lower() for k, _ in out.headers]
        assert "x-bad" not in names
        assert "x-from-error" not in names
        assert "set-cookie" not in names
        assert header(out, "X-Ok") == ["fine"]
        for name, value in out.headers:
            assert "\r" not in value
            assert "\n" not in value
            assert "\r" not in name
            assert "\n" not in name


@pytest.mark.parametrize("value", ["free ", " free", "\tfree\t", "free \t "], ids=repr)
def test_header_values_lose_the_whitespace_around_them(value: str) -> None:
    # RFC 9110 field values have none, and h11 (uvicorn) refuses to send one that
    # has: the client got an empty reply in place of the error response.
    h11 = pytest.importorskip("h11")
    for out in (
        render(Problem(status=429, headers={"X-Plan": value}), ValueError()),
        render(Problem(), ThingNotFound(headers={"X-Plan": value})),
        render(({}, 429, {"X-Plan": value}), ValueError()),
    ):
        assert header(out, "X-Plan") == ["free"]
        h11.Response(status_code=out.status, headers=out.raw_headers())


def test_bad_header_names_and_body_headers_are_dropped() -> None:
    problem = Problem(
        status=400,
        headers={"Bad Name": "1", "X-Colon:": "1", "Content-Type": "text/html", "X-Ok": "1"},
    )
    out = render(problem, ValueError())
    assert [k for k, _ in out.headers] == ["X-Ok", "Content-Type", "Content-Length"]
    assert header(out, "Content-Type") == ["application/problem+json"]


def test_api_error_headers_carry_over() -> None:
    exc = ThingNotFound(headers={"WWW-Authenticate": 'Bearer realm="x"'})
    assert header(render(Problem(), exc), "WWW-Authenticate") == ['Bearer realm="x"']


def test_long_detail_is_truncated_and_marked() -> None:
    errors = Interceptor(detail_limit=10)
    body = body_of(render(400, ValueError("x" * 50), errors))
    assert body["detail"].startswith("x" * 10)
    assert len(body["detail"]) == 11
    assert body["detail_truncated"] is True
    exact = body_of(render(400, ValueError("y" * 10), errors))
    assert exact["detail"] == "y" * 10
    assert "detail_truncated" not in exact
    default = body_of(render(400, ValueError("z" * 5000)))
    assert default["detail_truncated"] is True
    assert len(default["detail"]) == 4097


# -- body shapes and hooks ------------------------------------------------------------------


def test_flat_body_shape() -> None:
    errors = Interceptor(body="flat")
    out = render(Problem(), ThingNotFound("thing 7", user_message="Not here"), errors)
    assert header(out, "Content-Type") == ["application/json"]
    assert body_of(out) == {
        "error": "RENDER_THING_NOT_FOUND",
        "error_description": "thing 7",
        "user_message": "Not here",
        "status": 404,
        "retryable": False,
    }
    plain = body_of(render(404, LookupError("gone"), errors))
    assert plain["error"] == "NOT_FOUND"
    assert plain["user_message"] is None
    server = render(500, RuntimeError("secret"), errors)
    server_body = body_of(server)
    assert server_body["error"] == "INTERNAL_SERVER_ERROR"
    assert server_body["error_description"] == "Internal Server Error"
    assert server_body["error_id"] == server.error_id
    assert b"secret" not in server.body


def test_custom_body_builder() -> None:
    seen: list[ErrorInfo] = []

    def build(info: ErrorInfo) -> dict[str, Any]:
        seen.append(info)
        return {"oops": info.status, "why": info.detail, "code": info.code, "odd": {1, 2}}

    errors = Interceptor(body=build)
    exc = ThingNotFound("thing 7")
    out = render(Problem(), exc, errors)
    assert header(out, "Content-Type") == ["application/json"]
    assert body_of(out) == {
        "oops": 404,
        "why": "thing 7",
        "code": "RENDER_THING_NOT_FOUND",
        "odd": "{1, 2}",
    }
    (info,) = seen
    assert info.exception is exc
    assert info.retryable is False
    assert info.debug is False
    server = render(500, RuntimeError("secret"), errors)
    assert seen[-1].detail is None
    assert seen[-1].error_id == server.error_id


def test_a_rewrite_never_changes_a_dict_the_body_builder_keeps() -> None:
    template = {"error": "generic"}

    def rewrite(body: dict[str, Any], info: ErrorInfo) -> dict[str, Any]:
        body["status_seen"] = info.status  # rewrites in place, as hooks often do
        return body

    errors = Interceptor(body=lambda info: template, rewrite_body=rewrite)
    assert body_of(render(404, KeyError("a"), errors)) == {"error": "generic", "status_seen": 404}
    assert template == {"error": "generic"}


def test_rewrite_body_hook_sees_every_body() -> None:
    calls: list[tuple[dict[str, Any], ErrorInfo]] = []

    def rewrite(body: dict[str, Any], info: ErrorInfo) -> dict[str, Any]:
        calls.append((dict(body), info))
        return {**body, "request_id": "r-1", "title": info.title.upper()}

    for shape in ("problem", "flat"):
        errors = Interceptor(body=shape, rewrite_body=rewrite)  # type: ignore[arg-type]
        body = body_of(render(404, LookupError("x"), errors))
        assert body["request_id"] == "r-1"
    problem_body, info = calls[0]
    assert problem_body["title"] == "Not Found"
    assert info.status == 404
    assert body_of(render(404, LookupError(), Interceptor(rewrite_body=rewrite)))["title"] == (
        "NOT FOUND"
    )


def test_extension_members_from_problem_and_api_error_merge() -> None:
    exc = ThingNotFound("x", thing_id=7, shared="error")
    body = body_of(render(Problem(shared="problem", extra=True), exc))
    assert (body["thing_id"], body["shared"], body["extra"]) == (7, "problem", True)


def test_outcome_info_matches_the_body() -> None:
    out = render(Problem(status=429, retry_after=3), ThingNotFound("slow"))
    assert out.info is not None
    assert out.info.status == 429
    assert out.info.retry_after == 3.0
    assert out.info.detail == "slow"
    assert out.info.code == "RENDER_THING_NOT_FOUND"


def test_a_failing_body_builder_falls_back_to_the_default_body(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(info: ErrorInfo) -> dict[str, object]:
        raise RuntimeError("builder bug")

    for errors in (Interceptor(body=broken), Interceptor(rewrite_body=lambda body, info: 42)):
        with caplog.at_level(logging.ERROR, logger="interceptor"):
            outcome = errors.outcome(404, KeyError("k"), RequestInfo())
            assert errors.flush(5)  # the failure's line is emitted by the delivery worker
        assert outcome is not None
        assert json.loads(outcome.body)["status"] == 404
    assert sum("body builder" in r.getMessage() for r in caplog.records) == 2


def test_api_error_title_only_describes_its_own_status() -> None:
    class Overloaded(ApiError):
        status = 503
        title = "Try Again Soon"

    errors = Interceptor({Overloaded: 400})
    assert (
        json.loads(errors.outcome(400, Overloaded(), RequestInfo()).body)["title"] == "Bad Request"
    )  # type: ignore[union-attr]
    own = Interceptor().outcome(Problem(), Overloaded(), RequestInfo())
    assert json.loads(own.body)["title"] == "Try Again Soon"  # type: ignore[union-attr]


class CountingHeaders(list[tuple[bytes, bytes]]):
    """A scope's header list that counts how often it is read."""

    reads = 0

    def __iter__(self) -> Any:
        CountingHeaders.reads += 1
        return super().__iter__()


def test_request_info_decodes_headers_once_and_only_when_read() -> None:
    raw = CountingHeaders([(b"x-trace", b"t1"), (b"authorization", b"Bearer secret")])
    raw_auth = ("authorization", "Bearer secret")  # the constructor scrubs it too
    scope = {"type": "http", "method": "GET", "path": "/a", "query_string": b"q=1", "headers": raw}
    info = RequestInfo.from_scope(scope)
    assert CountingHeaders.reads == 0
    assert (info.method, info.path, info.query_string) == ("GET", "/a", "q=1")
    scrubbed = (("x-trace", "t1"), ("authorization", "[Filtered]"))
    assert info.headers == scrubbed
    assert info.headers == scrubbed
    assert CountingHeaders.reads == 1
    assert info == RequestInfo("GET", "/a", "q=1", None, [("x-trace", "t1"), raw_auth])
    assert "secret" not in repr(info)


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        (
            {"method": "POST", "path": "/api/x", "root_path": "/api", "query_string": b"a=%C3"},
            ("POST", "/api/x", "a=%C3", None),
        ),
        (
            {"path": "/x", "query_string": "already=text", "client": ["10.0.0.1", 5]},
            ("GET", "/x", "already=text", "10.0.0.1:5"),
        ),
        ({"client": None}, ("GET", "", "", None)),
    ],
)
def test_request_info_from_any_scope_the_servers_give(
    scope: dict[str, Any], expected: tuple[object, ...]
) -> None:
    info = RequestInfo.from_scope(scope)

    assert (info.method, info.path, info.query_string, info.client) == expected
    assert info.headers == ()


def test_request_info_from_an_environ() -> None:
    environ = {
        "REQUEST_METHOD": "PUT",
        "SCRIPT_NAME": "/app",
        "PATH_INFO": "/items/1",
        "QUERY_STRING": "v=2",
        "REMOTE_ADDR": "192.0.2.7",
        "REMOTE_PORT": "4242",
        "CONTENT_TYPE": "application/json",
        "HTTP_X_TRACE": "t1",
        "HTTP_COOKIE": "session=secret",
    }
    info = RequestInfo.from_environ(environ)

    assert (info.method, info.path, info.query_string) == ("PUT", "/app/items/1", "v=2")
    assert info.client == "192.0.2.7:4242"
    assert dict(info.headers) == {
        "Content-Type": "application/json",
        "X-Trace": "t1",
        "Cookie": "[Filtered]",
    }
    assert RequestInfo.from_environ({"REMOTE_ADDR": "192.0.2.7"}).client == "192.0.2.7"
    assert RequestInfo.from_environ({"REMOTE_PORT": "4242"}).client is None


# -- registered templates are rendered once, ahead, with holes ------------------------


def _without_error_id(out: Outcome) -> tuple[object, ...]:
    info = out.info
    assert info is not None
    body = out.body
    if out.error_id is not None:
        body = body.replace(out.error_id.encode(), b"<error_id>")
    return (out.status, out.headers, body, info._replace(error_id=None), out.error_id is None)


@pytest.mark.parametrize(
    ("value", "exc", "options", "request_info"),
    [
        (404, KeyError("sku-1"), {}, GET),
        (404, KeyError("sku-1"), {}, HEAD),
        (422, ValueError('naïve \udc80 "quoted" </script>'), {}, GET),
        (409, ValueError(""), {}, GET),  # an empty detail is left out of the body
        (400, ValueError("x" * 20), {"detail_limit": 8}, GET),  # truncated, and marked
        (400, ValueError("short"), {"detail_limit": 3}, GET),  # shorter than the hole
        (500, RuntimeError("secret"), {}, GET),
        (503, RuntimeError("secret"), {"body": "flat"}, GET),
        (404, LookupError("gone"), {"body": "flat"}, GET),
        (
            Problem(
                status=429,
                code="SLOW_DOWN",
                retry_after=timedelta(seconds=2.5),
                headers={"X-Limit": "10", "content-type": "text/plain"},
                bucket="search",
                nan=math.nan,
            ),
            ValueError("too many"),
            {},
            GET,
        ),
        (Problem(status=410, detail="fixed text"), ValueError("ignored"), {}, GET),
        (Problem(title="Broken", instance="/runs/7"), RuntimeError("boom"), {}, HEAD),
    ],
)
def test_a_registered_value_renders_what_a_handler_returning_it_renders(
    value: int | Problem,
    exc: Exception,
    options: dict[str, Any],
    request_info: RequestInfo,
) -> None:
    errors = Interceptor({type(exc): value}, **options)
    exc = raised(exc)

    def returned_it(request: object, exc: BaseException) -> object:
        return value

    expected = _without_error_id(render(value, exc, errors, request_info, handler=returned_it))
    for _ in range(2):  # the second time from the plan made by the first
        out = render(value, exc, errors, request_info)
        assert _without_error_id(out) == expected
        assert out.raw_headers() == [
            (name.lower().encode("latin-1"), text.encode("latin-1")) for name, text in out.headers
        ]


def test_a_planned_5xx_gets_a_fresh_error_id_each_time() -> None:
    errors = Interceptor({RuntimeError: 500})
    ids = {render(500, RuntimeError("boom"), errors).error_id for _ in range(3)}

    assert len(ids) == 3
    out = render(500, RuntimeError("boom"), errors)
    assert body_of(out)["error_id"] == out.error_id
    assert out.info is not None
    assert out.info.error_id == out.error_id


def test_a_planned_outcome_carries_the_exception_and_detail_it_was_made_for() -> None:
    errors = Interceptor({KeyError: 404})
    first, second = KeyError("a"), KeyError("b")
    render(404, first, errors)

    out = render(404, second, errors)

    assert out.info is not None
    assert out.info.exception is second
    assert out.info.detail == "b"
    assert body_of(out)["detail"] == "b"
    with pytest.raises(TypeError):  # shared between responses, so read-only
        out.info.extensions["x"] = 1  # type: ignore[index]


def test_a_new_registration_drops_the_plans_made_for_the_old_values() -> None:
    errors = Interceptor({KeyError: Problem(status=404, code="OLD")})
    assert body_of(render(errors.resolve(KeyError), KeyError("k"), errors))["code"] == "OLD"

    errors.add_handler(KeyError, Problem(status=404, code="NEW"))

    assert body_of(render(errors.resolve(KeyError), KeyError("k"), errors))["code"] == "NEW"


@pytest.mark.parametrize("value", [99, 302, 600])
def test_a_registered_int_outside_the_error_range_is_a_wrong_answer(value: int) -> None:
    out = render(value, KeyError("k"), Interceptor())

    assert out.status == 500
