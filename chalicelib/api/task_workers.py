"""Background tasks: ``POST /task_workers/filter`` and the edge of ``/task_runs/subscriptions/scheduled``
(:mod:`chalicelib.services.task_workers`), for both transports.

- Local (``devstack.task_subscriptions``): the front answers the auth frame with
  :func:`chalicelib.api.events.handle_frame`, reads the subscribe frame with :func:`open_subscription`,
  then pumps :func:`next_frames` for its socket and :func:`put_back` what it could not send.
- Deployed (the API Gateway WebSocket API of ``/events/in`` and ``/events/out``; CloudFront sends
  this path to it too): the message Lambda hands a subscribe frame to :func:`subscribe_connection`
  (which delivers the backlog), ignores acks, ``$disconnect`` forgets the connection
  (:func:`chalicelib.api.events_out.events_disconnect`), and the ``deliver_task_runs`` Lambda
  (:mod:`chalicelib.jobs.event_streams`) posts runs that start waiting.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from chalice import Blueprint

from chalicelib import schemas, services
from chalicelib.api.common import now, parse_body, repositories, route

bp = Blueprint(__name__)


@route(bp, "/task_workers/filter", methods=("POST",))
def filter_task_workers() -> object:
    body = parse_body(bp, schemas.task_runs.TaskWorkerFilterBody)
    keys = body.task_worker_filter.task_keys if body.task_worker_filter is not None else None
    return services.task_workers.active_workers(repositories(), keys, now())


# ------------------------------------------------------------------ the websocket
def open_subscription(connection_id: str, text: str | bytes) -> Any:
    """A ``Subscribe`` (recorded as a task worker) or a ``Refused`` for the frame after auth."""
    found = services.task_workers.read_subscribe_frame(text)
    if isinstance(found, services.task_workers.Subscribe):
        services.task_workers.subscribe(repositories(), connection_id, found, datetime.now(UTC))
    return found


def next_frames(subscription: Any) -> list[tuple[Any, str]]:
    """(run, frame) for the runs handed to this subscriber now."""
    runs = services.task_workers.hand_out(repositories(), subscription.keys)
    return [(run, services.task_workers.task_run_frame(run)) for run in runs]


def put_back(run: Any) -> bool:
    return services.task_workers.put_back(repositories(), run)


def refresh(connection_id: str, subscription: Any) -> None:
    services.task_workers.subscribe(repositories(), connection_id, subscription, datetime.now(UTC))


def forget(connection_id: str) -> None:
    services.task_workers.unsubscribe(repositories(), connection_id)


# ------------------------------------------------------------------ deployed
def is_subscription_frame(text: str | bytes) -> bool:
    return services.task_workers.is_subscribe_frame(text)


def is_ack_frame(text: str | bytes) -> bool:
    return services.task_workers.is_ack_frame(text)


def subscribe_connection(connection_id: str, text: str | bytes, send: Callable[[str, str], bool]) -> None:
    """A deployed connection's subscribe frame: record it, then post the runs already waiting."""
    found = open_subscription(connection_id, text)
    services.task_workers.deliver(repositories(), found.keys, send, datetime.now(UTC))
