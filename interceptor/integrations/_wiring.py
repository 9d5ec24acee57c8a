"""What the integrations' ``register()`` functions share; imports no library.

- `Upstream`: the one answer per cause of an upstream client's transport
  failure (httpx, requests, aiohttp, botocore), so one cause reads the same
  whichever client met it; `connect_error`, a connect error by the ssl error
  that caused it, if one did.
- `register_present`: registers a rule for the exception classes a module
  has by name, passing over the names its installed version lacks.
- `register_dbapi`: a PostgreSQL DB-API driver's rules (psycopg, psycopg2),
  by the shared SQLSTATE table.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Final

from interceptor._classify import (
    MAX_CAUSES,
    UPSTREAM_CONNECTION_FAILED,
    UPSTREAM_HUNG_UP,
    UPSTREAM_INCOMPLETE,
    UPSTREAM_REQUEST_INVALID,
    UPSTREAM_TIMED_OUT,
    UPSTREAM_TLS,
    UPSTREAM_UNREACHABLE,
    UPSTREAM_UNUSABLE,
    Category,
    Classification,
    ClassifierFunction,
    classify,
    register_builtin,
)
from interceptor.integrations._sql import UNAVAILABLE, driver_error, refused_statement

__all__ = ["Upstream", "connect_error", "present", "register_dbapi", "register_present"]


class Upstream:
    """An upstream client's transport failures: one fixed answer (and detail) per cause."""

    TIMED_OUT: Final = Classification(Category.TIMEOUT, detail=UPSTREAM_TIMED_OUT)
    UNREACHABLE: Final = Classification(Category.TEMPORARY, 502, detail=UPSTREAM_UNREACHABLE)
    HUNG_UP: Final = Classification(Category.TEMPORARY, 502, detail=UPSTREAM_HUNG_UP)
    CONNECTION_FAILED: Final = Classification(
        Category.TEMPORARY, 502, detail=UPSTREAM_CONNECTION_FAILED
    )
    INCOMPLETE: Final = Classification(Category.TEMPORARY, 502, detail=UPSTREAM_INCOMPLETE)
    # Our own request could not be made (a bad URL, a missing region): a 500.
    REQUEST_INVALID: Final = Classification(Category.PERMANENT, detail=UPSTREAM_REQUEST_INVALID)
    TLS: Final = Classification(Category.PERMANENT, 502, detail=UPSTREAM_TLS)
    UNUSABLE: Final = Classification(Category.PERMANENT, 502, detail=UPSTREAM_UNUSABLE)


def connect_error(exc: BaseException) -> Classification:
    """A client's failure to connect: unreachable, unless an ``ssl`` error caused it.

    httpcore raises a failed TLS handshake or certificate check as its own
    ``ConnectError(ssl_error)``, which httpx's is raised from: the ssl error
    decides, as it does for requests, aiohttp and urllib. (httpcore's pool
    raises its error again ``from None``, so its argument is the one link.)
    """
    ssl = sys.modules.get("ssl")  # never imported here: no ssl error exists without it
    if ssl is None:
        return Upstream.UNREACHABLE
    link: BaseException = exc
    for _ in range(MAX_CAUSES):
        args = getattr(link, "args", None)
        wrapped = args[0] if isinstance(args, tuple) and args else None
        following = link.__cause__ or (wrapped if isinstance(wrapped, BaseException) else None)
        if following is None:
            break
        if issubclass(type(following), ssl.SSLError):
            return classify(following)
        link = following
    return Upstream.UNREACHABLE


def present(module: ModuleType, *names: str) -> tuple[type[Exception], ...]:
    """The named exception classes ``module`` has (older versions lack some)."""
    found = (getattr(module, name, None) for name in names)
    return tuple(tp for tp in found if isinstance(tp, type) and issubclass(tp, Exception))


def register_present(
    module: ModuleType, names: tuple[str, ...], rule: Classification | ClassifierFunction
) -> None:
    """`register_builtin` for the classes of ``names`` that ``module`` has, if any."""
    types = present(module, *names)
    if types:
        register_builtin(types, rule)


def _operational(exc: BaseException) -> Classification | None:
    found = driver_error(exc)
    if found is not None:
        return found
    # A SQLSTATE the table does not name is the server refusing the statement.
    return None if refused_statement(exc) else UNAVAILABLE


def register_dbapi(driver: ModuleType) -> None:
    """A PostgreSQL DB-API driver's rules: its ``Error`` by SQLSTATE, and an
    ``OperationalError`` with no SQLSTATE (no connection) TEMPORARY 503."""
    register_builtin(driver.Error, driver_error)
    register_builtin(driver.OperationalError, _operational)
