"""The PyMySQL and SQLAlchemy-over-PyMySQL rules against a real MariaDB server.

A throwaway instance: ``mariadb-install-db`` into a temporary directory, then
``mariadbd`` on 127.0.0.1 on a free port (its socket in that directory), run as
the ``mysql`` user (else ``nobody``) when the suite runs as root, and stopped by
its PID at the end. ``make services`` installs Debian's ``mariadb-server``; the
tests are skipped, saying so, only when its binaries are missing. Each error is
the server's own, so the numbers are the ones an application meets.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymysql
import pytest
import sqlalchemy
from sqlalchemy import exc as sa_exc
from sqlalchemy.pool import NullPool

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
DEFAULT = "The request could not be completed."
USER = "tester"
PASSWORD = "mariadb-test-password"  # noqa: S105 - a throwaway instance's password
DATABASE = "app"
MISSING = "no_such_db"  # granted to USER, never created: 1049, not 1044


def _binary(*names: str) -> str | None:
    """The first of ``names`` on PATH or in /usr/sbin (not on a user's PATH)."""
    for name in names:
        found = shutil.which(name)
        if found:
            return found
        for folder in ("/usr/sbin", "/usr/bin"):
            path = os.path.join(folder, name)
            if os.access(path, os.X_OK):
                return path
    return None


MARIADBD = _binary("mariadbd", "mysqld")
INSTALL_DB = _binary("mariadb-install-db", "mysql_install_db")
pytestmark = [
    pytest.mark.server,
    pytest.mark.skipif(
        MARIADBD is None or INSTALL_DB is None,
        reason="MariaDB is not installed (apt-get install -y mariadb-server; make services does)",
    ),
]

# Small and fast: nothing here needs durability, and a 2-core machine runs it.
_SERVER_OPTIONS = (
    "--skip-name-resolve",
    "--innodb-buffer-pool-size=32M",
    "--innodb-log-file-size=8M",
    "--innodb-doublewrite=0",
    "--innodb-flush-log-at-trx-commit=0",
    "--innodb-use-native-aio=0",  # io_uring and libaio are often refused in containers
    "--innodb-buffer-pool-load-at-startup=0",
    "--innodb-buffer-pool-dump-at-shutdown=0",
)


@dataclass(frozen=True)
class Server:
    port: int
    socket: str

    def connect(self, **options: Any) -> pymysql.connections.Connection[Any]:
        """A PyMySQL connection over TCP as the test user, to the test database."""
        settings: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": self.port,
            "user": USER,
            "password": PASSWORD,
            "database": DATABASE,
            "connect_timeout": 5,
            "read_timeout": 20,
            "autocommit": True,
        }
        settings.update(options)
        return pymysql.connect(**settings)

    def admin(self) -> pymysql.connections.Connection[Any]:
        """root over the socket (no password: ``--auth-root-authentication-method=normal``)."""
        return pymysql.connect(
            unix_socket=self.socket, user="root", connect_timeout=5, autocommit=True
        )

    def url(self, password: str = PASSWORD, database: str = DATABASE) -> str:
        return f"mysql+pymysql://{USER}:{password}@127.0.0.1:{self.port}/{database}"


