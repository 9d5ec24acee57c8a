"""Start an example app under a real server on 127.0.0.1, and always stop it.

Used by ``make demo`` and by the integration tests.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SERVERS = {
    # ASGI apps under uvicorn, WSGI apps under waitress: production servers.
    "uvicorn": lambda target, port: [
        "-m",
        "uvicorn",
        target,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ],
    "waitress": lambda target, port: [
        "-m",
        "waitress",
        "--host=127.0.0.1",
        f"--port={port}",
        "--threads=8",
        target,
    ],
    # Werkzeug's development server (threaded), for what it does its own way.
    "werkzeug": lambda target, port: ["-m", "examples.serving", target, str(port)],
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Served(tuple[str, Path]):
    """What `serve` yields: the pair (base URL, log file), plus ``.pid``.

    It unpacks like the plain pair; ``.pid`` is the server process's id, for
    reading its memory and open files under ``/proc``.
    """

    pid: int

    def __new__(cls, url: str, log: Path, pid: int) -> Served:
        served = super().__new__(cls, (url, log))
        served.pid = pid
        return served


@contextlib.contextmanager
def serve(target: str, server: str, *, timeout: float = 30.0) -> Iterator[Served]:
    """Run ``target`` (``module:attribute``) under ``server``; yield (base URL, log file).

    The server runs in its own process group, stopped on exit from the block,
    whatever ends it (an error or Ctrl-C included), and its log file is then
    removed: read it inside the block. The yielded pair also carries the
    server's process id as ``.pid``.
    """
    port = free_port()
    log = Path(tempfile.mkstemp(prefix=f"interceptor-{server}-", suffix=".log")[1])
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, *SERVERS[server](target, port)],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_until_listening(process, port, timeout, log)
        yield Served(f"http://127.0.0.1:{port}", log, process.pid)
    finally:
        _stop(process)
        # The log is read inside the block (a failed start puts it in the error).
        log.unlink(missing_ok=True)


def _wait_until_listening(
    process: subprocess.Popen[bytes], port: int, timeout: float, log: Path
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"server did not listen on 127.0.0.1:{port} within {timeout}s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _run_werkzeug(target: str, port: int) -> None:
    """Serve ``target`` (``module:attribute``) with Werkzeug's development server."""
    from werkzeug.serving import make_server  # noqa: PLC0415 - only this server needs it

    module, _, attribute = target.partition(":")
    application = getattr(importlib.import_module(module), attribute)
    make_server("127.0.0.1", port, application, threaded=True).serve_forever()


if __name__ == "__main__":
    _run_werkzeug(sys.argv[1], int(sys.argv[2]))
