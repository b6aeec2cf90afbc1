import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.helpers import call


def _flow_run(client, state="RUNNING"):
    _, flow = call(client, "POST", "/flows/", {"name": "parent"})
    status, run = call(client, "POST", "/flow_runs/", {"flow_id": flow["id"], "state": {"type": state}})
    assert status == 201, run
    return run


def _task_run(client, flow_run_id=None, key="t", dynamic="0", **extra):
    body = {"task_key": key, "dynamic_key": dynamic, "flow_run_id": flow_run_id, **extra}
    return call(client, "POST", "/task_runs/", body)


def test_create_is_idempotent_on_flow_run_task_key_and_dynamic_key(client):
    fr = _flow_run(client)
    status, run = _task_run(client, fr["id"], tags=["a"], name="sub")
    assert status == 201
    assert run["state_type"] == "PENDING" and run["state"]["state_details"]["task_run_id"] == run["id"]
    assert run["flow_run_id"] == fr["id"] and run["tags"] == ["a"] and run["name"] == "sub"
    assert run["expected_start_time"] is not None and run["run_count"] == 0
    status, again = _task_run(client, fr["id"], name="other")
    assert status == 200 and again == run
    status, again = _task_run(client, fr["id"], id=str(uuid.uuid4()))
    assert status == 200 and again["id"] == run["id"]
    assert _task_run(client, fr["id"], dynamic="1")[0] == 201
    assert _task_run(client, None)[0] == 201  # no flow run
    assert _task_run(client, None)[0] == 200
    assert call(client, "GET", f"/task_runs/{run['id']}") == (200, run)


