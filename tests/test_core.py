"""Resolution in the core: no framework is imported here.

The property tests compare `Interceptor.resolve` and `Interceptor.candidates`
with a naive walk of ``type(exc).__mro__`` over random class hierarchies.
"""

from __future__ import annotations

import abc
import asyncio
import copy
import functools
import logging
import pickle
import random
import threading
import time
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interceptor import ApiError, Interceptor, Problem, classified
from interceptor._delivery import delivery
from interceptor._request import RequestInfo
from interceptor._resolve import Pending
from interceptor._resolve import first as first_step
from interceptor._values import is_inline, single_leaf

ROOTS: tuple[type[Exception], ...] = (
    Exception,
    ValueError,
    LookupError,
    KeyError,
    ArithmeticError,
    OSError,
    ApiError,
)

# What every interceptor resolves ApiError to before anyone registers anything.
API_DEFAULT = Interceptor().resolve(ApiError)


def on_any(request: object, exc: BaseException) -> None:
    return None


# -- the naive reference ---------------------------------------------------------


def reference(registry: Mapping[type, object], tp: type) -> tuple[object, ...]:
    """Every registered value along the MRO, most specific first, each once.

    An `ApiError` (a class with a status of its own) matched through a class
    without one keeps its status: a plain value registered there stands as
    the default body (SPEC section 4).
    """
    found: list[object] = []
    for cls in tp.__mro__:
        if cls not in registry:
            continue
        value = registry[cls]
        plain_value = isinstance(value, int | Problem) or value is classified
        if issubclass(tp, ApiError) and not issubclass(cls, ApiError) and plain_value:
            value = API_DEFAULT
        if not any(value is v for v in found):
            found.append(value)
    return tuple(found)


def same(left: tuple[object, ...], right: tuple[object, ...]) -> bool:
    return len(left) == len(right) and all(a is b for a, b in zip(left, right, strict=True))


def build_hierarchy(base_choices: list[list[int]]) -> list[type[Exception]]:
    """Classes made with ``type(name, bases, {})``; bases are earlier pool entries.

    A choice Python refuses (inconsistent MRO, layout conflict) falls back to
    its first base, so every drawn spec gives a valid hierarchy.
    """
    pool: list[type[Exception]] = list(ROOTS)
    for i, choice in enumerate(base_choices):
        bases = tuple(dict.fromkeys(pool[j % len(pool)] for j in choice))
        try:
            cls = type(f"Gen{i}", bases, {})
        except TypeError:
            cls = type(f"Gen{i}", bases[:1], {})
        pool.append(cls)
    return pool


