"""pytest plugin for `make compat`: a do-nothing interceptor at one insertion point.

Loaded into the frameworks' own test suites with ``-p interceptor_compat_plugin``
(``tests/compat`` on ``PYTHONPATH``) by ``tests/compat/run.py``. The module name
is unique on purpose: the suites have a ``tests`` package of their own, so this
one cannot be imported as ``tests.compat.…`` there.

``INTERCEPTOR_COMPAT_POINT`` names the insertion point; the plugin wraps the
framework classes' ``__init__`` so that every object of that kind gets an
interceptor that matches nothing (`noop`), and the suites' code stays as it is:

=============  ==============================================================
point          what is patched
=============  ==============================================================
baseline       nothing (the plugin is loaded, inserts nothing)
app            ``Starlette``/``FastAPI``: ``Middleware(InterceptorMiddleware)``
               appended to ``middleware``; Flask: ``init_app(app, NOOP)``
mount          every ``Mount``: appended to its ``middleware``
router         every ``Router`` (and ``APIRouter``, an app's own router, the
               one a ``Mount(routes=...)`` makes): appended to ``middleware``
route          every ``Route`` and ``WebSocketRoute``: appended to ``middleware``
route_class    every ``APIRouter``, the app's own too: ``route_class=
               intercepted_route(NOOP, base=<the class it was given>)``
blueprint      every Flask ``Blueprint``: ``init_app(bp, NOOP)`` once built,
               so before it is registered
wsgi           every ``Flask`` app: ``app.wsgi_app`` wrapped in
               ``interceptor.wsgi.InterceptorMiddleware``
=============  ==============================================================

Each insertion gets an interceptor of its own. Middleware goes last in the
list, the innermost position, nearest the endpoint. How many insertions each
process made is written to ``INTERCEPTOR_COMPAT_STATS`` (a directory) at the
end, so that the driver can tell a point that inserted nothing from one that
changed nothing.

The patches are applied when the module is imported, which ``-p`` does before
the suite's ``conftest.py`` files are loaded, so objects those build at import
time get the interceptor too. The modules a suite's points patch are imported
then in every run, the baseline's included, so that an insertion run differs
from the baseline only by the patches.

Warnings: the suites run with their own ``filterwarnings = error``. The plugin
itself warns about nothing, so a warning that becomes an error only under an
insertion comes from the adapter, and it counts as the new failure it is: a
user running with ``-W error`` would see it too.

``INTERCEPTOR_COMPAT_CANARY=1`` inserts ``Interceptor({Exception: 500})``
instead, which matches everything: a check that the harness sees a difference
when there is one (``run.py --canary``).
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

POINT_ENV = "INTERCEPTOR_COMPAT_POINT"
SUITE_ENV = "INTERCEPTOR_COMPAT_SUITE"
STATS_ENV = "INTERCEPTOR_COMPAT_STATS"
CANARY_ENV = "INTERCEPTOR_COMPAT_CANARY"

POINTS = {
    "starlette": ("baseline", "app", "mount", "router", "route"),
    "fastapi": ("baseline", "app", "route_class", "mount", "router"),
    "flask": ("baseline", "app", "blueprint", "wsgi"),
}

# What the points of each suite import to patch, imported in the baseline too.
_IMPORTS = {
    "starlette": (
        "starlette.applications",
        "starlette.middleware",
        "starlette.routing",
        "interceptor.starlette",
    ),
    "fastapi": (
        "starlette.applications",
        "starlette.middleware",
        "starlette.routing",
        "fastapi",
        "fastapi.routing",
        "interceptor.starlette",
        "interceptor.fastapi",
    ),
    "flask": ("flask", "interceptor.flask", "interceptor.wsgi"),
}


class _NeverRaised(Exception):
    """Raised by nothing: an interceptor whose only key is this class matches nothing."""


def noop() -> Any:
    """A fresh interceptor that matches nothing: the NOOP each insertion gets."""
    from interceptor import Interceptor  # noqa: PLC0415 - imported by _activate first

    if os.environ.get(CANARY_ENV) == "1":
        return Interceptor({Exception: 500})
    return Interceptor({_NeverRaised: 500})


_INSERTED: Counter[str] = Counter()


def _patch_init(cls: type, amend: Callable[[dict[str, Any]], None], label: str) -> None:
    """Wrap ``cls.__init__`` so ``amend`` can change its arguments before it runs."""
    original = cls.__init__  # type: ignore[misc]
    signature = inspect.signature(original)

    @functools.wraps(original)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        bound = signature.bind(self, *args, **kwargs)
        amend(bound.arguments)
        _INSERTED[label] += 1
        original(*bound.args, **bound.kwargs)

    cls.__init__ = __init__  # type: ignore[misc]


def _after_init(cls: type, after: Callable[[Any], None], label: str) -> None:
    """Wrap ``cls.__init__`` so ``after(self)`` runs once the original one returned."""
    original = cls.__init__  # type: ignore[misc]

    @functools.wraps(original)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        after(self)
        _INSERTED[label] += 1

    cls.__init__ = __init__  # type: ignore[misc]


def _with_middleware(arguments: dict[str, Any]) -> None:
    from starlette.middleware import Middleware  # noqa: PLC0415

    from interceptor.starlette import InterceptorMiddleware  # noqa: PLC0415

    given = arguments.get("middleware")
    arguments["middleware"] = [
        *(given or ()),
        Middleware(InterceptorMiddleware, interceptor=noop()),
    ]


def _patch_starlette(point: str, suite: str) -> None:
    from starlette import routing  # noqa: PLC0415
    from starlette.applications import Starlette  # noqa: PLC0415

    if point == "app":
        _patch_init(Starlette, _with_middleware, "Starlette")
        if suite == "fastapi":
            from fastapi import FastAPI  # noqa: PLC0415

            # FastAPI.__init__ does not call Starlette.__init__: patch both.
            _patch_init(FastAPI, _with_middleware, "FastAPI")
    elif point == "mount":
        _patch_init(routing.Mount, _with_middleware, "Mount")
    elif point == "router":
        _patch_init(routing.Router, _with_middleware, "Router")
    elif point == "route":
        _patch_init(routing.Route, _with_middleware, "Route")
        _patch_init(routing.WebSocketRoute, _with_middleware, "WebSocketRoute")


def _patch_route_class() -> None:
    from fastapi.routing import APIRouter  # noqa: PLC0415

    from interceptor.fastapi import intercepted_route  # noqa: PLC0415

    default = inspect.signature(APIRouter.__init__).parameters["route_class"].default

    def amend(arguments: dict[str, Any]) -> None:
        base = arguments.get("route_class", default)
        arguments["route_class"] = intercepted_route(noop(), base=base)

    _patch_init(APIRouter, amend, "APIRouter.route_class")


def _patch_flask(point: str) -> None:
    import flask  # noqa: PLC0415

    from interceptor.flask import init_app  # noqa: PLC0415
    from interceptor.wsgi import InterceptorMiddleware  # noqa: PLC0415

    def wrap(app: Any) -> None:
        app.wsgi_app = InterceptorMiddleware(app.wsgi_app, interceptor=noop())

    if point == "app":
        _after_init(flask.Flask, lambda app: init_app(app, noop()), "Flask")
    elif point == "blueprint":
        _after_init(flask.Blueprint, lambda bp: init_app(bp, noop()), "Blueprint")
    elif point == "wsgi":
        _after_init(flask.Flask, wrap, "Flask.wsgi_app")


def _activate(suite: str) -> str:
    point = os.environ.get(POINT_ENV, "baseline")
    if suite not in POINTS or point not in POINTS[suite]:
        raise RuntimeError(f"interceptor compat: no insertion point {point!r} for suite {suite!r}")
    for module in _IMPORTS[suite]:
        importlib.import_module(module)
    if point == "baseline":
        return point
    if suite == "flask":
        _patch_flask(point)
    elif point == "route_class":
        _patch_route_class()
    else:
        _patch_starlette(point, suite)
    return point


# Only under the driver's environment: run.py imports this module for its constants.
_SUITE = os.environ.get(SUITE_ENV)
POINT = _activate(_SUITE) if _SUITE else None


def pytest_configure(config: Any) -> None:
    if POINT is None:
        raise RuntimeError(f"interceptor compat plugin: {SUITE_ENV} is not set; use run.py")


def pytest_report_header() -> str:
    canary = " (canary: Interceptor({Exception: 500}))" if os.environ.get(CANARY_ENV) else ""
    return f"interceptor compat: suite={_SUITE} point={POINT}{canary}"


def pytest_unconfigure(config: Any) -> None:
    stats = os.environ.get(STATS_ENV)
    if not stats:
        return
    worker = getattr(config, "workerinput", {}).get("workerid", "main")
    record = {"point": POINT, "worker": worker, "pid": os.getpid(), "inserted": dict(_INSERTED)}
    path = Path(stats) / f"{worker}-{os.getpid()}.json"
    path.write_text(json.dumps(record), encoding="utf-8")