def _accepts(path: Path) -> bool:
    """Whether a server listens on the Unix socket ``path`` (closing the probe)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(2)
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


def _log_tail(log: Path) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-20:])
    except OSError:
        return "(no error log)"


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    """A throwaway MariaDB on 127.0.0.1 with USER, its password and DATABASE."""
    assert MARIADBD is not None
    assert INSTALL_DB is not None
    version = subprocess.run(
        [MARIADBD, "--version"], capture_output=True, text=True, timeout=30, check=False
    ).stdout
    if "mariadb" not in version.lower():
        pytest.skip(f"{MARIADBD} is not MariaDB: {version.strip()!r}")
    workdir = Path(tempfile.mkdtemp(prefix="interceptor-mariadb-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # mariadbd refuses to run as root without --user
        owner = server_user("mysql")
        shutil.chown(workdir, owner)
        as_user = [f"--user={owner}"]
    data, sock, log = workdir / "data", workdir / "mysqld.sock", workdir / "error.log"
    proc: subprocess.Popen[bytes] | None = None
    try:
        subprocess.run(
            [
                INSTALL_DB,
                "--no-defaults",  # not /etc/mysql's socket, port or datadir
                f"--datadir={data}",
                *as_user,
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                *_SERVER_OPTIONS,
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        port = free_port()
        proc = subprocess.Popen(
            [
                MARIADBD,
                "--no-defaults",
                f"--datadir={data}",
                *as_user,
                f"--port={port}",
                "--bind-address=127.0.0.1",
                f"--socket={sock}",
                f"--pid-file={workdir / 'mysqld.pid'}",
                f"--log-error={log}",
                f"--tmpdir={workdir}",
                "--innodb-lock-wait-timeout=1",
                *_SERVER_OPTIONS,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # Probed with a socket of our own: PyMySQL leaves a failed Unix socket open.
        try:
            wait_until(lambda: _accepts(sock), proc, seconds=60, what="MariaDB")
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}:\n{_log_tail(log)}") from None
        found = Server(port=port, socket=str(sock))
        with found.admin() as root, root.cursor() as cur:
            cur.execute(f"CREATE DATABASE {DATABASE}")
            cur.execute(f"CREATE USER '{USER}'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}'")
            cur.execute(f"GRANT ALL ON {DATABASE}.* TO '{USER}'@'127.0.0.1'")
            cur.execute(f"GRANT ALL ON {MISSING}.* TO '{USER}'@'127.0.0.1'")
            cur.execute(f"USE {DATABASE}")
            cur.execute(
                "CREATE TABLE items (id INT PRIMARY KEY,"
                " name VARCHAR(40) NOT NULL UNIQUE, n INT) ENGINE=InnoDB"
            )
            cur.execute(
                "INSERT INTO items VALUES"
                " (1, 'one', 0), (2, 'two', 0), (3, 'three', 0), (4, 'four', 0)"
            )
        yield found
    finally:
        if proc is not None:
            stop(proc)  # SIGTERM: mariadbd's normal shutdown
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def engine(server: Server) -> Iterator[sqlalchemy.Engine]:
    # A fresh connection each time: no session setting outlives its test.
    engine = sqlalchemy.create_engine(server.url(), poolclass=NullPool)
    yield engine
    engine.dispose()


def raised(call: Callable[[], object], tp: type[BaseException]) -> BaseException:
    with pytest.raises(tp) as info:
        call()
    return info.value


def check(exc: BaseException, category: Category, status: int, detail: str) -> None:
    found = classify(exc)
    assert (found.category, found.status, found.detail) == (category, status, detail), exc
    assert found.retryable is category.retryable


def number(exc: BaseException) -> object:
    """MySQL's error number, from a PyMySQL error or the one SQLAlchemy wraps."""
    orig = getattr(exc, "orig", exc)
    return orig.args[0] if orig.args else None


def execute(conn: pymysql.connections.Connection[Any], sql: str) -> None:
    with conn.cursor() as cur:
        cur.execute(sql)


def wait_for_lock_wait(server: Server, timeout: float = 10) -> None:
    """Until a transaction waits for a row lock (bounded in count and time)."""
    deadline = time.monotonic() + timeout
    with server.admin() as admin, admin.cursor() as cur:
        for _ in range(1000):
            cur.execute(
                "SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE trx_state = 'LOCK WAIT'"
            )
            row = cur.fetchone()
            if row is not None and row[0] > 0:
                return
            if time.monotonic() > deadline:
                break
            time.sleep(0.01)
    pytest.fail("no transaction started waiting for the row lock")


# -- PyMySQL ---------------------------------------------------------------------


def test_wrong_password_and_unknown_user_are_permanent(server: Server) -> None:
    wrong = "wrong"  # on purpose
    exc = raised(lambda: server.connect(password=wrong), pymysql.err.OperationalError)
    assert number(exc) == 1045
    check(exc, P, 500, REFUSED)
    exc = raised(lambda: server.connect(user="nobody_here"), pymysql.err.OperationalError)
    assert number(exc) == 1045
    check(exc, P, 500, REFUSED)


