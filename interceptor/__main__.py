"""`python -m interceptor`: the installed version and which adapters can be used.

`python -m interceptor --version` prints the version alone.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from importlib.metadata import PackageNotFoundError, distribution, version

import interceptor

# Each extra and the module that uses it.
_MODULES = {
    "starlette": "interceptor.starlette",
    "fastapi": "interceptor.fastapi",
    "flask": "interceptor.flask",
    "werkzeug": "interceptor.wsgi",
    "httpx": "interceptor.integrations.httpx",
    "requests": "interceptor.integrations.requests",
    "otel": "interceptor.integrations.otel",
    "prometheus": "interceptor.integrations.prometheus",
    "sentry": "interceptor.integrations.sentry",
}
_EXTRA_MARKER = re.compile(r"""extra\s*==\s*["']([^"']+)["']""")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _extras() -> dict[str, list[str]]:
    """Each extra declared in the installed metadata, with the distributions it needs."""
    try:
        requires = distribution(interceptor._DISTRIBUTION).requires or []
    except PackageNotFoundError:
        return {}
    extras: dict[str, list[str]] = {}
    for requirement in requires:
        requirement_text, _, marker = requirement.partition(";")
        found = _EXTRA_MARKER.search(marker)
        name = _NAME.match(requirement_text.strip())
        if found and name:
            extras.setdefault(found.group(1), []).append(name.group(0))
    return extras


def _installed(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _module(extra: str) -> str:
    module = _MODULES.get(extra, f"interceptor.integrations.{extra}")
    try:
        return module if importlib.util.find_spec(module) else "installed"
    except ImportError:
        return "installed"


def report() -> str:
    """The text `python -m interceptor` prints."""
    dist = interceptor._DISTRIBUTION
    python = ".".join(map(str, sys.version_info[:3]))
    lines = [
        f"{dist} {interceptor.__version__} (import interceptor), Python {python}",
        "",
        "extra        installed                        usable as",
    ]
    for extra, needs in sorted(_extras().items()):
        found = [(name, _installed(name)) for name in dict.fromkeys(needs)]
        shown = ", ".join(f"{name} {ver or '-'}" for name, ver in found)
        missing = any(ver is None for _, ver in found)
        where = f"pip install '{dist}[{extra}]'" if missing else _module(extra)
        lines.append(f"{extra:<12} {shown:<32} {where}")
    if len(lines) == 3:
        lines.append("(not installed: no metadata to read the extras from)")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Print the report, or with `--version` the version alone."""
    args = sys.argv[1:] if argv is None else argv
    if args in (["--version"], ["-V"]):
        sys.stdout.write(f"{interceptor.__version__}\n")
        return 0
    if args:
        sys.stderr.write("usage: python -m interceptor [--version]\n")
        return 2
    sys.stdout.write(report())
    return 0


if __name__ == "__main__":
    sys.exit(main())
