"""`classify` follows an explicit cause only when nothing knows the exception itself."""

from __future__ import annotations

import pytest

from interceptor import Category, Classification, classify, register_classifier
from interceptor._classify import MAX_CAUSES


def raised_from(outer: BaseException, cause: BaseException | None) -> BaseException:
    try:
        raise outer from cause
    except BaseException as exc:
        return exc


def chain(depth: int, root: BaseException) -> BaseException:
    """``depth`` RuntimeErrors, each raised from the next, the last from ``root``."""
    exc = root
    for i in range(depth):
        exc = raised_from(RuntimeError(f"layer {i}"), exc)
    return exc


def test_a_runtime_error_raised_from_a_timeout_is_a_timeout() -> None:
    exc = raised_from(RuntimeError("wrapped"), TimeoutError())
    assert classify(exc) == Classification(Category.TIMEOUT)


def handling(suppress: bool) -> BaseException:
    """A RuntimeError raised while handling a TimeoutError, its context shown or not."""
    try:
        try:
            raise TimeoutError
        except TimeoutError:
            if suppress:
                raise RuntimeError("while handling") from None
            raise RuntimeError("while handling")  # noqa: B904 - the point of the test
    except RuntimeError as exc:
        return exc


def test_the_implicit_context_is_not_a_cause() -> None:
    for suppress in (True, False):
        exc = handling(suppress)
        assert isinstance(exc.__context__, TimeoutError)
        assert exc.__cause__ is None
        assert classify(exc).category is Category.PERMANENT


@pytest.mark.usefixtures("restore_classifiers")
def test_an_exception_with_its_own_rule_is_not_decided_by_its_cause() -> None:
    # KeyError has no rule, but a registered one, and duck typing, beat the cause.
    class Known(Exception):
        pass

    register_classifier(Known, Category.NOT_FOUND)
    assert classify(raised_from(Known(), TimeoutError())).category is Category.NOT_FOUND

    class Ducky(Exception):
        temporary = False

    assert classify(raised_from(Ducky(), TimeoutError())).category is Category.PERMANENT


@pytest.mark.usefixtures("restore_classifiers")
def test_a_rule_answering_none_lets_the_cause_decide() -> None:
    class Maybe(Exception):
        pass

    register_classifier(Maybe, lambda exc: None)
    assert classify(raised_from(Maybe(), ConnectionResetError())).status == 502


@pytest.mark.parametrize("depth", [1, 2, MAX_CAUSES])
def test_causes_are_followed_up_to_max_causes_links(depth: int) -> None:
    assert classify(chain(depth, TimeoutError())).category is Category.TIMEOUT


def test_a_cause_beyond_max_causes_links_is_not_consulted() -> None:
    assert MAX_CAUSES == 8
    assert classify(chain(MAX_CAUSES + 1, TimeoutError())).category is Category.PERMANENT


def test_a_cycle_of_causes_ends_the_walk() -> None:
    a, b = RuntimeError("a"), ValueError("b")
    a.__cause__, b.__cause__ = b, a
    assert classify(a) == Classification(Category.PERMANENT)
    a.__cause__ = a
    assert classify(a) == Classification(Category.PERMANENT)


def test_a_single_leaf_group_and_its_leafs_cause() -> None:
    leaf = raised_from(RuntimeError("leaf"), TimeoutError())
    group = ExceptionGroup("one", [leaf])
    assert classify(group).category is Category.TIMEOUT
    # A cause that is a single-leaf group is decided by its leaf.
    exc = raised_from(RuntimeError("outer"), ExceptionGroup("g", [ConnectionRefusedError()]))
    assert classify(exc).status == 502
    # A group of several is no answer: its own cause may still decide.
    many = raised_from(ExceptionGroup("many", [KeyError(), TimeoutError()]), PermissionError())
    assert classify(many).category is Category.PERMISSION_DENIED


def test_a_cause_that_raises_on_access_is_no_cause() -> None:
    class Hostile(Exception):
        @property
        def __cause__(self) -> BaseException:  # type: ignore[override]
            raise RuntimeError("no")

    assert classify(Hostile()) == Classification(Category.PERMANENT)


def test_the_answer_is_the_causes_with_its_fixed_detail() -> None:
    exc = raised_from(RuntimeError("db.internal:5432 secret"), ConnectionRefusedError())
    found = classify(exc)
    assert found.detail == "The upstream service could not be reached."
    assert "secret" not in found.detail
