"""`classify` rules for psycopg2, by the error's SQLSTATE (``pgcode``).

The same table as for psycopg 3 (see `interceptor.integrations.psycopg`):
40001, 40P01, 55P03 TEMPORARY 503 (retry the transaction); 57014 TIMEOUT
504; 23505 CONFLICT 409 ("A conflicting record already exists."), other
23xxx CONFLICT 409; 25006, class 08, 53200, 53300, 57P01 to 57P05, 58030
(and the rest of the shared table) TEMPORARY 503; class 28 and 42501
PERMANENT 500 ("The database refused our credentials."); 53100 PERMANENT
500. A failed connection attempt has no SQLSTATE (libpq gives none): a
refused login is told by the server's English ``FATAL`` line (PERMANENT
500), any other ``OperationalError`` without a SQLSTATE is TEMPORARY 503.
Other errors (an ``OperationalError`` with a SQLSTATE the table does not
name too) fall through to the default, PERMANENT 500. The details are
fixed, never the server's message. Registered by `classify` the first time
it sees a psycopg2 exception; calling `register` again is harmless.
"""

from __future__ import annotations

from interceptor.integrations._wiring import register_dbapi

__all__ = ["register"]


def register() -> None:
    """Register the psycopg2 rules (imports psycopg2)."""
    import psycopg2  # type: ignore[import-untyped]  # noqa: PLC0415 - only once in use

    register_dbapi(psycopg2)
