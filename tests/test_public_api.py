"""The public surface: `__all__`, docstrings, and an import that pulls in no framework."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
import types
from pathlib import Path

import interceptor

ROOT = Path(__file__).resolve().parent.parent

# Frameworks, HTTP clients and optional integrations: `import interceptor` must
# import none of them (top-level package names).
MUST_NOT_IMPORT = frozenset(
    {
        "starlette",
        "fastapi",
        "flask",
        "werkzeug",
        "httpx",
        "httpcore",
        "requests",
        "urllib3",
        "anyio",
        "opentelemetry",
        "prometheus_client",
        "sentry_sdk",
        "uvicorn",
        "waitress",
        "jinja2",
        "pydantic",
        "sqlalchemy",
        "aiohttp",
        "aiohappyeyeballs",
        "aiosignal",
        "frozenlist",
        "multidict",
        "yarl",
        "botocore",
        "boto3",
        "jmespath",
        "redis",
        "psycopg",
        "psycopg_binary",
        "psycopg2",
        "asyncpg",
        "pymysql",
        "tenacity",
        "stamina",
        "grpc",
        "google",
    }
)


def public_names() -> set[str]:
    return {
        name
        for name, value in vars(interceptor).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }


def test_all_is_sorted_and_lists_exactly_the_public_names() -> None:
    assert interceptor.__all__ == sorted(interceptor.__all__)
    assert len(set(interceptor.__all__)) == len(interceptor.__all__)
    assert set(interceptor.__all__) == public_names()


def test_all_names_resolve_and_star_import_gives_exactly_them() -> None:
    namespace: dict[str, object] = {}
    exec("from interceptor import *", namespace)  # noqa: S102 - a fixed statement
    namespace.pop("__builtins__")
    assert set(namespace) == set(interceptor.__all__)
    for name in interceptor.__all__:
        assert namespace[name] is getattr(interceptor, name)


def _is_generated_dataclass_doc(obj: object, doc: str) -> bool:
    # A dataclass without a docstring gets "Name(field: type, ...)" instead.
    return isinstance(obj, type) and doc.startswith(f"{obj.__name__}(")


def test_every_public_name_has_a_docstring() -> None:
    missing = []
    for name in interceptor.__all__:
        obj = getattr(interceptor, name)
        doc = obj.__doc__ or ""
        if not doc.strip() or _is_generated_dataclass_doc(obj, doc):
            missing.append(name)
            continue
        if isinstance(obj, type):
            # Public methods defined on the class itself need one too.
            missing.extend(
                f"{name}.{attr}"
                for attr, member in vars(obj).items()
                if not attr.startswith("_")
                and inspect.isfunction(member)
                and not (member.__doc__ or "").strip()
            )
    assert missing == []


def test_public_classes_and_functions_are_defined_in_private_modules() -> None:
    # The public home is the package; the code lives in `_modules`.
    for name in interceptor.__all__:
        module = getattr(interceptor, name).__module__
        assert module.startswith("interceptor._"), (name, module)


def test_importing_interceptor_imports_no_framework_or_client() -> None:
    script = (
        "import json, sys\n"
        "before = set(sys.modules)\n"
        "import interceptor\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    imported = json.loads(result.stdout)
    assert "interceptor" in imported  # the probe really imported the package
    roots = {name.partition(".")[0] for name in imported}
    assert roots & MUST_NOT_IMPORT == set(), sorted(roots & MUST_NOT_IMPORT)
    # Nor any of the package's own adapters, which import their framework.
    adapters = {"interceptor.starlette", "interceptor.fastapi", "interceptor.flask"}
    assert adapters & set(imported) == set()


def test_a_type_checker_sees_what_a_handler_takes(tmp_path: Path) -> None:
    mypy_api = __import__("mypy.api", fromlist=["run"])
    snippet = tmp_path / "handlers.py"
    snippet.write_text(
        "from typing import Any\n"
        "from interceptor import ExceptionHandler, Interceptor, Problem\n"
        "errors = Interceptor()\n"
        "def on_key(request: Any, exc: KeyError) -> Problem:\n"
        "    return Problem(status=404)\n"
        "def on_value(request: Any, exc: ValueError) -> int:\n"
        "    return 400\n"
        "errors.add_handler(KeyError, on_key)\n"
        "errors.add_handler(LookupError, on_key)  # line 9: a LookupError is no KeyError\n"
        "errors.add_handler((KeyError, ValueError), on_value)\n"
        "errors.add_handler(404, on_value)\n"
        "@errors.handler(ValueError)\n"
        "def typed(request: Any, exc: ValueError) -> int:\n"
        "    return 400\n"
        "@errors.handler(ValueError)  # line 15: a ValueError is no KeyError\n"
        "def mistyped(request: Any, exc: KeyError) -> int:\n"
        "    return 400\n"
        "h: ExceptionHandler[KeyError] = on_key\n"
    )
    stdout, _, _ = mypy_api.run(["--strict", "--no-incremental", str(snippet)])
    lines = sorted({int(line.split(":")[1]) for line in stdout.splitlines() if ": error:" in line})
    assert lines == [9, 15], stdout
