"""`classify` rules for asyncpg, by the error's SQLSTATE.

=========================================  ==========  ======  =========
asyncpg exception                          category    status  retryable
=========================================  ==========  ======  =========
SerializationError 40001,                  TEMPORARY   503     yes
DeadlockDetectedError 40P01,
LockNotAvailableError 55P03
QueryCanceledError 57014                   TIMEOUT     504     yes
UniqueViolationError 23505                 CONFLICT    409     no
other IntegrityConstraintViolationError    CONFLICT    409     no
ReadOnlySQLTransactionError 25006          TEMPORARY   503     yes
InvalidPasswordError 28P01, other class    PERMANENT   500     no
28, InsufficientPrivilegeError 42501
DiskFullError 53100                        PERMANENT   500     no
class 08, TooManyConnectionsError 53300,   TEMPORARY   503     yes
CannotConnectNowError 57P03, shutdown,
ConnectionDoesNotExistError 08003 (lost)
other PostgresError                        PERMANENT   500     no
=========================================  ==========  ======  =========

asyncpg raises the builtin ``TimeoutError`` for a ``timeout=`` or
``command_timeout`` that runs out, and builtin ``OSError``s for a server that
cannot be reached: the stdlib rules classify those (TIMEOUT; TEMPORARY 502).
The SQLSTATE table and the fixed details are shared with psycopg (see
`interceptor.integrations.psycopg`). Registered by `classify` the first time
it sees an asyncpg exception; calling `register` again is harmless.
"""

from __future__ import annotations

from interceptor._classify import register_builtin
from interceptor.integrations._sql import driver_error

__all__ = ["register"]


def register() -> None:
    """Register the asyncpg rules (imports asyncpg)."""
    from asyncpg import exceptions  # type: ignore[import-untyped]  # noqa: PLC0415

    register_builtin(exceptions.PostgresError, driver_error)