def test_unknown_database_is_permanent(server: Server) -> None:
    exc = raised(lambda: server.connect(database=MISSING), pymysql.err.OperationalError)
    assert number(exc) == 1049
    check(exc, P, 500, DEFAULT)
    # A database the user has no grant on reads as access denied (1044), not 1049.
    exc = raised(lambda: server.connect(database="mysql"), pymysql.err.OperationalError)
    assert number(exc) == 1044
    check(exc, P, 500, REFUSED)


def test_duplicate_key_is_a_conflict(server: Server) -> None:
    with server.connect() as conn:
        exc = raised(
            lambda: execute(conn, "INSERT INTO items VALUES (10, 'one', 0)"),
            pymysql.err.IntegrityError,
        )
        assert number(exc) == 1062
        check(exc, C, 409, EXISTS)
        assert "one" in str(exc)
        assert "'one'" not in repr(classified.problem(exc))
        exc = raised(
            lambda: execute(conn, "INSERT INTO items VALUES (1, 'new', 0)"),
            pymysql.err.IntegrityError,
        )
        check(exc, C, 409, EXISTS)  # the primary key too


def test_real_deadlock_is_temporary(server: Server) -> None:
    a = server.connect(autocommit=False)
    b = server.connect(autocommit=False)
    errors: list[BaseException] = []

    def update(conn: pymysql.connections.Connection[Any], row: int) -> None:
        try:
            execute(conn, f"UPDATE items SET n = n + 1 WHERE id = {row}")  # noqa: S608
        except pymysql.err.MySQLError as exc:
            errors.append(exc)

    try:
        for conn in (a, b):  # long enough that a deadlock, not a lock wait, ends it
            execute(conn, "SET SESSION innodb_lock_wait_timeout = 15")
        update(a, 1)
        update(b, 2)
        waiter = threading.Thread(target=update, args=(a, 2))
        waiter.start()
        try:
            wait_for_lock_wait(server)  # a now waits for b's row
            update(b, 1)  # b would wait for a's: InnoDB rolls one of them back
        finally:
            waiter.join(20)
        assert not waiter.is_alive()
    finally:
        for conn in (a, b):
            conn.rollback()
            conn.close()
    assert len(errors) == 1, errors
    assert isinstance(errors[0], pymysql.err.OperationalError)
    assert number(errors[0]) == 1213
    check(errors[0], TE, 503, RETRY)


def test_lock_wait_timeout_is_temporary(server: Server) -> None:
    holder = server.connect(autocommit=False)
    waiter = server.connect(autocommit=False)
    try:
        execute(holder, "UPDATE items SET n = n + 1 WHERE id = 3")
        execute(waiter, "SET SESSION innodb_lock_wait_timeout = 1")
        started = time.monotonic()
        exc = raised(
            lambda: execute(waiter, "UPDATE items SET n = n + 1 WHERE id = 3"),
            pymysql.err.OperationalError,
        )
        assert time.monotonic() - started < 10
    finally:
        for conn in (holder, waiter):
            conn.rollback()
            conn.close()
    assert number(exc) == 1205
    check(exc, TE, 503, RETRY)


def test_statement_timeout_is_a_timeout(server: Server) -> None:
    with server.connect() as conn:
        execute(conn, "SET SESSION max_statement_time = 0.5")
        started = time.monotonic()
        exc = raised(lambda: execute(conn, "SELECT SLEEP(2)"), pymysql.err.OperationalError)
        assert time.monotonic() - started < 1.9  # interrupted, not slept out
    assert number(exc) == 1969  # MariaDB's ER_STATEMENT_TIMEOUT
    check(exc, T, 504, TIMED_OUT)


def test_read_only_transaction_is_temporary(server: Server) -> None:
    with server.connect() as conn:
        execute(conn, "SET SESSION TRANSACTION READ ONLY")  # from the next transaction
        exc = raised(
            lambda: execute(conn, "UPDATE items SET n = 0 WHERE id = 4"),
            pymysql.err.OperationalError,
        )
    assert number(exc) == 1792
    check(exc, TE, 503, UNAVAILABLE)  # as PostgreSQL's 25006: a replica's answer


