"""What a database driver's error means, by its SQLSTATE or MySQL error number.

Shared by the psycopg, asyncpg, PyMySQL and SQLAlchemy rules, so one failure
reads the same whichever driver (or SQLAlchemy over it) met it. No import of
any driver: the codes are read from the error's attributes.

PostgreSQL SQLSTATE (psycopg's and asyncpg's ``sqlstate``, psycopg2's ``pgcode``)::

    40001 serialization_failure, 40P01 deadlock_detected,
    55P03 lock_not_available                       TEMPORARY  503  retry the transaction
    57014 query_canceled (statement_timeout)       TIMEOUT    504
    23505 unique_violation                         CONFLICT   409  "A conflicting record ..."
    other 23xxx (foreign key, not null, check)     CONFLICT   409  "... the data already stored."
    25006 read_only_sql_transaction (a replica)    TEMPORARY  503
    72000 snapshot_too_old                         TEMPORARY  503  retry the transaction
    class 08 (connection), 53000, 53200 out_of_memory,
    53300 too_many_connections, 57000, 57P01 to 57P03
    (shutdown, starting up), 57P05 (idle session
    closed), 58000, 58030 (the server's I/O)       TEMPORARY  503
    class 28 (28P01 wrong password, 28000),
    42501 insufficient_privilege                   PERMANENT  500  our credentials
    53100 disk_full                                PERMANENT  500
    anything else                                  no answer (the next rule decides)

MySQL error numbers (PyMySQL's and mysqlclient's ``args[0]``)::

    1213 deadlock, 1205 lock wait timeout          TEMPORARY  503  retry the transaction
    3024 max_execution_time exceeded (MySQL),
    1969 max_statement_time exceeded (MariaDB)     TIMEOUT    504
    1062, 1586 duplicate entry                     CONFLICT   409  "A conflicting record ..."
    1048, 1364, 1216, 1217, 1451, 1452 (null, no
    value for a NOT NULL column, foreign key)      CONFLICT   409  "... the data already stored."
    1040 too many connections, 1053 shutdown,
    2002, 2003, 2006, 2013, 2055 (no connection,
    gone away, lost), 4031 (idle, disconnected),
    1927 (killed), 1290, 1792, 1836 (read-only)    TEMPORARY  503
    1044, 1045, 1142, 1143, 1227, 1698 (access
    denied)                                        PERMANENT  500  our credentials
    1021, 1114 (disk full, table full)             PERMANENT  500
    1049 unknown database (our configuration)      PERMANENT  500  the category's detail
    anything else                                  no answer

PyMySQL raises 1969, 1364 and 1049 as its catch-all ``OperationalError``,
which SQLAlchemy's class rule alone would call TEMPORARY 503; the number
decides first. 1969 is MariaDB's own (MySQL's 1xxx numbers end below 1900).

libpq reports a failed connection attempt with no SQLSTATE at all (psycopg's
and psycopg2's ``sqlstate`` is ``None``), so a wrong password is told from a
server that is down by the server's ``FATAL`` line in the message: "password
authentication failed", "no pg_hba.conf entry", "role ... does not exist",
and libpq's own "no password supplied". This matches English messages only
(the server's ``lc_messages``); with another language a refused login reads
as a connection failure, TEMPORARY 503. The message decides, never shows:
the details are fixed.

`refused_statement` tells a statement the database refused (SQLite's
``SQLITE_ERROR``: a syntax error, a missing table or column; a MySQL server
error number or a PostgreSQL SQLSTATE the tables do not name: 3B001 no such
savepoint, 54023 too many arguments, ...) from a connection that failed:
sqlite3, PyMySQL, psycopg and psycopg2 raise both as ``OperationalError``,
which alone says nothing.
"""

from __future__ import annotations

import re

from interceptor._classify import Category, Classification
from interceptor._http import module_name
from interceptor._status import is_int

__all__ = [
    "CONFLICT",
    "DATABASE_FULL",
    "DATABASE_REFUSED_US",
    "DATABASE_TIMED_OUT",
    "DATABASE_UNAVAILABLE",
    "DATA_CONFLICT",
    "EXISTS",
    "FULL",
    "NO_SUCH_DATABASE",
    "RECORD_EXISTS",
    "REFUSED_US",
    "RETRY_TRANSACTION",
    "TIMED_OUT",
    "TRANSACTION_CONFLICT",
    "UNAVAILABLE",
    "by_mysql_errno",
    "by_sqlstate",
    "driver_error",
    "refused_statement",
]

DATABASE_UNAVAILABLE = "The database is temporarily unavailable."
DATABASE_TIMED_OUT = "The database timed out."
DATABASE_REFUSED_US = "The database refused our credentials."
DATABASE_FULL = "The database is out of space."
TRANSACTION_CONFLICT = "The transaction conflicted with another; retry it."
RECORD_EXISTS = "A conflicting record already exists."
DATA_CONFLICT = "The request conflicts with the data already stored."

UNAVAILABLE = Classification(Category.TEMPORARY, detail=DATABASE_UNAVAILABLE)
TIMED_OUT = Classification(Category.TIMEOUT, detail=DATABASE_TIMED_OUT)
REFUSED_US = Classification(Category.PERMANENT, detail=DATABASE_REFUSED_US)
FULL = Classification(Category.PERMANENT, detail=DATABASE_FULL)
RETRY_TRANSACTION = Classification(Category.TEMPORARY, detail=TRANSACTION_CONFLICT)
EXISTS = Classification(Category.CONFLICT, detail=RECORD_EXISTS)
CONFLICT = Classification(Category.CONFLICT, detail=DATA_CONFLICT)
NO_SUCH_DATABASE = Classification(Category.PERMANENT)  # a wrong name in our settings

