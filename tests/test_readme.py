"""Every ```python block of README.md runs as copied, and the apps it defines answer.

Each block runs in a fresh interpreter (a user's copy into a file), with warnings
as errors. A block that defines ``app`` or ``application`` must say, in an HTML
comment just above it, which request to send and the status to expect::

    <!-- request: POST /items?limit=many {"price": "x"} -> 422 -->

and the test sends it with the real client: ``httpx.ASGITransport`` for an ASGI
app, ``app.test_client()`` for Flask, Werkzeug's ``Client`` for any other WSGI
app. A block that cannot run on its own may be marked ``<!-- not-run: why -->``;
only a few may be.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
MAX_NOT_RUN = 2
RESULT_MARK = "@@readme-request@@"

_FENCE = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)
_NOT_RUN = re.compile(r"<!--\s*not-run:\s*(\S.*?)\s*-->")
_REQUEST = re.compile(
    r"<!--\s*request:\s*(?P<method>[A-Z]+)\s+(?P<path>\S+)\s*(?P<body>\{.*\})?"
    r"\s*->\s*(?P<status>\d{3})\s*-->"
)

# Appended to a block: find its app, send the request with the framework's client.
_DRIVER = f"""

# ---- appended by tests/test_readme.py ----
import asyncio as _asyncio
import inspect as _inspect
import json as _json
import sys as _sys

_spec = _json.loads(_sys.argv[1])
_app = globals().get("app", globals().get("application"))
_result = {{"app": None if _app is None else type(_app).__name__}}
if _app is not None and _spec is not None:
    _method, _path, _body = _spec["method"], _spec["path"], _spec["body"]
    _flask = _sys.modules.get("flask")
    if _flask is not None and isinstance(_app, _flask.Flask):
        with _app.test_client() as _client:
            _response = _client.open(_path, method=_method, json=_body)
        _result.update(client="flask", status=_response.status_code)
    elif _inspect.iscoroutinefunction(_app) or _inspect.iscoroutinefunction(
        getattr(type(_app), "__call__", None)
    ):
        import httpx as _httpx

        async def _send():
            _transport = _httpx.ASGITransport(app=_app)
            async with _httpx.AsyncClient(transport=_transport, base_url="http://testserver") as c:
                return await c.request(_method, _path, json=_body)

        _result.update(client="asgi", status=_asyncio.run(_send()).status_code)
    else:
        from werkzeug.test import Client as _Client

        _response = _Client(_app).open(_path, method=_method, json=_body)
        _result.update(client="wsgi", status=_response.status_code)
print("{RESULT_MARK}" + _json.dumps(_result))
"""


@dataclass(frozen=True)
class Block:
    line: int
    code: str
    not_run: str | None
    request: dict[str, object] | None
    expected_status: int | None


@cache
def blocks() -> tuple[Block, ...]:
    text = README.read_text(encoding="utf-8")
    found = []
    for match in _FENCE.finditer(text):
        before = text[: match.start()].rstrip().rsplit("\n", 1)[-1]
        not_run = _NOT_RUN.fullmatch(before.strip())
        request = _REQUEST.fullmatch(before.strip())
        spec = None
        if request:
            body = request["body"]
            spec = {
                "method": request["method"],
                "path": request["path"],
                "body": json.loads(body) if body else None,
            }
        found.append(
            Block(
                line=text.count("\n", 0, match.start()) + 1,
                code=match.group(1),
                not_run=not_run.group(1) if not_run else None,
                request=spec,
                expected_status=int(request["status"]) if request else None,
            )
        )
    return tuple(found)


def _run(block: Block, tmp: Path) -> subprocess.CompletedProcess[str]:
    script = tmp / f"readme_line_{block.line}.py"
    script.write_text(block.code + _DRIVER, encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-W", "error", str(script), json.dumps(block.request)],
        cwd=tmp,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def outcomes(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[int, subprocess.CompletedProcess[str]]:
    # In parallel: each block is its own interpreter, mostly waiting on imports.
    tmp = tmp_path_factory.mktemp("readme")
    runnable = [block for block in blocks() if block.not_run is None]
    with ThreadPoolExecutor(max_workers=4) as pool:
        done = pool.map(lambda block: _run(block, tmp), runnable)
        return {block.line: result for block, result in zip(runnable, done, strict=True)}


def test_the_readme_has_python_examples_and_few_are_not_run() -> None:
    assert len(blocks()) >= 10
    not_run = [block.line for block in blocks() if block.not_run is not None]
    assert len(not_run) <= MAX_NOT_RUN, f"README blocks marked not-run at lines {not_run}"


@pytest.mark.parametrize(
    "block", [b for b in blocks() if b.not_run is None], ids=lambda b: f"line{b.line}"
)
def test_readme_block_runs_as_copied(
    block: Block, outcomes: dict[int, subprocess.CompletedProcess[str]]
) -> None:
    result = outcomes[block.line]
    assert result.returncode == 0, f"README.md line {block.line}:\n{result.stderr[-3000:]}"
    marked = [line for line in result.stdout.splitlines() if line.startswith(RESULT_MARK)]
    assert len(marked) == 1, result.stdout
    outcome = json.loads(marked[0].removeprefix(RESULT_MARK))
    if outcome["app"] is None:
        assert block.request is None, f"line {block.line}: a request comment but no app"
        return
    assert block.request is not None, (
        f"README.md line {block.line} defines an app ({outcome['app']}): put "
        "<!-- request: METHOD /path -> STATUS --> just above it"
    )
    assert outcome["status"] == block.expected_status, (block.line, outcome)


def test_every_install_line_installs_this_project() -> None:
    name = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["name"]
    text = README.read_text(encoding="utf-8")
    installs = re.findall(r"pip install '([^'\[]+)\[", text)
    assert installs, "the README has no install line"
    assert set(installs) == {name}


def test_python_m_interceptor_prints_the_version_and_the_extras() -> None:
    import interceptor  # noqa: PLC0415 - the attribute is read lazily

    result = subprocess.run(
        [sys.executable, "-m", "interceptor"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    first = result.stdout.splitlines()[0]
    assert first.startswith(f"exception-interceptor {interceptor.__version__} ")
    assert re.search(r"^starlette\s+starlette \S+\s+interceptor\.starlette$", result.stdout, re.M)
    version = subprocess.run(
        [sys.executable, "-m", "interceptor", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert version.stdout == f"{interceptor.__version__}\n"
    assert interceptor.__version__ != "0+unknown"  # the dev install is a real install
