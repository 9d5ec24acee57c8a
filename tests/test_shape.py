"""The package's shape, checked: layers that import only downward, and small blocks.

docs/architecture.md says what each layer is for; this file is its
enforcement. A module's imports of the package, at module level or inside a
function alike, must name modules earlier in `LAYERS`, so there is no import
cycle and no layer reaches up.
"""

from __future__ import annotations

import ast
import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from radon.complexity import cc_visit

PACKAGE = Path(__file__).resolve().parents[1] / "interceptor"

# Lowest first; a module may import only modules before it in this list.
LAYERS = [
    # facts with no package imports
    "interceptor._callables",
    "interceptor._typecache",
    "interceptor._scrub",
    "interceptor._status",
    "interceptor._wire",
    "interceptor._problem",
    # what users register and raise
    "interceptor._errors",
    "interceptor._values",
    # request facts and HTTP exception facts
    "interceptor._request",
    "interceptor._validation",
    "interceptor._http",
    "interceptor._origin",
    "interceptor._tracebacks",
    # the delivery worker: what the layers above log or report off the response path
    "interceptor._delivery",
    # classification, then its integrations' shared parts
    "interceptor._classify",
    "interceptor.integrations._sql",
    "interceptor.integrations._wiring",
    # rendering, the precompiled bodies, observing
    "interceptor._render",
    "interceptor._plans",
    "interceptor._observe",
    # the registry, the one resolution loop, the OpenAPI answers, ASGI plumbing
    "interceptor._core",
    "interceptor._resolve",
    "interceptor._openapi",
    "interceptor._asgi",
    # adapters
    "interceptor.starlette",
    "interceptor.wsgi",
    "interceptor.flask",
    "interceptor.fastapi",
]
# Integrations sit on classification and observing: they may import every
# layer up to `_observe`, and `interceptor.integrations.grpc` (google's rules
# build on it), never the registry or an adapter.
INTEGRATIONS_MAY_IMPORT = [
    *LAYERS[: LAYERS.index("interceptor._observe") + 1],
    "interceptor.integrations",
    "interceptor.integrations.grpc",
]
TOP = {"interceptor", "interceptor.__main__", "interceptor.integrations"}

# The blocks allowed above radon's rank B (cyclomatic complexity 10), each
# with the reason; none today.
COMPLEX_ON_PURPOSE: dict[str, str] = {}
MAX_COMPLEXITY = 10


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def package_imports(path: Path) -> set[str]:
    """Every ``interceptor...`` module ``path`` imports, wherever the import statement is."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("interceptor"):
                found.add(node.module)
                # `from interceptor import _openapi` imports a module, not a name.
                folder = PACKAGE.parent / node.module.replace(".", "/")
                found.update(
                    f"{node.module}.{alias.name}"
                    for alias in node.names
                    if (folder / f"{alias.name}.py").exists()
                )
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("interceptor"))
    return found - {module_name(path)}


def test_every_module_has_a_layer() -> None:
    names = {module_name(path) for path in modules()}
    integrations = {n for n in names if n.startswith("interceptor.integrations.")}
    assert names - set(LAYERS) - integrations - TOP == set()


@pytest.mark.parametrize("path", modules(), ids=module_name)
def test_imports_go_only_downward(path: Path) -> None:
    name = module_name(path)
    if name in TOP:
        return  # the package's front doors import what they offer
    if name in LAYERS:
        allowed = set(LAYERS[: LAYERS.index(name)])
    else:  # an integration
        allowed = set(INTEGRATIONS_MAY_IMPORT)
        if name == "interceptor.integrations.grpc":
            allowed.discard(name)
    # The package itself is imported first with any submodule; naming it is harmless.
    upward = package_imports(path) - allowed - {"interceptor"}
    assert upward == set(), f"{name} imports {sorted(upward)}, which are not below it"


def test_each_module_imports_on_its_own_in_layer_order() -> None:
    # A fresh interpreter per module would be slow; one that imports them in
    # order shows each needs only what came before (no cycle at import time).
    program = "import importlib\n" + "".join(
        f"importlib.import_module({name!r})\n" for name in LAYERS
    )
    subprocess.run([sys.executable, "-c", program], check=True, timeout=120)


def test_no_block_is_more_complex_than_rank_b() -> None:
    too_complex = {}
    for path in modules():
        for block in cc_visit(path.read_text(encoding="utf-8")):
            where = f"{module_name(path)}:{block.fullname}"
            if block.complexity > MAX_COMPLEXITY and where not in COMPLEX_ON_PURPOSE:
                too_complex[where] = block.complexity
    assert too_complex == {}


@pytest.mark.skipif(shutil.which("duplicates") is None, reason="the duplicates tool is not here")
def test_no_two_places_in_the_package_share_six_lines() -> None:
    done = subprocess.run(
        ["duplicates", "--repo", str(PACKAGE), "--most", "20", "--seconds", "60"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert done.stdout.lower().startswith("no duplicates"), done.stdout


@pytest.mark.parametrize("path", modules(), ids=module_name)
def test_what_other_modules_import_from_a_private_module_is_in_its_all(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if not (isinstance(node, ast.ImportFrom) and node.module and node.level == 0):
            continue
        target = node.module.rpartition(".")[2]
        if not (node.module.startswith("interceptor") and target.startswith("_")):
            continue
        exported = set(importlib.import_module(node.module).__all__)
        imported = {alias.name for alias in node.names}
        submodules = {
            name
            for name in imported
            if (PACKAGE.parent / node.module.replace(".", "/") / f"{name}.py").exists()
        }
        missing = imported - exported - submodules
        assert missing == set(), f"{module_name(path)} imports {sorted(missing)} from {node.module}"
