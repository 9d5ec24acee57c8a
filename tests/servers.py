"""What the tests that start real servers (PostgreSQL, MariaDB, redis-server) share.

Each server listens on 127.0.0.1 on a free port, is waited for within a
bound, and is stopped by its PID.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable

from examples.serving import free_port

__all__ = ["free_port", "server_user", "stop", "wait_until"]


def server_user(preferred: str) -> str:
    """Whom to run a server as when the suite runs as root: ``preferred``, else nobody."""
    import pwd  # noqa: PLC0415 - POSIX only, like the servers

    try:
        pwd.getpwnam(preferred)
    except KeyError:
        return "nobody"
    return preferred


def wait_until(
    ready: Callable[[], bool], proc: subprocess.Popen[bytes], *, seconds: float, what: str
) -> None:
    """Wait, at most ``seconds``, for ``ready()``; raise naming ``what`` if it never is."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        if ready():
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not come up within {seconds:g} s")


def stop(proc: subprocess.Popen[bytes], how: int = signal.SIGTERM, seconds: float = 30) -> None:
    """Stop ``proc`` by its PID: ``how`` (the server's clean shutdown), then a kill."""
    if proc.poll() is None:
        proc.send_signal(how)
    try:
        proc.wait(seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(seconds)
