"""Chalice's local API Gateway, answering the way the deployed gateway is configured to.

Chalice's ``LocalGateway`` answers a path no route matches with 403 ``Missing Authentication Token``
(API Gateway's default). The deployed stack maps that gateway response to Prefect's 404
(infra/cirrus_stack.py), so locally the same case answers 404 ``{"detail": "Not Found"}`` too.
A HEAD request gets the headers of its GET without the body (HTTP/1.1: a body would corrupt the
next response on a kept-alive connection).
"""

from __future__ import annotations

from typing import Any

from chalice import Chalice
from chalice.config import Config
from chalice.local import (
    ChaliceRequestHandler,
    CustomLocalChalice,
    LocalChalice,
    LocalDevServer,
    LocalGateway,
    LocalGatewayException,
)

from chalicelib.local.ui import Static, UiSite


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


class CirrusRequestHandler(ChaliceRequestHandler):
    #: Prefect's UI beside the API (:mod:`chalicelib.local.ui`), when the stack serves it.
    ui_site: UiSite | None = None

    def __init__(self, request: Any, client_address: Any, server: Any, app_object: Any, config: Any) -> None:
        self._gateway = CirrusLocalGateway(app_object, config)
        super().__init__(request, client_address, server, app_object, config)

    @property  # ChaliceRequestHandler assigns its own gateway in __init__; ours wins
    def local_gateway(self) -> LocalGateway:
        return self._gateway

    @local_gateway.setter
    def local_gateway(self, _: LocalGateway) -> None:
        pass

    def _generic_handle(self) -> None:
        if self.ui_site is not None:
            path, mark, query = self.path.partition("?")
            decision = self.ui_site.route(self.command, path, dict(self.headers))
            if isinstance(decision, Static):
                self._send_static(decision)
                return
            self.path = decision.path + mark + query
        super()._generic_handle()

    # ChaliceRequestHandler binds its own _generic_handle to every verb: rebind ours.
    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle

    def _send_static(self, static: Static) -> None:
        body = static.file.read_bytes() if static.file is not None else static.body or b""
        self.send_response(static.status)
        for name, value in static.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_http_response_with_body(self, code: int, headers: Any, body: Any) -> None:
        if self.command != "HEAD":
            super()._send_http_response_with_body(code, headers, body)
            return
        length = len(body if isinstance(body, bytes) else body.encode("utf-8"))
        self.send_response(code)
        self.send_header("Content-Length", str(length))
        self.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
        self._send_headers(headers)


def create_local_server(
    app: Chalice, config: Config, host: str, port: int, ui_site: UiSite | None = None
) -> LocalDevServer:
    """Chalice's threaded dev server (``chalice.local.create_local_server``) with our handler."""
    CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)  # a thread-local current_request
    app.__class__ = CustomLocalChalice
    handler = type("CirrusUiRequestHandler", (CirrusRequestHandler,), {"ui_site": ui_site})
    return LocalDevServer(app, config, host, port, handler_cls=handler)
