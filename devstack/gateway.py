"""Chalice's local API Gateway, answering the way the deployed gateway is configured to.

Chalice's ``LocalGateway`` answers a path no route matches with 403 ``Missing Authentication Token``
(API Gateway's default). The deployed stack maps that gateway response to Prefect's 404
(infra/cirrus_stack.py), so locally the same case answers 404 ``{"detail": "Not Found"}`` too.
The local front (:mod:`devstack.front`) serves every REST request through it.
"""

from __future__ import annotations

from typing import Any

from chalice import Chalice
from chalice.local import CustomLocalChalice, LocalChalice, LocalGateway, LocalGatewayException


class RouteNotFound(LocalGatewayException):
    CODE = 404

    def __init__(self) -> None:
        super().__init__({"Content-Type": "application/json"}, b'{"detail": "Not Found"}')


class CirrusLocalGateway(LocalGateway):
    def handle_request(self, method: str, path: str, headers: Any, body: bytes | None) -> Any:
        try:
            self.event_converter.create_lambda_event(method=method, path=path, headers=headers, body=body)
        except ValueError:  # no route matches the path
            raise RouteNotFound() from None
        return super().handle_request(method, path, headers, body)


def thread_local_app(app: Chalice) -> Chalice:
    """``app`` with a per-thread ``current_request`` (Chalice's own ``LocalChalice``, as ``chalice
    local`` does): the app keeps the request on itself, right for a Lambda and a race for a threaded
    server, where a view could read another request's body."""
    if not isinstance(app, LocalChalice):
        CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
        app.__class__ = CustomLocalChalice
    return app