_SQLSTATES: dict[str, Classification] = {
    "40001": RETRY_TRANSACTION,
    "40P01": RETRY_TRANSACTION,
    "55P03": RETRY_TRANSACTION,
    "57014": TIMED_OUT,
    "23505": EXISTS,
    "25006": UNAVAILABLE,
    "53200": UNAVAILABLE,
    "53300": UNAVAILABLE,
    "57P01": UNAVAILABLE,
    "57P02": UNAVAILABLE,
    "57P03": UNAVAILABLE,
    "57P05": UNAVAILABLE,  # idle_session_timeout: the server closed our connection
    "57000": UNAVAILABLE,
    "53000": UNAVAILABLE,
    "58000": UNAVAILABLE,
    "58030": UNAVAILABLE,
    "72000": RETRY_TRANSACTION,  # snapshot_too_old
    "42501": REFUSED_US,
    "53100": FULL,
}
_SQLSTATE_CLASSES: dict[str, Classification] = {
    "08": UNAVAILABLE,
    "23": CONFLICT,
    "28": REFUSED_US,
}

_MYSQL: dict[int, Classification] = {
    **dict.fromkeys((1213, 1205), RETRY_TRANSACTION),
    **dict.fromkeys((3024, 1969), TIMED_OUT),
    **dict.fromkeys((1062, 1586), EXISTS),
    **dict.fromkeys((1048, 1364, 1216, 1217, 1451, 1452), CONFLICT),
    **dict.fromkeys(
        (1040, 1053, 2002, 2003, 2006, 2013, 2055, 4031, 1927, 1290, 1792, 1836), UNAVAILABLE
    ),
    **dict.fromkeys((1044, 1045, 1142, 1143, 1227, 1698), REFUSED_US),
    **dict.fromkeys((1021, 1114), FULL),
    1049: NO_SUCH_DATABASE,
}
# The drivers whose errors carry MySQL's error number as args[0].
_MYSQL_DRIVERS = frozenset({"pymysql", "MySQLdb", "aiomysql", "asyncmy", "mysql"})
_LIBPQ_DRIVERS = frozenset({"psycopg", "psycopg2"})
_LIBPQ_AUTH = re.compile(
    r"FATAL:\s+(password authentication failed|no pg_hba\.conf entry"
    r"|pg_hba\.conf rejects connection|role \".*\" does not exist)"
    r"|no password supplied"
)


def by_sqlstate(state: object) -> Classification | None:
    """The answer for a PostgreSQL SQLSTATE; ``None`` for one the table does not name."""
    if not isinstance(state, str) or len(state) != 5:
        return None
    return _SQLSTATES.get(state) or _SQLSTATE_CLASSES.get(state[:2])


def by_mysql_errno(number: object) -> Classification | None:
    """The answer for a MySQL error number; ``None`` for one the table does not name."""
    if not is_int(number):
        return None
    return _MYSQL.get(number)


def driver_error(exc: object) -> Classification | None:
    """The answer for a driver's error by its code; ``None`` when it names none we know."""
    try:
        root = module_name(type(exc)).partition(".")[0]
        if root in _MYSQL_DRIVERS:
            return _mysql_error(exc)
        states = (getattr(exc, "sqlstate", None), getattr(exc, "pgcode", None))
        message = str(exc) if root in _LIBPQ_DRIVERS else ""
    except Exception:  # noqa: BLE001 - a driver error's broken property names no code
        return None
    for state in states:
        found = by_sqlstate(state)
        if found is not None:
            return found
    if all(state is None for state in states) and _LIBPQ_AUTH.search(message):
        return REFUSED_US
    return None


def _mysql_error(exc: object) -> Classification | None:
    # By number only: MySQL's SQLSTATEs are coarse (23000 for every
    # constraint, HY000 for most) and are not PostgreSQL's.
    args = getattr(exc, "args", None)
    return by_mysql_errno(args[0]) if isinstance(args, tuple) and args else None


# MySQL's 2xxx numbers are the client library's own (CR_*: no connection, lost,
# out of sync); any other number is the server's answer to the statement.
_MYSQL_CLIENT_ERRORS = range(2000, 3000)


def refused_statement(exc: object) -> bool:
    """Whether a driver's error is the database refusing the statement, not a lost connection.

    SQLite's ``SQLITE_ERROR`` family, a MySQL server's error number, and a
    PostgreSQL SQLSTATE the table does not name: the database answered, so
    it is up, and the same statement fails again. (Those the table names,
    transient ones included, it answers before this is asked.)
    """
    try:
        name = getattr(exc, "sqlite_errorname", None)
        if isinstance(name, str):
            return name == "SQLITE_ERROR" or name.startswith("SQLITE_ERROR_")
        if module_name(type(exc)).partition(".")[0] in _MYSQL_DRIVERS:
            return _mysql_server_error(getattr(exc, "args", None))
        states = (getattr(exc, "sqlstate", None), getattr(exc, "pgcode", None))
    except Exception:  # noqa: BLE001 - a driver error's broken property names no code
        return False
    return any(isinstance(state, str) and len(state) == 5 for state in states)


def _mysql_server_error(args: object) -> bool:
    number = args[0] if isinstance(args, tuple) and args else None
    return is_int(number) and number > 0 and number not in _MYSQL_CLIENT_ERRORS
