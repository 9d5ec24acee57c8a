"""`make matrix`: the test suite against the lowest and the newest supported versions.

    .venv/bin/nox                 # both sessions
    .venv/bin/nox -s lowest       # one; arguments after -- go to pytest
    .venv/bin/nox -s newest -- tests/test_flask.py -x

``lowest`` pins each framework and HTTP client to the minimum that
pyproject.toml declares (LOWEST below must follow those minimums); ``newest``
installs the newest release of each. Everything else (the test tools, the other
extras) resolves to its newest release in both. Each session has its own venv
under .nox/, and runs the whole suite but the long reliability runs and the
frameworks' own suites (``make soak``, ``make compat``).
"""

from __future__ import annotations

import nox

nox.options.sessions = ["lowest", "newest"]
nox.options.reuse_existing_virtualenvs = True
nox.options.default_venv_backend = "venv"

# The lowest version of each that the suite passes with: the floors of the extras in
# pyproject.toml. Starlette 0.40 and 0.41 fail three tests of
# test_starlette_no_harm.py (a stream failing after its first chunk); up to 0.45 a
# mid-stream failure under Sentry's Starlette integration is reported zero times
# instead of once (test_sentry.py). FastAPI before 0.115.10 caps starlette below 0.46.
LOWEST = {
    "starlette": "0.46.0",
    "fastapi": "0.115.10",
    "flask": "3.0.0",
    "werkzeug": "3.0.0",
    "httpx": "0.27.0",
    "requests": "2.31.0",
}
PYPROJECT = nox.project.load_toml("pyproject.toml")
EXTRAS = ",".join(PYPROJECT["project"]["optional-dependencies"])
DEV = nox.project.dependency_groups(PYPROJECT, "dev")
TESTS = [
    "tests",
    "--ignore=tests/reliability",
    "--ignore=tests/compat",
    "-q",
    "-p",
    "no:cacheprovider",
]


def _run_tests(session: nox.Session) -> None:
    session.run("python", "-m", "pip", "list", "--format=freeze", silent=False)
    session.run("python", "-m", "pytest", *(session.posargs or TESTS))


@nox.session
def lowest(session: nox.Session) -> None:
    """The suite with each framework and client at its lowest supported version."""
    pins = [f"{name}=={version}" for name, version in LOWEST.items()]
    session.install("-e", f".[{EXTRAS}]", *DEV, *pins)
    _run_tests(session)


@nox.session
def newest(session: nox.Session) -> None:
    """The suite with the newest release of everything."""
    session.install("--upgrade", "-e", f".[{EXTRAS}]", *DEV, *LOWEST)
    _run_tests(session)
