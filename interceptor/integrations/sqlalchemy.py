"""`classify` rules for SQLAlchemy.

======================================  =========  ======  =========
SQLAlchemy exception                    category   status  retryable
======================================  =========  ======  =========
OperationalError                        TEMPORARY  503     yes
DBAPIError with connection_invalidated  TEMPORARY  503     yes
DisconnectionError                      TEMPORARY  503     yes
TimeoutError (connection pool full)     TEMPORARY  503     yes
IntegrityError                          CONFLICT   409     no
======================================  =========  ======  =========

Each answer's ``detail``, what `interceptor.classified` shows instead of
SQLAlchemy's message (which holds the SQL, its bound parameters and the
driver's text, naming tables, columns and values):

- the TEMPORARY ones: "The database is temporarily unavailable."
- an ``IntegrityError`` from a unique or primary-key constraint (SQLite's
  error name, the SQLSTATE 23505 of PostgreSQL drivers, MySQL's 1062): "A
  conflicting record already exists."; from another constraint (a foreign
  key, NOT NULL, CHECK): "The request conflicts with the data already stored."

``OperationalError`` covers lost connections, lock and serialization
failures and deadlocks, which a retry may cure. Registered by `classify` the
first time it sees a SQLAlchemy exception; calling `register` again is
harmless.
"""

from __future__ import annotations

from interceptor._classify import Category, Classification, register_builtin

__all__ = ["register"]

DATABASE_UNAVAILABLE = "The database is temporarily unavailable."
RECORD_EXISTS = "A conflicting record already exists."
DATA_CONFLICT = "The request conflicts with the data already stored."

_UNAVAILABLE = Classification(Category.TEMPORARY, detail=DATABASE_UNAVAILABLE)
_EXISTS = Classification(Category.CONFLICT, detail=RECORD_EXISTS)
_CONFLICT = Classification(Category.CONFLICT, detail=DATA_CONFLICT)

# How drivers name a unique violation: SQLite's extended error names, the
# SQLSTATE of PostgreSQL (psycopg's `sqlstate`, psycopg2's `pgcode`, asyncpg's
# `sqlstate`), and MySQL's error number (mysqlclient, PyMySQL: `args[0]`).
_SQLITE_UNIQUE = frozenset({"SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"})
_UNIQUE_SQLSTATE = "23505"
_MYSQL_DUPLICATE = frozenset({1062, 1586})  # ER_DUP_ENTRY, ER_DUP_ENTRY_WITH_KEY_NAME


def _dbapi_error(exc: BaseException) -> Classification | None:
    # SQLAlchemy sets this when the driver error meant the connection is gone.
    return _UNAVAILABLE if getattr(exc, "connection_invalidated", False) is True else None


def _integrity_error(exc: BaseException) -> Classification:
    return _EXISTS if _is_unique_violation(getattr(exc, "orig", None)) else _CONFLICT


def _is_unique_violation(orig: object) -> bool:
    try:
        name = getattr(orig, "sqlite_errorname", None)
        states = (getattr(orig, "sqlstate", None), getattr(orig, "pgcode", None))
        args = getattr(orig, "args", None)
    except Exception:  # noqa: BLE001 - a driver error's broken property names no constraint
        return False
    if isinstance(name, str) and name in _SQLITE_UNIQUE:
        return True
    if any(isinstance(state, str) and state == _UNIQUE_SQLSTATE for state in states):
        return True
    number = args[0] if isinstance(args, tuple) and args else None
    return isinstance(number, int) and number in _MYSQL_DUPLICATE


def register() -> None:
    """Register the SQLAlchemy rules (imports SQLAlchemy)."""
    from sqlalchemy import exc  # noqa: PLC0415 - the library is imported only once in use

    register_builtin((exc.OperationalError, exc.DisconnectionError, exc.TimeoutError), _UNAVAILABLE)
    register_builtin(exc.DBAPIError, _dbapi_error)
    register_builtin(exc.IntegrityError, _integrity_error)
