"""``/events/out`` as deployed: the filter frame on the shared WebSocket API's message Lambda (backfill,
subscription kept in DynamoDB), ``$disconnect``, and the fan-out of the ``events`` stream's new items
to matching connections (a gone connection loses its subscription)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.services import event_subscriptions
from chalicelib.services.event_subscriptions import Refused, Subscription
from tests.api import test_events
from tests.api.test_events import _frame, _ws_event
from tests.helpers import call

NOW = datetime.now(UTC)


@pytest.fixture(autouse=True)
def _now_is_when_the_test_runs() -> None:
    """The routes read the real clock: ``NOW`` is taken when each test starts, not at import (the
    slow suites run first, so a module may be imported many minutes before its tests run)."""
    global NOW
    NOW = datetime.now(UTC)


websocket_app = test_events.websocket_app  # the fixture


def _event(name: str, at: datetime | None = None) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "occurred": (at or datetime.now(UTC)).isoformat(),
        "event": name,
        "resource": {"prefect.resource.id": "acme.thing"},
    }


def _filter_frame(prefix: str = "acme.", **extra: Any) -> str:
    return _frame({"type": "filter", "filter": {"event": {"prefix": [prefix]}}, **extra})


def _subscriptions(repos) -> dict[str, dict]:
    return {conn: json.loads(text) for conn, text in repos.events.subscriptions()}


def test_a_filter_frame_subscribes_the_connection_after_a_backfill(websocket_app, client, repos) -> None:
    _, api = websocket_app
    import app as app_module

    old, recent = _event("acme.old", NOW - timedelta(hours=1)), _event("acme.recent", NOW - timedelta(minutes=1))
    assert call(client, "POST", "/events", [old, recent, _event("other.thing")])[0] == 204
    app_module.events_message(_ws_event("$default", body=_frame({"type": "auth", "token": None})), None)
    app_module.events_message(_ws_event("$default", body=_filter_frame()), None)
    frames = [json.loads(data) for _, data in api.sent[1:]]
    assert [(f["type"], f["event"]["id"]) for f in frames] == [("event", recent["id"])]  # 15 minutes back at most
    assert api.closed == []
    stored = _subscriptions(repos)["conn-1"]
    assert stored["order"] == "ASC" and stored["event"]["prefix"] == ["acme."]

    disconnect = dict(_ws_event("$default"))
    disconnect["requestContext"] = {
        **disconnect["requestContext"],
        "routeKey": "$disconnect",
        "eventType": "DISCONNECT",
    }
    app_module.events_disconnect(disconnect, None)
    assert _subscriptions(repos) == {}


def test_no_backfill_when_asked_and_a_bad_filter_closes(websocket_app, client, repos) -> None:
    _, api = websocket_app
    import app as app_module

    call(client, "POST", "/events", [_event("acme.recent")])
    app_module.events_message(_ws_event("$default", body=_filter_frame(backfill=False)), None)
    assert api.sent == [] and "conn-1" in _subscriptions(repos)
    bad = _frame({"type": "filter", "filter": {"event": {"prefix": "not-a-list"}}})
    app_module.events_message(_ws_event("$default", body=bad), None)
    assert api.closed == ["conn-1"]


def test_filter_frames_are_read_as_prefect_does() -> None:
    now = datetime.now(UTC)
    assert event_subscriptions.read_filter_frame('{"type": "auth"}', now) == Refused(1002, "Expected 'filter' message")
    assert event_subscriptions.read_filter_frame("junk", now) == Refused(1002, "Expected 'filter' message")
    refused = event_subscriptions.read_filter_frame(_frame({"type": "filter", "filter": {"bogus": 1}}), now)
    assert isinstance(refused, Refused) and refused.reason.startswith("Invalid filter: bogus")
    year_ago = (now - timedelta(days=365)).isoformat()
    found = event_subscriptions.read_filter_frame(
        _frame({"type": "filter", "filter": {"occurred": {"since": year_ago}, "order": "DESC"}}), now
    )
    assert isinstance(found, Subscription) and found.backfill
    assert found.filter.occurred.since == now - event_subscriptions.MAX_BACKFILL
    assert found.filter.occurred.until > now + timedelta(days=300)  # open-ended: live events match
    assert found.filter.order == "ASC"
    assert not event_subscriptions.is_filter_frame(_frame(_event("acme.filter")))


def test_fan_out_posts_matching_events_and_forgets_gone_connections(repos, settings) -> None:
    def subscribe(connection: str, prefix: str) -> None:
        found = event_subscriptions.read_filter_frame(_filter_frame(prefix), datetime.now(UTC))
        assert isinstance(found, Subscription)
        event_subscriptions.subscribe(repos, connection, found, datetime.now(UTC))

    subscribe("a", "acme.")
    subscribe("b", "prefect.flow-run.")
    subscribe("gone", "acme.")
    sent: list[tuple[str, str]] = []

    def send(connection: str, text: str) -> bool:
        if connection == "gone":
            return False
        sent.append((connection, json.loads(text)["event"]["event"]))
        return True

    events = [_event("acme.one"), _event("prefect.flow-run.Running"), _event("acme.two")]
    report = event_subscriptions.fan_out(repos, events, send)
    assert sent == [("a", "acme.one"), ("b", "prefect.flow-run.Running"), ("a", "acme.two")]
    assert report == {"events": 3, "subscriptions": 3, "sent": 3, "gone": 1}
    assert set(_subscriptions(repos)) == {"a", "b"}


def test_the_events_stream_yields_each_stored_event_once(client, repos) -> None:
    """Pull mode reads the ``events`` stream as the fan-out Lambda receives it: new events only."""
    repos.events.pull_new_events(lambda events: None)  # skip what earlier writes left
    first, second = _event("acme.one"), _event("acme.two")
    call(client, "POST", "/events", [first, second, first])
    found: list[dict] = []
    repos.events.pull_new_events(found.extend)
    assert [e["id"] for e in found] == [first["id"], second["id"]]
    found.clear()
    repos.events.pull_new_events(found.extend)
    assert found == []
