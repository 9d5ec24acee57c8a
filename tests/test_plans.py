"""Precompiled bodies (interceptor._plans) equal the plain renderer's, byte for byte."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interceptor import Problem
from interceptor._plans import MAX_PLANS, PlanCache
from interceptor._render import BODY_SHAPES, EMPTY_PROBLEM, Outcome, Renderer
from interceptor._request import RequestInfo


class AppError(Exception):
    pass


class NotFoundHere(LookupError):
    pass


EXCEPTION_TYPES = [KeyError, ValueError, LookupError, RuntimeError, AppError, NotFoundHere]

messages = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", "x" * 200, 'naïve \udc80 "quoted" </script>', "\x00interceptor"]),
)
statuses = st.integers(min_value=400, max_value=599)
problems = st.builds(
    Problem,
    status=st.none() | statuses,
    title=st.none() | st.text(max_size=10),
    detail=st.none() | st.text(max_size=10),
    type=st.sampled_from(["about:blank", "https://example.com/probs/x"]),
    instance=st.none() | st.just("/runs/7"),
    code=st.none() | st.just("SLOW_DOWN"),
    headers=st.sampled_from([{}, {"X-Limit": "10"}, {"Retry-After": "3"}]),
    retry_after=st.none() | st.floats(min_value=0, max_value=1e6),
    retryable=st.none() | st.booleans(),
)
values = st.one_of(statuses, problems)


def comparable(out: Outcome) -> tuple[object, ...]:
    body = out.body
    if out.error_id is not None:
        body = body.replace(out.error_id.encode(), b"<error_id>")
    info = out.info
    assert info is not None
    return (out.status, out.headers, out.raw_headers(), body, info._replace(error_id=None))


def full_render(
    renderer: Renderer, value: int | Problem, exc: Exception, request: RequestInfo
) -> Outcome:
    if isinstance(value, Problem):
        return renderer.render(value, exc, request)
    return renderer.render(EMPTY_PROBLEM, exc, request, status=value)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    shape=st.sampled_from(sorted(BODY_SHAPES)),
    value=values,
    exc_type=st.sampled_from(EXCEPTION_TYPES),
    message=messages,
    detail_limit=st.sampled_from([3, 8, 4096]),
    method=st.sampled_from(["GET", "HEAD", "POST"]),
)
def test_a_planned_answer_is_the_full_render(  # noqa: PLR0917 - hypothesis passes them
    shape: str,
    value: int | Problem,
    exc_type: type[Exception],
    message: str,
    detail_limit: int,
    method: str,
) -> None:
    renderer = Renderer.for_shape(shape, rewrite=None, detail_limit=detail_limit)  # type: ignore[arg-type]
    request = RequestInfo(method=method, path="/x")
    plans = PlanCache()
    exc = exc_type(message)
    for _ in range(2):  # the first answer makes the plan, the second only fills it in
        planned = plans.outcome(renderer, value, exc, request)
        if planned is None:
            continue  # no plan for this case: the caller renders in full
        assert comparable(planned) == comparable(full_render(renderer, value, exc, request))


def test_no_plan_for_a_users_builder_a_rewrite_hook_or_debug() -> None:
    request = RequestInfo()

    def builder(info: Any) -> dict[str, Any]:
        return {"type": type(info.exception).__name__}  # reads the exception: never plannable

    for renderer in (
        Renderer.for_shape(builder, rewrite=None, detail_limit=100),
        Renderer.for_shape("problem", rewrite=lambda body, info: body, detail_limit=100),
        Renderer.for_shape("problem", rewrite=None, detail_limit=100).__class__(
            debug=True,
            body=BODY_SHAPES["problem"].builder,
            content_type="application/problem+json",
            rewrite=None,
            detail_limit=100,
            plannable=True,
        ),
    ):
        assert PlanCache().outcome(renderer, 404, KeyError("k"), request) is None


def test_the_plan_cache_is_bounded() -> None:
    renderer = Renderer.for_shape("problem", rewrite=None, detail_limit=100)
    plans = PlanCache()
    templates = [Problem(status=404, code=f"C{n}") for n in range(MAX_PLANS + 50)]
    for template in templates:
        out = plans.outcome(renderer, template, KeyError("k"), RequestInfo())
        assert out is not None
    assert len(plans._entries) == MAX_PLANS
