"""Background tasks: task runs created by ``task.delay()`` handed to ``task.serve()`` workers.

Prefect's protocol (``/task_runs/subscriptions/scheduled``, its ``prefect.client.subscriptions``):
after the auth frame, the worker sends ``{"type": "subscribe", "keys": [task keys], "client_id": …}``
(a frame without them closes the socket with 4001 and Prefect's reason); the server then sends each
task run due to it as one frame (the TaskRun's JSON), and the worker answers each with
``{"type": "ack"}`` (``{"type": "quit"}`` ends the subscription).

Delivery: a task run created (or set) Scheduled with ``state_details.deferred`` waits on its task
key's queue (a sparse index of the task runs table). Handing it to a worker is a conditional
UpdateItem that takes it off the queue (:meth:`TaskRunRepository.hand_out`): each Scheduled state is
handed out once, whichever of the racing subscribers, pumps or stream consumers gets there first.
A run handed to a socket that fails before the frame is sent is put back at its place. A worker that
takes a run and then dies does not get it back: as on Prefect's server, the run stays Scheduled (or
Pending) until someone acts; a retry (AwaitingRetry, a new Scheduled state) queues it again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.schemas.task_runs import TaskRun
from chalicelib.storage import Repositories

#: Prefect's close code for a protocol violation on this socket.
PROTOCOL_VIOLATION = 4001
#: Runs handed out per task key per pump (one Query, then one conditional write each).
BATCH = 10


@dataclass(frozen=True)
class Subscribe:
    keys: tuple[str, ...]
    client_id: str


@dataclass(frozen=True)
class Refused:
    code: int
    reason: str


def read_subscribe_frame(text: str | bytes) -> Subscribe | Refused:
    """The frame after auth, as Prefect's server judges it."""
    try:
        message = json.loads(text)
    except (ValueError, UnicodeDecodeError, RecursionError):
        message = None
    if not isinstance(message, dict) or message.get("type") != "subscribe":
        return Refused(PROTOCOL_VIOLATION, "Protocol violation: expected 'subscribe' message")
    keys = message.get("keys")
    if not keys or not isinstance(keys, list) or not all(isinstance(key, str) and key for key in keys):
        return Refused(PROTOCOL_VIOLATION, "Protocol violation: expected 'keys' in subscribe message")
    client_id = message.get("client_id")
    if not client_id or not isinstance(client_id, str):
        return Refused(PROTOCOL_VIOLATION, "Protocol violation: expected 'client_id' in subscribe message")
    return Subscribe(tuple(dict.fromkeys(keys)), client_id)


def is_subscribe_frame(text: str | bytes) -> bool:
    """Whether a deployed connection's frame is a task worker's subscription (not an event)."""
    raw = text.encode() if isinstance(text, str) else text
    return b'"subscribe"' in raw and isinstance(read_subscribe_frame(text), Subscribe)


def is_ack_frame(text: str | bytes) -> bool:
    raw = text.encode() if isinstance(text, str) else text
    return raw.strip() in (b'{"type":"ack"}', b'{"type": "ack"}')


def task_run_frame(run: TaskRun) -> str:
    return run.model_dump_json()


def subscribe(repos: Repositories, connection_id: str, subscription: Subscribe, now: datetime) -> None:
    repos.task_workers.observe(connection_id, subscription.client_id, subscription.keys, now)


def unsubscribe(repos: Repositories, connection_id: str) -> None:
    repos.task_workers.forget(connection_id)


def hand_out(repos: Repositories, task_keys: Iterable[str], limit: int = BATCH) -> list[TaskRun]:
    """Take up to ``limit`` waiting runs of these task keys off their queues (oldest first per key)."""
    handed: list[TaskRun] = []
    for key in task_keys:
        for place in repos.task_runs.waiting(key, limit - len(handed)):
            run = repos.task_runs.hand_out(place)
            if run is not None:
                handed.append(run)
        if len(handed) >= limit:
            break
    return handed


def put_back(repos: Repositories, run: TaskRun) -> bool:
    """Queue again a run whose frame could not be sent."""
    return repos.task_runs.put_back(run)


def deliver(repos: Repositories, task_keys: Iterable[str], send: Callable[[str, str], bool], now: datetime) -> int:
    """Deployed: hand the waiting runs of ``task_keys`` to the subscribed connections (in turn) and
    post each; ``send(connection_id, frame)`` answers ``False`` for a connection that is gone,
    which is forgotten while its run goes to the next one. Returns the runs delivered."""
    workers = repos.task_workers.active(now)
    delivered = 0
    for key in dict.fromkeys(task_keys):
        subscribed = [worker.connection_id for worker in workers if key in worker.task_keys]
        turn = 0
        while subscribed:
            runs = hand_out(repos, [key])
            if not runs:
                break
            for run in runs:
                while subscribed:
                    connection = subscribed[turn % len(subscribed)]
                    if send(connection, task_run_frame(run)):
                        delivered += 1
                        turn += 1
                        break
                    subscribed.remove(connection)
                    unsubscribe(repos, connection)
                else:
                    put_back(repos, run)
    return delivered


def waiting_keys(repos: Repositories, records: Iterable[dict[str, Any]]) -> list[str]:
    """The task keys of the runs that started waiting, from ``task_runs`` stream records."""
    return repos.task_runs.waiting_keys(records)


def active_workers(repos: Repositories, task_keys: list[str] | None, now: datetime) -> list[dict[str, Any]]:
    """``POST /task_workers/filter``: Prefect's ``TaskWorkerResponse`` per worker (client id) that
    has a subscription open, those serving one of ``task_keys`` when given."""
    merged: dict[str, tuple[set[str], datetime]] = {}
    for worker in repos.task_workers.active(now):
        keys, seen = merged.get(worker.client_id, (set(), worker.seen))
        merged[worker.client_id] = (keys | set(worker.task_keys), max(seen, worker.seen))
    wanted = set(task_keys or ())
    return [
        {"identifier": client_id, "task_keys": sorted(keys), "timestamp": seen.isoformat().replace("+00:00", "Z")}
        for client_id, (keys, seen) in sorted(merged.items())
        if not wanted or keys & wanted
    ]
