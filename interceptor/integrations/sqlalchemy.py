"""`classify` rules for SQLAlchemy.

====================================  =========  ======  =========
SQLAlchemy exception                  category   status  retryable
====================================  =========  ======  =========
OperationalError                      TEMPORARY  503     yes
DBAPIError with connection_invalidated TEMPORARY 503     yes
DisconnectionError                    TEMPORARY  503     yes
TimeoutError (connection pool full)   TEMPORARY  503     yes
IntegrityError                        CONFLICT   409     no
====================================  =========  ======  =========

``OperationalError`` covers lost connections, lock and serialization
failures and deadlocks, which a retry may cure. Registered by `classify` the
first time it sees a SQLAlchemy exception; calling `register` again is
harmless.
"""

from __future__ import annotations

from interceptor._classify import Category, register_builtin

__all__ = ["register"]


def _dbapi_error(exc: BaseException) -> Category | None:
    # SQLAlchemy sets this when the driver error meant the connection is gone.
    return Category.TEMPORARY if getattr(exc, "connection_invalidated", False) is True else None


def register() -> None:
    """Register the SQLAlchemy rules (imports SQLAlchemy)."""
    from sqlalchemy import exc  # noqa: PLC0415 - the library is imported only once in use

    register_builtin(
        (exc.OperationalError, exc.DisconnectionError, exc.TimeoutError), Category.TEMPORARY
    )
    register_builtin(exc.DBAPIError, _dbapi_error)
    register_builtin(exc.IntegrityError, Category.CONFLICT)
