"""``/flow_runs/{id}/input*`` and ``/flow_runs/{id}/resume``: Prefect's pause/suspend with input."""

import json
import uuid
from datetime import UTC, datetime, timedelta

from chalicelib.schemas.flow_runs import FlowRunCreate
from chalicelib.schemas.states import SetStateBody
from chalicelib.services import flow_runs
from tests.api.deployments_support import deploy, make_flow
from tests.helpers import call

KEYSET = {"description": "paused-1-description", "response": "paused-1-response", "schema": "paused-1-schema"}
SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}


def _running(client, repos, *, deployment: bool = False) -> str:
    flow_id = make_flow(client)
    fields = {"flow_id": flow_id, "state": {"type": "RUNNING"}}
    if deployment:
        fields["deployment_id"] = deploy(client, flow_id)["id"]
    run = flow_runs.create_flow_run(repos, FlowRunCreate.model_validate(fields), datetime.now(UTC))[0]
    return str(run.id)


def _pause(client, run_id: str, *, keyset: bool = True, reschedule: bool = False, timeout_s: float = 3600) -> None:
    details = {
        "pause_key": "1",
        "pause_timeout": (datetime.now(UTC) + timedelta(seconds=timeout_s)).isoformat(),
        "pause_reschedule": reschedule,
    }
    if keyset:
        details["run_input_keyset"] = KEYSET
    name = "Suspended" if reschedule else "Paused"
    state = {"type": "PAUSED", "name": name, "state_details": details}
    status, reply = call(client, "POST", f"/flow_runs/{run_id}/set_state", {"state": state})
    assert status == 201 and reply["status"] == "ACCEPT", reply
    if keyset:
        body = {"key": KEYSET["schema"], "value": json.dumps(SCHEMA)}
        assert call(client, "POST", f"/flow_runs/{run_id}/input", body) == (201, None)


def test_create_read_filter_delete(client, repos):
    run_id = _running(client, repos)
    for key, value in (("a-1", '"x"'), ("a-2", '{"y": 1}'), ("b-1", "3")):
        assert call(client, "POST", f"/flow_runs/{run_id}/input", {"key": key, "value": value, "sender": "s"})[0] == 201
    response = client.http.get(f"/flow_runs/{run_id}/input/a-2")
    assert response.status_code == 200 and response.body == b'{"y": 1}'
    assert response.headers["Content-Type"].startswith("text/plain")
    status, found = call(client, "POST", f"/flow_runs/{run_id}/input/filter", {"prefix": "a-", "limit": 5})
    assert status == 200 and [i["key"] for i in found] == ["a-1", "a-2"]
    assert found[0]["flow_run_id"] == run_id and found[0]["value"] == '"x"' and found[0]["sender"] == "s"
    body = {"prefix": "a-", "limit": 5, "exclude_keys": ["a-1"]}
    assert [i["key"] for i in call(client, "POST", f"/flow_runs/{run_id}/input/filter", body)[1]] == ["a-2"]
    assert len(call(client, "POST", f"/flow_runs/{run_id}/input/filter", {"prefix": ""})[1]) == 1  # limit 1
    assert call(client, "DELETE", f"/flow_runs/{run_id}/input/a-1")[0] == 204
    assert call(client, "DELETE", f"/flow_runs/{run_id}/input/a-1") == (404, {"detail": "Flow run input not found"})
    assert call(client, "GET", f"/flow_runs/{run_id}/input/a-1") == (404, {"detail": "Flow run input not found"})


def test_bad_input_conflicts_and_unknown_runs(client, repos):
    run_id = _running(client, repos)
    assert call(client, "POST", f"/flow_runs/{run_id}/input", {"key": "k", "value": "1"})[0] == 201
    status, reply = call(client, "POST", f"/flow_runs/{run_id}/input", {"key": "k", "value": "2"})
    assert (status, reply) == (409, {"detail": "A flow run input with this key already exists."})
    status, reply = call(client, "POST", f"/flow_runs/{run_id}/input", {"key": "Bad_Key", "value": "2"})
    assert status == 422 and reply["exception_detail"][0]["loc"] == ["body", "key"]
    status, reply = call(client, "POST", f"/flow_runs/{run_id}/input", {"key": "k2"})
    assert status == 422 and reply["exception_detail"][0]["loc"] == ["body", "value"]
    status, reply = call(client, "POST", f"/flow_runs/{run_id}/input/filter", {"limit": 1})
    assert status == 422 and reply["exception_detail"][0]["loc"] == ["body", "prefix"]
    unknown = str(uuid.uuid4())
    assert call(client, "POST", f"/flow_runs/{unknown}/input", {"key": "k", "value": "1"}) == (
        404,
        {"detail": "Flow run not found"},
    )
    assert call(client, "POST", f"/flow_runs/{unknown}/resume", {}) == (404, {"detail": "Flow run not found"})
    assert call(client, "GET", "/flow_runs/not-a-uuid/input/k")[0] == 404


