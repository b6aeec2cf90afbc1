"""A stand-in for API Gateway's WebSocket management API (``@connections``), over HTTPS.

The websocket Lambda answers a frame with ``PostToConnection`` (``POST /<stage>/@connections/<id>``)
and closes with ``DeleteConnection`` (``DELETE``), through boto3 at Chalice's endpoint
``https://<apiId>.execute-api.<region>.amazonaws.com/<stage>`` (from the event's ``apiId``). This
server answers both with a certificate for that host (self-signed with openssl; the function trusts
it through ``AWS_CA_BUNDLE``), reached through a CONNECT proxy on 127.0.0.1 (``HTTPS_PROXY``, which
botocore honours), and records what it was sent. :attr:`env` is what the function needs to use it.
"""

from __future__ import annotations

import select
import socket
import socketserver
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class ManagementApi:
    """``with ManagementApi(tmp) as api: api.domain, api.ca_bundle, api.calls``."""

    def __init__(self, directory: Path, host: str, gone: set[str] | None = None) -> None:
        self.directory = directory
        self.host = host
        self.calls: list[tuple[str, str, bytes]] = []
        self.gone = gone if gone is not None else set()
        self._server: ThreadingHTTPServer | None = None

    def __enter__(self) -> ManagementApi:
        cert, key = self.directory / "cert.pem", self.directory / "key.pem"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={self.host}",
             "-addext", f"subjectAltName=DNS:{self.host}", "-keyout", str(key), "-out", str(cert)],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        self.ca_bundle = str(cert)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                outer.calls.append((self.command, self.path, self.rfile.read(length)))
                connection = self.path.rsplit("/", 1)[-1]
                status = 410 if connection in outer.gone else 200
                body = b'{"message": null}' if status == 410 else b""
                self.send_response(status)
                if status == 410:
                    self.send_header("x-amzn-ErrorType", "GoneException")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_DELETE = _answer  # noqa: N815 - http.server's naming

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self._proxy = _ConnectProxy(("127.0.0.1", 0), self._server.server_address[1])
        threading.Thread(target=self._proxy.serve_forever, daemon=True).start()
        self.env = {
            "AWS_CA_BUNDLE": str(cert),
            "HTTPS_PROXY": f"http://127.0.0.1:{self._proxy.server_address[1]}",
            "NO_PROXY": "127.0.0.1,localhost",
        }
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            for server in (self._proxy, self._server):
                server.shutdown()
                server.server_close()


class _ConnectProxy(socketserver.ThreadingTCPServer):
    """An HTTP CONNECT proxy that tunnels every connection to the local management API."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], target_port: int) -> None:
        self.target_port = target_port
        super().__init__(address, _Tunnel)


class _Tunnel(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.request.recv(4096)
            if not chunk:
                return
            head += chunk
        if not head.startswith(b"CONNECT "):
            self.request.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return
        upstream = socket.create_connection(("127.0.0.1", self.server.target_port), timeout=30)
        self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        sockets = [self.request, upstream]
        try:
            while True:
                readable, _, _ = select.select(sockets, [], [], 30)
                if not readable:
                    return
                for source in readable:
                    data = source.recv(65536)
                    if not data:
                        return
                    (upstream if source is self.request else self.request).sendall(data)
        finally:
            upstream.close()
