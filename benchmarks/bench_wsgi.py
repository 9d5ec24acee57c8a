"""What the Flask adapter costs, measured through a raw WSGI call loop.

Each figure is a ratio of two apps timed in this one process: rounds of
``app(environ, start_response)`` calls with the iterable consumed and closed,
the two apps interleaved (and their order alternated) round by round, and the
median of the per-round ratios reported. Below 1.0 means the interceptor side
is faster.

- ``overhead_ratio``: a blueprint with ``init_app`` against the same app
  without it, for a request that raises nothing (target <= 1.03).
- ``error_ratio``: a blueprint interceptor mapping an exception to a JSON
  error against Flask's own blueprint ``errorhandler`` doing the same mapping
  with ``jsonify`` (target <= 1.0).
- ``noise_ratio``: the app against a copy of itself, for a request that
  raises nothing: how far from 1.0 two equal workloads land on this machine.
- ``middleware_ratio``: the same Flask app wrapped in
  ``interceptor.wsgi.InterceptorMiddleware`` against it bare, for a request
  that raises nothing (for information: the deferred ``start_response``).

Run with ``python benchmarks/bench_wsgi.py [--rounds N] [--calls N]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Blueprint, Flask, Response, jsonify
from werkzeug.test import EnvironBuilder

from interceptor import Interceptor
from interceptor.flask import init_app
from interceptor.wsgi import InterceptorMiddleware

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class ItemMissing(LookupError):
    pass


def _start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
    return None


def _environ(path: str) -> dict[str, Any]:
    builder = EnvironBuilder(path=path, headers=[("Accept", "application/json")])
    try:
        return builder.get_environ()
    finally:
        builder.close()


def _app(*, interceptor: bool, flask_handler: bool = False) -> Flask:
    app = Flask(__name__)
    items = Blueprint("items", __name__, url_prefix="/items")
    if interceptor:
        init_app(items, Interceptor({ItemMissing: 404}))
    if flask_handler:

        @items.errorhandler(ItemMissing)
        def missing(exc: ItemMissing) -> tuple[Response, int]:
            return jsonify(type="about:blank", title="Not Found", status=404, detail=str(exc)), 404

    @items.get("/ok")
    def ok() -> dict[str, str]:
        return {"item": "apple"}

    @items.get("/missing")
    def missing_item() -> str:
        raise ItemMissing("no such item")

    app.register_blueprint(items)
    return app


def _time(app: WSGIApp, environ: dict[str, Any], calls: int) -> float:
    start_response = _start_response
    started = time.perf_counter()
    for _ in range(calls):
        iterable = app(dict(environ), start_response)
        for _chunk in iterable:
            pass
        close = getattr(iterable, "close", None)
        if close is not None:
            close()
    return time.perf_counter() - started


def _ratio(
    subject: WSGIApp, baseline: WSGIApp, environ: dict[str, Any], rounds: int, calls: int
) -> float:
    _time(subject, environ, calls)  # warm up both
    _time(baseline, environ, calls)
    ratios = []
    for index in range(rounds):
        if index % 2:
            base = _time(baseline, environ, calls)
            subj = _time(subject, environ, calls)
        else:
            subj = _time(subject, environ, calls)
            base = _time(baseline, environ, calls)
        ratios.append(subj / base)
    return statistics.median(ratios)


def _check(app: Flask, environ: dict[str, Any], status: str) -> None:
    seen: list[str] = []

    def start_response(got: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        seen.append(got)

    body = b"".join(app(dict(environ), start_response))
    if not seen or not seen[0].startswith(status) or not body:
        raise RuntimeError(f"benchmark app answered {seen} {body!r}, expected {status}")


def overhead_ratio(rounds: int = 31, calls: int = 2000) -> float:
    """Blueprint + ``init_app`` / the same app without it, on a request that raises nothing."""
    environ = _environ("/items/ok")
    subject, baseline = _app(interceptor=True), _app(interceptor=False)
    _check(subject, environ, "200")
    _check(baseline, environ, "200")
    return _ratio(subject, baseline, environ, rounds, calls)


def error_ratio(rounds: int = 31, calls: int = 2000) -> float:
    """Blueprint interceptor / Flask's blueprint errorhandler with ``jsonify``, same mapping."""
    environ = _environ("/items/missing")
    subject = _app(interceptor=True)
    baseline = _app(interceptor=False, flask_handler=True)
    _check(subject, environ, "404")
    _check(baseline, environ, "404")
    return _ratio(subject, baseline, environ, rounds, calls)


def noise_ratio(rounds: int = 31, calls: int = 2000) -> float:
    """The app without the interceptor against a copy of itself: the method's own noise."""
    environ = _environ("/items/ok")
    return _ratio(_app(interceptor=False), _app(interceptor=False), environ, rounds, calls)


def middleware_ratio(rounds: int = 31, calls: int = 2000) -> float:
    """Flask app in `InterceptorMiddleware` / the bare app, on a request that raises nothing."""
    environ = _environ("/items/ok")
    baseline = _app(interceptor=False)
    subject = InterceptorMiddleware(baseline, interceptor=Interceptor({ItemMissing: 404}))
    _check(baseline, environ, "200")
    return _ratio(subject, baseline, environ, rounds, calls)


def ratios(rounds: int = 31) -> dict[str, float]:
    """The ratios ``make bench`` shows, by name, each the median of ``rounds`` rounds."""
    return {
        "WSGI no error: blueprint init_app / same app without": overhead_ratio(rounds),
        "WSGI mapped error: interceptor / Flask errorhandler+jsonify": error_ratio(rounds),
        "WSGI reference: app / itself (the method's noise)": noise_ratio(rounds),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=31)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args(argv)
    overhead = overhead_ratio(args.rounds, args.calls)
    error = error_ratio(args.rounds, args.calls)
    print(f"(a) no exception, init_app vs none:          {overhead:.3f}  (target <= 1.03)")
    middleware = middleware_ratio(args.rounds, args.calls)
    print(f"(b) exception -> JSON, interceptor vs Flask: {error:.3f}  (target <= 1.00)")
    print(f"(c) no exception, WSGI middleware vs none:   {middleware:.3f}")
    noise = noise_ratio(args.rounds, args.calls)
    print(f"(d) the same app against itself (noise):     {noise:.3f}")


if __name__ == "__main__":
    main()
