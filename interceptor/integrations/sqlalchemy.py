"""`classify` rules for SQLAlchemy: by the driver error it wraps, then by its own class.

A ``DBAPIError`` (``OperationalError``, ``IntegrityError``, ...) wraps the
driver's error as ``.orig``, and SQLAlchemy picks its own class from the
driver's class, which says little: PostgreSQL's serialization failure, a
wrong password and a full disk are all ``OperationalError``. So the driver's
code decides first, by the table shared with the psycopg, asyncpg and PyMySQL
rules (``interceptor.integrations._sql``): SQLSTATE (psycopg, psycopg2,
asyncpg) or MySQL's error number (PyMySQL, mysqlclient, aiomysql, asyncmy).

=============================================  =========  ======  =========
``.orig`` says                                 category   status  retryable
=============================================  =========  ======  =========
40001, 40P01, 55P03; MySQL 1213, 1205          TEMPORARY  503     yes
57014 (statement_timeout); MySQL 3024, 1969    TIMEOUT    504     yes
23505; MySQL 1062, 1586                        CONFLICT   409     no
other 23xxx; MySQL 1048, 1364, 1216, 1451...   CONFLICT   409     no
25006, class 08, 53200, 53300, 57P01-57P05,    TEMPORARY  503     yes
58030...; MySQL 1040, 2002, 2003, 2006, 2013,
4031, read-only
class 28, 42501; MySQL 1045, 1044, 1142...     PERMANENT  500     no
53100; MySQL 1021, 1114, 1049                  PERMANENT  500     no
another SQLSTATE or MySQL server error         PERMANENT  500     no
=============================================  =========  ======  =========

When the driver's code names none of these (SQLite, or a code outside the
table), SQLAlchemy's class decides:

======================================  =========  ======  =========
SQLAlchemy exception                    category   status  retryable
======================================  =========  ======  =========
OperationalError                        TEMPORARY  503     yes
OperationalError, a refused statement   PERMANENT  500     no
DBAPIError with connection_invalidated  TEMPORARY  503     yes
DisconnectionError                      TEMPORARY  503     yes
TimeoutError (connection pool full)     TEMPORARY  503     yes
IntegrityError                          CONFLICT   409     no
======================================  =========  ======  =========

A refused statement is one the database answered: SQLite's ``SQLITE_ERROR``
(a syntax error, a missing table or column), a MySQL server's error number or
a SQLSTATE outside the table (1054 unknown column, 3B001 no such savepoint,
...), which sqlite3, PyMySQL and psycopg raise as ``OperationalError`` too; it
is no outage, and the default decides.

Each answer's ``detail``, what `interceptor.classified` shows instead of
SQLAlchemy's message (which holds the SQL, its bound parameters and the
driver's text, naming tables, columns and values), is fixed:

- the TEMPORARY ones: "The database is temporarily unavailable.", and for a
  serialization failure, a deadlock or a lock not granted: "The transaction
  conflicted with another; retry it."
- timeouts: "The database timed out."
- credentials and privileges: "The database refused our credentials."
- a full disk: "The database is out of space."
- a unique or primary-key violation (SQLite's error name, SQLSTATE 23505,
  MySQL's 1062): "A conflicting record already exists."; another constraint
  (a foreign key, NOT NULL, CHECK): "The request conflicts with the data
  already stored."

Registered by `classify` the first time it sees a SQLAlchemy exception;
calling `register` again is harmless.
"""

from __future__ import annotations

from interceptor._classify import Classification, register_builtin
from interceptor.integrations._sql import (
    CONFLICT,
    DATA_CONFLICT,
    DATABASE_UNAVAILABLE,
    EXISTS,
    RECORD_EXISTS,
    UNAVAILABLE,
    driver_error,
    refused_statement,
)

__all__ = ["DATABASE_UNAVAILABLE", "DATA_CONFLICT", "RECORD_EXISTS", "register"]

_SQLITE_UNIQUE = frozenset({"SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"})
_MYSQL_DUPLICATE = frozenset({1062, 1586})  # ER_DUP_ENTRY, ER_DUP_ENTRY_WITH_KEY_NAME


def _orig(exc: BaseException) -> Classification | None:
    try:
        orig = getattr(exc, "orig", None)
    except Exception:  # noqa: BLE001 - a broken property wraps no driver error
        return None
    return None if orig is None else driver_error(orig)


def _operational_error(exc: BaseException) -> Classification | None:
    found = _orig(exc)
    if found is not None:
        return found
    # sqlite3, PyMySQL and psycopg raise a bad statement as OperationalError
    # too: the database answered it, so it is no outage, and a retry fails
    # the same way.
    try:
        orig = getattr(exc, "orig", None)
    except Exception:  # noqa: BLE001 - a broken property wraps no driver error
        return UNAVAILABLE
    return None if refused_statement(orig) else UNAVAILABLE


def _dbapi_error(exc: BaseException) -> Classification | None:
    found = _orig(exc)
    if found is not None:
        return found
    # SQLAlchemy sets this when the driver error meant the connection is gone.
    return UNAVAILABLE if getattr(exc, "connection_invalidated", False) is True else None


def _integrity_error(exc: BaseException) -> Classification:
    found = _orig(exc)
    if found is not None:
        return found
    try:
        orig = getattr(exc, "orig", None)
        name = getattr(orig, "sqlite_errorname", None)
        args = getattr(orig, "args", None)
    except Exception:  # noqa: BLE001 - a driver error's broken property names no constraint
        return CONFLICT
    if isinstance(name, str) and name in _SQLITE_UNIQUE:
        return EXISTS
    # An IntegrityError whose driver error starts with MySQL's number, from a
    # driver the shared table does not know by module.
    number = args[0] if isinstance(args, tuple) and args else None
    return EXISTS if type(number) is int and number in _MYSQL_DUPLICATE else CONFLICT


def register() -> None:
    """Register the SQLAlchemy rules (imports SQLAlchemy)."""
    from sqlalchemy import exc  # noqa: PLC0415 - the library is imported only once in use

    register_builtin(exc.OperationalError, _operational_error)
    register_builtin((exc.DisconnectionError, exc.TimeoutError), UNAVAILABLE)
    register_builtin(exc.DBAPIError, _dbapi_error)
    register_builtin(exc.IntegrityError, _integrity_error)
