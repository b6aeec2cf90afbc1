"""``/flow_runs`` create/read/update/delete, ``/flow_run_states`` and the heartbeat, status code by code."""

import uuid

import pytest

from chalicelib.domain import identity
from chalicelib.domain.sweeps import ZOMBIE
from chalicelib.storage.models import FlowRunModel
from tests.helpers import call


@pytest.fixture
def flow(client):
    return call(client, "POST", "/flows/", {"name": "etl"})[1]


def create(client, flow, **body):
    return call(client, "POST", "/flow_runs/", {"flow_id": flow["id"], **body})


def test_create_defaults_to_pending(client, flow):
    status, run = create(client, flow, parameters={"x": 1}, tags=["a"])
    assert status == 201
    assert run["flow_id"] == flow["id"] and run["parameters"] == {"x": 1} and run["tags"] == ["a"]
    assert (run["state_type"], run["state_name"], run["state"]["type"]) == ("PENDING", "Pending", "PENDING")
    assert run["state_id"] == run["state"]["id"] and run["state"]["state_details"]["flow_run_id"] == run["id"]
    assert run["expected_start_time"] == run["state"]["timestamp"] and run["run_count"] == 0
    assert run["name"] and "-" in run["name"]
    assert run["created"].endswith("Z") and "heartbeat" not in run and "schedule_id" not in run


def test_create_with_a_state(client, flow):
    state = {"type": "SCHEDULED", "state_details": {"scheduled_time": "2031-01-01T00:00:00Z"}}
    status, run = create(client, flow, state=state, name="my run")
    assert status == 201 and run["name"] == "my run"
    assert run["next_scheduled_start_time"] == "2031-01-01T00:00:00Z" == run["expected_start_time"]
    status, running = create(client, flow, state={"type": "RUNNING"})
    assert running["run_count"] == 1 and running["start_time"] == running["state"]["timestamp"]


def test_idempotency_key_is_unique_per_flow(client, flow):
    status, first = create(client, flow, idempotency_key="nightly", parameters={"v": 1})
    assert status == 201
    assert first["id"] == str(identity.flow_run_id(uuid.UUID(flow["id"]), "nightly"))
    status, again = create(client, flow, idempotency_key="nightly", parameters={"v": 2})
    assert (status, again) == (200, first)
    _, other_flow = call(client, "POST", "/flows/", {"name": "other"})
    status, other = create(client, other_flow, idempotency_key="nightly")
    assert status == 201 and other["id"] != first["id"]


def test_both_spellings_of_the_collection_route(client, flow):
    assert call(client, "POST", "/flow_runs", {"flow_id": flow["id"]})[0] == 201


def test_a_run_for_a_work_pool_goes_on_its_queue_or_else_its_default_queue(client, flow):
    call(client, "POST", "/work_pools/", {"name": "pool"})
    call(client, "POST", "/work_pools/pool/queues/", {"name": "fast"})
    status, run = create(client, flow, work_pool_name="pool")  # flow.submit_to_work_pool()
    assert status == 201
    assert (run["work_pool_name"], run["work_queue_name"]) == ("pool", "default")
    assert run["work_queue_id"] == str(identity.work_queue_id("pool", "default"))
    status, run = create(client, flow, work_pool_name="pool", work_queue_name="fast")
    assert (status, run["work_queue_id"]) == (201, str(identity.work_queue_id("pool", "fast")))
    status, body = create(client, flow, work_pool_name="pool", work_queue_name="nope")
    assert status == 404 and "nope" in body["detail"]
    status, body = create(client, flow, work_pool_name="nowhere")
    assert status == 404 and "nowhere" in body["detail"]


def test_create_for_an_unknown_flow_is_a_conflict(client):
    status, body = call(client, "POST", "/flow_runs/", {"flow_id": str(uuid.uuid4())})
    assert status == 409 and body["detail"].startswith("Data integrity conflict.")


def test_create_validates_the_body(client, flow):
    status, body = call(client, "POST", "/flow_runs/", {"parameters": {}})
    assert status == 422 and body["exception_detail"][0]["loc"] == ["body", "flow_id"]
    status, body = create(client, flow, bogus=1)
    assert status == 422 and body["exception_detail"][0]["loc"] == ["body", "bogus"]
    status, body = create(client, flow, state={"type": "NOPE"})
    assert status == 422 and body["exception_detail"][0]["loc"][:3] == ["body", "state", "type"]


