"""The redis rules, with the real redis-py client against a real redis-server on 127.0.0.1.

The server is Debian's ``redis-server`` (``.ci/run`` installs it); the tests are
skipped, saying so, only when the binary is not installed.
"""

from __future__ import annotations

import inspect
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from redis import exceptions as rx
from redis.backoff import NoBackoff
from redis.retry import Retry

from interceptor import classified
from interceptor._classify import Category, Classification, classify
from tests.servers import free_port, stop, wait_until

REDIS_SERVER = shutil.which("redis-server")
pytestmark = [
    pytest.mark.server,
    pytest.mark.skipif(
        REDIS_SERVER is None,
        reason="redis-server is not installed (apt-get install -y redis-server; .ci/run does)",
    ),
]

T, TE, P = Category.TIMEOUT, Category.TEMPORARY, Category.PERMANENT
UNAVAILABLE = "The data store is temporarily unavailable."
LIMITED_PASSWORD = "limited-pw"  # noqa: S105 - a throwaway server's throwaway user


def connect(port: int, **options: Any) -> redis.Redis:
    """A client of the server on 127.0.0.1:port that does not retry (the tests want the error)."""
    return redis.Redis(host="127.0.0.1", port=port, retry=Retry(NoBackoff(), 0), **options)


def checkout(pool: redis.ConnectionPool) -> object:
    """pool.get_connection(): redis-py 5.0 needs a command name, 5.3+ warns about one."""
    parameter = inspect.signature(pool.get_connection).parameters.get("command_name")
    if parameter is not None and parameter.default is inspect.Parameter.empty:
        return pool.get_connection("PING")
    return pool.get_connection()


def wait_until_up(port: int, proc: subprocess.Popen[bytes]) -> None:
    def answers() -> bool:
        try:
            return bool(connect(port, socket_timeout=1).ping())
        except rx.ConnectionError:
            return False

    wait_until(answers, proc, seconds=20, what="redis-server")


