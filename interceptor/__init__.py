"""Exception-interceptor middleware for ASGI and WSGI apps.

Register handlers per exception type at a scope (a route, a router or
blueprint, the whole app); the most specific one by the exception's MRO turns
the exception into an HTTP status and an RFC 9457 problem-details body.
Framework adapters live in `interceptor.starlette`, `interceptor.flask` and
`interceptor.wsgi`; importing this package imports no framework.

The distribution is `exception-interceptor` (`pip install 'exception-interceptor[starlette]'`);
`interceptor.__version__` is its installed version.
"""

from interceptor._classify import (
    Category,
    Classification,
    classified,
    classify,
    register_classifier,
)
from interceptor._core import Interceptor
from interceptor._errors import ApiError, define_errors
from interceptor._observe import ErrorEvent, Report
from interceptor._problem import Problem
from interceptor._render import ErrorInfo
from interceptor._request import RequestInfo
from interceptor._validation import validation_problem
from interceptor._values import ExceptionHandler

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


_DISTRIBUTION = "exception-interceptor"


def __getattr__(name: str) -> str:
    # `__version__` is read from the installed metadata on first use, so that
    # `import interceptor` does not pay for importing importlib.metadata.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415 - kept off the import path

        try:
            value = version(_DISTRIBUTION)
        except PackageNotFoundError:  # a source tree that was never installed
            value = "0+unknown"
        globals()["__version__"] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
