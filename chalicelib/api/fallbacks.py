"""Answers for requests no view serves, in Prefect's shapes.

* A known path with a method it does not serve → 405 ``{"detail": "Method Not Allowed"}`` with an
  ``Allow`` header, as Prefect's server (Starlette) answers. Chalice itself answers such a request
  with its own 405 body locally, but on API Gateway a method that is not declared never reaches the
  Lambda: the gateway answers 403 ``Missing Authentication Token``, which Prefect's client takes for
  a hard error. So every known path declares its missing methods too, all served by one view.
* An unknown path → 404 ``{"detail": "Not Found"}``: no Chalice route can catch it, so the deployed
  stack changes API Gateway's ``MISSING_AUTHENTICATION_TOKEN`` response (infra/cirrus_stack.py) and
  the local server maps the same case (devstack/gateway.py).
"""

from __future__ import annotations

from chalice import Chalice, Response

from chalicelib.api.auth import deny_unauthenticated
from chalicelib.api.common import JSON_HEADERS, route_options

#: The methods a path may be asked for (HEAD follows GET; OPTIONS is the gateway's CORS preflight).
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
NOT_FOUND_BODY = '{"detail": "Not Found"}'
METHOD_NOT_ALLOWED_BODY = '{"detail": "Method Not Allowed"}'


def method_not_allowed(allowed: list[str]) -> Response:
    headers = {**JSON_HEADERS, "Allow": ", ".join(sorted(allowed))}
    return Response(body=METHOD_NOT_ALLOWED_BODY, status_code=405, headers=headers)


def declare_missing_methods(app: Chalice) -> int:
    """Give every path of ``app`` a 405 view for each method it does not serve, and HEAD where it
    serves GET (the GET view answers; the gateway drops the body); returns how many views were added.

    Call it after every blueprint is registered: it reads ``app.routes``.
    """
    declared = 0
    for path, views in list(app.routes.items()):
        allowed = [method for method in views if method in METHODS]
        missing = [method for method in METHODS if method not in views]
        first = next(iter(views.values()))
        options = {**route_options(), "authorizer": first.authorizer}
        if first.authorizer is None:  # a path open to all (/health) stays open
            options.pop("authorizer")
        if "GET" in views and "HEAD" not in views:
            app.route(path, methods=["HEAD"], name=f"head_{first.view_name}", **options)(views["GET"].view_function)
            declared += 1
        if not missing:
            continue

        guarded = getattr(first.view_function, "gated", False)  # registered through common.route

        def view(*_: object, __allowed: list[str] = allowed, __guarded: bool = guarded, **__: object) -> Response:
            # Behind the path's own gate: without a key, a guarded path answers 401 whatever the method.
            denied = deny_unauthenticated(app.current_request) if __guarded else None
            return denied if denied is not None else method_not_allowed(__allowed)

        view.__name__ = "method_not_allowed_" + "".join(ch if ch.isalnum() else "_" for ch in path).strip("_")
        app.route(path, methods=missing, **options)(view)
        declared += len(missing)
    return declared
