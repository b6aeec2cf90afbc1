"""A deployment's runs: create_flow_run, get_scheduled_flow_runs, backfill, pause and resume."""

import uuid
from datetime import datetime, timedelta

from chalicelib.domain.identity import flow_run_id
from chalicelib.schemas.common import iso_z
from chalicelib.services import scheduler
from tests.api.deployments_support import HOURLY, auto_runs, deploy, ids, make_flow, make_pool, runs_of, utcnow
from tests.helpers import call


def test_create_flow_run_merges_the_deployment(client):
    flow_id = make_flow(client)
    make_pool(client)
    dep = deploy(client, flow_id, parameters={"a": 1, "b": 2}, tags=["x", "y"], version="7", work_pool_name="pool")
    body = {"parameters": {"b": 3}, "tags": ["y", "z"], "name": "manual"}
    status, run = call(client, "POST", f"/deployments/{dep['id']}/create_flow_run", body)
    assert status == 201
    assert run["name"] == "manual" and run["deployment_id"] == dep["id"] and run["flow_id"] == flow_id
    assert run["parameters"] == {"a": 1, "b": 3} and run["tags"] == ["x", "y", "z"]
    assert run["deployment_version"] == "7" and run["work_queue_name"] == "default"
    assert run["work_pool_name"] == "pool" and run["work_queue_id"] == dep["work_queue_id"]
    assert run["auto_scheduled"] is False and run["run_count"] == 0
    assert run["state_type"] == "SCHEDULED" and run["state"]["name"] == "Scheduled"
    scheduled = run["state"]["state_details"]["scheduled_time"]
    assert run["next_scheduled_start_time"] == run["expected_start_time"] == scheduled
    assert call(client, "GET", f"/flow_runs/{run['id']}")[1]["id"] == run["id"]
    status, generated = call(client, "POST", f"/deployments/{dep['id']}/create_flow_run", None)
    assert status == 201 and generated["name"] and generated["parameters"] == {"a": 1, "b": 2}


def test_create_flow_run_honours_explicit_states(client):
    flow_id = make_flow(client)
    dep = deploy(client, flow_id)
    url = f"/deployments/{dep['id']}/create_flow_run"
    _, pending = call(client, "POST", url, {"state": {"type": "PENDING"}})
    assert pending["state_type"] == "PENDING" and pending["next_scheduled_start_time"] is None
    later = iso_z(utcnow() + timedelta(days=2))
    _, future = call(client, "POST", url, {"state": {"type": "SCHEDULED", "state_details": {"scheduled_time": later}}})
    assert future["state_type"] == "SCHEDULED" and future["next_scheduled_start_time"] == later
    assert future["expected_start_time"] == later
    _, running = call(client, "POST", url, {"state": {"type": "RUNNING", "message": "go"}})
    assert running["state_type"] == "RUNNING" and running["run_count"] == 1 and running["start_time"]
    assert running["state"]["message"] == "go" and running["state_name"] == "Running"


def test_create_flow_run_idempotency_key_returns_the_existing_run(client):
    flow_id = make_flow(client)
    dep = deploy(client, flow_id)
    url = f"/deployments/{dep['id']}/create_flow_run"
    status, first = call(client, "POST", url, {"idempotency_key": "k1", "parameters": {"n": 1}})
    assert status == 201 and first["id"] == str(flow_run_id(uuid.UUID(flow_id), "k1"))
    status, again = call(client, "POST", url, {"idempotency_key": "k1", "parameters": {"n": 2}})
    assert status == 200 and again == first


def test_create_flow_run_errors(client):
    flow_id = make_flow(client)
    dep = deploy(client, flow_id)
    url = f"/deployments/{dep['id']}/create_flow_run"
    assert call(client, "POST", f"/deployments/{uuid.uuid4()}/create_flow_run", {}) == (
        404,
        {"detail": "Deployment not found"},
    )
    assert call(client, "POST", "/deployments/x/create_flow_run", {}) == (404, {"detail": "Not Found"})
    status, body = call(client, "POST", url, {"state": {"type": "NOPE"}})
    assert status == 422 and body["exception_detail"][0]["loc"][:3] == ["body", "state", "type"]
    status, body = call(client, "POST", url, {"parameters": []})
    assert status == 422 and body["exception_detail"][0]["loc"] == ["body", "parameters"]