def test_read(client, flow):
    _, run = create(client, flow)
    assert call(client, "GET", f"/flow_runs/{run['id']}") == (200, run)
    assert call(client, "GET", f"/flow_runs/{uuid.uuid4()}") == (404, {"detail": "Flow run not found"})
    assert call(client, "GET", "/flow_runs/not-a-uuid") == (404, {"detail": "Not Found"})


def test_patch_changes_only_the_named_fields(client, flow):
    _, run = create(client, flow, tags=["a"], parameters={"x": 1})
    assert call(client, "PATCH", f"/flow_runs/{run['id']}", {"name": "renamed", "tags": ["b"]}) == (204, None)
    _, read = call(client, "GET", f"/flow_runs/{run['id']}")
    assert (read["name"], read["tags"], read["parameters"]) == ("renamed", ["b"], {"x": 1})
    assert read["state"] == run["state"] and read["updated"] > run["updated"]
    assert call(client, "PATCH", f"/flow_runs/{uuid.uuid4()}", {"name": "x"})[0] == 404
    status, body = call(client, "PATCH", f"/flow_runs/{run['id']}", {"state_type": "RUNNING"})
    assert status == 422 and body["exception_detail"][0]["loc"] == ["body", "state_type"]


def test_delete(client, flow):
    _, run = create(client, flow)
    assert call(client, "DELETE", f"/flow_runs/{run['id']}") == (204, None)
    assert call(client, "GET", f"/flow_runs/{run['id']}")[0] == 404
    assert call(client, "DELETE", f"/flow_runs/{run['id']}") == (404, {"detail": "Flow run not found"})


def test_state_history_oldest_first(client, flow):
    _, run = create(client, flow)
    call(client, "POST", f"/flow_runs/{run['id']}/set_state", {"state": {"type": "RUNNING"}})
    call(client, "POST", f"/flow_runs/{run['id']}/set_state", {"state": {"type": "PENDING"}})  # aborted
    call(client, "POST", f"/flow_runs/{run['id']}/set_state", {"state": {"type": "COMPLETED"}})
    status, states = call(client, "GET", f"/flow_run_states/?flow_run_id={run['id']}")
    assert status == 200 and [s["type"] for s in states] == ["PENDING", "RUNNING", "COMPLETED"]
    assert states[0] == run["state"]
    assert call(client, "GET", f"/flow_run_states?flow_run_id={uuid.uuid4()}") == (200, [])
    status, body = call(client, "GET", "/flow_run_states/")
    assert status == 422 and body["exception_detail"][0]["loc"] == ["query", "flow_run_id"]
    assert call(client, "GET", "/flow_run_states/?flow_run_id=nope")[0] == 422


def test_heartbeat_of_a_live_run(client, flow):
    _, run = create(client, flow, state={"type": "RUNNING"})
    assert call(client, "POST", f"/flow_runs/{run['id']}/heartbeat") == (204, None)
    item = FlowRunModel.get(run["id"])
    assert item.heartbeat is not None and item.sweep == ZOMBIE and item.sweep_at == item.heartbeat
    _, read = call(client, "GET", f"/flow_runs/{run['id']}")
    assert read["state"] == run["state"] and "heartbeat" not in read
    _, pending = create(client, flow)
    assert call(client, "POST", f"/flow_runs/{pending['id']}/heartbeat") == (204, None)
    assert FlowRunModel.get(pending["id"]).sweep is None  # only RUNNING runs are judged by their heartbeat


def test_heartbeat_of_a_finished_run_is_a_conflict_with_its_state(client, flow):
    _, run = create(client, flow, state={"type": "RUNNING"})
    _, crashed = call(client, "POST", f"/flow_runs/{run['id']}/set_state", {"state": {"type": "CRASHED"}})
    status, body = call(client, "POST", f"/flow_runs/{run['id']}/heartbeat")
    assert status == 409
    assert body["detail"] == "Flow run is in terminal state CRASHED." and body["state"] == crashed["state"]
    assert FlowRunModel.get(run["id"]).heartbeat is None


def test_heartbeat_of_a_missing_run(client):
    assert call(client, "POST", f"/flow_runs/{uuid.uuid4()}/heartbeat") == (404, {"detail": "Flow run not found"})
    assert call(client, "POST", "/flow_runs/x/heartbeat") == (404, {"detail": "Not Found"})