@pytest.fixture(scope="module")
def start_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., int]]:
    """Start throwaway redis-servers (no persistence); each is stopped by its PID at the end."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(*args: str) -> int:
        assert REDIS_SERVER is not None
        port = free_port()
        workdir: Path = tmp_path_factory.mktemp("redis")
        proc = subprocess.Popen(
            [
                REDIS_SERVER,
                "--bind", "127.0.0.1",
                "--port", str(port),
                "--save", "",
                "--appendonly", "no",
                "--dir", str(workdir),
                *args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        procs.append(proc)
        wait_until_up(port, proc)
        return port

    yield start
    for proc in procs:
        stop(proc, seconds=10)


@pytest.fixture(scope="module")
def port(start_server: Callable[..., int]) -> int:
    port = start_server()
    admin = connect(port)
    # A user that may only GET, for the credential and permission errors.
    admin.acl_setuser(
        "limited", enabled=True, passwords=[f"+{LIMITED_PASSWORD}"], keys=["*"],
        commands=["-@all", "+get", "+ping", "+hello", "+auth"],
    )
    admin.close()
    return port


def raised(call: Callable[[], object], tp: type[BaseException]) -> BaseException:
    with pytest.raises(tp) as info:
        call()
    return info.value


def test_real_timeout(port: int) -> None:
    client = connect(port, socket_timeout=0.2)
    exc = raised(lambda: client.blpop(["never-pushed"], timeout=5), rx.TimeoutError)
    assert not isinstance(exc, TimeoutError)  # redis's own class, not the builtin
    assert classify(exc) == Classification(T, detail="The data store timed out.")


def test_real_connection_refused() -> None:
    client = connect(free_port(), socket_connect_timeout=2)
    exc = raised(client.ping, rx.ConnectionError)
    assert type(exc) is rx.ConnectionError
    assert classify(exc) == Classification(
        TE, 502, detail="The data store could not be reached."
    )
    assert "127.0.0.1" in str(exc)
    assert "127.0.0.1" not in repr(classified.problem(exc))


def test_real_wrong_password_is_permanent(port: int) -> None:
    client = connect(port, username="limited", password="wrong")  # noqa: S106
    exc = raised(client.ping, rx.AuthenticationError)
    assert isinstance(exc, rx.ConnectionError)
    found = classify(exc)
    assert (found.category, found.status, found.retryable) == (P, 500, False)
    assert found.detail == "The data store refused our credentials."


def test_real_acl_denial_is_permanent(port: int) -> None:
    client = connect(port, username="limited", password=LIMITED_PASSWORD)
    assert client.get("k") is None
    exc = raised(lambda: client.set("k", "v"), rx.NoPermissionError)
    found = classify(exc)
    assert (found.category, found.status, found.retryable) == (P, 500, False)


def test_real_exhausted_pool_is_temporary_503(port: int) -> None:
    pool = redis.ConnectionPool(host="127.0.0.1", port=port, max_connections=1)
    held = checkout(pool)
    try:
        exc = raised(lambda: checkout(pool), rx.ConnectionError)
    finally:
        pool.release(held)
        pool.disconnect()
    if type(exc) is rx.ConnectionError:  # redis-py 5.0's pool: a plain ConnectionError
        assert classify(exc).category is TE
        return
    assert type(exc).__name__ == "MaxConnectionsError"
    assert classify(exc) == Classification(TE, 503, detail=UNAVAILABLE)


def test_real_watch_conflict_is_temporary(port: int) -> None:
    client = connect(port)
    other = connect(port)
    client.set("counter", 0)
    with client.pipeline() as pipe:
        pipe.watch("counter")
        other.set("counter", 1)  # another client wins the race
        pipe.multi()
        pipe.set("counter", 2)
        exc = raised(pipe.execute, rx.WatchError)
    assert classify(exc).category is TE
    assert classify(exc).retryable


def test_real_read_only_replica_is_temporary(start_server: Callable[..., int]) -> None:
    # A replica of a primary that is not there: read-only, as after a failover.
    replica = start_server("--replicaof", "127.0.0.1", str(free_port()))
    exc = raised(lambda: connect(replica).set("k", "v"), rx.ReadOnlyError)
    assert classify(exc) == Classification(TE, 503, detail=UNAVAILABLE)


def test_a_wrong_type_is_permanent(port: int) -> None:
    client = connect(port)
    client.set("a-string", "v")
    exc = raised(lambda: client.lpush("a-string", "x"), rx.ResponseError)
    assert classify(exc) == Classification(P)


@pytest.mark.parametrize(
    ("exc", "category", "status", "retryable"),
    [
        (rx.BusyLoadingError(), TE, 503, True),
        (rx.AuthorizationError(), P, 500, False),
        (rx.OutOfMemoryError(), P, 500, False),
        (rx.TryAgainError(), TE, 503, True),
        (rx.ClusterDownError("CLUSTERDOWN"), TE, 503, True),
        (rx.MasterDownError("MASTERDOWN"), TE, 503, True),
        # As RedisCluster raises it; in its own ERRORS_ALLOW_RETRY.
        (rx.SlotNotCoveredError('Slot "866" is not covered by the cluster.'), TE, 503, True),
    ],
)
def test_redis_exceptions(exc: Exception, category: Category, status: int, retryable: bool) -> None:
    found = classify(exc)
    assert (found.category, found.status, found.retryable) == (category, status, retryable)


async def test_redis_asyncio_raises_the_same_classes(port: int) -> None:
    from redis import asyncio as aredis  # noqa: PLC0415 - only this test needs it

    client = aredis.Redis(host="127.0.0.1", port=port, socket_timeout=0.2, retry=None)
    try:
        with pytest.raises(rx.TimeoutError) as info:
            await client.blpop(["never-pushed"], timeout=5)
    finally:
        await (client.aclose() if hasattr(client, "aclose") else client.close())  # 5.0: close
    assert classify(info.value).category is T