@pytest.mark.both_backends
def test_racing_creates_make_one_task_run(client):
    fr = _flow_run(client)
    results: list[tuple[int, str]] = []

    def create() -> None:
        status, body = _task_run(client, fr["id"], key="race", id=str(uuid.uuid4()))
        results.append((status, body["id"]))

    threads = [threading.Thread(target=create) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(s for s, _ in results) == [200] * 5 + [201]
    assert len({i for _, i in results}) == 1
    assert call(client, "POST", "/task_runs/count", {"task_runs": {"flow_run_id": {"any_": [fr["id"]]}}}) == (200, 1)


def test_create_with_a_state_and_bad_bodies(client):
    status, run = _task_run(client, None, state={"type": "RUNNING"})
    assert status == 201 and run["state_type"] == "RUNNING" and run["run_count"] == 1 and run["start_time"]
    status, body = call(client, "POST", "/task_runs/", {"dynamic_key": "0"})
    assert status == 422 and body["exception_detail"][0]["loc"] == ["body", "task_key"]
    status, body = _task_run(client, None, cache_key="x" * 2001)
    assert status == 422 and body["exception_detail"][0]["loc"] == ["body", "cache_key"]
    assert call(client, "GET", f"/task_runs/{uuid.uuid4()}")[0] == 404
    assert call(client, "GET", "/task_runs/nope") == (404, {"detail": "Not Found"})


def _set(client, run_id, type_, **extra):
    body = {"state": {"type": type_, **extra.pop("state", {})}, **extra}
    return call(client, "POST", f"/task_runs/{run_id}/set_state", body)


def test_lifecycle_to_completed(client):
    fr = _flow_run(client)
    _, run = _task_run(client, fr["id"])
    status, result = _set(client, run["id"], "RUNNING")
    assert status == 201 and result["status"] == "ACCEPT" and result["state"]["type"] == "RUNNING"
    status, result = _set(client, run["id"], "COMPLETED")
    assert status == 201 and result["status"] == "ACCEPT"
    _, read = call(client, "GET", f"/task_runs/{run['id']}")
    assert read["state_type"] == "COMPLETED" and read["run_count"] == 1 and read["end_time"] and read["start_time"]
    assert read["flow_run_run_count"] == fr["run_count"]


def test_running_needs_a_running_flow(client):
    fr = _flow_run(client, state="PENDING")
    _, run = _task_run(client, fr["id"])
    status, result = _set(client, run["id"], "RUNNING")
    assert status == 200 and result["status"] == "ABORT"
    assert result["details"]["reason"] == "The enclosing flow must be running to begin task execution."
    assert call(client, "GET", f"/task_runs/{run['id']}")[1]["state_type"] == "PENDING"


def test_failed_with_retries_becomes_awaiting_retry_then_retrying(client):
    fr = _flow_run(client)
    _, run = _task_run(client, fr["id"], empirical_policy={"retries": 1, "retry_delay": [0]})
    _set(client, run["id"], "RUNNING")
    status, result = _set(client, run["id"], "FAILED")
    assert status == 201 and result["status"] == "REJECT" and result["state"]["name"] == "AwaitingRetry"
    status, result = _set(client, run["id"], "RUNNING")
    assert result["status"] == "ACCEPT" and result["state"]["name"] == "Retrying"
    status, result = _set(client, run["id"], "FAILED")
    assert result["status"] == "ACCEPT" and result["state"]["type"] == "FAILED"


def test_terminal_rules_and_force(client):
    _, run = _task_run(client, None)
    _set(client, run["id"], "RUNNING")
    _set(client, run["id"], "COMPLETED", state={"data": {"type": "reference", "storage_key": "k"}})
    status, result = _set(client, run["id"], "RUNNING")
    assert result["status"] == "REJECT" and result["state"]["type"] == "COMPLETED"
    status, result = _set(client, run["id"], "CRASHED")
    assert result["status"] == "ABORT"
    status, result = _set(client, run["id"], "PENDING", force=True)
    assert status == 201 and result["status"] == "ACCEPT"


def test_wait_for_scheduled_time(client):
    later = (datetime.now(UTC) + timedelta(seconds=60)).isoformat()
    _, run = _task_run(client, None, state={"type": "SCHEDULED", "state_details": {"scheduled_time": later}})
    status, result = _set(client, run["id"], "RUNNING")
    assert status == 200 and result["status"] == "WAIT" and 55 <= result["details"]["delay_seconds"] <= 60
    assert call(client, "POST", f"/task_runs/{uuid.uuid4()}/set_state", {"state": {"type": "RUNNING"}})[0] == 404
    assert call(client, "POST", f"/task_runs/{run['id']}/set_state", {"state": {"type": "NOPE"}})[0] == 422


def test_delete(client):
    _, run = _task_run(client, None)
    assert call(client, "DELETE", f"/task_runs/{run['id']}") == (204, None)
    assert call(client, "GET", f"/task_runs/{run['id']}")[0] == 404
    assert call(client, "DELETE", f"/task_runs/{run['id']}")[0] == 404
    assert _task_run(client, None)[0] == 201  # the key is free again


def test_filter_and_count(client):
    a, b = _flow_run(client), _flow_run(client)
    for i in range(3):
        _task_run(client, a["id"], dynamic=str(i), tags=["x"] if i else [])
    _task_run(client, b["id"])
    ids = lambda body: call(client, "POST", "/task_runs/filter", body)[1]  # noqa: E731
    assert len(ids({})) == 4
    assert len(ids({"task_runs": {"flow_run_id": {"any_": [a["id"]]}}})) == 3
    assert len(ids({"flow_runs": {"id": {"any_": [b["id"]]}}, "flows": None, "deployments": None})) == 1
    assert len(ids({"task_runs": {"flow_run_id": {"any_": [a["id"]]}, "tags": {"all_": ["x"]}}})) == 2
    assert len(ids({"task_runs": {"state": {"type": {"any_": ["PENDING"]}}}, "limit": 2})) == 2
    names = [r["dynamic_key"] for r in ids({"task_runs": {"flow_run_id": {"any_": [a["id"]]}}, "sort": "NAME_ASC"})]
    assert len(names) == 3
    assert call(client, "POST", "/task_runs/count", {"task_runs": {"flow_run_id": {"is_null_": True}}}) == (200, 0)
    status, body = call(client, "POST", "/task_runs/filter", {"deployments": {"id": {"any_": [a["id"]]}}})
    assert status == 422 and body["exception_detail"][0]["loc"][:2] == ["body", "deployments"]


def test_a_subflows_states_are_mirrored_on_its_parent_task_run(client):
    """Prefect's UpdateSubflowParentTask: the task run standing for a subflow follows its states."""
    parent = _flow_run(client)
    status, task_run = _task_run(client, parent["id"], key="child-flow")
    assert status == 201, task_run
    _, flow = call(client, "POST", "/flows/", {"name": "child"})
    status, child = call(client, "POST", "/flow_runs/", {"flow_id": flow["id"], "parent_task_run_id": task_run["id"]})
    assert status == 201, child
    for state in ("RUNNING", "COMPLETED"):
        status, result = call(client, "POST", f"/flow_runs/{child['id']}/set_state", {"state": {"type": state}})
        assert status == 201 and result["status"] == "ACCEPT", result
        mirrored = call(client, "GET", f"/task_runs/{task_run['id']}")[1]["state"]
        assert mirrored["type"] == state
        assert mirrored["state_details"]["child_flow_run_id"] == child["id"]
    # A refused proposal changes nothing on the parent task run.
    counted = call(client, "POST", "/ui/flow_runs/count-task-runs", {"flow_run_ids": [parent["id"]]})[1]
    assert counted == {parent["id"]: 0}  # the run page header does not count a subflow's task run
    by_run = {"flow_runs": {"id": {"any_": [parent["id"]]}}}
    for exists, expected in ((False, 0), (True, 1)):
        body = {**by_run, "task_runs": {"subflow_runs": {"exists_": exists}}}
        assert call(client, "POST", "/task_runs/count", body) == (200, expected)
    refused = call(client, "POST", f"/flow_runs/{child['id']}/set_state", {"state": {"type": "CANCELLING"}})[1]
    assert refused["status"] != "ACCEPT", refused
    assert call(client, "GET", f"/task_runs/{task_run['id']}")[1]["state"]["type"] == "COMPLETED"


def test_the_subflow_runs_tab_finds_a_runs_subflows(client):
    """The UI's Subflow Runs tab filters on flow_runs.parent_flow_run_id; a subflow created in a
    state (as Prefect's engine creates one) is linked at once."""
    parent = _flow_run(client)
    _, task_run = _task_run(client, parent["id"], key="child-flow")
    _, flow = call(client, "POST", "/flows/", {"name": "child"})
    body = {"flow_id": flow["id"], "parent_task_run_id": task_run["id"], "state": {"type": "PENDING"}}
    status, child = call(client, "POST", "/flow_runs/", body)
    assert status == 201, child
    found = call(client, "POST", "/flow_runs/filter", {"flow_runs": {"parent_flow_run_id": {"any_": [parent["id"]]}}})
    assert [r["id"] for r in found[1]] == [child["id"]]
    assert call(
        client, "POST", "/flow_runs/count", {"flow_runs": {"parent_flow_run_id": {"any_": [parent["id"]]}}}
    ) == (200, 1)
    none = {"flow_runs": {"parent_flow_run_id": {"any_": [child["id"]]}}}
    assert call(client, "POST", "/flow_runs/filter", none) == (200, [])
