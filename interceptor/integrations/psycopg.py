"""`classify` rules for psycopg 3, by the error's SQLSTATE.

==========================================  ==========  ======  =========
psycopg exception                           category    status  retryable
==========================================  ==========  ======  =========
SerializationFailure 40001,                 TEMPORARY   503     yes
DeadlockDetected 40P01, LockNotAvailable
QueryCanceled 57014 (statement_timeout)     TIMEOUT     504     yes
UniqueViolation 23505                       CONFLICT    409     no
other IntegrityError (23xxx)                CONFLICT    409     no
ReadOnlySqlTransaction 25006                TEMPORARY   503     yes
InvalidPassword 28P01, other class 28,      PERMANENT   500     no
InsufficientPrivilege 42501
DiskFull 53100                              PERMANENT   500     no
class 08, 53000, 53200, 53300, 57000,       TEMPORARY   503     yes
57P01 to 57P03, 57P05, 58000, 58030
a refused login (no SQLSTATE; see below)    PERMANENT   500     no
ConnectionTimeout                           TIMEOUT     504     yes
other OperationalError, no SQLSTATE         TEMPORARY   503     yes
(no connection)
anything else (a syntax error, 42P01, an    PERMANENT   500     no
OperationalError's 3B001 or 54023...)
==========================================  ==========  ======  =========

The SQLSTATE table is shared with asyncpg, PyMySQL and SQLAlchemy
(``interceptor.integrations._sql``). libpq reports a failed connection
attempt with no SQLSTATE: a wrong password is told from a server that is
down by the server's English ``FATAL`` line (a server with another
``lc_messages`` gets TEMPORARY 503 for both).

Each answer's ``detail``, what `interceptor.classified` shows instead of the
server's message (which names tables, columns, constraint names and the
conflicting values), is fixed: "The transaction conflicted with another;
retry it.", "The database timed out.", "A conflicting record already
exists.", "The request conflicts with the data already stored.", "The
database is temporarily unavailable.", "The database refused our
credentials.", "The database is out of space."

Registered by `classify` the first time it sees a psycopg exception; calling
`register` again is harmless.
"""

from __future__ import annotations

from interceptor.integrations._sql import TIMED_OUT
from interceptor.integrations._wiring import register_dbapi, register_present

__all__ = ["register"]


def register() -> None:
    """Register the psycopg rules (imports psycopg)."""
    import psycopg  # noqa: PLC0415 - the library is imported only once it is in use

    register_dbapi(psycopg)
    register_present(psycopg.errors, ("ConnectionTimeout",), TIMED_OUT)  # psycopg >= 3.1