def test_resume_with_valid_input_runs_and_stores_the_response(client, repos):
    run_id = _running(client, repos)
    _pause(client, run_id)
    status, reply = call(client, "POST", f"/flow_runs/{run_id}/resume", {"run_input": {"name": "cirrus"}})
    assert status == 201 and reply["status"] == "ACCEPT" and reply["state"]["type"] == "RUNNING", reply
    stored = client.http.get(f"/flow_runs/{run_id}/input/{KEYSET['response']}")
    assert json.loads(stored.body) == {"name": "cirrus"}
    assert call(client, "POST", f"/flow_runs/{run_id}/resume", {})[1] == {
        "status": "ABORT",
        "state": None,
        "details": {"type": "abort_details", "reason": "Cannot resume a flow run that is not paused."},
    }


def test_resume_with_invalid_input_is_rejected_and_stores_nothing(client, repos):
    run_id = _running(client, repos)
    _pause(client, run_id)
    status, reply = call(client, "POST", f"/flow_runs/{run_id}/resume", {"run_input": {"name": 3}})
    assert status == 200 and reply["status"] == "REJECT" and reply["state"]["type"] == "PAUSED"
    assert reply["details"] == {"type": "abort_details", "reason": "Reason: 3 is not of type 'string'"}
    status, reply = call(client, "POST", f"/flow_runs/{run_id}/resume", {})
    assert reply["details"]["reason"] == "Reason: 'name' is a required property"
    assert call(client, "GET", f"/flow_runs/{run_id}/input/{KEYSET['response']}")[0] == 404
    assert call(client, "GET", f"/flow_runs/{run_id}")[1]["state"]["type"] == "PAUSED"


def test_resume_without_a_schema_is_rejected(client, repos):
    run_id = _running(client, repos)
    _pause(client, run_id)
    call(client, "DELETE", f"/flow_runs/{run_id}/input/{KEYSET['schema']}")
    reply = call(client, "POST", f"/flow_runs/{run_id}/resume", {"run_input": {"name": "x"}})[1]
    assert reply["status"] == "REJECT" and reply["details"]["reason"] == "Run input schema not found."


def test_a_pause_without_keyset_resumes_and_ignores_input(client, repos):
    run_id = _running(client, repos)
    _pause(client, run_id, keyset=False)
    status, reply = call(client, "POST", f"/flow_runs/{run_id}/resume", {"run_input": {"anything": 1}})
    assert status == 201 and reply["state"]["type"] == "RUNNING"


def test_a_timed_out_pause_fails_the_run(client, repos):
    run_id = _running(client, repos)
    _pause(client, run_id, timeout_s=-1)
    status, reply = call(client, "POST", f"/flow_runs/{run_id}/resume", {"run_input": {"name": "late"}})
    assert status == 201 and reply["status"] == "REJECT", reply
    assert reply["state"]["type"] == "FAILED"
    assert reply["details"]["reason"] == "The flow run pause has timed out and can no longer resume."
    assert call(client, "GET", f"/flow_runs/{run_id}/input/{KEYSET['response']}")[0] == 404


def test_a_suspended_run_resumes_through_its_runner(client, repos):
    run_id = _running(client, repos, deployment=True)
    _pause(client, run_id, reschedule=True)
    status, reply = call(client, "POST", f"/flow_runs/{run_id}/resume", {"run_input": {"name": "later"}})
    assert status == 201 and reply["status"] == "ACCEPT", reply
    assert reply["state"]["type"] == "SCHEDULED" and reply["state"]["name"] == "Resuming"
    # The runner polls SCHEDULED runs of its deployment: the resumed run is among them again.
    run = repos.flow_runs.get(uuid.UUID(run_id))
    body = SetStateBody.model_validate({"state": {"type": "PENDING"}})
    later = datetime.now(UTC) + timedelta(seconds=1)
    assert flow_runs.set_flow_run_state(repos, run.id, body, later).written
