"""The psycopg, asyncpg, PyMySQL and SQLAlchemy-over-a-driver rules, with real errors.

PostgreSQL errors come from a real server: a throwaway cluster made with
``initdb`` in a temporary directory, started on 127.0.0.1 on a free port and
stopped by its PID at the end (as the ``postgres`` user when the suite runs as
root, which PostgreSQL refuses to run as). ``.ci/run`` installs Debian's
``postgresql``; the PostgreSQL tests are skipped, saying so, only when its
binaries are missing. MySQL errors come from PyMySQL's own error-packet parser
(no MySQL server here) and a real refused connection.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import struct
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import psycopg
import psycopg2
import psycopg2.errors
import pymysql
import pytest
import sqlalchemy
from psycopg import errors as pg
from sqlalchemy import exc as sa_exc

from interceptor import classified
from interceptor._classify import Category, classify
from tests.servers import free_port, server_user, stop, wait_until

T, TE, P, C = Category.TIMEOUT, Category.TEMPORARY, Category.PERMANENT, Category.CONFLICT
UNAVAILABLE = "The database is temporarily unavailable."
RETRY = "The transaction conflicted with another; retry it."
TIMED_OUT = "The database timed out."
REFUSED = "The database refused our credentials."
EXISTS = "A conflicting record already exists."
STORED = "The request conflicts with the data already stored."
FULL = "The database is out of space."
PASSWORD = "pg-test-password"  # noqa: S105 - a throwaway cluster's password
USER = "tester"


def pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


INITDB, POSTGRES = pg_bin("initdb"), pg_bin("postgres")
needs_postgres = pytest.mark.skipif(
    INITDB is None or POSTGRES is None,
    reason="PostgreSQL is not installed (apt-get install -y postgresql; .ci/run does)",
)


@pytest.fixture(scope="module")
def pg_dsn() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on 127.0.0.1; its DSN (database ``postgres``)."""
    assert INITDB is not None
    assert POSTGRES is not None
    as_user: dict[str, Any] = {}
    workdir = Path(tempfile.mkdtemp(prefix="interceptor-pg-"))
    owner = server_user("postgres") if os.geteuid() == 0 else None  # PostgreSQL refuses root
    if owner is not None:
        import pwd  # noqa: PLC0415

        gid = pwd.getpwnam(owner).pw_gid
        as_user = {"user": owner, "group": gid, "extra_groups": []}
        shutil.chown(workdir, owner, gid)
    pwfile = workdir / "pw"
    pwfile.write_text(PASSWORD)
    if owner is not None:
        shutil.chown(pwfile, owner, gid)
    data = workdir / "data"
    subprocess.run(
        [
            INITDB,
            "-D",
            str(data),
            "-U",
            USER,
            f"--pwfile={pwfile}",
            "--auth=scram-sha-256",
            "-E",
            "UTF8",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
        timeout=120,
        **as_user,
    )
    port = free_port()
    proc = subprocess.Popen(
        [
            POSTGRES,
            "-D",
            str(data),
            "-p",
            str(port),
            "-h",
            "127.0.0.1",
            "-k",
            str(workdir),
            "-c",
            "fsync=off",
            "-c",
            "deadlock_timeout=100ms",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        **as_user,
    )
    dsn = f"host=127.0.0.1 port={port} user={USER} password={PASSWORD} dbname=postgres"
    try:

        def accepts() -> bool:
            try:
                psycopg.connect(dsn, connect_timeout=2).close()
            except psycopg.OperationalError:
                return False
            return True

        wait_until(accepts, proc, seconds=30, what="PostgreSQL")
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE TABLE items (id int PRIMARY KEY, name text UNIQUE, n int)")
            conn.execute("INSERT INTO items VALUES (1, 'one', 0), (2, 'two', 0)")
        yield dsn
    finally:
        stop(proc, signal.SIGINT)  # PostgreSQL's fast shutdown
        shutil.rmtree(workdir, ignore_errors=True)


def raised(call: Callable[[], object], tp: type[BaseException]) -> BaseException:
    with pytest.raises(tp) as info:
        call()
    return info.value


def check(exc: BaseException, category: Category, status: int, detail: str) -> None:
    found = classify(exc)
    assert (found.category, found.status, found.detail) == (category, status, detail), exc
    assert found.retryable is category.retryable


def sa_url(dsn: str, driver: str = "psycopg") -> str:
    parts = dict(item.split("=", 1) for item in dsn.split())
    return (
        f"postgresql+{driver}://{parts['user']}:{parts['password']}"
        f"@{parts['host']}:{parts['port']}/{parts['dbname']}"
    )


# -- psycopg against the real server ----------------------------------------------


@needs_postgres
def test_real_unique_violation(pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn) as conn:
        exc = raised(
            lambda: conn.execute("INSERT INTO items VALUES (3, 'one', 0)"), pg.UniqueViolation
        )
    check(exc, C, 409, EXISTS)
    assert "one" in str(exc)
    assert "'one'" not in repr(classified.problem(exc))
    with psycopg.connect(pg_dsn) as conn:
        exc = raised(
            lambda: conn.execute("INSERT INTO items VALUES (4, NULL, NULL), (4, 'x', 0)"),
            pg.UniqueViolation,
        )
    check(exc, C, 409, EXISTS)
    with psycopg.connect(pg_dsn) as conn:
        exc = raised(
            lambda: conn.execute("INSERT INTO items (id) VALUES (NULL)"), pg.NotNullViolation
        )
    check(exc, C, 409, STORED)


@needs_postgres
def test_real_serialization_failure(pg_dsn: str) -> None:
    first = psycopg.connect(pg_dsn)
    other = psycopg.connect(pg_dsn, autocommit=True)
    try:
        first.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        first.execute("SELECT n FROM items WHERE id = 1").fetchone()
        other.execute("UPDATE items SET n = n + 1 WHERE id = 1")  # commits first
        exc = raised(
            lambda: first.execute("UPDATE items SET n = n + 1 WHERE id = 1"),
            pg.SerializationFailure,
        )
    finally:
        first.close()
        other.close()
    assert exc.sqlstate == "40001"  # type: ignore[attr-defined]
    check(exc, TE, 503, RETRY)


@needs_postgres
def test_real_deadlock(pg_dsn: str) -> None:
    a = psycopg.connect(pg_dsn)
    b = psycopg.connect(pg_dsn)
    errors: list[BaseException] = []

    def lock(conn: psycopg.Connection[Any], row: int) -> None:
        try:
            conn.execute("UPDATE items SET n = n + 1 WHERE id = %s", (row,))
        except psycopg.Error as exc:
            errors.append(exc)
            conn.rollback()

    try:
        lock(a, 1)
        lock(b, 2)
        waiter = threading.Thread(target=lock, args=(a, 2))
        waiter.start()
        time.sleep(0.2)  # a now waits for b's row
        lock(b, 1)  # b waits for a's: one of them is chosen as the victim
        waiter.join(10)
    finally:
        a.close()
        b.close()
    assert len(errors) == 1
    assert isinstance(errors[0], pg.DeadlockDetected)
    check(errors[0], TE, 503, RETRY)


@needs_postgres
def test_real_refused_statements_that_drivers_raise_as_operational_are_no_outage(
    pg_dsn: str, engine: sqlalchemy.Engine
) -> None:
    # psycopg raises these SQLSTATE classes (3B savepoint, 54 program limit) as
    # OperationalError, psycopg2 the 54s: a bug in our SQL was TEMPORARY 503.
    default = "The request could not be completed."
    too_many_arguments = "SELECT concat(" + ", ".join(["'x'"] * 101) + ")"
    statements = {
        "ROLLBACK TO SAVEPOINT no_such_savepoint": (pg.InvalidSavepointSpecification, "3B001"),
        too_many_arguments: (pg.TooManyArguments, "54023"),
    }
    for sql, (tp, state) in statements.items():
        with psycopg.connect(pg_dsn) as conn:
            conn.execute("BEGIN")
            exc = raised(lambda conn=conn, sql=sql: conn.execute(sql), tp)
        assert isinstance(exc, psycopg.OperationalError)
        assert exc.sqlstate == state  # type: ignore[attr-defined]
        check(exc, P, 500, default)
        conn2 = psycopg2.connect(pg_dsn)
        try:
            cur = conn2.cursor()
            exc = raised(lambda cur=cur, sql=sql: cur.execute(sql), psycopg2.Error)
        finally:
            conn2.close()
        assert exc.pgcode == state  # type: ignore[attr-defined]
        check(exc, P, 500, default)
        with engine.connect() as conn3:
            exc = raised(
                lambda conn3=conn3, sql=sql: conn3.execute(sqlalchemy.text(sql)),
                sa_exc.OperationalError,
            )
        check(exc, P, 500, default)


@needs_postgres
def test_real_statement_timeout(pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn) as conn:
        conn.execute("SET statement_timeout = '50ms'")
        exc = raised(lambda: conn.execute("SELECT pg_sleep(5)"), pg.QueryCanceled)
    check(exc, T, 504, TIMED_OUT)


@needs_postgres
def test_real_read_only_transaction(pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn) as conn:
        conn.execute("SET TRANSACTION READ ONLY")
        exc = raised(lambda: conn.execute("UPDATE items SET n = 0"), pg.ReadOnlySqlTransaction)
    check(exc, TE, 503, UNAVAILABLE)


@needs_postgres
def test_real_wrong_password_is_permanent(pg_dsn: str) -> None:
    wrong = pg_dsn.replace(PASSWORD, "wrong")
    exc = raised(lambda: psycopg.connect(wrong), psycopg.OperationalError)
    assert exc.sqlstate is None  # type: ignore[attr-defined]  # libpq gives none at connect
    check(exc, P, 500, REFUSED)
    unknown = pg_dsn.replace(f"user={USER}", "user=nobody_here")
    check(raised(lambda: psycopg.connect(unknown), psycopg.OperationalError), P, 500, REFUSED)


@needs_postgres
def test_real_insufficient_privilege(pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS reader")
        conn.execute("CREATE ROLE reader LOGIN PASSWORD 'reader-pw'")
    reader = pg_dsn.replace(f"user={USER} password={PASSWORD}", "user=reader password=reader-pw")
    with psycopg.connect(reader) as conn:
        exc = raised(lambda: conn.execute("SELECT * FROM items"), pg.InsufficientPrivilege)
    check(exc, P, 500, REFUSED)


def test_real_server_not_there_is_temporary() -> None:
    dsn = f"host=127.0.0.1 port={free_port()} user=x password=y dbname=z connect_timeout=2"
    exc = raised(lambda: psycopg.connect(dsn), psycopg.OperationalError)
    check(exc, TE, 503, UNAVAILABLE)


@pytest.mark.parametrize(
    ("exc", "category", "status", "detail"),
    [
        (pg.DiskFull("no space"), P, 500, FULL),
        (pg.InvalidPassword("x"), P, 500, REFUSED),
        (pg.InvalidAuthorizationSpecification("x"), P, 500, REFUSED),
        (pg.TooManyConnections("x"), TE, 503, UNAVAILABLE),
        (pg.AdminShutdown("x"), TE, 503, UNAVAILABLE),
        (pg.CannotConnectNow("x"), TE, 503, UNAVAILABLE),
        (pg.LockNotAvailable("x"), TE, 503, RETRY),
        (pg.ForeignKeyViolation("x"), C, 409, STORED),
        (pg.UndefinedTable("x"), P, 500, "The request could not be completed."),
    ],
    ids=repr,
)
def test_psycopg_errors_by_sqlstate(
    exc: Exception, category: Category, status: int, detail: str
) -> None:
    check(exc, category, status, detail)


# -- psycopg2 against the real server (pgcode) -----------------------------------------


@needs_postgres
def test_psycopg2_real_errors(pg_dsn: str) -> None:
    conn = psycopg2.connect(pg_dsn)
    try:
        cur = conn.cursor()
        exc = raised(
            lambda: cur.execute("INSERT INTO items VALUES (6, 'one', 0)"),
            psycopg2.errors.UniqueViolation,
        )
        check(exc, C, 409, EXISTS)
        conn.rollback()
        cur.execute("SET statement_timeout = '50ms'")
        exc = raised(lambda: cur.execute("SELECT pg_sleep(5)"), psycopg2.errors.QueryCanceled)
        check(exc, T, 504, TIMED_OUT)
        conn.rollback()
    finally:
        conn.close()
    wrong = pg_dsn.replace(PASSWORD, "wrong")
    exc = raised(lambda: psycopg2.connect(wrong), psycopg2.OperationalError)
    assert exc.pgcode is None  # type: ignore[attr-defined]
    check(exc, P, 500, REFUSED)
    engine = sqlalchemy.create_engine(sa_url(pg_dsn, "psycopg2"))
    try:
        with engine.connect() as sa_conn:
            exc = raised(
                lambda: sa_conn.execute(sqlalchemy.text("INSERT INTO items VALUES (7, 'one', 0)")),
                sa_exc.IntegrityError,
            )
    finally:
        engine.dispose()
    check(exc, C, 409, EXISTS)


def test_psycopg2_server_not_there_is_temporary() -> None:
    dsn = f"host=127.0.0.1 port={free_port()} user=x password=y dbname=z connect_timeout=2"
    check(raised(lambda: psycopg2.connect(dsn), psycopg2.OperationalError), TE, 503, UNAVAILABLE)


# -- SQLAlchemy over psycopg: the driver's code decides ------------------------------


@pytest.fixture(scope="module")
def engine(pg_dsn: str) -> Iterator[sqlalchemy.Engine]:
    engine = sqlalchemy.create_engine(sa_url(pg_dsn))
    yield engine
    engine.dispose()


@needs_postgres
def test_sqlalchemy_over_psycopg(engine: sqlalchemy.Engine, pg_dsn: str) -> None:
    text = sqlalchemy.text
    with engine.connect() as conn:
        exc = raised(
            lambda: conn.execute(text("INSERT INTO items VALUES (9, 'one', 0)")),
            sa_exc.IntegrityError,
        )
    check(exc, C, 409, EXISTS)
    with engine.connect() as conn:
        conn.execute(text("SET statement_timeout = '50ms'"))
        exc = raised(lambda: conn.execute(text("SELECT pg_sleep(5)")), sa_exc.OperationalError)
    check(exc, T, 504, TIMED_OUT)  # not the TEMPORARY of OperationalError's own rule
    with engine.connect() as conn:
        conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        conn.execute(text("SELECT n FROM items WHERE id = 2")).fetchone()
        with psycopg.connect(pg_dsn, autocommit=True) as other:
            other.execute("UPDATE items SET n = n + 1 WHERE id = 2")
        exc = raised(
            lambda: conn.execute(text("UPDATE items SET n = 0 WHERE id = 2")),
            sa_exc.OperationalError,
        )
    check(exc, TE, 503, RETRY)
    wrong = sqlalchemy.create_engine(sa_url(pg_dsn.replace(PASSWORD, "wrong")))
    try:
        exc = raised(wrong.connect, sa_exc.OperationalError)
    finally:
        wrong.dispose()
    check(exc, P, 500, REFUSED)  # a wrong password is no TEMPORARY OperationalError
    with engine.connect() as conn:
        exc = raised(
            lambda: conn.execute(text("SELECT * FROM no_such_table")), sa_exc.ProgrammingError
        )
    check(exc, P, 500, "The request could not be completed.")


# -- asyncpg against the real server -----------------------------------------------


@needs_postgres
async def test_asyncpg_real_errors(pg_dsn: str) -> None:
    parts = dict(item.split("=", 1) for item in pg_dsn.split())
    options = {"host": "127.0.0.1", "port": int(parts["port"]), "database": "postgres"}
    conn = await asyncpg.connect(user=USER, password=PASSWORD, **options)
    try:
        with pytest.raises(asyncpg.UniqueViolationError) as unique:
            await conn.execute("INSERT INTO items VALUES (5, 'one', 0)")
        await conn.execute("SET statement_timeout = '50ms'")
        with pytest.raises(asyncpg.QueryCanceledError) as cancelled:
            await conn.execute("SELECT pg_sleep(5)")
    finally:
        await conn.close()
    check(unique.value, C, 409, EXISTS)
    check(cancelled.value, T, 504, TIMED_OUT)
    with pytest.raises(asyncpg.InvalidPasswordError) as wrong:
        await asyncpg.connect(user=USER, password="wrong", **options)  # noqa: S106
    check(wrong.value, P, 500, REFUSED)


async def test_asyncpg_server_not_there_is_the_stdlib_rule() -> None:
    with pytest.raises(ConnectionRefusedError) as info:
        await asyncpg.connect(
            host="127.0.0.1",
            port=free_port(),
            user="x",
            password="y",  # noqa: S106 - no server there to check it
            database="z",
            timeout=2,
        )
    found = classify(info.value)
    assert (found.category, found.status, found.retryable) == (TE, 502, True)


# -- PyMySQL: its own error-packet parser, and a real refused connection ------------------


def mysql_error(number: int, sqlstate: str, message: str) -> BaseException:
    """The exception PyMySQL raises for a server's error packet."""
    packet = b"\xff" + struct.pack("<h", number) + b"#" + sqlstate.encode() + message.encode()
    return raised(lambda: pymysql.err.raise_mysql_exception(packet), pymysql.err.MySQLError)


@pytest.mark.parametrize(
    ("number", "sqlstate", "category", "status", "detail"),
    [
        (1045, "28000", P, 500, REFUSED),
        (1213, "40001", TE, 503, RETRY),
        (1205, "HY000", TE, 503, RETRY),
        (1062, "23000", C, 409, EXISTS),
        (1452, "23000", C, 409, STORED),
        (3024, "HY000", T, 504, TIMED_OUT),
        (1040, "08004", TE, 503, UNAVAILABLE),
        (1290, "HY000", TE, 503, UNAVAILABLE),
        (1114, "HY000", P, 500, FULL),
        (1146, "42S02", P, 500, "The request could not be completed."),
    ],
)
def test_pymysql_errors_by_number(
    number: int, sqlstate: str, category: Category, status: int, detail: str
) -> None:
    exc = mysql_error(number, sqlstate, "secret_table 'secret value'")
    check(exc, category, status, detail)
    assert "secret" not in repr(classified.problem(exc))


def test_pymysql_real_refused_connection() -> None:
    exc = raised(
        lambda: pymysql.connect(host="127.0.0.1", port=free_port(), connect_timeout=2),
        pymysql.err.OperationalError,
    )
    assert exc.args[0] == 2003
    check(exc, TE, 503, UNAVAILABLE)


def test_sqlalchemy_over_pymysql_by_number() -> None:
    orig = mysql_error(1213, "40001", "Deadlock found")
    check(sa_exc.OperationalError("UPDATE", {}, orig), TE, 503, RETRY)
    orig = mysql_error(1045, "28000", "Access denied for user")
    check(sa_exc.OperationalError("connect", {}, orig), P, 500, REFUSED)
    orig = mysql_error(1062, "23000", "Duplicate entry")
    check(sa_exc.IntegrityError("INSERT", {}, orig), C, 409, EXISTS)


@pytest.mark.parametrize(
    ("number", "sqlstate", "message"),
    [
        (1054, "42S22", "Unknown column 'secret' in 'field list'"),
        (1242, "21000", "Subquery returns more than 1 row"),
        (1365, "22012", "Division by 0"),
    ],
)
def test_sqlalchemy_over_pymysql_a_refused_statement_is_no_outage(
    number: int, sqlstate: str, message: str
) -> None:
    # PyMySQL raises every server error it does not map as OperationalError;
    # SQLAlchemy's class rule took a bad statement for the database being down.
    orig = mysql_error(number, sqlstate, message)
    assert type(orig) is pymysql.err.OperationalError
    default = "The request could not be completed."
    check(orig, P, 500, default)
    wrapped = sa_exc.DBAPIError.instance("SELECT", {}, orig, pymysql.err.Error)
    assert type(wrapped) is sa_exc.OperationalError
    check(wrapped, P, 500, default)


@pytest.mark.parametrize("number", [4031, 1927])
def test_pymysql_a_server_that_dropped_the_connection_is_temporary(number: int) -> None:
    # MySQL 8's idle disconnect (4031) and MariaDB's killed connection (1927),
    # which SQLAlchemy's MySQL dialect counts as disconnects too.
    orig = mysql_error(number, "HY000", "The client was disconnected by the server")
    check(orig, TE, 503, UNAVAILABLE)
    check(sa_exc.DBAPIError.instance("SELECT", {}, orig, pymysql.err.Error), TE, 503, UNAVAILABLE)


def test_hostile_driver_errors_name_no_code() -> None:
    class Hostile(Exception):
        @property
        def sqlstate(self) -> str:
            raise RuntimeError("no")

    # Falls through to SQLAlchemy's class: OperationalError is TEMPORARY.
    check(sa_exc.OperationalError("SELECT", {}, Hostile()), TE, 503, UNAVAILABLE)

    # A PyMySQL error without a number names nothing: the default.
    default = "The request could not be completed."
    check(pymysql.err.OperationalError(), P, 500, default)
    check(pymysql.err.OperationalError("text, no number"), P, 500, default)


@needs_postgres
async def test_sqlalchemy_over_asyncpg_reads_its_adapters_sqlstate(pg_dsn: str) -> None:
    # SQLAlchemy's asyncpg dialect wraps asyncpg's error in its own adapter error,
    # which carries the SQLSTATE; a real asyncpg error, wrapped as the dialect does.
    # (The async engine itself needs greenlet, which the dev group does not install.)
    from sqlalchemy.dialects.postgresql.asyncpg import (  # noqa: PLC0415
        AsyncAdapt_asyncpg_dbapi as dbapi,
    )

    parts = dict(item.split("=", 1) for item in pg_dsn.split())
    conn = await asyncpg.connect(
        host="127.0.0.1",
        port=int(parts["port"]),
        user=USER,
        password=PASSWORD,
        database="postgres",
    )
    try:
        with pytest.raises(asyncpg.UniqueViolationError) as unique:
            await conn.execute("INSERT INTO items VALUES (8, 'one', 0)")
    finally:
        await conn.close()
    orig = dbapi.IntegrityError(str(unique.value), unique.value)
    check(sa_exc.IntegrityError("INSERT", {}, orig), C, 409, EXISTS)
    timeout = asyncpg.QueryCanceledError("canceling statement due to statement timeout")
    orig = dbapi.OperationalError(str(timeout), timeout)
    check(sa_exc.OperationalError("SELECT", {}, orig), T, 504, TIMED_OUT)
