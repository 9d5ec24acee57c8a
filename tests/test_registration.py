"""Bad registrations fail at once, naming the bad value; so do bad errors and problems."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import functools
import gc
import math
import pickle
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest

from interceptor import ApiError, Interceptor, Problem, define_errors
from interceptor._problem import RESERVED_MEMBERS
from interceptor._request import RequestInfo


def ok_handler(request: object, exc: BaseException) -> None:
    return None


def unique(prefix: str) -> str:
    """A code no other test has used: `define_errors` refuses codes seen before."""
    return f"{prefix}_{uuid.uuid4().hex[:8].upper()}"


# -- keys ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "named"),
    [
        (KeyboardInterrupt, "KeyboardInterrupt"),
        (asyncio.CancelledError, "CancelledError"),
        (SystemExit, "SystemExit"),
        (GeneratorExit, "GeneratorExit"),
        (BaseException, "BaseException"),
        (BaseExceptionGroup, "BaseExceptionGroup"),
        (ValueError("boom"), "ValueError('boom')"),
        ("KeyError", "'KeyError'"),
        (dict, "dict"),
        (None, "None"),
        (3.5, "3.5"),
        (True, "True"),
        ((KeyError, KeyboardInterrupt), "KeyboardInterrupt"),
        ((KeyError, "ValueError"), "'ValueError'"),
        ((KeyError, ValueError()), "ValueError()"),
        ((KeyError, 404), "404"),
    ],
    ids=repr,
)
def test_bad_key_is_refused_naming_it(key: Any, named: str) -> None:
    with pytest.raises(TypeError) as info:
        Interceptor({key: 404})
    assert named in str(info.value)
    errors = Interceptor()
    with pytest.raises(TypeError, match=named.replace("(", r"\(").replace(")", r"\)")):
        errors.add_handler(key, 404)
    with pytest.raises(TypeError):
        errors.handler(key)(ok_handler)


def test_the_decorator_refuses_a_bad_key_before_it_gets_a_function() -> None:
    errors = Interceptor()
    with pytest.raises(TypeError, match="KeyboardInterrupt"):
        errors.handler(KeyboardInterrupt)  # type: ignore[call-overload]
    # `@errors.handler` without its key used to return the decorator in place of
    # the function and register nothing.
    with pytest.raises(TypeError, match=r"ok_handler.*@errors\.handler\(KeyError\)"):
        errors.handler(ok_handler)  # type: ignore[call-overload]
    assert errors.resolve(Exception) is None


@pytest.mark.parametrize("status", [399, 600, 0, -404, 200, 302, 1000])
def test_status_key_out_of_range_is_refused(status: int) -> None:
    with pytest.raises(ValueError, match=str(status)):
        Interceptor({status: 500})
    with pytest.raises(ValueError, match=str(status)):
        Interceptor().add_handler(status, 500)


def test_empty_tuple_key_is_refused() -> None:
    with pytest.raises(ValueError, match="empty tuple"):
        Interceptor({(): 404})


def test_a_refused_tuple_registers_none_of_its_classes() -> None:
    errors = Interceptor({ValueError: 400})
    with pytest.raises(TypeError, match="KeyboardInterrupt"):
        errors.add_handler((KeyError, KeyboardInterrupt), 404)
    assert errors.resolve(KeyError) is None
    with pytest.raises(TypeError, match="'nope'"):
        Interceptor({KeyError: 404, ValueError: "nope"})
    assert errors.resolve(ValueError) == 400


class UnhashableMeta(type):  # noqa: PLW1641 - unhashable is the point
    def __eq__(cls, other: object) -> bool:  # and so no __hash__
        return cls is other


class HashRaisingMeta(type):
    def __hash__(cls) -> int:
        raise RuntimeError("no hash")


@pytest.mark.parametrize("meta", [UnhashableMeta, HashRaisingMeta])
def test_a_class_that_cannot_be_hashed_is_refused_and_its_tuple_registers_nothing(
    meta: type,
) -> None:
    odd = meta("OddlyHashed", (Exception,), {})
    errors = Interceptor()
    with pytest.raises(TypeError, match="OddlyHashed"):
        errors.add_handler((ValueError, odd), 404)
    # It used to raise from inside the registry, with ValueError already in it.
    assert errors.resolve(ValueError) is None
    assert set(errors.registered()[0]) == {ApiError}


@pytest.mark.parametrize(
    ("given", "named"),
    [("KeyError", "'KeyError'"), (404, "404"), (None, "None"), (dict, "dict"), (list[int], "list")],
    ids=repr,
)
def test_resolve_refuses_what_is_no_exception_naming_it(given: Any, named: str) -> None:
    # It used to answer None, as for an exception nothing matches: `resolve(404)`
    # said "nothing" with a 404 registered.
    errors = Interceptor({404: 410, KeyError: 404})
    with pytest.raises(TypeError, match="resolve") as info:
        errors.resolve(given)
    assert named in str(info.value)
    assert errors.resolve(KeyboardInterrupt) is None  # an exception class, never intercepted


# -- values ------------------------------------------------------------------------


def no_args() -> None:
    return None


def one_arg(request: object) -> None:
    return None


def keyword_only(*, request: object, exc: BaseException) -> None:
    return None


def three_args(request: object, exc: BaseException, extra: object) -> None:
    return None


class NotCallable:
    pass


class BadCall:
    def __call__(self) -> None:
        return None


@pytest.mark.parametrize(
    ("value", "named", "error"),
    [
        ("oops", "'oops'", TypeError),
        (b"404", "b'404'", TypeError),
        (None, "None", TypeError),
        (404.0, "404.0", TypeError),
        ([404], "[404]", TypeError),
        ({"status": 404}, "{'status': 404}", TypeError),
        (True, "True", TypeError),
        (False, "False", TypeError),
        (399, "399", ValueError),
        (600, "600", ValueError),
        (200, "200", ValueError),
        (ValueError, "ValueError", TypeError),
        (Problem, "Problem", TypeError),
        (BadCall, "BadCall", TypeError),
        (NotCallable(), "NotCallable", TypeError),
        (no_args, "no_args", TypeError),
        (one_arg, "one_arg", TypeError),
        (keyword_only, "keyword_only", TypeError),
        (three_args, "three_args", TypeError),
        (lambda: None, "<lambda>", TypeError),
        (BadCall(), "BadCall", TypeError),
        (functools.partial(three_args, 1, 2, 3), "three_args", TypeError),
    ],
    ids=repr,
)
def test_bad_value_is_refused_naming_it(value: Any, named: str, error: type[Exception]) -> None:
    with pytest.raises(error) as info:
        Interceptor({KeyError: value})
    assert named in str(info.value)
    with pytest.raises(error) as info:
        Interceptor().add_handler(404, value)
    assert named in str(info.value)


def yields_an_answer(request: object, exc: BaseException) -> Iterator[int]:
    yield 404


async def yields_an_answer_async(request: object, exc: BaseException) -> AsyncIterator[int]:
    yield 404


class YieldsWhenCalled:
    def __call__(self, request: object, exc: BaseException) -> Iterator[int]:
        yield 404


@pytest.mark.parametrize(
    "value",
    [
        yields_an_answer,
        yields_an_answer_async,
        functools.partial(yields_an_answer),
        YieldsWhenCalled(),
    ],
    ids=repr,
)
def test_a_generator_function_is_refused_at_registration(value: Any) -> None:
    # Calling it gives a generator, never an answer: it used to be found out at
    # the first error, as a 500.
    with pytest.raises(TypeError, match="generator") as info:
        Interceptor({KeyError: value})
    assert "yields_an_answer" in str(info.value) or "YieldsWhenCalled" in str(info.value)


def test_good_values_of_every_kind_are_accepted() -> None:
    class Stateful:
        def __init__(self) -> None:
            self.seen = 0

        def __call__(self, request: object, exc: BaseException) -> int:
            self.seen += 1
            return 400

    async def asynchronous(request: object, exc: BaseException) -> int:
        return 400

    def with_defaults(request: object, exc: BaseException, extra: int = 1) -> int:
        return 400

    def star_args(*args: object) -> int:
        return 400

    values: list[Any] = [
        400,
        599,
        Problem(status=409),
        Stateful(),
        asynchronous,
        with_defaults,
        star_args,
        functools.partial(three_args, extra=None),
        print,  # a builtin: no signature to check on some versions, so trusted
    ]
    for value in values:
        errors = Interceptor({KeyError: value})
        assert errors.resolve(KeyError) is value
    with pytest.raises(TypeError, match="one_arg"):
        Interceptor({KeyError: functools.partial(one_arg)})


# -- constructor arguments -----------------------------------------------------------


@pytest.mark.parametrize(
    "handlers",
    [[(KeyError, 404)], "KeyError=404", 404, ((KeyError, 404),), {KeyError}],
    ids=repr,
)
def test_handlers_that_are_not_a_mapping_are_refused(handlers: Any) -> None:
    with pytest.raises(TypeError, match="mapping") as info:
        Interceptor(handlers)
    assert repr(handlers)[:20] in str(info.value)


@pytest.mark.parametrize("body", ["xml", "", "PROBLEM", 3, None, [], {}], ids=repr)
def test_bad_body_shape_is_refused_naming_it(body: Any) -> None:
    with pytest.raises(ValueError, match="body") as info:
        Interceptor(body=body)
    assert repr(body) in str(info.value)


@pytest.mark.parametrize(
    ("limit", "error"),
    [
        (0, ValueError),
        (-1, ValueError),
        (True, TypeError),
        ("100", TypeError),
        (10.5, TypeError),
        (None, TypeError),
    ],
    ids=repr,
)
def test_bad_detail_limit_is_refused_naming_it(limit: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match="detail_limit") as info:
        Interceptor(detail_limit=limit)
    assert repr(limit) in str(info.value)


@pytest.mark.parametrize("option", ["report_timeout", "handler_timeout"])
@pytest.mark.parametrize(
    "value",
    [True, math.inf, -math.inf, math.nan, pytest.param(10**400, id="10**400"), 1e10, 0, -1, "5"],
    ids=repr,
)
def test_bad_timeouts_are_refused_naming_them(option: str, value: Any) -> None:
    # A wait past threading.TIMEOUT_MAX (inf too) raises OverflowError wherever it
    # happens: report_timeout=inf used to be taken, and then every report failed.
    with pytest.raises(ValueError, match=option) as info:
        Interceptor(**{option: value})
    assert repr(value) in str(info.value)


def test_long_timeouts_are_taken() -> None:
    errors = Interceptor(report_timeout=86400, handler_timeout=3600.5)
    assert (errors.report_timeout, errors.handler_timeout) == (86400.0, 3600.5)


def test_bad_hooks_are_refused_naming_them() -> None:
    with pytest.raises(TypeError, match=r"rewrite_body.*'x'"):
        Interceptor(rewrite_body="x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"reporter.*42"):
        Interceptor(reporter=42)  # type: ignore[arg-type]


# -- Problem ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "named", "error"),
    [
        ({"status": 399}, "399", ValueError),
        ({"status": 600}, "600", ValueError),
        ({"status": True}, "True", TypeError),
        ({"status": "404"}, "'404'", TypeError),
        ({"status": 404.0}, "404.0", TypeError),
        ({"retry_after": -1}, "-1", ValueError),
        ({"retry_after": math.nan}, "nan", ValueError),
        ({"retry_after": math.inf}, "inf", ValueError),
        ({"retry_after": 10**400}, "1000000", ValueError),
        ({"retry_after": timedelta(seconds=-5)}, "-5", ValueError),
        ({"retry_after": "5"}, "'5'", TypeError),
        ({"retry_after": True}, "True", TypeError),
        ({"error_id": "forged"}, "error_id", ValueError),
        ({"retryable": "yes"}, "'yes'", TypeError),
        ({"retryable": 1}, "got 1", TypeError),
        ({"code": 404}, "got 404", TypeError),
        ({"type": None}, "got None", TypeError),
        ({"type": b"about:blank"}, "b'about:blank'", TypeError),
        ({"instance": 7}, "got 7", TypeError),
        ({"headers": "X-A: 1"}, "'X-A: 1'", TypeError),
        ({"headers": 5}, "got 5", TypeError),
        ({"headers": [("X-A", "1", "2")]}, "('X-A', '1', '2')", TypeError),
        ({"retryable_": 1, "instance_": 2, "title": None, "status_": 3}, None, None),
        ({"headers": [("X-A", "1")], "code": "C", "type": "/t", "instance": "/i"}, None, None),
    ],
    ids=repr,
)
def test_problem_validation(
    kwargs: dict[str, Any], named: str | None, error: type[Exception] | None
) -> None:
    if error is None:
        Problem(**kwargs)
        return
    with pytest.raises(error) as info:
        Problem(**kwargs)
    assert named is not None
    assert named in str(info.value)


def test_problem_refuses_reserved_extension_names() -> None:
    # The other reserved members are named arguments; error_id is the one an
    # extension could forge.
    with pytest.raises(ValueError, match="error_id"):
        Problem(status=500, error_id="abc")
    with pytest.raises(ValueError, match="error_id"):
        Problem(fine=1, error_id="abc")


@pytest.mark.parametrize("name", sorted(RESERVED_MEMBERS))
def test_api_error_refuses_every_reserved_extension_name(name: str) -> None:
    # detail is the positional argument, so Python itself refuses it twice.
    with pytest.raises(TypeError if name == "detail" else ValueError, match=name):
        Throttled("x", **{name: 1})


def test_dataclasses_replace_copies_a_problem_with_its_extension_members() -> None:
    # The usual copy of a frozen dataclass: it used to nest the members under one
    # member named "extensions", and the body said {"extensions": {"n": 1}}.
    problem = Problem(status=404, code="X", headers={"A": "1"}, retry_after=3, n=1)
    again = dataclasses.replace(problem, status=410)
    assert again == Problem(status=410, code="X", headers={"A": "1"}, retry_after=3, n=1)
    assert dict(again.extensions) == {"n": 1}
    assert dict(Problem(extensions={"n": 1}, m=2).extensions) == {"n": 1, "m": 2}
    with pytest.raises(ValueError, match="error_id"):
        Problem(extensions={"error_id": "forged"})
    with pytest.raises(TypeError, match="extensions"):
        Problem(extensions=[("n", 1)])
    with pytest.raises(TypeError, match="names must be str"):
        Problem(extensions={1: "one"})


def test_problem_retry_after_accepts_numbers_and_timedelta() -> None:
    assert Problem(retry_after=2).retry_after == 2.0
    assert Problem(retry_after=timedelta(minutes=1)).retry_after == 60.0
    assert Problem(retry_after=0).retry_after == 0.0


def test_problem_repr_shows_only_members_that_are_set() -> None:
    assert repr(Problem(status=404, code="X")) == "Problem(status=404, code='X')"
    assert repr(Problem()) == "Problem()"
    shown = repr(Problem(type="https://e.x/t", headers={"Allow": "GET"}, retry_after=3, n=[1]))
    assert shown == (
        "Problem(type='https://e.x/t', headers={'Allow': 'GET'}, retry_after=3.0, n=[1])"
    )
    assert "about:blank" not in repr(Problem(status=500))
    odd = repr(Problem(**{"not-an-identifier": 1}))
    assert odd == "Problem(**{'not-an-identifier': 1})"


def test_problem_is_frozen() -> None:
    problem = Problem(status=404)
    with pytest.raises(AttributeError):
        problem.status = 500  # type: ignore[misc]
    with pytest.raises(TypeError):
        problem.extensions["x"] = 1  # type: ignore[index]


# -- ApiError ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("namespace", "named", "error"),
    [
        ({"status": 700}, "700", ValueError),
        ({"status": 302}, "302", ValueError),
        ({"status": True}, "True", TypeError),
        ({"status": "404"}, "'404'", TypeError),
        ({"status": 404, "code": 404}, "404", TypeError),
    ],
    ids=repr,
)
def test_api_error_subclass_with_bad_declaration_fails_at_definition(
    namespace: dict[str, Any], named: str, error: type[Exception]
) -> None:
    with pytest.raises(error) as info:
        type("BadlyDeclared", (ApiError,), namespace)
    assert named in str(info.value)
    assert "BadlyDeclared" in str(info.value)


class Throttled(ApiError):
    status = 429
    code = "REG_THROTTLED"


@pytest.mark.parametrize(
    ("kwargs", "named", "error"),
    [
        ({"status": 404}, "status", ValueError),
        ({"error_id": "x"}, "error_id", ValueError),
        ({"retryable": False}, "retryable", ValueError),
        ({"retry_after": -0.5}, "-0.5", ValueError),
        ({"retry_after": math.nan}, "nan", ValueError),
        ({"retry_after": math.inf}, "inf", ValueError),
        ({"retry_after": "soon"}, "'soon'", TypeError),
        ({"headers": "X-A: 1"}, "'X-A: 1'", TypeError),
        ({"headers": 5}, "got 5", TypeError),
    ],
    ids=repr,
)
def test_api_error_instance_validation(
    kwargs: dict[str, Any], named: str, error: type[Exception]
) -> None:
    with pytest.raises(error) as info:
        Throttled("slow down", **kwargs)
    assert named in str(info.value)


def test_api_error_carries_what_it_was_given() -> None:
    exc = Throttled("slow down", user_message="Try later", retry_after=timedelta(seconds=3), n=1)
    assert str(exc) == "slow down"
    assert exc.args == ("slow down",)
    assert exc.retry_after == 3.0
    assert exc.user_message == "Try later"
    assert dict(exc.extensions) == {"n": 1}
    assert str(Throttled()) == ""
    # A non-str detail still gives a str, so logging and tracebacks work.
    assert str(Throttled(42)) == "42"  # type: ignore[arg-type]


# -- define_errors ---------------------------------------------------------------------


def test_define_errors_makes_classes_in_bulk() -> None:
    first, second = unique("MISSING"), unique("QUOTA")
    made = define_errors([("Missing", first, 404), ("OverQuota", second, 429)])
    assert set(made) == {"Missing", "OverQuota"}
    missing = made["Missing"]
    assert issubclass(missing, ApiError)
    assert (missing.__name__, missing.code, missing.status) == ("Missing", first, 404)
    assert (made["OverQuota"].code, made["OverQuota"].status) == (second, 429)
    # They belong to the caller's module, not the library's.
    assert missing.__module__ == __name__
    errors = Interceptor()
    out = errors.outcome(errors.resolve(missing("x")), missing("x"), RequestInfo(method="GET"))
    assert out is not None
    assert out.status == 404
    assert out.info is not None
    assert out.info.code == first


def test_define_errors_with_module_and_base() -> None:
    class Billing(ApiError):
        status = 402

    made = define_errors([("CardDeclined", unique("CARD"), 402)], base=Billing, module="app.errs")
    assert issubclass(made["CardDeclined"], Billing)
    assert made["CardDeclined"].__module__ == "app.errs"
    with pytest.raises(TypeError, match="base"):
        define_errors([("X", unique("X"), 400)], base=ValueError)  # type: ignore[arg-type]


def test_api_errors_survive_pickle_and_copy() -> None:
    exc = Throttled(
        "slow down", user_message="Later", headers={"X-A": "1"}, retry_after=3, quota=[1, 2]
    )
    for again in (pickle.loads(pickle.dumps(exc)), copy.copy(exc), copy.deepcopy(exc)):  # noqa: S301
        assert type(again) is Throttled
        assert str(again) == "slow down"
        assert again.user_message == "Later"
        assert again.retry_after == 3.0
        assert dict(again.headers) == {"X-A": "1"}
        assert dict(again.extensions) == {"quota": [1, 2]}
        with pytest.raises(TypeError):
            again.extensions["quota"] = 0  # type: ignore[index]


PicklableMissing = define_errors([("PicklableMissing", "REG_PICKLABLE_MISSING", 404)])[
    "PicklableMissing"
]


def test_define_errors_classes_pickle_like_hand_written_ones() -> None:
    # pickle finds the class by its module and name: the caller's module.
    exc = PicklableMissing("gone")
    again = pickle.loads(pickle.dumps(exc))  # noqa: S301 - our own bytes
    assert type(again) is PicklableMissing
    assert str(again) == "gone"


def api_error_codes() -> set[str | None]:
    found, todo = set(), [ApiError]
    while todo:
        cls = todo.pop()
        found.add(cls.code)
        todo.extend(cls.__subclasses__())
    return found


@pytest.fixture
def no_gc() -> Iterator[None]:
    # Leftover classes from a refused batch live until the cycle collector
    # runs; keep it from hiding them.
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def test_define_errors_refuses_a_code_twice_in_one_batch_and_makes_nothing(no_gc: None) -> None:
    code, other = unique("DUP"), unique("FINE")
    with pytest.raises(ValueError, match=code) as info:
        define_errors([("Fine", other, 400), ("First", code, 400), ("Second", code, 409)])
    assert "Second" in str(info.value)
    assert {code, other}.isdisjoint(api_error_codes())
    # The corrected batch goes through.
    made = define_errors([("Fine", other, 400), ("First", code, 400)])
    assert made["First"].code == code


def test_define_errors_refuses_a_code_an_existing_subclass_uses() -> None:
    with pytest.raises(ValueError, match="REG_THROTTLED") as info:
        define_errors([("AlsoThrottled", "REG_THROTTLED", 429)])
    assert "Throttled" in str(info.value)


def test_define_errors_refuses_a_bad_status_before_making_anything(no_gc: None) -> None:
    good = unique("GOOD")
    with pytest.raises(ValueError, match="302"):
        define_errors([("Good", good, 400), ("Redirect", unique("REDIRECT"), 302)])
    assert good not in api_error_codes()
    assert define_errors([("Good", good, 400)])["Good"].code == good


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("not an identifier", None),
        ("1abc", None),
        ("", None),
        ("class", None),
        (5, None),
        ("Fine", ""),
        ("Fine", 5),
    ],
    ids=repr,
)
def test_define_errors_refuses_bad_names_and_codes(name: Any, code: Any) -> None:
    spec_code = unique("NAMED") if code is None else code
    with pytest.raises(ValueError, match="error c") as info:
        define_errors([(name, spec_code, 400)])
    assert repr(name if code is None else code) in str(info.value)


@pytest.mark.parametrize(
    "spec", [("Pair", "PAIR"), "abc", ("A", "B", 400, "extra"), None, {"A": 1}], ids=repr
)
def test_define_errors_refuses_a_spec_that_is_no_triple(spec: Any) -> None:
    # It used to be unpacking's "not enough values to unpack (expected 3, got 2)",
    # or for "abc" a class named "a" with the status "c".
    with pytest.raises(TypeError, match=r"\(name, code, status\)") as info:
        define_errors([spec])
    assert repr(spec) in str(info.value)


def test_define_errors_refuses_a_module_that_is_no_str() -> None:
    with pytest.raises(TypeError, match=r"module.*5"):
        define_errors([("Fine", unique("FINE"), 400)], module=5)  # type: ignore[arg-type]


def test_define_errors_refuses_a_name_twice() -> None:
    with pytest.raises(ValueError, match="'Twice'"):
        define_errors([("Twice", unique("A"), 400), ("Twice", unique("B"), 400)])


def test_registering_one_call_at_a_time_builds_one_snapshot_not_one_per_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from interceptor import _core  # noqa: PLC0415 - the private snapshot builder, counted

    built = []
    original = _core._Tables.of

    def counting(*args: Any, **kwargs: Any) -> Any:
        built.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(_core._Tables, "of", counting)
    errors = Interceptor()
    classes = [type(f"E{n}", (Exception,), {}) for n in range(2000)]
    for n, cls in enumerate(classes):
        errors.add_handler(cls, 400 + n % 200)

    assert errors.resolve(classes[-1]) == 400 + 1999 % 200
    assert errors.resolve(classes[0]) == 400
    assert len(built) == 1  # linear: the tables are copied once, when first read


def test_a_registration_after_a_read_is_seen_by_the_next_read() -> None:
    errors = Interceptor({KeyError: 404})
    assert errors.resolve(KeyError) == 404
    errors.add_handler(KeyError, 410)
    errors.add_handler(ValueError, 400)
    assert (errors.resolve(KeyError), errors.resolve(ValueError)) == (410, 400)
    by_class, by_status = errors.registered()
    assert by_class[KeyError] == 410
    assert dict(by_status) == {}
    with pytest.raises(TypeError):
        by_class[KeyError] = 1  # type: ignore[index]
