"""`make demo`: every example answers, and no server outlives the demo, even on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from examples.serving import ROOT, serve

pytestmark = pytest.mark.server

DEMO = [sys.executable, str(ROOT / "examples" / "demo.py")]


def _children(pid: int) -> list[int]:
    """The live processes whose parent is ``pid`` (from ``/proc``)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        # "pid (comm) state ppid ...": comm may hold spaces, so split after ")".
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_the_demo_runs_every_example_and_shows_whole_answers() -> None:
    done = subprocess.run(DEMO, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    for title in ("Starlette", "FastAPI", "Flask", "Werkzeug"):
        assert f"== {title}:" in done.stdout
    # The headers the README's claims are about, and bodies never cut short.
    assert "  retry-after: " in done.stdout
    assert "  allow: " in done.stdout
    assert " ..." not in done.stdout


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_stops_the_server_that_is_running() -> None:
    # Unbuffered, so the first answer's line arrives as the demo prints it:
    # a pipe would hold it back until the demo, perhaps, had finished. And
    # with SIGINT's default action, as in a terminal: a suite started in the
    # background of a shell inherits it ignored, and so would the demo.
    demo = subprocess.Popen(
        DEMO,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        preexec_fn=_default_sigint,  # noqa: PLW1509 - only resets one signal's action
    )
    try:
        assert demo.stdout is not None
        for line in demo.stdout:  # the first answer comes once the server listens
            if " ->  " in line:
                break
        servers = _children(demo.pid)
        assert servers, "no server process was running under the demo"
        demo.send_signal(signal.SIGINT)  # what Ctrl-C in a terminal sends
        rest = demo.communicate(timeout=30)[0]
    finally:
        if demo.poll() is None:
            demo.kill()
    assert demo.returncode == 130
    assert "every server was stopped" in rest
    assert not [pid for pid in servers if _alive(pid)]


def test_a_server_that_fails_to_start_is_reported_and_reaped() -> None:
    before = set(_children(os.getpid()))
    with (
        pytest.raises(RuntimeError, match="no_such_module"),
        serve("examples.no_such_module:app", "uvicorn", timeout=20),
    ):
        pass  # pragma: no cover - never reached
    assert not [pid for pid in set(_children(os.getpid())) - before if _alive(pid)]