def test_get_scheduled_flow_runs_merges_deployments_in_time_order(client):
    flow_id = make_flow(client)
    a = deploy(client, flow_id, "a", schedules=[{"schedule": HOURLY}])
    b = deploy(client, flow_id, "b", schedules=[{"schedule": {**HOURLY, "anchor_date": "2020-01-01T00:30:00Z"}}])
    manual = call(client, "POST", f"/deployments/{a['id']}/create_flow_run", {})[1]
    body = {"deployment_ids": [a["id"], b["id"], str(uuid.uuid4())]}
    status, runs = call(client, "POST", "/deployments/get_scheduled_flow_runs", body)
    assert status == 200
    expected = auto_runs_of(client, a, b) | {manual["id"]}
    assert ids(runs) == expected
    times = [r["next_scheduled_start_time"] for r in runs]
    assert times == sorted(times) and {r["deployment_id"] for r in runs[:3]} == {a["id"], b["id"]}
    status, first_two = call(client, "POST", "/deployments/get_scheduled_flow_runs", {**body, "limit": 2})
    assert [r["id"] for r in first_two] == [r["id"] for r in runs[:2]]
    before = iso_z(utcnow() + timedelta(minutes=1))
    _, due = call(client, "POST", "/deployments/get_scheduled_flow_runs", {**body, "scheduled_before": before})
    # The manual run, and an auto run only when the clock is within a minute of :00 or :30.
    cutoff = datetime.fromisoformat(before)
    assert [r["id"] for r in due] == [
        r["id"] for r in runs if datetime.fromisoformat(r["next_scheduled_start_time"]) <= cutoff
    ]
    assert due[0]["id"] == manual["id"]
    for dep in (a, b):
        _, read = call(client, "GET", f"/deployments/{dep['id']}")
        assert read["status"] == "READY" and read["last_polled"]


def auto_runs_of(client, *deps):
    out = set()
    for dep in deps:
        status, runs = call(client, "POST", "/deployments/get_scheduled_flow_runs", {"deployment_ids": [dep["id"]]})
        out |= {r["id"] for r in runs if r["auto_scheduled"]}
    return out


def test_get_scheduled_flow_runs_edge_cases(client):
    assert call(client, "POST", "/deployments/get_scheduled_flow_runs", {"deployment_ids": []}) == (200, [])
    unknown = {"deployment_ids": [str(uuid.uuid4())]}
    assert call(client, "POST", "/deployments/get_scheduled_flow_runs", unknown) == (200, [])
    status, body = call(client, "POST", "/deployments/get_scheduled_flow_runs", {})
    assert status == 422 and body["exception_detail"][0]["loc"] == ["body", "deployment_ids"]
    status, body = call(client, "POST", "/deployments/get_scheduled_flow_runs", {"deployment_ids": ["x"]})
    assert status == 422 and body["exception_detail"][0]["loc"][:2] == ["body", "deployment_ids"]
    assert call(client, "POST", "/deployments/count", {}) == (200, 0)  # polling created nothing


