"""`classify` rules for PyMySQL, by MySQL's error number (``args[0]``).

==========================================  ==========  ======  =========
MySQL error (PyMySQL's class)               category    status  retryable
==========================================  ==========  ======  =========
1213 deadlock, 1205 lock wait timeout       TEMPORARY   503     yes
(OperationalError)
3024 max_execution_time exceeded, 1969      TIMEOUT     504     yes
(MariaDB max_statement_time)
1062, 1586 duplicate entry (IntegrityError) CONFLICT    409     no
1048, 1364, 1216, 1217, 1451, 1452 (null,   CONFLICT    409     no
no value for a NOT NULL column, key)
1045 access denied, 1044, 1142, 1143,       PERMANENT   500     no
1227, 1698
1021, 1114 disk or table full               PERMANENT   500     no
1049 unknown database                       PERMANENT   500     no
1040 too many connections, 1053, 2002,      TEMPORARY   503     yes
2003 (cannot connect), 2006 (gone away),
2013 (lost), 2055, 4031 (idle, disconnected),
1927 (killed), 1290/1792/1836 read-only
anything else                               PERMANENT   500     no
==========================================  ==========  ======  =========

The table is shared with SQLAlchemy over any MySQL driver
(``interceptor.integrations._sql``), and so are the fixed details (see
`interceptor.integrations.psycopg`): MySQL's message names tables, keys and
the duplicate value. Registered by `classify` the first time it sees a
PyMySQL exception; calling `register` again is harmless.
"""

from __future__ import annotations

from interceptor._classify import register_builtin
from interceptor.integrations._sql import driver_error

__all__ = ["register"]


def register() -> None:
    """Register the PyMySQL rules (imports PyMySQL)."""
    from pymysql import err  # type: ignore[import-untyped]  # noqa: PLC0415 - once in use

    register_builtin(err.MySQLError, driver_error)
