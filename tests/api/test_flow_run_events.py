"""Cirrus's own ``prefect.flow-run.<State>`` events, from the runs table's stream (pulled before
the feed is read, as in the local stack): one per accepted transition, none for a refused one,
Prefect's shape, stored once however often a record is handled."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from chalicelib.services import flow_run_events
from tests.api.deployments_support import deploy, make_flow, make_pool
from tests.helpers import call


def _run_events(client: Any, run_id: str, order: str = "ASC") -> list[dict]:
    body = {"filter": {"resource": {"id": [f"prefect.flow-run.{run_id}"]}, "order": order}}
    status, page = call(client, "POST", "/events/filter", body)
    assert status == 200, page
    return page["events"]


def _set(client: Any, run_id: str, state: str, **extra: Any) -> dict:
    status, answer = call(client, "POST", f"/flow_runs/{run_id}/set_state", {"state": {"type": state}, **extra})
    assert status in (200, 201), answer
    return answer


def test_each_accepted_transition_is_one_event_in_prefects_shape(client):
    flow = make_flow(client, "etl")
    make_pool(client, "pool")
    deployment = deploy(client, flow, "nightly", work_pool_name="pool", tags=["team-a"])
    _, run = call(client, "POST", f"/deployments/{deployment['id']}/create_flow_run", {"tags": ["adhoc"]})
    _set(client, run["id"], "PENDING")
    _set(client, run["id"], "RUNNING")
    _set(client, run["id"], "COMPLETED")
    events = _run_events(client, run["id"])
    assert [e["event"] for e in events] == [
        "prefect.flow-run.Scheduled", "prefect.flow-run.Pending", "prefect.flow-run.Running",
        "prefect.flow-run.Completed",
    ]  # fmt: skip
    done = events[-1]
    _, stored = call(client, "GET", f"/flow_runs/{run['id']}")
    assert done["id"] == stored["state"]["id"]
    assert done["follows"] == events[-2]["id"]
    assert done["resource"]["prefect.resource.name"] == run["name"]
    assert done["resource"]["prefect.state-type"] == "COMPLETED"
    assert done["resource"]["prefect.run-count"] == "1"
    assert done["payload"]["intended"] == {"from": "RUNNING", "to": "COMPLETED"}
    assert done["payload"]["validated_state"] == {"type": "COMPLETED", "name": "Completed"}
    assert events[0]["payload"]["initial_state"] is None
    roles = {r["prefect.resource.role"]: r for r in done["related"]}
    assert roles["flow"]["prefect.resource.id"] == f"prefect.flow.{flow}"
    assert roles["flow"]["prefect.resource.name"] == "etl"
    assert roles["deployment"]["prefect.resource.name"] == "nightly"
    assert roles["work-queue"]["prefect.resource.name"] == "default"
    assert roles["work-pool"]["prefect.resource.name"] == "pool"
    assert "prefect.work-pool.type" in roles["work-pool"]
    tags = sorted(r["prefect.resource.id"] for r in done["related"] if r["prefect.resource.role"] == "tag")
    assert tags == ["prefect.tag.adhoc", "prefect.tag.team-a"]


def test_a_refused_transition_a_heartbeat_and_a_patch_emit_nothing(client):
    flow = make_flow(client, "etl")
    _, run = call(client, "POST", "/flow_runs/", {"flow_id": flow, "state": {"type": "RUNNING"}})
    _set(client, run["id"], "CANCELLING")
    assert _set(client, run["id"], "RUNNING")["status"] == "REJECT"
    call(client, "POST", f"/flow_runs/{run['id']}/heartbeat")
    call(client, "PATCH", f"/flow_runs/{run['id']}", {"name": "renamed"})
    names = [e["event"] for e in _run_events(client, run["id"])]
    assert names == ["prefect.flow-run.Running", "prefect.flow-run.Cancelling"]


def test_the_feed_finds_a_runs_events_by_its_flow_and_newest_first(client):
    flow = make_flow(client, "etl")
    _, run = call(client, "POST", "/flow_runs/", {"flow_id": flow, "state": {"type": "PENDING"}})
    _set(client, run["id"], "RUNNING")
    body = {"filter": {"related": {"id": [f"prefect.flow.{flow}"]}, "event": {"prefix": ["prefect.flow-run."]}}}
    _, page = call(client, "POST", "/events/filter", body)
    assert [e["event"] for e in page["events"]] == ["prefect.flow-run.Running", "prefect.flow-run.Pending"]


def test_a_stream_record_handled_twice_stores_its_event_once(client, repos):
    flow = make_flow(client, "etl")
    _, run = call(client, "POST", "/flow_runs/", {"flow_id": flow, "state": {"type": "PENDING"}})
    before = repos.flow_runs.get(uuid.UUID(run["id"]))
    _set(client, run["id"], "RUNNING")
    after = repos.flow_runs.get(before.id)
    now = datetime.now(UTC)
    assert flow_run_events.record(repos, [(before, after)], now) in (0, 1)
    assert flow_run_events.record(repos, [(before, after)], now) == 0
    assert flow_run_events.record(repos, [(after, after)], now) == 0
    assert [e["event"] for e in _run_events(client, run["id"])] == [
        "prefect.flow-run.Pending",
        "prefect.flow-run.Running",
    ]
