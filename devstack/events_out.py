"""``/events/out`` in the local front: Prefect's subscription protocol over aiohttp, with the same
handlers as the deployed WebSocket API (:mod:`chalicelib.api.events_out`).

A socket is authorized (auth frame, as ``/events/in``), sends its filter frame, receives the
backfill, then joins the hub. While any socket is subscribed, the hub pumps every
:data:`PUMP_INTERVAL_S`: it records the runs' new state changes as events and sends each newly
stored event to the sockets whose filter matches — an event is pushed within about a second
of being stored.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import WSMsgType, web

from chalicelib.api import events as events_edge
from chalicelib.api import events_out

LOG = logging.getLogger("devstack")

PUMP_INTERVAL_S = 0.5
#: How long a socket may take to send its auth and filter frames.
HANDSHAKE_TIMEOUT_S = 30.0

Run = Callable[..., Awaitable[Any]]


class EventsOutHub:
    def __init__(self, run: Run) -> None:
        self.run = run
        self.subscribers: dict[web.WebSocketResponse, Any] = {}
        #: Per socket, the ids sent to it that the other path may send again: the backfill's (the
        #: live pump may find them too) and, while the backfill runs, the pump's (the backfill may).
        self.sent: dict[web.WebSocketResponse, set[str]] = {}
        self.backfilling: set[web.WebSocketResponse] = set()
        self.task: asyncio.Task | None = None

    async def handle(self, request: web.Request, socket: web.WebSocketResponse) -> None:
        """One subscriber, from its first frame to its close."""
        try:
            reply = await self.run(events_edge.handle_frame, await self._text(socket))
            if not reply.send or reply.close is not None:  # the first frame must be the auth frame
                code, reason = reply.close or (events_out.PROTOCOL_ERROR, "Expected 'auth' message")
                await socket.close(code=code, message=reason.encode())
                return
            for text in reply.send:
                await socket.send_str(text)
            found = await self.run(events_out.open_subscription, await self._text(socket))
            if not hasattr(found, "filter"):
                await socket.close(code=found.code, message=found.reason.encode())
                return
            sent = self.sent.setdefault(socket, set())
            self.backfilling.add(socket)
            self.subscribers[socket] = found.filter  # before the backfill: nothing stored meanwhile is missed
            self._start()
            for event_id, text in await self.run(events_out.backfill_frames, found):
                if event_id in sent:  # the pump sent it live meanwhile
                    continue
                sent.add(event_id)  # the live stream skips these once (as Prefect's server does)
                await socket.send_str(text)
            self.backfilling.discard(socket)
            async for message in socket:  # further frames are ignored; pings are answered by aiohttp
                if message.type == WSMsgType.ERROR:
                    break
        except (TimeoutError, ConnectionResetError, _Closed):
            pass
        finally:
            self.subscribers.pop(socket, None)
            self.sent.pop(socket, None)
            self.backfilling.discard(socket)

    async def _text(self, socket: web.WebSocketResponse) -> str:
        message = await socket.receive(timeout=HANDSHAKE_TIMEOUT_S)
        if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
            return message.data if isinstance(message.data, str) else message.data.decode(errors="replace")
        raise _Closed

    def _start(self) -> None:
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._pump_forever())

    async def _pump_forever(self) -> None:
        while self.subscribers:
            try:
                await self.pump_once()
            except Exception:  # noqa: BLE001 - a failed pump is retried at the next tick
                LOG.exception("events/out: pump failed")
            await asyncio.sleep(PUMP_INTERVAL_S)

    async def pump_once(self) -> int:
        """Send the events stored since the last pump; returns how many frames were sent."""
        events = await self.run(events_out.pump)
        if not events or not self.subscribers:
            return 0
        sent = 0
        for socket, event_id, frame in events_out.frames_for(list(self.subscribers.items()), events):
            sent = self.sent.get(socket)
            if sent is not None and event_id in sent:  # the backfill sent it: skipped once
                sent.discard(event_id)
                continue
            if sent is not None and socket in self.backfilling:
                sent.add(event_id)  # the backfill still running must not send it again
            if not socket.closed:
                await socket.send_str(frame)
                sent += 1
        return sent

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()


class _Closed(Exception):
    """The socket closed during the handshake."""
