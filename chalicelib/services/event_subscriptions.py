"""``/events/out``: Prefect's subscription protocol, for both transports (the local front's
websocket and the deployed API Gateway WebSocket API).

The protocol (Prefect 3.9's ``PrefectEventSubscriber`` and its server's ``/events/out``): the auth
frame is answered as on ``/events/in``; the next frame must be ``{"type": "filter", "filter": …,
"backfill": true}`` (anything else closes the socket with 1002 "Expected 'filter' message", a
filter that does not validate with 1002 "Invalid filter: …"). The filter's ``occurred.since`` is
clamped to :data:`MAX_BACKFILL` ago and its order made ascending; the stored events that match are
sent first (the backfill, unless ``backfill`` is false, at most :data:`BACKFILL_PAGES` pages), then
every new event that matches, each as ``{"type": "event", "event": …}``.

Delivery is at least once while the connection lasts: a subscription is registered before the
backfill is read, so an event stored meanwhile may come twice (Prefect's client drops an id it has
seen). New events reach subscribers from the ``events`` table's stream: deployed, the fan-out
Lambda posts to each matching connection, dropping the subscriptions of connections that are gone;
locally the front pulls that stream (:func:`new_events`) every half second.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from pydantic import ValidationError

from chalicelib.schemas.event_filters import PAGE_SIZE, EventFilter, EventOrder
from chalicelib.services import event_feed, flow_run_events
from chalicelib.storage import Repositories

#: Prefect's ``PREFECT_EVENTS_MAXIMUM_WEBSOCKET_BACKFILL``.
MAX_BACKFILL = timedelta(minutes=15)
#: 20 pages of 50: Prefect backfills "up to the last 1k events".
BACKFILL_PAGES = 20
PROTOCOL_ERROR = 1002
#: A filter frame without ``occurred.until`` (Prefect's client always sends a year ahead).
OPEN_ENDED = timedelta(days=365)


@dataclass(frozen=True)
class Subscription:
    """A valid filter frame: what to send and whether to backfill first."""

    filter: EventFilter
    backfill: bool


class Refused(NamedTuple):
    """A filter frame that closes the socket."""

    code: int
    reason: str


def is_filter_frame(text: str | bytes) -> bool:
    """Cheap test for the transports that share a socket with ``/events/in`` (API Gateway): an
    event frame never has a top-level ``"type": "filter"``."""
    raw = text.encode() if isinstance(text, str) else text
    if b'"filter"' not in raw:
        return False
    try:
        message = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(message, dict) and message.get("type") == "filter"


def read_filter_frame(text: str | bytes, now: datetime) -> Subscription | Refused:
    """The subscription a frame asks for, or why the socket closes."""
    try:
        message = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        return Refused(PROTOCOL_ERROR, "Expected 'filter' message")
    if not isinstance(message, dict) or message.get("type") != "filter":
        return Refused(PROTOCOL_ERROR, "Expected 'filter' message")
    try:
        flt = EventFilter.model_validate(message.get("filter") or {})
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        return Refused(PROTOCOL_ERROR, f"Invalid filter: {where}: {first['msg']}"[:120])
    if "until" not in ((message.get("filter") or {}).get("occurred") or {}):
        flt.occurred.until = now + OPEN_ENDED  # live events come later than the frame
    flt.occurred.since = max(flt.occurred.since, now - MAX_BACKFILL)
    flt.order = EventOrder.ASC
    return Subscription(flt, message.get("backfill", True) is not False)


def event_message(event: dict[str, Any]) -> str:
    return json.dumps({"type": "event", "event": event}, separators=(",", ":"))


def backfill(repos: Repositories, subscription: Subscription) -> Iterator[tuple[str, str]]:
    """The stored events the subscription asks for, oldest first: (event id, frame to send)."""
    if not subscription.backfill:
        return
    page = event_feed.first_page(repos, subscription.filter, PAGE_SIZE)
    for _ in range(BACKFILL_PAGES):
        for event in page.events:
            yield str(event["id"]), event_message(event)
        if page.next_token is None:
            return
        page = event_feed.next_page(repos, page.next_token)


def new_events(repos: Repositories, now: datetime) -> list[dict[str, Any]]:
    """Pull mode (the local front): record the runs' waiting transitions, then return the events
    stored since the last call (the ``events`` stream, read under its own checkpoints)."""
    flow_run_events.catch_up(repos, now)
    found: list[dict[str, Any]] = []
    repos.events.pull_new_events(found.extend)
    return found


def matching(
    filters: Iterable[tuple[Any, EventFilter]], events: list[dict[str, Any]]
) -> Iterator[tuple[Any, str, str]]:
    """(subscriber, event id, frame) for every subscriber whose filter matches each event, events in order."""
    subscribers = list(filters)
    for event in events:
        frame = None
        for subscriber, flt in subscribers:
            if flt.includes(event):
                frame = frame or event_message(event)
                yield subscriber, str(event["id"]), frame


# ------------------------------------------------------------------ deployed (API Gateway)
def subscribe(repos: Repositories, connection_id: str, subscription: Subscription, now: datetime) -> None:
    """Keep a deployed connection's subscription (until it disconnects, or API Gateway's 2 hours)."""
    repos.events.subscribe(connection_id, subscription.filter.model_dump_json(), now + timedelta(hours=2, minutes=5))


def unsubscribe(repos: Repositories, connection_id: str) -> None:
    repos.events.unsubscribe(connection_id)


def fan_out(repos: Repositories, events: list[dict[str, Any]], send: Callable[[str, str], bool]) -> dict[str, int]:
    """Post each new event to every subscribed connection whose filter matches; ``send`` answers
    ``False`` for a connection that is gone, whose subscription is then deleted. Returns counts."""
    report = {"events": len(events), "subscriptions": 0, "sent": 0, "gone": 0}
    if not events:
        return report
    filters = []
    for connection_id, text in repos.events.subscriptions():
        report["subscriptions"] += 1
        try:
            filters.append((connection_id, EventFilter.model_validate_json(text)))
        except ValidationError:
            repos.events.unsubscribe(connection_id)
    gone: set[str] = set()
    for connection_id, _, frame in matching(filters, events):
        if connection_id in gone:
            continue
        if send(connection_id, frame):
            report["sent"] += 1
        else:
            gone.add(connection_id)
            repos.events.unsubscribe(connection_id)
    report["gone"] = len(gone)
    return report
