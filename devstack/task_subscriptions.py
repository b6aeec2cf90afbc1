"""``/task_runs/subscriptions/scheduled`` in the local front: Prefect's task-worker protocol over
aiohttp, with the same handlers as the deployed WebSocket API (:mod:`chalicelib.api.task_workers`).

A socket is authorized (auth frame, as ``/events/in``), sends its subscribe frame, and is recorded
as a task worker. Then, every :data:`PUMP_INTERVAL_S` while it is open, the waiting runs of its task
keys are handed to it (a conditional write each: a run goes to one worker), sent one frame each,
and acknowledged by the worker; a run whose frame or ack fails is put back on its queue, as
Prefect's server puts it back in its queue.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import WSMsgType, web

from chalicelib.api import events as events_edge
from chalicelib.api import task_workers

LOG = logging.getLogger("devstack")

PUMP_INTERVAL_S = 0.5
#: How long a socket may take to send its auth and subscribe frames, and to acknowledge a run.
REPLY_TIMEOUT_S = 30.0
#: How often an open subscription is recorded again (its entry's expiry moves on).
REFRESH_S = 600.0

Run = Callable[..., Awaitable[Any]]


class _Closed(Exception):
    """The socket closed, failed or broke the protocol."""


async def _text(socket: web.WebSocketResponse, timeout: float) -> str:
    message = await socket.receive(timeout=timeout)
    if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
        return message.data if isinstance(message.data, str) else message.data.decode(errors="replace")
    raise _Closed


async def serve_subscription(run: Run, socket: web.WebSocketResponse) -> None:
    """One task worker, from its first frame to its close."""
    connection_id = f"local-{uuid.uuid4()}"
    subscription = None
    try:
        reply = await run(events_edge.handle_frame, await _text(socket, REPLY_TIMEOUT_S))
        if not reply.send or reply.close is not None:
            code, reason = reply.close or (4001, "Protocol violation: expected 'auth' message")
            await socket.close(code=code, message=reason.encode())
            return
        for text in reply.send:
            await socket.send_str(text)
        found = await run(task_workers.open_subscription, connection_id, await _text(socket, REPLY_TIMEOUT_S))
        if not hasattr(found, "keys"):
            await socket.close(code=found.code, message=found.reason.encode())
            return
        subscription = found
        LOG.info("task worker %r subscribed to %s", found.client_id, ", ".join(found.keys))
        await _pump(run, socket, connection_id, found)
    except (TimeoutError, ConnectionResetError, _Closed):
        pass
    finally:
        if subscription is not None:
            await run(task_workers.forget, connection_id)


async def _pump(run: Run, socket: web.WebSocketResponse, connection_id: str, subscription: Any) -> None:
    loop = asyncio.get_running_loop()
    refreshed = loop.time()
    while not socket.closed:
        handed = await run(task_workers.next_frames, subscription)
        for position, (_, frame) in enumerate(handed):
            try:
                await socket.send_str(frame)
                answer = await _text(socket, REPLY_TIMEOUT_S)
            except (TimeoutError, ConnectionResetError, _Closed):
                await _put_back(run, handed[position:])
                raise _Closed from None
            if not task_workers.is_ack_frame(answer):  # "quit", or a protocol violation
                await _put_back(run, handed[position + 1 :])
                quit_ = '"quit"' in answer
                reason = b"" if quit_ else b"Protocol violation: expected 'ack' message"
                await socket.close(code=1000 if quit_ else 4001, message=reason)
                return
        if loop.time() - refreshed > REFRESH_S:
            await run(task_workers.refresh, connection_id, subscription)
            refreshed = loop.time()
        try:  # idle: notice a close (or a stray frame) while waiting for the next pump
            message = await socket.receive(timeout=PUMP_INTERVAL_S)
        except TimeoutError:
            continue
        if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
            return


async def _put_back(run: Run, handed: list[tuple[Any, str]]) -> None:
    for task_run, _ in handed:
        await run(task_workers.put_back, task_run)
