"""``POST /flow_runs/{id}/set_state``: 201 when a state is written, 200 otherwise, Prefect's result body."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.helpers import call


@pytest.fixture
def flow(client):
    return call(client, "POST", "/flows/", {"name": "etl"})[1]


def new_run(client, flow, **body):
    return call(client, "POST", "/flow_runs/", {"flow_id": flow["id"], **body})[1]


def set_state(client, run, state, force=None):
    body = {"state": state} if force is None else {"state": state, "force": force}
    return call(client, "POST", f"/flow_runs/{run['id']}/set_state", body)


def read(client, run):
    return call(client, "GET", f"/flow_runs/{run['id']}")[1]


def test_accept_writes_the_state_and_answers_201(client, flow):
    run = new_run(client, flow)
    status, result = set_state(client, run, {"type": "RUNNING", "message": "go"})
    assert status == 201
    assert result["status"] == "ACCEPT" and result["details"] == {"type": "accept_details"}
    assert (result["state"]["type"], result["state"]["name"], result["state"]["message"]) == (
        "RUNNING",
        "Running",
        "go",
    )
    after = read(client, run)
    assert after["state"] == result["state"] and after["run_count"] == 1 and after["start_time"]


def test_abort_answers_200_with_the_current_state(client, flow):
    run = new_run(client, flow, state={"type": "RUNNING"})
    status, result = set_state(client, run, {"type": "PENDING"})
    assert status == 200 and result["status"] == "ABORT"
    assert result["details"] == {
        "type": "abort_details",
        "reason": "This run is in a RUNNING state and cannot transition to a PENDING state.",
    }
    assert result["state"] == run["state"] == read(client, run)["state"]


def test_reject_without_a_state_answers_200(client, flow):
    run = new_run(client, flow, state={"type": "CANCELLING"})
    status, result = set_state(client, run, {"type": "COMPLETED"})
    assert status == 200 and result["status"] == "REJECT" and result["state"] == run["state"]
    assert result["details"]["type"] == "reject_details"


def test_reject_with_a_replacement_state_writes_it_and_answers_201(client, flow):
    run = new_run(client, flow, state={"type": "RUNNING"}, empirical_policy={"retries": 1, "retry_delay": 30})
    status, result = set_state(client, run, {"type": "FAILED", "message": "boom"})
    assert status == 201 and result["status"] == "REJECT"
    assert result["details"] == {"type": "reject_details", "reason": "Retrying"}
    assert (result["state"]["type"], result["state"]["name"]) == ("SCHEDULED", "AwaitingRetry")
    after = read(client, run)
    assert after["state_name"] == "AwaitingRetry" and after["next_scheduled_start_time"]
    assert after["empirical_policy"]["retry_type"] == "in_process"


def test_wait_answers_200_with_a_delay(client, flow):
    soon = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()
    run = new_run(client, flow, state={"type": "SCHEDULED", "state_details": {"scheduled_time": soon}})
    status, result = set_state(client, run, {"type": "RUNNING"})
    assert status == 200 and result["status"] == "WAIT"
    assert result["details"]["type"] == "wait_details" and 590 <= result["details"]["delay_seconds"] <= 600
    assert result["details"]["reason"] == "Scheduled time is in the future"
    assert read(client, run)["state_type"] == "SCHEDULED"


def test_force_skips_the_rules(client, flow):
    run = new_run(client, flow, state={"type": "CANCELLED"})
    assert set_state(client, run, {"type": "PENDING"})[1]["status"] == "ABORT"
    status, result = set_state(client, run, {"type": "PENDING"}, force=True)
    assert (status, result["status"]) == (201, "ACCEPT")
    assert read(client, run)["state_type"] == "PENDING"


def test_a_scheduled_run_moves_through_its_lifecycle(client, flow):
    past = (datetime.now(UTC) - timedelta(seconds=5)).isoformat()
    run = new_run(client, flow, state={"type": "SCHEDULED", "state_details": {"scheduled_time": past}})
    for state_type in ("PENDING", "RUNNING", "COMPLETED"):
        status, result = set_state(client, run, {"type": state_type})
        assert (status, result["status"]) == (201, "ACCEPT"), result
    done = read(client, run)
    assert done["state_type"] == "COMPLETED" and done["next_scheduled_start_time"] is None
    assert done["run_count"] == 1 and done["end_time"] and done["total_run_time"] >= 0
    states = call(client, "GET", f"/flow_run_states/?flow_run_id={run['id']}")[1]
    assert [s["type"] for s in states] == ["SCHEDULED", "PENDING", "RUNNING", "COMPLETED"]
    assert states[1]["state_details"]["scheduled_time"] == states[0]["state_details"]["scheduled_time"]


def test_set_state_errors(client, flow):
    assert call(client, "POST", f"/flow_runs/{uuid.uuid4()}/set_state", {"state": {"type": "RUNNING"}}) == (
        404,
        {"detail": "Flow run not found"},
    )
    assert call(client, "POST", "/flow_runs/nope/set_state", {"state": {"type": "RUNNING"}})[0] == 404
    run = new_run(client, flow)
    status, body = set_state(client, run, {"type": "SLEEPING"})
    assert status == 422 and body["exception_detail"][0]["loc"][:3] == ["body", "state", "type"]
    status, body = call(client, "POST", f"/flow_runs/{run['id']}/set_state", {})
    assert status == 422 and body["exception_detail"][0]["loc"] == ["body", "state"]
