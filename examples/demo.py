"""``make demo``: every example app under a real server, answering real requests.

Each app starts on 127.0.0.1 (a free port), gets the requests its module lists
in ``DEMO_REQUESTS``, and is stopped again, also on Ctrl-C or failure.
"""

from __future__ import annotations

import importlib
import sys
import textwrap
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from examples.serving import serve

EXAMPLES = [
    ("Starlette", "examples.starlette_app", "uvicorn"),
    ("FastAPI", "examples.fastapi_app", "uvicorn"),
    ("Flask", "examples.flask_app", "waitress"),
    ("Werkzeug", "examples.werkzeug_app", "waitress"),
]

# The headers the README's claims are about: the rest are the server's own.
SHOWN_HEADERS = ("content-type", "retry-after", "allow", "www-authenticate", "x-error-id")


def run_example(title: str, module_name: str, server: str) -> None:
    module = importlib.import_module(module_name)
    print(f"\n== {title}: {module_name}:app under {server} ==")
    with (
        serve(f"{module_name}:app", server) as (base_url, _log),
        httpx.Client(base_url=base_url, timeout=10) as client,
    ):
        for method, path, handled_by in module.DEMO_REQUESTS:
            # A fresh connection each time: servers close the connection after
            # an exception no handler answered, as they should.
            response = client.request(method, path, headers={"Connection": "close"})
            print(f"\n{method} {path}  ->  {response.status_code}   ({handled_by})")
            for name in SHOWN_HEADERS:
                if name in response.headers:
                    print(f"  {name}: {response.headers[name]}")
            body = response.text.replace("\n", " ")
            print(textwrap.indent(textwrap.fill(body, 96, break_on_hyphens=False), "  "))


def main() -> int:
    only = set(sys.argv[1:])
    for title, module_name, server in EXAMPLES:
        if only and title.lower() not in only:
            continue
        run_example(title, module_name, server)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted; every server was stopped")
        sys.exit(130)
