"""Two plain Werkzeug apps behind a ``DispatcherMiddleware``, each its own scope.

- ``/files`` is a mounted sub-app wrapped in its own `InterceptorMiddleware`;
- the whole dispatcher is wrapped once more: the app scope, which also sees
  what the ``/files`` interceptor does not match.

Run it with ``python examples/werkzeug_app.py`` to print each demo request's
answer, or serve ``examples.werkzeug_app:app`` with any WSGI server.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import NotFound
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.routing import Map, Rule
from werkzeug.test import Client
from werkzeug.wrappers import Request, Response

from interceptor import ApiError, Interceptor, Problem
from interceptor.wsgi import InterceptorMiddleware

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment


class QuotaExceeded(ApiError):
    status = 429
    code = "QUOTA_EXCEEDED"


FILES = {"readme.txt": b"hello\n"}

_files_urls = Map([Rule("/<name>", endpoint="read")])


def files(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    # Not `Request.application`, which turns HTTP exceptions into responses
    # itself: raised, routing errors reach the interceptor.
    response = _files_view(Request(environ))
    return response(environ, start_response)


def _files_view(request: Request) -> Response:
    _, args = _files_urls.bind_to_environ(request.environ).match()
    if request.args.get("quota") == "0":
        raise QuotaExceeded("daily download quota used up", retry_after=3600)
    return Response(FILES[args["name"]], mimetype="text/plain")


def not_a_file(req: Request, exc: KeyError) -> tuple[dict[str, Any], int]:
    return {"error": "NO_SUCH_FILE", "path": req.path}, 404


files_scope = InterceptorMiddleware(
    files,
    interceptor=Interceptor({KeyError: not_a_file, NotFound: Problem(status=404, code="NO_ROUTE")}),
)


def home(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    if environ.get("PATH_INFO", "/") not in ("", "/"):
        raise LookupError(environ["PATH_INFO"])
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"home\n"]


app = InterceptorMiddleware(
    DispatcherMiddleware(home, {"/files": files_scope}),
    interceptor=Interceptor({LookupError: Problem(status=404, code="NOT_HERE")}),
)

DEMO_REQUESTS: list[tuple[str, str, str]] = [
    ("GET", "/files/readme.txt", "no error: the sub-app's own 200"),
    ("GET", "/files/secret.txt", "/files interceptor: KeyError -> handler -> 404 NO_SUCH_FILE"),
    ("GET", "/files/a/b/c", "/files interceptor: routing NotFound -> 404 NO_ROUTE"),
    ("GET", "/files/readme.txt?quota=0", "/files interceptor: ApiError QuotaExceeded -> 429"),
    ("GET", "/elsewhere", "app interceptor around the dispatcher: LookupError -> 404 NOT_HERE"),
]


def main() -> None:
    http = Client(app)
    for method, path, scope in DEMO_REQUESTS:
        response = http.open(path, method=method)
        print(f"{method} {path}  [{scope}]")
        print(f"  {response.status}  {response.get_data(as_text=True).strip()}")


if __name__ == "__main__":
    main()
