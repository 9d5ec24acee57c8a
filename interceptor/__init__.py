"""Exception-interceptor middleware for ASGI and WSGI apps.

Register handlers per exception type at a scope (a route, a router or
blueprint, the whole app); the most specific one by the exception's MRO turns
the exception into an HTTP status and an RFC 9457 problem-details body.
Framework adapters live in `interceptor.starlette`, `interceptor.flask` and
`interceptor.wsgi`; importing this package imports no framework.
"""

from interceptor._classify import (
    Category,
    Classification,
    classified,
    classify,
    register_classifier,
)
from interceptor._core import ExceptionHandler, Interceptor, validation_problem
from interceptor._errors import ApiError, define_errors
from interceptor._observe import ErrorEvent, Report
from interceptor._problem import Problem
from interceptor._render import ErrorInfo, RequestInfo

__all__ = [
    "ApiError",
    "Category",
    "Classification",
    "ErrorEvent",
    "ErrorInfo",
    "ExceptionHandler",
    "Interceptor",
    "Problem",
    "Report",
    "RequestInfo",
    "classified",
    "classify",
    "define_errors",
    "register_classifier",
    "validation_problem",
]
