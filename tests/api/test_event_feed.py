"""The stored event feed through the routes: storing once, ordering, paging, filters, counts, bad
input (both backends with ``--dynamodb both``)."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlparse

import pytest

from chalicelib.storage.instrumentation import count_requests
from tests.helpers import call

pytestmark = pytest.mark.both_backends  # the feed's ordering and paging over its indexes: on DynamoDB Local too

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(autouse=True)
def _now_is_when_the_test_runs() -> None:
    """The routes read the real clock: ``NOW`` is taken when each test starts, not at import (the
    slow suites run first, so a module may be imported many minutes before its tests run)."""
    global NOW
    NOW = datetime.now(UTC).replace(microsecond=0)


def _event(name: str, resource: str, at: datetime, *, related: list[dict] | None = None, **labels: str) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "occurred": at.isoformat(),
        "event": name,
        "resource": {"prefect.resource.id": resource, **labels},
        "related": related or [],
        "payload": {"n": name},
    }


def _post(client: Any, *events: dict) -> None:
    assert call(client, "POST", "/events", list(events))[0] == 204


def _filter(client: Any, body: dict) -> dict:
    status, page = call(client, "POST", "/events/filter", body)
    assert status == 200, page
    return page


def _names(page: dict) -> list[str]:
    return [e["event"] for e in page["events"]]


def _since(minutes: int) -> dict:
    return {"since": (NOW - timedelta(minutes=minutes)).isoformat(), "until": (NOW + timedelta(minutes=1)).isoformat()}


@pytest.fixture
def feed(client: Any) -> dict[str, dict]:
    run = f"prefect.flow-run.{uuid.uuid4()}"
    flow = {"prefect.resource.id": f"prefect.flow.{uuid.uuid4()}", "prefect.resource.role": "flow"}
    tag = {"prefect.resource.id": "prefect.tag.etl", "prefect.resource.role": "tag"}
    events = {
        "pending": _event("prefect.flow-run.Pending", run, NOW - timedelta(minutes=30), related=[flow, tag]),
        "running": _event("prefect.flow-run.Running", run, NOW - timedelta(minutes=20), related=[flow]),
        "other": _event(
            "acme.thing.happened", "acme.thing.1", NOW - timedelta(minutes=10), **{"prefect.resource.name": "one"}
        ),
        "old": _event("acme.thing.happened", "acme.thing.2", NOW - timedelta(hours=3)),
    }
    _post(client, *events.values())
    return {**events, "run": {"id": run}, "flow": flow}


def test_events_are_served_newest_first_with_received(client, feed):
    page = _filter(client, {"filter": {"occurred": _since(60)}})
    assert _names(page) == ["acme.thing.happened", "prefect.flow-run.Running", "prefect.flow-run.Pending"]
    assert page["total"] == 3 and page["next_page"] is None
    first = page["events"][0]
    assert first["id"] == feed["other"]["id"] and first["received"].endswith("Z")
    assert first["resource"]["prefect.resource.name"] == "one" and first["payload"] == {"n": "acme.thing.happened"}


def test_ascending_order_and_a_wider_window_across_hour_partitions(client, feed):
    page = _filter(client, {"filter": {"occurred": _since(300), "order": "ASC"}})
    assert [e["id"] for e in page["events"]] == [feed[k]["id"] for k in ("old", "pending", "running", "other")]


def test_an_event_sent_twice_is_stored_once_and_an_id_reused_at_another_time_is_refused(client, feed):
    _post(client, feed["other"])
    _post(client, {**feed["other"], "occurred": (NOW - timedelta(minutes=5)).isoformat()})
    page = _filter(client, {"filter": {"occurred": _since(60), "id": {"id": [feed["other"]["id"]]}}})
    assert [e["occurred"] for e in page["events"]] == [feed["other"]["occurred"].replace("+00:00", "Z")]


@pytest.mark.parametrize(
    ("criteria", "expected"),
    [
        ({"event": {"prefix": ["prefect.flow-run."]}}, ["running", "pending"]),
        ({"event": {"exclude_prefix": ["prefect."]}}, ["other"]),
        ({"event": {"name": ["prefect.flow-run.Pending"]}}, ["pending"]),
        ({"event": {"exclude_name": ["prefect.flow-run.Pending"]}}, ["other", "running"]),
        ({"resource": {"id": ["{run}"]}}, ["running", "pending"]),
        ({"resource": {"id_prefix": ["acme."]}}, ["other"]),
        ({"resource": {"labels": {"prefect.resource.name": "on*"}}}, ["other"]),
        ({"resource": {"labels": {"prefect.resource.id": "!acme.*"}}}, ["running", "pending"]),
        ({"related": {"id": ["prefect.tag.etl"]}}, ["pending"]),
        ({"related": {"role": ["flow"]}}, ["running", "pending"]),
        ({"related": {"resources_in_roles": [["{flow}", "flow"]]}}, ["running", "pending"]),
        ({"any_resource": {"id": ["{flow}"]}}, ["running", "pending"]),
        ({"any_resource": {"id": ["{run}"]}}, ["running", "pending"]),
        ({"text": {"query": "acme -pending"}}, ["other"]),
    ],
)
def test_filters(client, feed, criteria, expected):
    text = str(criteria).replace("{run}", feed["run"]["id"]).replace("{flow}", feed["flow"]["prefect.resource.id"])
    body = {"filter": {"occurred": _since(60), **eval(text)}}  # noqa: S307 - our own literal
    assert [e["id"] for e in _filter(client, body)["events"]] == [feed[k]["id"] for k in expected]


def test_pages_follow_next_page_links_without_repeats(client):
    base = NOW - timedelta(minutes=50)
    events = [_event("acme.tick", "acme.clock", base + timedelta(seconds=i)) for i in range(12)]
    _post(client, *events)
    seen: list[str] = []
    page = _filter(client, {"filter": {"occurred": _since(60)}, "limit": 5})
    pages = 1
    while True:
        seen += [e["id"] for e in page["events"]]
        if page["next_page"] is None:
            break
        link = urlparse(page["next_page"])
        assert link.path == "/events/filter/next"
        status, page = call(client, "GET", f"{link.path}?{link.query}")
        assert status == 200, page
        pages += 1
    assert seen == [e["id"] for e in reversed(events)]
    assert pages == 3


def test_a_resource_pointer_page_is_read_by_queries_not_scans(client, feed):
    with count_requests() as counter:
        _filter(client, {"filter": {"occurred": _since(60), "resource": {"id": [feed["run"]["id"]]}}})
    assert not counter.scans


def test_bad_page_token_is_403_and_a_missing_one_422(client):
    assert call(client, "GET", "/events/filter/next?page-token=%%%")[0] == 403
    junk = base64.b64encode(b"not a token").decode()
    assert call(client, "GET", f"/events/filter/next?page-token={junk}")[0] == 403
    inner = json.dumps({"filter": {}, "limit": 5000, "after": "2026", "seen": 0}).encode()
    greedy = base64.b64encode(base64.urlsafe_b64encode(inner)).decode()
    assert call(client, "GET", f"/events/filter/next?page-token={greedy}")[0] == 403
    assert call(client, "GET", "/events/filter/next")[0] == 422


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"limit": 51}, "limit"),
        ({"limit": -1}, "limit"),
        ({"filter": {"bogus": 1}}, "bogus"),
        ({"filter": {"occurred": {"since": "yesterday"}}}, "since"),
        ({"filter": {"order": "SIDEWAYS"}}, "order"),
    ],
)
def test_bad_filters_are_422_naming_the_field(client, body, field):
    status, answer = call(client, "POST", "/events/filter", body)
    assert status == 422, answer
    assert field in answer["exception_detail"][0]["loc"]


def test_count_by_event_and_resource(client, feed):
    body = {"filter": {"occurred": _since(60)}}
    status, counts = call(client, "POST", "/events/count-by/event", body)
    assert status == 200
    assert [(c["value"], c["count"]) for c in counts] == [
        ("acme.thing.happened", 1), ("prefect.flow-run.Pending", 1), ("prefect.flow-run.Running", 1),
    ]  # fmt: skip
    _, counts = call(client, "POST", "/events/count-by/resource", body)
    assert counts[0] == {**counts[0], "value": feed["run"]["id"], "count": 2}
    assert counts[1]["label"] == "one"


def test_count_by_time_fills_every_span(client, feed):
    since = NOW.replace(minute=0, second=0) - timedelta(hours=4)
    body = {"filter": {"occurred": {"since": since.isoformat(), "until": NOW.isoformat()}}, "time_unit": "hour"}
    status, counts = call(client, "POST", "/events/count-by/time", body)
    assert status == 200, counts
    assert len(counts) in (5, 6)
    assert sum(c["count"] for c in counts) == 4
    assert all(c["count"] >= 0 and c["start_time"] < c["end_time"] for c in counts)
    status, days = call(client, "POST", "/events/count-by/day", body)
    assert status == 200 and sum(c["count"] for c in days) == 4


def test_count_by_refuses_too_many_buckets_and_unknown_countables(client):
    body = {"filter": {"occurred": _since(60 * 24)}, "time_unit": "second"}
    status, answer = call(client, "POST", "/events/count-by/time", body)
    assert status == 422 and "time_interval" in answer["exception_detail"][0]["loc"]
    assert call(client, "POST", "/events/count-by/planet", {"filter": {}})[0] == 422
    assert call(client, "POST", "/events/count-by/event", {})[0] == 422
