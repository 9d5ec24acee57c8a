"""`make compat`: the frameworks' own test suites, with and without a do-nothing interceptor.

For Starlette, FastAPI and Flask, at the versions installed in the project's
``.venv``, this downloads the source distribution from the package index,
unpacks it and runs its ``tests/`` once with the plugin loaded but inserting
nothing (the baseline), then once per insertion point with an interceptor
that matches nothing at every scope of that kind (see
``interceptor_compat_plugin.py``). The spec's "do no harm" rule says such an
interceptor changes nothing, so every test that passes in the baseline must
pass with it: a test that fails or errors with an insertion, having passed in
the baseline, is a NEW failure. The baseline's own failures (tests that need
the network, say) are recorded, not judged.

Everything downloaded or built goes under ``.compat/`` (gitignored): the
sdists, their unpacked trees, one virtualenv per suite, the JUnit XML and the
log of every run. A suite's virtualenv has this project (editable, with its
framework extras), the test requirements the suite's own ``pyproject.toml``
declares (less the tooling in `_TOOLING`), held to the versions of the
sdist's ``uv.lock`` where it has one, and pytest-xdist; the frameworks are
constrained to the versions in ``.venv``. The virtualenvs are built once; a
stamp file records their inputs, so a second run goes straight to the tests.

A test counts as a new failure when it fails or errors (or is missing) with
an insertion and did not fail in the baseline. Tests that run their scenario
in a fresh interpreter (FastAPI's ``@run_in_subprocess`` telemetry tests, the
CLI tests) run there without the insertion.

Usage::

    .venv/bin/python tests/compat/run.py [--suite NAME ...] [--point NAME ...] [--jobs N]
        [--canary] [-- PYTEST_ARGS...]

Exits 1 if any new failure is not in `EXCLUSIONS`, or if a run broke (pytest
crashed, or an insertion point inserted nothing), else 0. With ``--canary``
(an interceptor that matches everything), exits 1 if some insertion point
shows no new failure.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import tomllib
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
WORK = ROOT / ".compat"
PLUGIN = "interceptor_compat_plugin"
PROJECT = f"{ROOT}[starlette,fastapi,flask,httpx]"
# The framework versions the compat venvs must share with the project's .venv.
FRAMEWORKS = ("starlette", "fastapi", "flask", "werkzeug")
RUN_TIMEOUT = 3600  # seconds; a hung suite must not hang `make compat`

sys.path.insert(0, str(HERE))
from interceptor_compat_plugin import (  # noqa: E402 - needs HERE on sys.path
    CANARY_ENV,
    POINT_ENV,
    POINTS,
    STATS_ENV,
    SUITE_ENV,
)


@dataclass(frozen=True)
class Suite:
    """One framework's test suite, and how its own files say to run it."""

    name: str  # distribution name on the package index
    extras: tuple[str, ...] = ()  # the sdist's optional-dependencies its tests use
    groups: tuple[str, ...] = ()  # the sdist's dependency-groups its tests use
    # Requirements of those groups that the tests do not need, by name (see _TOOLING).
    skip: tuple[str, ...] = ()
    # Packages the tests probe for (and skip without) that no file of the sdist lists.
    probed: tuple[str, ...] = ()
    args: tuple[str, ...] = ("tests",)
    pythonpath: tuple[str, ...] = ()  # relative to the unpacked sdist
    xdist: tuple[str, ...] = ("--dist", "load")


_TOOLING = {
    "coverage": "coverage measurement; no test runs it",
    "mypy": "type checker; no test imports it",
    "ruff": "linter; no test imports it",
    "ty": "type checker; no test imports it",
    "pytest-cov": "coverage reporting around the run, not used by any test",
    "pytest-codspeed": "benchmarks: they skip themselves without --codspeed",
    "pytest-sugar": "replaces pytest's terminal reporter; output only",
    "twine": "release tooling",
    "types-pyyaml": "type stubs",
}

