"""Router scope for FastAPI: an ``APIRoute`` class carrying interceptors.

An ``APIRouter`` is not an ASGI app, so it cannot take middleware. Give it a
route class instead; the routes keep it when the router is included anywhere::

    from interceptor.fastapi import intercepted_route

    users = APIRouter(prefix="/users", route_class=intercepted_route(user_errors))
    app.include_router(users)

For nested routers, build the inner class on the outer one; the inner
interceptor is tried first::

    admin = APIRouter(route_class=intercepted_route(admin_errors, base=users.route_class))

The interceptor sees exceptions from the endpoint and its dependencies,
including FastAPI's ``RequestValidationError`` (register it to answer 422s as
problem details). What it does not match goes on to FastAPI's own handlers
unchanged. Routing errors (404, 405) happen before any route is chosen: an
app-level `interceptor.starlette.InterceptorMiddleware` handles those.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, ClassVar

from interceptor._core import Interceptor

try:
    from fastapi import Request, Response
    from fastapi.routing import APIRoute
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "interceptor.fastapi needs FastAPI: pip install 'interceptor[fastapi]'"
    ) from exc

from interceptor.starlette import outcome_response, resolve

__all__ = ["intercepted_route"]

RouteHandler = Callable[[Request], Coroutine[Any, Any, Response]]


class _InterceptedRoute(APIRoute):
    # Innermost first: the router the route was declared on, then outwards.
    interceptors: ClassVar[tuple[Interceptor, ...]] = ()

    def get_route_handler(self) -> RouteHandler:
        handler = super().get_route_handler()
        for interceptor in self.interceptors:
            handler = _intercepting(handler, interceptor)
        return handler


def _intercepting(handler: RouteHandler, interceptor: Interceptor) -> RouteHandler:
    async def intercepted(request: Request) -> Response:
        try:
            return await handler(request)
        except Exception as exc:
            answer = await resolve(interceptor, exc, request.scope, lambda: request)
            if answer is None:
                raise
            return answer if isinstance(answer, Response) else outcome_response(answer)

    return intercepted


def intercepted_route(
    interceptor: Interceptor, *, base: type[APIRoute] = APIRoute
) -> type[APIRoute]:
    """An ``APIRoute`` subclass whose routes are intercepted by ``interceptor``.

    Pass it as ``APIRouter(route_class=...)``. ``base`` is the route class to
    extend: another intercepted class nests scopes (``interceptor`` is tried
    before the base's), any other ``APIRoute`` subclass keeps its behaviour.
    Raises ``TypeError`` for a non-`Interceptor` or a base that is not an
    ``APIRoute`` subclass.

    Example::

        router = APIRouter(route_class=intercepted_route(Interceptor({KeyError: 404})))
    """
    if not isinstance(interceptor, Interceptor):
        raise TypeError(f"interceptor must be an Interceptor, got {interceptor!r}")
    if not (isinstance(base, type) and issubclass(base, APIRoute)):
        raise TypeError(f"base must be an APIRoute subclass, got {base!r}")
    if issubclass(base, _InterceptedRoute):
        bases: tuple[type, ...] = (base,)
        inherited = base.interceptors
    else:
        bases = (_InterceptedRoute, base)
        inherited = ()
    return type(
        "InterceptedRoute",
        bases,
        {"interceptors": (interceptor, *inherited), "__module__": __name__},
    )
