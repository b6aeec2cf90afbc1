"""Task-run routes of Prefect's UI: counts per flow run, per state, per time bucket, history, pages."""

from datetime import UTC, datetime, timedelta

from tests.api.deployments_support import deploy, make_flow
from tests.helpers import call


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _task_run(client, flow_run_id, key, final, at):
    body = {"flow_run_id": flow_run_id, "task_key": key, "dynamic_key": "0", "name": key}
    status, run = call(client, "POST", "/task_runs/", body)
    assert status in (200, 201), run
    for state, seconds in (("RUNNING", 0), (final, 5)):
        state_body = {"state": {"type": state, "timestamp": _iso(at + timedelta(seconds=seconds))}}
        status, result = call(client, "POST", f"/task_runs/{run['id']}/set_state", state_body)
        assert status in (200, 201) and result["status"] == "ACCEPT", result
    return run


def _seed(client):
    flow = make_flow(client)
    deployment = deploy(client, flow, "d")
    _, run = call(client, "POST", f"/deployments/{deployment['id']}/create_flow_run", {})
    _, other = call(client, "POST", f"/deployments/{deployment['id']}/create_flow_run", {})
    for flow_run in (run, other):  # task runs start only inside a running flow run
        for state in ("PENDING", "RUNNING"):
            call(client, "POST", f"/flow_runs/{flow_run['id']}/set_state", {"state": {"type": state}})
    at = datetime.now(UTC) - timedelta(hours=1)
    tasks = [
        _task_run(client, run["id"], "extract", "COMPLETED", at),
        _task_run(client, run["id"], "load", "FAILED", at + timedelta(minutes=10)),
        _task_run(client, other["id"], "extract", "COMPLETED", at + timedelta(minutes=20)),
    ]
    return flow, run, other, tasks, at


def test_count_task_runs_by_flow_run(client):
    _, run, other, _, _ = _seed(client)
    body = {"flow_run_ids": [run["id"], other["id"]]}
    assert call(client, "POST", "/ui/flow_runs/count-task-runs", body) == (200, {run["id"]: 2, other["id"]: 1})
    assert call(client, "POST", "/ui/flow_runs/count-task-runs", {"flow_run_ids": ["x"]})[0] == 422


def test_counts_by_state_and_the_filters_the_ui_sends(client):
    flow, run, _, _, at = _seed(client)
    status, counts = call(client, "POST", "/ui/task_runs/count", {"flows": {"id": {"any_": [flow]}}})
    assert status == 200 and counts["COMPLETED"] == 2 and counts["FAILED"] == 1 and counts["RUNNING"] == 0
    window = {"after_": _iso(at - timedelta(minutes=1)), "before_": _iso(datetime.now(UTC))}
    body = {
        "flows": {"id": {"any_": [flow]}},
        "task_runs": {
            "state": {"type": {"any_": ["COMPLETED"]}},
            "start_time": window,
            "subflow_runs": {"exists_": False},
        },
    }
    assert call(client, "POST", "/task_runs/count", body) == (200, 2)
    body["task_runs"]["subflow_runs"] = {"exists_": True}  # none of these stands for a subflow
    assert call(client, "POST", "/task_runs/count", body) == (200, 0)
    by_run = {"flow_runs": {"id": {"any_": [run["id"]]}}, "task_runs": {"subflow_runs": {"exists_": False}}}
    assert call(client, "POST", "/task_runs/count", by_run) == (200, 2)


def test_dashboard_counts_buckets_terminal_runs(client):
    _, _, _, _, at = _seed(client)
    window = {"after_": _iso(at - timedelta(minutes=5)), "before_": _iso(at + timedelta(minutes=35))}
    status, buckets = call(client, "POST", "/ui/task_runs/dashboard/counts", {"task_runs": {"start_time": window}})
    assert status == 200 and len(buckets) == 20
    assert sum(b["completed"] for b in buckets) == 2 and sum(b["failed"] for b in buckets) == 1
    assert call(client, "POST", "/ui/task_runs/dashboard/counts", {"task_runs": {}})[0] == 422


def test_history_and_paginate(client):
    _, run, _, tasks, at = _seed(client)
    body = {
        "history_start": _iso(at - timedelta(minutes=30)),
        "history_end": _iso(at + timedelta(minutes=30)),
        "history_interval_seconds": 900,
        "flow_runs": {},
    }
    status, intervals = call(client, "POST", "/task_runs/history", body)
    assert status == 200 and len(intervals) == 4
    states = [(s["state_type"], s["count_runs"]) for i in intervals for s in i["states"]]
    assert sorted(states) == [("COMPLETED", 1), ("COMPLETED", 1), ("FAILED", 1)]
    assert all(isinstance(s["sum_estimated_run_time"], float) for i in intervals for s in i["states"])
    assert call(client, "POST", "/task_runs/history", {**body, "history_interval_seconds": 0.5})[0] == 422
    page_body = {"flow_runs": {"id": {"any_": [run["id"]]}}, "sort": "EXPECTED_START_TIME_DESC", "limit": 1, "page": 2}
    status, page = call(client, "POST", "/task_runs/paginate", page_body)
    assert status == 200 and (page["count"], page["pages"], page["page"], page["limit"]) == (2, 2, 2, 1)
    assert [r["id"] for r in page["results"]] == [tasks[0]["id"]]


def test_task_run_count_takes_the_sort_the_ui_sends(client):
    """The run page's Task Runs tab sends its list's sort with the count (a 422 before)."""
    status, count = call(client, "POST", "/task_runs/count", {"sort": "EXPECTED_START_TIME_DESC"})
    assert (status, count) == (200, 0)