SUITES = {
    "starlette": Suite(
        name="starlette",
        extras=("full",),
        groups=("dev",),
        skip=("coverage", "mypy", "ruff", "pytest-codspeed", "twine", "types-pyyaml"),
    ),
    "fastapi": Suite(
        name="fastapi",
        extras=("all",),
        groups=("tests",),
        # coverage stays: tests/test_fastapi_cli.py runs `python -m coverage run`.
        skip=("mypy", "ty", "ruff", "pytest-cov", "pytest-sugar", "pytest-codspeed"),
        probed=("orjson", "ujson"),  # tests/utils.py: needs_orjson, needs_ujson
        pythonpath=("docs_src",),  # as its scripts/test.sh sets
        xdist=("--dist", "loadgroup"),  # as its scripts/test.sh runs it
    ),
    "flask": Suite(name="flask", groups=("tests",)),
}

# New failures that are artefacts of the method itself (the insertion changes
# the objects a test inspects), not of what the interceptor does to requests:
# (suite, point, node id pattern for fnmatch) -> reason.
EXCLUSIONS: dict[tuple[str, str, str], str] = {
    ("starlette", "mount", "tests/test_applications.py::test_routes"): (
        "compares app.routes with freshly built routes; Mount.__eq__ compares `.app`, which"
        " with any middleware is the outermost middleware object, a different one per Mount"
        " (the routes built in the test get their own), so equal Mounts compare unequal"
    ),
    ("flask", "wsgi", "tests/test_basic.py::test_app_freed_on_zero_refcount"): (
        "asserts a Flask app is freed by refcount alone (gc disabled); `app.wsgi_app ="
        " Middleware(app.wsgi_app)`, Flask's documented way to add WSGI middleware, holds"
        " the bound method and so makes the cycle app -> middleware -> app; a plain"
        " pass-through wrapper fails the test the same way"
    ),
}


# -- output -------------------------------------------------------------------------


def say(*parts: object) -> None:
    sys.stdout.write(" ".join(str(part) for part in parts) + "\n")
    sys.stdout.flush()


def run(cmd: list[str], **kwargs: object) -> None:
    """Run a set-up command; its output goes to the terminal, failure stops the harness."""
    say("+", " ".join(cmd))
    subprocess.run(cmd, check=True, **kwargs)  # type: ignore[call-overload]


# -- set-up ---------------------------------------------------------------------------


def installed_versions() -> dict[str, str]:
    try:
        return {name: importlib.metadata.version(name) for name in FRAMEWORKS}
    except importlib.metadata.PackageNotFoundError as exc:
        raise SystemExit(
            f"run this with the project's .venv python (`make compat`): {exc} is not installed"
        ) from exc


def fetch_sdist(name: str, version: str) -> Path:
    """The unpacked sdist of ``name==version``, downloaded and unpacked once."""
    target = WORK / "src" / f"{name}-{version}"
    if (target / ".unpacked").exists():
        return target
    downloads = WORK / "sdist"
    downloads.mkdir(parents=True, exist_ok=True)
    archive = next(iter(sorted(downloads.glob(f"{name}-{version}.tar.gz"))), None)
    if archive is None:
        run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-binary", ":all:",
             "--no-deps", f"{name}=={version}", "-d", str(downloads)]
        )  # fmt: skip
        archive = downloads / f"{name}-{version}.tar.gz"
        if not archive.exists():
            raise SystemExit(f"pip download left no {archive.name} in {downloads}")
    shutil.rmtree(target, ignore_errors=True)
    with tarfile.open(archive) as tar:
        top = {member.name.split("/", 1)[0] for member in tar.getmembers()}
        if top != {target.name}:
            raise SystemExit(f"{archive.name} does not unpack into {target.name}/: {sorted(top)}")
        if not hasattr(tarfile, "data_filter"):
            raise SystemExit("unpacking sdists safely needs Python 3.11.4 or later (tar filters)")
        tar.extractall(target.parent, filter="data")
    (target / ".unpacked").touch()
    return target