hierarchies = st.lists(
    st.lists(st.integers(min_value=0, max_value=200), min_size=1, max_size=3),
    min_size=1,
    max_size=14,
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(base_choices=hierarchies, data=st.data())
def test_resolution_matches_reference_walk(
    base_choices: list[list[int]], data: st.DataObject
) -> None:
    pool = build_hierarchy(base_choices)
    picked = data.draw(st.lists(st.sampled_from(pool), unique=True, max_size=len(pool)))
    # Some classes share one handler (tuple keys): it must be tried once only.
    shared = data.draw(st.lists(st.sampled_from(pool), unique=True, max_size=4))
    half = data.draw(st.integers(min_value=0, max_value=len(picked)))

    errors = Interceptor()
    registry: dict[type, object] = {ApiError: API_DEFAULT}

    def check_all() -> None:
        order = data.draw(st.permutations(pool))
        for cls in order:
            expected = reference(registry, cls)
            resolved = errors.resolve(cls)
            assert resolved is (expected[0] if expected else None), cls.__mro__
            exc = cls()
            leaf, values = errors.candidates(exc)
            assert leaf is exc
            assert same(values, expected), (cls.__mro__, values, expected)
            assert errors.resolve(exc) is resolved

    # Register in two batches, resolving in between: the second batch must
    # invalidate whatever the first round cached.
    for cls in picked[:half]:
        value = Problem(code=f"for-{cls.__name__}")
        errors.add_handler(cls, value)
        registry[cls] = value
    check_all()
    for cls in picked[half:]:
        value = Problem(code=f"for-{cls.__name__}")
        errors.add_handler(cls, value)
        registry[cls] = value
    if shared:
        value = Problem(code="shared")
        errors.add_handler(tuple(shared), value)
        registry.update(dict.fromkeys(shared, value))
    check_all()


def test_diamond_follows_c3_order_not_declaration_depth() -> None:
    class Top(Exception):
        pass

    class Left(Top):
        pass

    class Right(Top):
        pass

    class Bottom(Left, Right):
        pass

    right, top = Problem(code="RIGHT"), Problem(code="TOP")
    errors = Interceptor({Right: right, Top: top})
    # C3: Bottom, Left, Right, Top: Right is more specific than Top even
    # though Left (first base) only reaches Top.
    assert errors.resolve(Bottom) is right
    assert same(errors.candidates(Bottom())[1], (right, top))
    errors.add_handler(Left, 404)
    assert errors.candidates(Bottom())[1][1:] == (right, top)
    assert errors.resolve(Bottom) == 404


# -- status keys -----------------------------------------------------------------


class Gone(ApiError):
    status = 410
    code = "CORE_GONE"


class GoneForGood(Gone):
    code = "CORE_GONE_FOR_GOOD"


def fake_framework_exception(module: str, status_attr: str) -> type[Exception]:
    """A class that looks like a framework's HTTPException, by module and name only."""

    def __init__(self: Any, status: int) -> None:
        Exception.__init__(self, status)
        setattr(self, status_attr, status)

    return type(
        "HTTPException",
        (Exception,),
        {"__module__": module, "__qualname__": "HTTPException", "__init__": __init__},
    )


FakeStarletteHTTP = fake_framework_exception("starlette.exceptions", "status_code")
FakeWerkzeugHTTP = fake_framework_exception("werkzeug.exceptions", "code")
LookalikeHTTP = fake_framework_exception("myapp.errors", "status_code")


def test_status_key_is_tried_before_the_mro_for_api_errors() -> None:
    by_status, by_class = Problem(code="BY_STATUS"), Problem(code="BY_CLASS")
    errors = Interceptor({GoneForGood: by_class, 410: by_status})
    values = errors.candidates(GoneForGood())[1]
    assert same(values, (by_status, by_class, API_DEFAULT))
    assert errors.resolve(GoneForGood()) is by_status
    # A class carries no instance status for a lookup by class.
    assert errors.resolve(GoneForGood) is by_class
    # Another status does not match.
    assert errors.candidates(type("Teapot", (ApiError,), {"status": 418})())[1] == (API_DEFAULT,)


def test_status_key_value_also_registered_by_class_is_listed_once() -> None:
    value = Problem(code="ONCE")
    errors = Interceptor({410: value, Gone: value})
    assert same(errors.candidates(GoneForGood())[1], (value, API_DEFAULT))


@pytest.mark.parametrize("fake", [FakeStarletteHTTP, FakeWerkzeugHTTP])
def test_status_key_matches_framework_http_exceptions_by_name(fake: type[Exception]) -> None:
    on_404, fallback = Problem(code="NOT_HERE"), Problem(code="FALLBACK")
    errors = Interceptor({404: on_404, Exception: fallback})
    exc = fake(404)  # type: ignore[call-arg]
    # Matched through Exception alone, an HTTP exception keeps its own status:
    # the plain value there stands as the default body (API_DEFAULT).
    assert same(errors.candidates(exc)[1], (on_404, API_DEFAULT))
    assert same(errors.candidates(fake(500))[1], (API_DEFAULT,))  # type: ignore[call-arg]
    subclass = type("NotFound", (fake,), {})
    assert errors.resolve(subclass(404)) is on_404
    # Only the real module and name count: a lookalike gets no status match.
    assert same(errors.candidates(LookalikeHTTP(404))[1], (fallback,))  # type: ignore[call-arg]


def test_werkzeug_exception_with_ready_response_is_never_handled() -> None:
    errors = Interceptor({404: 404, Exception: 500})
    exc = FakeWerkzeugHTTP(404)  # type: ignore[call-arg]
    exc.response = object()  # type: ignore[attr-defined]
    assert errors.candidates(exc) == (exc, ())
    routing = type(
        "RoutingException",
        (Exception,),
        {"__module__": "werkzeug.routing.exceptions", "__qualname__": "RoutingException"},
    )
    redirect = type("RequestRedirect", (routing,), {})()
    assert errors.candidates(redirect) == (redirect, ())


# -- declining, groups, base exceptions --------------------------------------------


def test_candidates_lists_every_match_so_a_declined_handler_falls_through() -> None:
    class NotFound(LookupError):
        pass

    def first(request: object, exc: BaseException) -> None:
        return None

    def second(request: object, exc: BaseException) -> int:
        return 404

    errors = Interceptor({NotFound: first, LookupError: second, Exception: 500})
    assert errors.candidates(NotFound())[1] == (first, second, 500)
    assert errors.outcome(None, NotFound(), RequestInfo()) is None
    assert errors.outcome(None, NotFound(), RequestInfo(), handler=first) is None


def test_single_leaf_group_resolves_by_its_leaf_however_nested() -> None:
    on_key, on_group = Problem(code="KEY"), Problem(code="GROUP")
    errors = Interceptor({KeyError: on_key, ExceptionGroup: on_group})
    leaf = KeyError("k")
    group = ExceptionGroup("outer", [ExceptionGroup("mid", [ExceptionGroup("in", [leaf])])])
    got, values = errors.candidates(group)
    assert got is leaf
    assert same(values, (on_key,))
    assert errors.resolve(group) is on_key
    assert single_leaf(group) is leaf
    # An unmatched single leaf is not rescued by a handler for the group.
    other = ExceptionGroup("g", [ValueError()])
    assert errors.candidates(other)[1] == ()


def test_multi_leaf_group_resolves_by_the_groups_own_mro() -> None:
    class MyGroup(ExceptionGroup):  # type: ignore[type-arg]
        pass

    on_key, on_group, fallback = Problem(code="K"), Problem(code="G"), Problem(code="F")
    errors = Interceptor({KeyError: on_key, ExceptionGroup: on_group, Exception: fallback})
    group = MyGroup("two", [KeyError("a"), KeyError("b")])
    got, values = errors.candidates(group)
    assert got is group
    assert same(values, (on_group, fallback))
    nested = ExceptionGroup("outer", [ExceptionGroup("in", [KeyError(), ValueError()])])
    assert errors.candidates(nested)[0] is nested
    assert single_leaf(nested) is nested


def test_a_group_looked_up_first_does_not_stop_a_later_single_leaf_group() -> None:
    # The per-type cache must not let an earlier answer for the group type
    # (by class, or for a multi-leaf group) stand in for a single-leaf group.
    on_key, on_group = Problem(code="K"), Problem(code="G")
    errors = Interceptor({KeyError: on_key, ExceptionGroup: on_group})
    assert errors.resolve(ExceptionGroup) is on_group
    multi = ExceptionGroup("m", [KeyError(), KeyError()])
    assert same(errors.candidates(multi)[1], (on_group,))
    leaf = KeyError()
    got, values = errors.candidates(ExceptionGroup("s", [leaf]))
    assert got is leaf
    assert same(values, (on_key,))
    assert same(errors.candidates(multi)[1], (on_group,))


def test_base_exception_looked_up_by_class_and_instance_stays_unmatched() -> None:
    errors = Interceptor({Exception: 500})
    for _ in range(2):  # a second round would hit anything wrongly cached
        assert errors.resolve(KeyboardInterrupt) is None
        assert errors.candidates(KeyboardInterrupt())[1] == ()
        assert errors.resolve(KeyError) == 500


@pytest.mark.parametrize(
    "exc",
    [
        KeyboardInterrupt(),
        asyncio.CancelledError(),
        GeneratorExit(),
        SystemExit(1),
        BaseExceptionGroup("b", [KeyboardInterrupt()]),
        BaseExceptionGroup("b", [KeyboardInterrupt(), ValueError()]),
    ],
    ids=lambda exc: type(exc).__name__ + str(len(getattr(exc, "exceptions", ()))),
)
def test_base_exceptions_never_get_candidates(exc: BaseException) -> None:
    errors = Interceptor({Exception: 500, ExceptionGroup: 500, 500: 500})
    assert errors.candidates(exc)[1] == ()
    assert errors.resolve(exc) is None
    assert errors.resolve(type(exc)) is None


def test_abc_virtual_subclasses_do_not_match() -> None:
    class Retryable(Exception, metaclass=abc.ABCMeta):
        pass

    class Flaky(Exception):
        pass

    Retryable.register(Flaky)
    assert issubclass(Flaky, Retryable)  # Python's isinstance says yes ...
    errors = Interceptor({Retryable: 503})
    # ... but `except` and the MRO walk say no.
    assert errors.resolve(Flaky) is None
    assert errors.candidates(Flaky())[1] == ()


# -- ApiError default ----------------------------------------------------------------


def test_api_errors_render_by_declared_status_and_code_with_nothing_registered() -> None:
    errors = Interceptor()
    exc = Gone("it went away")
    value = errors.resolve(exc)
    assert isinstance(value, Problem)
    out = errors.outcome(value, exc, RequestInfo())
    assert out is not None
    assert out.status == 410
    assert out.info is not None
    assert out.info.code == "CORE_GONE"
    assert out.info.detail == "it went away"
    assert errors.resolve(ValueError) is None


def test_user_handler_for_api_error_or_subclass_replaces_the_default() -> None:
    def on_api(request: object, exc: BaseException) -> int:
        return 400

    errors = Interceptor({ApiError: on_api})
    assert errors.resolve(GoneForGood) is on_api
    assert errors.candidates(GoneForGood())[1] == (on_api,)

    sub_only = Interceptor({Gone: on_api})
    assert sub_only.resolve(GoneForGood) is on_api
    assert sub_only.resolve(ApiError) is API_DEFAULT


def test_user_handler_for_exception_does_not_replace_the_api_error_default() -> None:
    def on_anything(request: object, exc: BaseException) -> int:
        return 500

    errors = Interceptor({Exception: on_anything})
    assert errors.resolve(Gone) is API_DEFAULT
    assert same(errors.candidates(Gone())[1], (API_DEFAULT, on_anything))


# -- registration effects ------------------------------------------------------------


def test_add_handler_invalidates_cached_lookups() -> None:
    general, specific, exact = Problem(code="G"), Problem(code="S"), Problem(code="E")
    errors = Interceptor({Exception: general})
    assert errors.resolve(KeyError) is general
    assert same(errors.candidates(KeyError())[1], (general,))
    errors.add_handler(LookupError, specific)
    assert errors.resolve(KeyError) is specific
    assert same(errors.candidates(KeyError())[1], (specific, general))
    errors.add_handler(KeyError, exact)
    assert errors.resolve(KeyError()) is exact
    assert same(errors.candidates(KeyError())[1], (exact, specific, general))
    errors.add_handler(404, 404)
    assert errors.resolve(Gone) is API_DEFAULT


def test_add_handler_replaces_an_existing_key() -> None:
    old, new = Problem(code="OLD"), Problem(code="NEW")
    errors = Interceptor({KeyError: old, 404: old})
    errors.add_handler(KeyError, new)
    assert errors.resolve(KeyError) is new
    assert same(errors.candidates(KeyError())[1], (new,))
    errors.add_handler((ValueError, KeyError), 422)
    assert errors.candidates(KeyError())[1] == (422,)
    assert errors.resolve(ValueError) == 422
    errors.add_handler(404, new)
    assert same(errors.candidates(type("NF", (ApiError,), {"status": 404})())[1][:1], (new,))


def test_handler_decorator_returns_the_function_unchanged() -> None:
    errors = Interceptor()

    def on_timeout(request: object, exc: BaseException) -> int:
        return 504

    original = on_timeout
    decorated = errors.handler(TimeoutError)(on_timeout)
    assert decorated is original
    assert errors.resolve(TimeoutError) is original

    @errors.handler((KeyError, IndexError))
    async def on_lookup(request: object, exc: BaseException) -> int:
        return 404

    assert errors.resolve(KeyError) is on_lookup
    assert errors.resolve(IndexError) is on_lookup
    assert asyncio.iscoroutinefunction(on_lookup)
    assert not is_inline(on_lookup)
    assert is_inline(404)
    assert is_inline(Problem())


def _raise_from_handler(errors: Interceptor, exc: BaseException, marks: dict[str, Any]) -> None:
    """Resolve with a handler that raises ``exc``: a real mark, made as adapters make it."""
    answer = first_step(errors, ValueError("original"), RequestInfo, marks)
    assert isinstance(answer, Pending)
    with pytest.raises(type(exc)):
        answer.call(functools.partial(_raising, exc))


def _raising(exc: BaseException, handler: object, leaf: BaseException) -> None:
    raise exc


def test_a_handlers_exception_is_marked_only_for_its_interceptor_and_request() -> None:
    inner = Interceptor({ValueError: on_any})
    outer = Interceptor({ValueError: on_any})
    exc = ValueError("from a handler")
    marks: dict[str, Any] = {}
    _raise_from_handler(inner, exc, marks)
    assert first_step(inner, exc, RequestInfo, marks) is None
    assert isinstance(first_step(outer, exc, RequestInfo, marks), Pending)
    # A fresh exception of the same type is handled again, and so is the same
    # object in another request (one mapping per request), or with no mapping.
    assert isinstance(first_step(inner, ValueError(), RequestInfo, marks), Pending)
    assert isinstance(first_step(inner, exc, RequestInfo, {}), Pending)
    assert isinstance(first_step(inner, exc, RequestInfo), Pending)
    # The mark is the request's, never the exception's.
    assert vars(exc) == {}
    assert inner.candidates(exc)[1] == (on_any,)


class TakenFromHandler(ApiError):
    status = 409
    code = "CORE_TAKEN_FROM_HANDLER"


@pytest.mark.parametrize("exc", [ValueError("from a handler"), TakenFromHandler("taken")])
def test_an_exception_a_handler_raised_still_pickles_and_copies(exc: Exception) -> None:
    # A process pool or a reporter may pickle it: a mark on the exception that
    # held the interceptor (and so its lock) made pickle and deepcopy fail.
    errors = Interceptor({ValueError: on_any})
    marks: dict[str, Any] = {}
    _raise_from_handler(errors, exc, marks)
    for again in (pickle.loads(pickle.dumps(exc)), copy.deepcopy(exc)):  # noqa: S301
        assert (type(again), again.args) == (type(exc), exc.args)
    assert first_step(errors, exc, RequestInfo, marks) is None  # the mark still works


def test_a_mark_on_a_single_leaf_group_covers_its_leaf() -> None:
    errors = Interceptor({ValueError: on_any})
    other = Interceptor({ValueError: on_any})
    group = ExceptionGroup("g", [ValueError()])
    marks: dict[str, Any] = {}
    _raise_from_handler(errors, group, marks)
    assert first_step(errors, group, RequestInfo, marks) is None
    assert isinstance(first_step(other, group, RequestInfo, marks), Pending)


# -- threads -----------------------------------------------------------------------


@pytest.mark.parametrize("round_", range(3))  # a race: more rounds, more chances to catch it
def test_resolution_stays_correct_while_another_thread_registers(
    fast_switching: None, round_: int
) -> None:
    # A chain C0 <- C1 <- ... <- C59. The registry only grows, each time with a
    # handler for the next, more specific class, so every answer a resolver
    # sees for a class must be one the registry held at some moment, and the
    # answers one thread sees must never go back to a less specific handler.
    depth = 60
    chain: list[type[Exception]] = [type("C0", (Exception,), {})]
    for i in range(1, depth):
        chain.append(type(f"C{i}", (chain[-1],), {}))
    values = [Problem(code=f"V{i}") for i in range(depth)]
    rank = {id(v): i for i, v in enumerate(values)}
    errors = Interceptor({chain[0]: values[0]})
    watched = [chain[-1], chain[depth // 2], chain[5]]
    start = threading.Barrier(5)
    done = threading.Event()
    failures: list[str] = []

    def resolver(seed: int) -> None:
        rng = random.Random(seed)  # noqa: S311 - picks test inputs
        last = dict.fromkeys(watched, 0)
        calls = 0
        try:
            start.wait()
            while not done.is_set() or calls < 300:
                calls += 1
                cls = rng.choice(watched)
                limit = chain.index(cls)
                if rng.random() < 0.5:
                    got = errors.resolve(cls)
                    tried: tuple[object, ...] = (got,)
                else:
                    tried = errors.candidates(cls())[1]
                    got = tried[0] if tried else None
                k = rank.get(id(got))
                if k is None or k > limit or k < last[cls]:
                    failures.append(f"{cls.__name__}: got {got!r} after V{last[cls]}")
                    return
                # The full list must be one consistent snapshot: V_k down to V0.
                if len(tried) > 1 and not same(tried, tuple(values[k::-1])):
                    failures.append(f"{cls.__name__}: inconsistent {tried!r}")
                    return
                last[cls] = k
        except Exception as exc:
            failures.append(repr(exc))

    def registrar() -> None:
        try:
            start.wait()
            for i in range(1, depth):
                errors.add_handler(chain[i], values[i])
                time.sleep(0)  # let the resolvers see this state
        except Exception as exc:
            failures.append(repr(exc))
        finally:
            done.set()

    threads = [threading.Thread(target=resolver, args=(round_ * 10 + seed,)) for seed in range(4)]
    threads.append(threading.Thread(target=registrar))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert failures == []
    for cls in watched:
        assert errors.resolve(cls) is values[chain.index(cls)]


def test_resolve_of_a_redirect_class_agrees_with_its_instances() -> None:
    routing = type("RoutingException", (Exception,), {"__module__": "werkzeug.routing.exceptions"})
    redirect = type("RequestRedirect", (routing,), {})
    errors = Interceptor({Exception: 500})
    assert errors.resolve(redirect) is None
    assert errors.candidates(redirect())[1] == ()


def test_what_passes_through_is_not_claimed_after_an_instance_was_looked_up() -> None:
    disconnect = type("ClientDisconnect", (Exception,), {"__module__": "starlette.requests"})
    errors = Interceptor({Exception: 500})
    assert errors.candidates(disconnect())[1] == ()
    assert not errors.may_handle(disconnect)
    assert errors.resolve(disconnect) is None


def test_is_async_callable_unwraps_partials_only() -> None:
    from interceptor._callables import callable_name, is_async_callable  # noqa: PLC0415

    async def coro(request: object, exc: object) -> None:
        pass

    def sync(request: object, exc: object) -> None:
        pass

    class AsyncCall:
        async def __call__(self, request: object, exc: object) -> None:
            pass

    class SyncCallAsyncFunc:  # an adapter keeping some other callable as .func
        func = staticmethod(coro)

        def __call__(self, request: object, exc: object) -> None:
            pass

    class AsyncCallSyncFunc:
        func = staticmethod(sync)

        async def __call__(self, request: object, exc: object) -> None:
            pass

    class Methods:
        async def handle(self, request: object, exc: object) -> None:
            pass

        bound_later = functools.partialmethod(handle)

    cases: list[tuple[object, bool]] = [
        (coro, True),
        (sync, False),
        (functools.partial(coro), True),
        (functools.partial(functools.partial(coro, 1)), True),
        (functools.partial(sync), False),
        (AsyncCall(), True),
        (SyncCallAsyncFunc(), False),
        (AsyncCallSyncFunc(), True),
        (functools.partial(AsyncCallSyncFunc()), True),
        (Methods().bound_later, True),
    ]
    for obj, expected in cases:
        assert is_async_callable(obj) is expected, obj
    assert callable_name(functools.partial(sync)).endswith(".sync")
    assert callable_name(SyncCallAsyncFunc()).endswith(".SyncCallAsyncFunc")


def test_starlettes_body_limit_unwinding_is_never_answered_nor_observed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Starlette's request body limiter (1.6+) sends its 413 itself, then
    # raises this to leave the app it wraps, and catches it where it began.
    sent = type("_RequestBodyLimitResponseSent", (Exception,), {})
    sent.__module__ = "starlette.middleware.body_limit"
    reports: list[object] = []
    errors = Interceptor({Exception: 500}, reporter=reports.append)
    for _ in range(2):  # looking an instance up leaves the type's answers as they were
        assert not errors.may_handle(sent)  # a catch-all does not claim it at the route
        assert errors.resolve(sent) is None
        assert errors.candidates(sent())[1] == ()
    with caplog.at_level(logging.DEBUG, logger="interceptor"):
        errors.observe_late(sent(), RequestInfo(), {})
        errors.observe_late(ExceptionGroup("one", [sent()]), RequestInfo(), {})
        delivery.flush(10)
    assert (caplog.records, reports) == ([], [])


def test_is_awaitable_agrees_with_inspect() -> None:
    import asyncio  # noqa: PLC0415
    import inspect  # noqa: PLC0415
    import types  # noqa: PLC0415

    from interceptor._callables import is_awaitable  # noqa: PLC0415

    async def coro() -> None:
        pass

    @types.coroutine
    def legacy() -> Any:
        yield

    def plain_generator() -> Any:
        yield

    class Awaits:
        def __await__(self) -> Any:
            return iter(())

    loop = asyncio.new_event_loop()
    values: list[object] = [
        coro(), legacy(), plain_generator(), Awaits(), loop.create_future(),
        None, 404, Problem(), object(), "text", b"", {}, [],
    ]
    try:
        for value in values:
            assert is_awaitable(value) is inspect.isawaitable(value), value
    finally:
        for value in values:
            close = getattr(value, "close", None)
            if callable(close):
                close()
        loop.close()