def test_not_null_violations_conflict_with_the_data(server: Server) -> None:
    with server.connect() as conn:
        exc = raised(
            lambda: execute(conn, "INSERT INTO items VALUES (11, NULL, 0)"),
            pymysql.err.IntegrityError,
        )
        assert number(exc) == 1048
        check(exc, C, 409, STORED)
        # A NOT NULL column left out (strict mode): 1364, which PyMySQL raises as
        # OperationalError; PostgreSQL's 23502 covers both.
        exc = raised(
            lambda: execute(conn, "INSERT INTO items (id) VALUES (12)"),
            pymysql.err.OperationalError,
        )
        assert number(exc) == 1364
        check(exc, C, 409, STORED)
        assert "name" not in repr(classified.problem(exc))


def test_syntax_error_and_missing_table_are_permanent(server: Server) -> None:
    with server.connect() as conn:
        exc = raised(lambda: execute(conn, "SELEC 1"), pymysql.err.ProgrammingError)
        assert number(exc) == 1064
        check(exc, P, 500, DEFAULT)
        exc = raised(
            lambda: execute(conn, "SELECT * FROM secret_table"), pymysql.err.ProgrammingError
        )
        assert number(exc) == 1146
        check(exc, P, 500, DEFAULT)
        assert "secret_table" not in repr(classified.problem(exc))


# -- SQLAlchemy over PyMySQL: the number decides, not SQLAlchemy's class -------------


def test_sqlalchemy_connect_errors(server: Server) -> None:
    for url, code, detail in (
        (server.url(password="wrong"), 1045, REFUSED),  # noqa: S106 - wrong on purpose
        (server.url(database=MISSING), 1049, DEFAULT),
    ):
        wrong = sqlalchemy.create_engine(url, poolclass=NullPool)
        try:
            exc = raised(wrong.connect, sa_exc.OperationalError)
        finally:
            wrong.dispose()
        assert number(exc) == code
        check(exc, P, 500, detail)  # not the TEMPORARY of OperationalError's own rule


def test_sqlalchemy_statement_errors(engine: sqlalchemy.Engine) -> None:
    text = sqlalchemy.text
    cases: list[tuple[str, type[sa_exc.DBAPIError], int, Category, int, str]] = [
        ("INSERT INTO items VALUES (20, 'two', 0)", sa_exc.IntegrityError, 1062, C, 409, EXISTS),
        ("INSERT INTO items VALUES (21, NULL, 0)", sa_exc.IntegrityError, 1048, C, 409, STORED),
        ("INSERT INTO items (id) VALUES (22)", sa_exc.OperationalError, 1364, C, 409, STORED),
        ("SELEC 1", sa_exc.ProgrammingError, 1064, P, 500, DEFAULT),
        ("SELECT * FROM no_such_table", sa_exc.ProgrammingError, 1146, P, 500, DEFAULT),
    ]
    for sql, tp, code, category, status, detail in cases:
        with engine.connect() as conn:
            exc = raised(lambda sql=sql, conn=conn: conn.execute(text(sql)), tp)
        assert number(exc) == code, sql
        check(exc, category, status, detail)
    with engine.connect() as conn:
        conn.execute(text("SET SESSION max_statement_time = 0.5"))
        exc = raised(lambda: conn.execute(text("SELECT SLEEP(2)")), sa_exc.OperationalError)
    assert number(exc) == 1969
    check(exc, T, 504, TIMED_OUT)


def test_sqlalchemy_lock_wait_timeout(engine: sqlalchemy.Engine) -> None:
    text = sqlalchemy.text
    with engine.connect() as holder, engine.connect() as waiter:
        holder.execute(text("UPDATE items SET n = n + 1 WHERE id = 4"))
        waiter.execute(text("SET SESSION innodb_lock_wait_timeout = 1"))
        exc = raised(
            lambda: waiter.execute(text("UPDATE items SET n = n + 1 WHERE id = 4")),
            sa_exc.OperationalError,
        )
        holder.rollback()
    assert number(exc) == 1205
    check(exc, TE, 503, RETRY)
