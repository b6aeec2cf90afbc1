"""The local front: one aiohttp server on the API port in place of ``chalice local``'s.

- every REST request goes through Chalice's own in-process gateway (``chalice.local.LocalGateway``:
  routing, authorizers, CORS preflights, the same Lambda event API Gateway builds), in a thread
  pool, since the app is synchronous;
- ``/events/in`` upgrades to a websocket served by the same code as the deployed websocket Lambda
  (:mod:`chalicelib.api.events`); pings are answered by aiohttp;
- ``/events/out`` upgrades to Prefect's event subscription (:mod:`devstack.events_out`);
- ``/task_runs/subscriptions/scheduled`` upgrades to Prefect's task-worker subscription
  (:mod:`devstack.task_subscriptions`: background tasks);
- ``ui_site`` (:mod:`devstack.ui`): Prefect's UI beside the API; it decides first where a
  request goes (a UI file, ``/ui-settings``, or the API, whose path it may strip of ``/api``).

As deployed, a path with no route answers 404 ``{"detail": "Not Found"}``
(:mod:`devstack.gateway`; the app itself answers 405 for a known path's other methods and
HEAD with its GET view); aiohttp never sends a body with a HEAD answer.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiohttp import WSMsgType, web
from chalice.app import Chalice
from chalice.config import Config
from chalice.local import LocalGatewayException

from chalicelib.api import events as events_edge
from devstack.events_out import EventsOutHub
from devstack.gateway import CirrusLocalGateway, RouteNotFound, thread_local_app
from devstack.task_subscriptions import serve_subscription
from devstack.ui import Static, UiSite

LOG = logging.getLogger("devstack")

EVENTS_IN = "/events/in"
EVENTS_OUT = "/events/out"
TASK_SUBSCRIPTIONS = "/task_runs/subscriptions/scheduled"
#: Threads running the synchronous Chalice app (the old dev server used a thread per request).
DEFAULT_THREADS = 32
#: How often new events are evaluated against the automations (the local stream consumer).
AUTOMATIONS_PUMP_INTERVAL_S = 0.5


class Front:
    """The aiohttp application; :meth:`application` builds it, :func:`serve` runs it."""

    def __init__(
        self,
        app: Chalice,
        config: Config,
        *,
        ui_site: UiSite | None = None,
        threads: int = DEFAULT_THREADS,
    ) -> None:
        self.gateway = CirrusLocalGateway(thread_local_app(app), config)
        self.ui_site = ui_site
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="front")
        self.sockets: set[web.WebSocketResponse] = set()
        self.events_out_hub = EventsOutHub(self._run)

    def application(self) -> web.Application:
        web_app = web.Application(client_max_size=10 * 1024 * 1024)
        web_app.router.add_route("*", "/{tail:.*}", self.dispatch)
        web_app.on_startup.append(self._start_automations)
        web_app.on_shutdown.append(self._close_sockets)
        web_app.on_cleanup.append(self._stop_pool)
        return web_app

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if self.ui_site is not None:
            decision = self.ui_site.route(request.method, path, dict(request.headers))
            if isinstance(decision, Static):
                return _static(decision)
            path = decision.path
        if request.headers.get("upgrade", "").lower() == "websocket":
            if path == EVENTS_IN:
                return await self.events_in(request)
            if path == EVENTS_OUT:
                return await self.events_out(request)
            if path == TASK_SUBSCRIPTIONS:
                return await self.task_subscriptions(request)
        query = request.raw_path.partition("?")[2]
        return await self.rest(request, path + ("?" + query if query else ""))

    # ------------------------------------------------------------------ REST through Chalice
    async def rest(self, request: web.Request, raw_path: str) -> web.StreamResponse:
        body = await request.read() or None
        headers = dict(request.headers)
        try:
            response = await self._run(self.gateway.handle_request, request.method, raw_path, headers, body)
        except RouteNotFound as exc:
            return _response(exc.CODE, dict(exc.headers), exc.body)
        except LocalGatewayException as exc:  # an authorizer refused (401/403)
            return _response(exc.CODE, dict(exc.headers), exc.body)
        out_headers: dict[str, Any] = dict(response.get("headers") or {})
        out_headers.update(response.get("multiValueHeaders") or {})
        payload = response.get("body")
        if response.get("isBase64Encoded") and payload is not None:
            payload = base64.b64decode(payload)
        return _response(response["statusCode"], out_headers, payload)

    # ------------------------------------------------------------------ /events/in
    async def _upgrade(self, request: web.Request) -> web.StreamResponse:
        """The websocket (prepared and tracked), or the refusal of an unauthorized upgrade."""
        headers = {k.lower(): v for k, v in request.headers.items()}
        denied = await self._run(events_edge.upgrade_denied, headers)
        if denied is not None:
            body = json.dumps({"detail": denied.detail}).encode()
            return web.Response(status=denied.status, body=body, content_type="application/json")
        protocols = (events_edge.SUBPROTOCOL,) if events_edge.wants_subprotocol(headers) else ()
        socket = web.WebSocketResponse(protocols=protocols, autoping=True, max_msg_size=1024 * 1024)
        await socket.prepare(request)
        self.sockets.add(socket)
        return socket

    async def events_in(self, request: web.Request) -> web.StreamResponse:
        socket = await self._upgrade(request)
        if not isinstance(socket, web.WebSocketResponse):
            return socket
        counts: Counter[str] = Counter()
        try:
            async for message in socket:
                if message.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    continue  # errors end the loop; pings/pongs never reach it (autoping)
                try:
                    reply = await self._run(events_edge.handle_frame, message.data)
                except Exception:  # noqa: BLE001 - as the Lambda: close, and the client resends
                    LOG.exception("events/in: closing the connection after a failure")
                    reply = events_edge.Reply(close=(events_edge.INTERNAL_ERROR, "Internal error"))
                counts.update(reply.outcomes)
                for text in reply.send:
                    await socket.send_str(text)
                if reply.close is not None:
                    code, reason = reply.close
                    await socket.close(code=code, message=reason.encode())
                    break
        finally:
            self.sockets.discard(socket)
            events_edge.log_outcomes(f"websocket {request.remote}", counts)
        return socket

    # ------------------------------------------------------------------ /events/out
    async def events_out(self, request: web.Request) -> web.StreamResponse:
        """Authorized as ``/events/in``; then :class:`devstack.events_out.EventsOutHub`."""
        socket = await self._upgrade(request)
        if not isinstance(socket, web.WebSocketResponse):
            return socket
        try:
            await self.events_out_hub.handle(request, socket)
        finally:
            self.sockets.discard(socket)
        return socket

    # ------------------------------------------------------------------ background tasks
    async def task_subscriptions(self, request: web.Request) -> web.StreamResponse:
        """Authorized as ``/events/in``; then :func:`devstack.task_subscriptions.serve_subscription`."""
        socket = await self._upgrade(request)
        if not isinstance(socket, web.WebSocketResponse):
            return socket
        try:
            await serve_subscription(self._run, socket)
        finally:
            self.sockets.discard(socket)
        return socket

    # ------------------------------------------------------------------ automations
    async def _start_automations(self, _app: web.Application) -> None:
        """Evaluate automations on new events, as the deployed stream consumer does, whether or
        not anyone subscribes to ``/events/out``."""
        self.automations_task = asyncio.get_running_loop().create_task(self._pump_automations())

    async def _pump_automations(self) -> None:
        from chalicelib.jobs import automations

        while True:
            try:
                await self._run(automations.pump)
            except Exception:  # noqa: BLE001 - a failed pump is retried at the next tick
                LOG.exception("automations: pump failed")
            await asyncio.sleep(AUTOMATIONS_PUMP_INTERVAL_S)

    async def _close_sockets(self, _app: web.Application) -> None:
        task = getattr(self, "automations_task", None)
        if task is not None:
            task.cancel()
        await self.events_out_hub.close()
        for socket in list(self.sockets):
            await socket.close(code=1001, message=b"Server shutting down")

    async def _stop_pool(self, _app: web.Application) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def _static(static: Static) -> web.StreamResponse:
    if static.file is not None:
        return web.FileResponse(static.file, headers=static.headers)
    return web.Response(status=static.status, body=static.body or b"", headers=static.headers)


def _response(status: int, headers: dict[str, Any], body: str | bytes | None) -> web.Response:
    response = web.Response(status=status, body=body.encode() if isinstance(body, str) else body)
    if body is not None and not any(name.lower() == "content-type" for name in headers):
        response.content_type = "application/json"  # what Chalice's server assumed
    for name, value in headers.items():
        if name.lower() == "content-length":
            continue
        for one in value if isinstance(value, list) else [value]:
            response.headers.add(name, str(one))
    return response


async def serve(front: Front, host: str, port: int, stop: asyncio.Event) -> None:
    """Serve until ``stop`` is set; then close the websockets (1001) and the listening socket."""
    runner = web.AppRunner(front.application(), handle_signals=False, access_log=None, shutdown_timeout=5.0)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        print(f"Serving on http://{host}:{port} (websocket ws://{host}:{port}{EVENTS_IN})", flush=True)
        await stop.wait()
    finally:
        await runner.cleanup()
