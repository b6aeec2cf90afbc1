"""``/events/out``: the edge of :mod:`chalicelib.services.event_subscriptions`, for both transports.

- Local (``devstack.front``): the front answers the auth frame with :func:`chalicelib.api.events.handle_frame`,
  reads the filter frame with :func:`open_subscription`, sends :func:`backfill_frames`, then keeps
  the socket in its hub, which calls :func:`pump` every half second and sends :func:`frames_for`.
- Deployed (API Gateway WebSocket API, shared with ``/events/in``; CloudFront sends both paths to
  it): the message Lambda hands a filter frame to :func:`subscribe_connection`, ``$disconnect`` calls
  :func:`events_disconnect`, and the ``fan_out_events`` Lambda (:mod:`chalicelib.jobs.event_streams`)
  posts new events.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from chalice.app import WebsocketEvent

from chalicelib import schemas, services
from chalicelib.api.replies import repositories

PROTOCOL_ERROR = 1002


def open_subscription(text: str | bytes) -> Any:
    """A ``Subscription`` or a ``Refused`` (close code and reason) for the frame after auth."""
    return services.event_subscriptions.read_filter_frame(text, datetime.now(UTC))


def backfill_frames(subscription: Any) -> list[tuple[str, str]]:
    """(event id, frame) of the backfill, oldest first."""
    return list(services.event_subscriptions.backfill(repositories(), subscription))


def pump() -> list[dict[str, Any]]:
    """The events stored since the last pump (pull mode: the local front)."""
    return services.event_subscriptions.new_events(repositories(), datetime.now(UTC))


def frames_for(
    subscribers: Iterable[tuple[Any, schemas.event_filters.EventFilter]], events: list[dict[str, Any]]
) -> list[tuple[Any, str, str]]:
    """(subscriber, event id, frame) to send, in order."""
    return list(services.event_subscriptions.matching(subscribers, events))


# ------------------------------------------------------------------ deployed
def is_filter_frame(text: str | bytes) -> bool:
    return services.event_subscriptions.is_filter_frame(text)


def subscribe_connection(connection_id: str, text: str | bytes) -> tuple[list[str], bool]:
    """A deployed connection's filter frame: (frames to send, whether to close after them)."""
    found = open_subscription(text)
    if isinstance(found, services.event_subscriptions.Refused):
        return [], True
    services.event_subscriptions.subscribe(repositories(), connection_id, found, datetime.now(UTC))
    return [frame for _, frame in backfill_frames(found)], False


def events_disconnect(event: WebsocketEvent) -> None:
    """``$disconnect``: forget the connection's subscription, an ``/events/out`` filter or a task
    worker's (none for an ``/events/in`` socket)."""
    services.event_subscriptions.unsubscribe(repositories(), event.connection_id)
    services.task_workers.unsubscribe(repositories(), event.connection_id)
