"""A small shop API showing every Flask scope of `interceptor`, nearest first.

- a view interceptor (``@intercept``) on ``POST /shop/checkout``;
- a blueprint interceptor on ``shop`` (``/shop``), which also owns routing
  404/405 under ``/shop``;
- an app interceptor;
- Flask's own ``@app.errorhandler(404)`` for what no interceptor matches.

Run it with ``python examples/flask_app.py`` to print each demo request's
answer, or serve ``examples.flask_app:app`` with any WSGI server.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Request, jsonify, request
from werkzeug.exceptions import HTTPException, NotFound

from interceptor import ApiError, Interceptor, Problem
from interceptor.flask import init_app, intercept


class OutOfStock(ApiError):
    """Raised on purpose: rendered by its declared status and code in any scope."""

    status = 409
    code = "OUT_OF_STOCK"


ITEMS = {"apple": 3, "pear": 0}

# -- the blueprint and its interceptor ---------------------------------------------

shop = Blueprint("shop", __name__, url_prefix="/shop")
init_app(
    shop,
    Interceptor(
        {
            KeyError: Problem(status=404, code="NO_SUCH_ITEM"),
            NotFound: Problem(status=404, code="NO_SUCH_SHOP_PAGE"),
            405: 405,
        }
    ),
)


@shop.get("/items/<name>")
def item(name: str) -> dict[str, Any]:
    stock = ITEMS[name]  # KeyError -> the blueprint interceptor
    if stock == 0:
        raise OutOfStock(f"{name} is out of stock", item=name)
    return {"item": name, "stock": stock}


def bad_quantity(req: Request, exc: ValueError) -> tuple[dict[str, Any], int]:
    return {"error": "BAD_QUANTITY", "quantity": req.args.get("quantity")}, 400


@shop.post("/checkout")
@intercept(Interceptor({ValueError: bad_quantity}))
def checkout() -> dict[str, Any]:
    quantity = int(request.args.get("quantity", "1"))  # ValueError -> the view interceptor
    return {"ordered": quantity}


# -- the app, its interceptor and Flask's own handler ------------------------------------

app = Flask(__name__)
init_app(app, Interceptor({TimeoutError: Problem(status=504, code="UPSTREAM_TIMEOUT")}))


@app.errorhandler(404)
def flask_not_found(exc: HTTPException) -> tuple[Any, int]:
    return jsonify(handled_by="flask errorhandler(404)", path=request.path), 404


@app.get("/slow")
def slow() -> str:
    raise TimeoutError("the warehouse did not answer")


app.register_blueprint(shop)

DEMO_REQUESTS: list[tuple[str, str, str]] = [
    ("GET", "/shop/items/apple", "no error: the view's own 200"),
    ("GET", "/shop/items/kiwi", "blueprint interceptor: KeyError -> 404 NO_SUCH_ITEM"),
    ("GET", "/shop/items/pear", "blueprint interceptor: ApiError OutOfStock -> 409 OUT_OF_STOCK"),
    ("POST", "/shop/checkout?quantity=two", "view interceptor: ValueError -> 400 BAD_QUANTITY"),
    ("GET", "/shop/nope", "blueprint interceptor: routing 404 under /shop beats Flask's 404"),
    ("DELETE", "/shop/items/apple", "blueprint interceptor: routing 405 under /shop, Allow kept"),
    ("GET", "/slow", "app interceptor: TimeoutError -> 504 UPSTREAM_TIMEOUT"),
    ("GET", "/nope", "Flask's own errorhandler(404): outside every interceptor scope"),
]


def main() -> None:
    http = app.test_client()
    for method, path, scope in DEMO_REQUESTS:
        response = http.open(path, method=method)
        print(f"{method} {path}  [{scope}]")
        print(f"  {response.status}  {response.get_data(as_text=True).strip()}")


if __name__ == "__main__":
    main()