def _name(requirement: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    if match is None:
        raise SystemExit(f"cannot read the requirement {requirement!r}")
    return re.sub(r"[-_.]+", "-", match.group(1)).lower()


def _group(groups: dict[str, list[object]], name: str, seen: tuple[str, ...] = ()) -> list[str]:
    if name in seen:
        raise SystemExit(f"dependency group {name!r} includes itself")
    out: list[str] = []
    for item in groups[name]:
        if isinstance(item, dict):
            out += _group(groups, item["include-group"], (*seen, name))
        else:
            out.append(str(item))
    return out


def suite_requirements(suite: Suite, source: Path) -> tuple[list[str], list[str]]:
    """The requirements the suite's tests need, read from its pyproject, and those left out."""
    pyproject = tomllib.loads((source / "pyproject.toml").read_text(encoding="utf-8"))
    wanted: list[str] = []
    for extra in suite.extras:
        wanted += pyproject["project"]["optional-dependencies"][extra]
    for group in suite.groups:
        wanted += _group(pyproject.get("dependency-groups", {}), group)
    kept: list[str] = []
    left_out: list[str] = []
    for requirement in wanted:
        name = _name(requirement)
        if name == suite.name:  # e.g. starlette's dev group lists "starlette[full]"
            continue
        if name in suite.skip:
            left_out.append(f"{requirement}  ({_TOOLING[name]})")
        elif requirement not in kept:
            kept.append(requirement)
    kept += [probe for probe in suite.probed if probe not in kept]
    if not any(_name(requirement) == "pytest-xdist" for requirement in kept):
        kept.append("pytest-xdist")  # the harness's, to use both cores
    return kept, left_out


def locked_versions(source: Path, requirements: list[str]) -> list[str]:
    """``name==version`` for the ``requirements`` the sdist's ``uv.lock`` resolves here.

    The lock is the suite's own record of the environment its tests pass in
    (Flask 3.1.3's conftest, for one, needs the pytest it locked, not today's
    9.2, which dropped ``_pytest.monkeypatch.notset``). Only the suite's direct
    test requirements are held to it; what they depend on resolves freely, as
    a lock made against the whole index names versions a mirror may not have.
    A lock lists a package once per Python range; the entry whose
    ``resolution-markers`` hold here is the one used.
    """
    lock_file = source / "uv.lock"
    if not lock_file.exists():
        return []
    from packaging.markers import Marker  # noqa: PLC0415 - pytest's dependency, in .venv

    wanted = {_name(requirement) for requirement in requirements}
    lock = tomllib.loads(lock_file.read_text(encoding="utf-8"))
    pins: dict[str, str] = {}
    for package in lock.get("package", []):
        name = _name(package["name"])
        if name not in wanted or name in FRAMEWORKS:
            continue
        markers = package.get("resolution-markers")
        if markers and not any(Marker(marker).evaluate() for marker in markers):
            continue
        if pins.setdefault(name, package["version"]) != package["version"]:
            raise SystemExit(f"{lock_file}: two versions of {name} for this Python")
    return [f"{name}=={version}" for name, version in sorted(pins.items())]


def build_venv(suite: Suite, source: Path, versions: dict[str, str]) -> Path:
    """The suite's virtualenv with the project and the suite's test requirements, built once."""
    venv = WORK / f"venv-{suite.name}"
    python = venv / "bin" / "python"
    requirements, left_out = suite_requirements(suite, source)
    constraints = [f"{name}=={versions[name]}" for name in FRAMEWORKS]
    constraints += locked_versions(source, requirements)
    inputs = {
        "python": sys.version,
        "requirements": requirements,
        "constraints": constraints,
        "project": hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest(),
    }
    stamp = venv / ".compat-installed"
    if stamp.exists() and json.loads(stamp.read_text(encoding="utf-8")) == inputs:
        return python
    say(f"\n== building {venv.relative_to(ROOT)}")
    for line in left_out:
        say("   not installed:", line)
    # From scratch: what an older build installed must not linger.
    shutil.rmtree(venv, ignore_errors=True)
    run([sys.executable, "-m", "venv", str(venv)])
    run([str(python), "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
    constraints_file = venv / "constraints.txt"
    constraints_file.write_text("\n".join(constraints) + "\n", encoding="utf-8")
    run(
        [str(python), "-m", "pip", "install", "--quiet", "-c", str(constraints_file),
         "-e", PROJECT, *requirements]
    )  # fmt: skip
    got = subprocess.run(
        [str(python), "-c",
         "import importlib.metadata as m, json, sys;"
         "print(json.dumps({n: m.version(n) for n in sys.argv[1:]}))", *FRAMEWORKS],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    if json.loads(got) != versions:
        raise SystemExit(f"{venv}: framework versions {got.strip()} differ from .venv's {versions}")
    freeze = subprocess.run(
        [str(python), "-m", "pip", "freeze"], check=True, capture_output=True, text=True
    ).stdout
    (venv / "freeze.txt").write_text(freeze, encoding="utf-8")
    stamp.write_text(json.dumps(inputs, indent=1), encoding="utf-8")
    return python


# -- running --------------------------------------------------------------------------


@dataclass
class Result:
    """One run of one suite at one insertion point."""

    suite: str
    point: str
    returncode: int
    seconds: float
    outcomes: dict[str, str]  # node id -> passed, failed, error, skipped
    messages: dict[str, str]  # node id -> the first line of the failure
    inserted: dict[str, int]  # patched class -> objects that got an interceptor
    log: Path


def run_suite(
    suite: Suite,
    source: Path,
    python: Path,
    point: str,
    *,
    jobs: int,
    extra: list[str],
    canary: bool = False,
) -> Result:
    results = WORK / "results"
    results.mkdir(parents=True, exist_ok=True)
    stem = f"{suite.name}-{point}" + ("-canary" if canary and point != "baseline" else "")
    junit, log, stats = results / f"{stem}.xml", results / f"{stem}.log", results / f"{stem}.stats"
    junit.unlink(missing_ok=True)
    shutil.rmtree(stats, ignore_errors=True)
    stats.mkdir()
    env = dict(os.environ)
    env.update(
        {
            POINT_ENV: point,
            SUITE_ENV: suite.name,
            STATS_ENV: str(stats),
            "PYTHONPATH": os.pathsep.join(
                [str(HERE), *(str(source / part) for part in suite.pythonpath)]
            ),
        }
    )
    for name in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "VIRTUAL_ENV", CANARY_ENV):
        env.pop(name, None)
    if canary:
        env[CANARY_ENV] = "1"
    # --tb=native: pytest's own traceback styles parse the test file's source
    # with `ast`, which on CPython 3.11 (3.11.7 here) can fail with "SystemError:
    # AST constructor recursion depth mismatch" (see python/cpython#106905,
    # pytest-dev/pytest#10763); in an xdist worker that is an INTERNALERROR that
    # ends the run. It struck here on failures in large files (Flask's test_basic).
    cmd = [
        str(python), "-m", "pytest", "-p", PLUGIN, "-q", "-p", "no:cacheprovider",
        "--tb=native", f"--junitxml={junit}",
    ]  # fmt: skip
    if jobs > 1:
        cmd += ["-n", str(jobs), *suite.xdist]
    cmd += [*extra, *suite.args]
    say(f"-- {suite.name} / {point}: {' '.join(cmd[1:])}")
    started = time.monotonic()
    with log.open("w", encoding="utf-8") as out:
        out.write(" ".join(cmd) + "\n\n")
        out.flush()
        process = subprocess.Popen(
            cmd, cwd=source, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            returncode = process.wait(timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the pytest we started, and its workers
            process.wait()
            returncode = -1
    seconds = time.monotonic() - started
    outcomes, messages = read_junit(junit, source) if junit.exists() else ({}, {})
    inserted: dict[str, int] = {}
    for record in stats.glob("*.json"):
        for name, count in json.loads(record.read_text(encoding="utf-8"))["inserted"].items():
            inserted[name] = inserted.get(name, 0) + count
    say(
        f"   {len(outcomes)} tests, exit {returncode}, {seconds:.0f}s, "
        f"inserted {sum(inserted.values())}, log {log.relative_to(ROOT)}"
    )
    return Result(suite.name, point, returncode, seconds, outcomes, messages, inserted, log)


_RANK = {"passed": 0, "skipped": 0, "failed": 1, "error": 2}


def read_junit(path: Path, source: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Per-test outcome and first failure line from pytest's JUnit XML, by node id."""
    outcomes: dict[str, str] = {}
    messages: dict[str, str] = {}
    for case in ET.parse(path).getroot().iter("testcase"):  # noqa: S314 - our own file
        nodeid = _nodeid(case.get("classname", ""), case.get("name", ""), source)
        outcome, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error"):
                outcome = "failed" if child.tag == "failure" else "error"
                message = child.get("message") or (child.text or "").strip()
                break
            if child.tag == "skipped":
                outcome = "skipped"
        # A teardown error is a second <testcase> of the same test: keep the worst.
        if _RANK[outcome] >= _RANK.get(outcomes.get(nodeid, "passed"), 0):
            outcomes[nodeid] = outcome
            if message:
                messages[nodeid] = message.splitlines()[0][:200] if message.strip() else ""
    return outcomes, messages


def _nodeid(classname: str, name: str, source: Path) -> str:
    """pytest's node id back from JUnit's dotted ``classname`` and ``name``."""
    if not classname:  # a collection error: name is the module, dotted
        parts, tail = name.split("."), []
    else:
        parts, tail = classname.split("."), [name]
    for cut in range(len(parts), 0, -1):
        path = "/".join(parts[:cut])
        if (source / f"{path}.py").is_file():
            return "::".join([f"{path}.py", *parts[cut:], *tail])
        if cut == len(parts) and not tail and (source / path).is_dir():
            return path
    return "::".join([classname, name] if classname else [name])


# -- report ---------------------------------------------------------------------------


@dataclass
class Row:
    result: Result
    failed: int
    new: list[str]
    excluded: dict[str, str]
    problem: str = ""


def compare(baseline: Result, result: Result) -> Row:
    failing = {"failed", "error"}
    failed = sum(1 for outcome in result.outcomes.values() if outcome in failing)
    row = Row(result, failed, [], {})
    if result is not baseline:
        for nodeid, before in baseline.outcomes.items():
            if before in failing:
                continue
            now = result.outcomes.get(nodeid, "missing")
            if now in failing or now == "missing":
                reason = _excluded(result.suite, result.point, nodeid)
                if reason is None:
                    row.new.append(nodeid)
                else:
                    row.excluded[nodeid] = reason
    if result.returncode not in (0, 1):
        row.problem = f"pytest exited {result.returncode}"
    elif not result.outcomes:
        row.problem = "no JUnit results"
    elif result is not baseline and not result.inserted:
        row.problem = "inserted nothing"
    return row


def _excluded(suite: str, point: str, nodeid: str) -> str | None:
    for (s, p, pattern), reason in EXCLUSIONS.items():
        if (s, p) == (suite, point) and fnmatch.fnmatchcase(nodeid, pattern):
            return reason
    return None


def report(rows: list[Row], baselines: dict[str, Result], wall: float, *, canary: bool) -> None:
    header = ("suite", "point", "inserted", "tests", "skipped", "failed", "baseline failed",
              "new", "excluded", "time")  # fmt: skip
    lines = [header]
    for row in rows:
        result = row.result
        base = baselines[result.suite]
        skipped = sum(1 for outcome in result.outcomes.values() if outcome == "skipped")
        base_failed = sum(1 for o in base.outcomes.values() if o in ("failed", "error"))
        lines.append(
            (
                result.suite,
                result.point,
                "-" if result.point == "baseline" else str(sum(result.inserted.values())),
                str(len(result.outcomes)),
                str(skipped),
                str(row.failed),
                str(base_failed),
                "-" if result.point == "baseline" else str(len(row.new)),
                "-" if result.point == "baseline" else str(len(row.excluded)),
                f"{result.seconds:.0f}s",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    say("\n== compat results")
    for index, line in enumerate(lines):
        say("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))
        if index == 0:
            say("  ".join("-" * width for width in widths))
    say(f"\ntotal wall time {wall:.0f}s")

    for suite, base in baselines.items():
        failing = sorted(n for n, o in base.outcomes.items() if o in ("failed", "error"))
        if failing:
            say(f"\n{suite} baseline failures (recorded, not judged):")
            for nodeid in failing:
                say(f"  {nodeid}: {base.messages.get(nodeid, '')}")
    for row in rows:
        result = row.result
        where = f"{result.suite} / {result.point}"
        if row.problem:
            say(f"\n{where}: RUN BROKEN: {row.problem}; see {result.log.relative_to(ROOT)}")
        if row.new:
            say(f"\n{where}: {len(row.new)} NEW failures:")
            for nodeid in row.new[: 5 if canary else None]:
                outcome = result.outcomes.get(nodeid, "missing")
                say(f"  {nodeid} [{outcome}]: {result.messages.get(nodeid, '')}")
        if row.excluded:
            say(f"\n{where}: {len(row.excluded)} excluded (artefacts of the method):")
            for nodeid, reason in row.excluded.items():
                outcome = result.outcomes.get(nodeid, "missing")
                say(f"  {nodeid} [{outcome}]: {result.messages.get(nodeid, '')}")
                say(f"    excluded: {reason}")
        if result.point != "baseline":
            say(f"\n{where}: inserted into {result.inserted or 'nothing'}")
    ran = {(row.result.suite, row.result.point): row for row in rows}
    for suite, point, pattern in EXCLUSIONS:
        row = ran.get((suite, point))
        if row is not None and not any(fnmatch.fnmatchcase(n, pattern) for n in row.excluded):
            say(f"\nexclusion no longer needed: {suite} / {point} / {pattern}")


# -- main -----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--suite", action="append", choices=sorted(SUITES), help="repeatable")
    parser.add_argument("--point", action="append", help="insertion point, repeatable")
    parser.add_argument("--jobs", type=int, default=2, help="pytest-xdist workers (1: none)")
    parser.add_argument(
        "--canary",
        action="store_true",
        help="insert Interceptor({Exception: 500}) instead, which matches everything: checks"
        " that the harness sees a difference (every insertion point must show new failures)",
    )
    parser.add_argument("pytest_args", nargs="*", help="more pytest arguments, after --")
    args = parser.parse_args(argv)

    started = time.monotonic()
    versions = installed_versions()
    say("framework versions in .venv:", ", ".join(f"{n} {v}" for n, v in versions.items()))
    rows: list[Row] = []
    baselines: dict[str, Result] = {}
    for name in args.suite or list(SUITES):
        suite = SUITES[name]
        source = fetch_sdist(suite.name, versions[suite.name])
        if not (source / "tests").is_dir():
            say(f"\n{name}: the sdist {source.name} has no tests/ folder; skipped")
            continue
        python = build_venv(suite, source, versions)
        points = [p for p in POINTS[name] if p == "baseline" or not args.point or p in args.point]
        for point in points:
            result = run_suite(
                suite,
                source,
                python,
                point,
                jobs=args.jobs,
                extra=args.pytest_args,
                canary=args.canary,
            )
            if point == "baseline":
                baselines[name] = result
            rows.append(compare(baselines[name], result))
    report(rows, baselines, time.monotonic() - started, canary=args.canary)
    if args.canary:
        blind = [r for r in rows if r.problem or (r.result.point != "baseline" and not r.new)]
        for row in blind:
            what = f"run broken ({row.problem})" if row.problem else "shows no new failure"
            say(f"canary: {row.result.suite} / {row.result.point} {what}")
        say("\ncanary:", "FAILED" if blind else "OK (every insertion point made a difference)")
        return 1 if blind else 0
    broken = [row for row in rows if row.problem or row.new]
    say("\ncompat:", "FAILED" if broken else "OK (no new failures)")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