def test_backfill_is_idempotent_and_404_for_unknown(client, repos):
    flow_id = make_flow(client)
    dep = deploy(client, flow_id, paused=True, schedules=[{"schedule": HOURLY}])
    assert auto_runs(repos, dep["id"]) == []  # paused: nothing planned
    start = (utcnow() - timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    window = {"start_time": iso_z(start), "end_time": iso_z(start + timedelta(hours=5)), "min_runs": 10}
    url = f"/deployments/{dep['id']}/schedule"
    assert call(client, "POST", url, window) == (200, None)
    runs = auto_runs(repos, dep["id"])
    assert [r.expected_start_time for r in runs] == [start + timedelta(hours=h) for h in range(6)]
    overlapping = {"start_time": iso_z(start + timedelta(hours=3)), "min_runs": 3, "min_time": 0}
    assert call(client, "POST", url, overlapping) == (200, None)
    assert ids(auto_runs(repos, dep["id"])) == ids(runs)
    assert call(client, "POST", f"/deployments/{uuid.uuid4()}/schedule", {}) == (
        404,
        {"detail": "Deployment not found"},
    )
    status, body = call(client, "POST", url, {"min_runs": -1})
    assert status == 422 and body["exception_detail"][0]["loc"] == ["body", "min_runs"]


def test_pause_deletes_every_auto_run_and_keeps_manual_runs(client, repos, settings):
    flow_id = make_flow(client)
    dep = deploy(client, flow_id, schedules=[{"schedule": HOURLY}])
    past = (utcnow() - timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    backfill = {"start_time": iso_z(past), "end_time": iso_z(past + timedelta(hours=1))}
    assert call(client, "POST", f"/deployments/{dep['id']}/schedule", backfill) == (200, None)
    manual = call(client, "POST", f"/deployments/{dep['id']}/create_flow_run", {})[1]
    assert any(r.expected_start_time < utcnow() for r in auto_runs(repos, dep["id"]))
    assert call(client, "POST", f"/deployments/{dep['id']}/pause_deployment") == (200, None)
    assert auto_runs(repos, dep["id"]) == []
    assert ids(runs_of(repos, dep["id"])) == {manual["id"]}
    assert call(client, "GET", f"/deployments/{dep['id']}")[1]["paused"] is True
    # no tick brings runs back while paused
    scheduler.schedule_deployment(repos, uuid.UUID(dep["id"]), now=utcnow(), settings=settings)
    scheduler.schedule_due(repos, now=utcnow() + timedelta(minutes=5), settings=settings)
    assert auto_runs(repos, dep["id"]) == []
    assert call(client, "POST", f"/deployments/{dep['id']}/pause_deployment") == (200, None)  # idempotent
    assert call(client, "POST", f"/deployments/{dep['id']}/resume_deployment") == (200, None)
    resumed = auto_runs(repos, dep["id"])
    assert len(resumed) >= 3 and all(r.expected_start_time >= past + timedelta(hours=2) for r in resumed)
    assert call(client, "GET", f"/deployments/{dep['id']}")[1]["paused"] is False
    for action in ("pause_deployment", "resume_deployment"):
        assert call(client, "POST", f"/deployments/{uuid.uuid4()}/{action}")[0] == 404


def test_patch_paused_deletes_only_future_auto_runs(client, repos, settings):
    flow_id = make_flow(client)
    dep = deploy(client, flow_id, schedules=[{"schedule": HOURLY}])
    past = (utcnow() - timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    backfill = {"start_time": iso_z(past), "end_time": iso_z(past + timedelta(hours=1))}
    call(client, "POST", f"/deployments/{dep['id']}/schedule", backfill)
    past_runs = {r.id for r in auto_runs(repos, dep["id"]) if r.expected_start_time < utcnow()}
    assert len(past_runs) == 2
    assert call(client, "PATCH", f"/deployments/{dep['id']}", {"paused": True}) == (204, None)
    assert {r.id for r in auto_runs(repos, dep["id"])} == past_runs
    scheduler.schedule_due(repos, now=utcnow() + timedelta(minutes=5), settings=settings)
    assert {r.id for r in auto_runs(repos, dep["id"])} == past_runs
    assert call(client, "PATCH", f"/deployments/{dep['id']}", {"paused": False}) == (204, None)
    assert len(auto_runs(repos, dep["id"])) >= 2 + 3


def test_delete_removes_planned_runs_even_when_the_index_lags(client, repos, monkeypatch):
    """DynamoDB's indexes lag writes: deletion must not rely on the by-owner-state index alone."""
    dep = deploy(client, make_flow(client), schedules=[{"schedule": HOURLY}])
    planned = auto_runs(repos, dep["id"])
    assert planned
    # As if the index did not list the runs yet: only the ids computed from the schedule remain.
    from chalicelib.api import common

    monkeypatch.setattr(type(common.repositories().deployments), "delete_unstarted_runs", lambda self, *a, **k: 0)
    assert call(client, "DELETE", f"/deployments/{dep['id']}") == (204, None)
    for run in planned:
        assert call(client, "GET", f"/flow_runs/{run.id}")[0] == 404
