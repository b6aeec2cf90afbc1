"""``/events/in`` at its cheapest layer: the protocol handler (auth frames, events, bad frames,
batches), the deployed websocket Lambdas with an injected management-API session, ``POST /events``."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.api import events as edge
from chalicelib.config import override_settings
from chalicelib.schemas.states import StateType
from chalicelib.services import api_keys
from chalicelib.services.events import Outcome
from chalicelib.storage.event_store import WRITE_REQUESTS as STORE_WRITE_REQUESTS
from tests.helpers import call

NOW = datetime.now(UTC)


@pytest.fixture(autouse=True)
def _now_is_when_the_test_runs() -> None:
    """The routes read the real clock: ``NOW`` is taken when each test starts, not at import (the
    slow suites run first, so a module may be imported many minutes before its tests run)."""
    global NOW
    NOW = datetime.now(UTC)


def _run(client: Any, state: str = "RUNNING") -> str:
    _, flow = call(client, "POST", "/flows/", {"name": "events-flow"})
    status, run = call(client, "POST", "/flow_runs/", {"flow_id": flow["id"], "state": {"type": state}})
    assert status == 201
    return run["id"]


def _event(name: str, resource_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "occurred": datetime.now(UTC).isoformat(),
        "event": name,
        "resource": {"prefect.resource.id": resource_id},
        "related": [],
        "payload": {},
        **extra,
    }


def _heartbeat(run_id: str) -> dict[str, Any]:
    return _event("prefect.flow-run.heartbeat", f"prefect.flow-run.{run_id}")


def _frame(data: Any) -> str:
    return json.dumps(data)


# ------------------------------------------------------------------------------- auth frames
def test_auth_frame_is_answered_auth_success(settings) -> None:
    for token in (None, "anything"):
        reply = edge.handle_frame(_frame({"type": "auth", "token": token}))
        assert reply == edge.Reply(send=(json.dumps({"type": "auth_success"}),))


def test_auth_required_refuses_an_invalid_token_with_1008(settings, repos) -> None:
    override_settings(settings, auth_required=True)
    issued = api_keys.create_api_key(repos, "runner", NOW)
    for token in (None, "", "not-a-key", 42):
        reply = edge.handle_frame(_frame({"type": "auth", "token": token}))
        assert reply.close == (edge.POLICY_VIOLATION, "Invalid token") and reply.send == ()
    assert edge.handle_frame(_frame({"type": "auth", "token": issued.key})).send == (edge.AUTH_SUCCESS,)


def test_upgrade_is_gated_by_the_authorization_header_when_auth_is_required(settings, repos) -> None:
    assert edge.upgrade_denied({}) is None  # auth off: anyone
    override_settings(settings, auth_required=True)
    key = api_keys.create_api_key(repos, "runner", NOW).key
    assert edge.upgrade_denied({}).status == 401
    assert edge.upgrade_denied({"authorization": "Bearer nope"}).status == 403
    assert edge.upgrade_denied({"authorization": "Basic !!!"}).status == 403
    assert edge.upgrade_denied({"authorization": f"Bearer {key}"}) is None
    # What Prefect's events client sends with PREFECT_API_AUTH_STRING=<key>:
    assert edge.upgrade_denied({"authorization": "Basic " + base64.b64encode(key.encode()).decode()}) is None


# ------------------------------------------------------------------------------- events
def test_a_heartbeat_event_moves_the_runs_heartbeat_forward_only(client, repos) -> None:
    run_id = _run(client)
    first = NOW + timedelta(seconds=1)
    assert edge.handle_frame(_frame(_heartbeat(run_id)), now=first).outcomes == (Outcome.HEARTBEAT,)
    assert repos.flow_runs.get(uuid.UUID(run_id)).heartbeat == first

    # A delivery processed late (an earlier receipt time) or twice never moves it back.
    for at in (first - timedelta(seconds=5), first):
        assert edge.handle_frame(_frame(_heartbeat(run_id)), now=at).outcomes == (Outcome.HEARTBEAT_STALE,)
    assert repos.flow_runs.get(uuid.UUID(run_id)).heartbeat == first


def test_a_heartbeat_event_costs_at_most_one_write_request(client, repos) -> None:
    """One write for the run, beyond storing the event in the feed."""
    from chalicelib.storage.instrumentation import count_requests

    run_id = _run(client)
    for i, expected in enumerate((Outcome.HEARTBEAT, Outcome.HEARTBEAT, Outcome.HEARTBEAT_STALE)):
        at = NOW + timedelta(seconds=1 + min(i, 1))
        with count_requests() as counter:
            assert edge.handle_frame(_frame(_heartbeat(run_id)), now=at).outcomes == (expected,)
        run_writes = 0 if expected is Outcome.HEARTBEAT_STALE else 1
        assert counter.writes == STORE_WRITE_REQUESTS + run_writes, counter.by_operation
        assert counter.total <= 2 + STORE_WRITE_REQUESTS, counter.by_operation


def test_heartbeats_at_prefects_cadence_cost_one_write_request_each(client, repos, settings) -> None:
    """Beats every heartbeat_frequency_s, across several steps of the zombie-list entry: the entry
    moves inside the one UpdateItem of the beat that finds it old (never a second request)."""
    from chalicelib.storage.instrumentation import count_requests

    run_id = _run(client)
    frequency = timedelta(seconds=settings.heartbeat_frequency_s)
    for beat in range(12):
        with count_requests() as counter:
            outcome = edge.handle_frame(_frame(_heartbeat(run_id)), now=NOW + (beat + 1) * frequency).outcomes
        assert outcome == (Outcome.HEARTBEAT,)
        assert counter.writes == STORE_WRITE_REQUESTS + 1, (beat, counter.by_operation)
    run = repos.flow_runs.get(uuid.UUID(run_id))
    # The entry is never a step or more behind the last beat: a beating run is never a zombie candidate.
    assert run.heartbeat - run.stored_sweep_at < timedelta(seconds=settings.zombie_threshold_s)


def test_the_heartbeat_time_is_the_receipt_not_the_clients_clock(client, repos) -> None:
    run_id = _run(client)
    lagging = _heartbeat(run_id) | {"occurred": (NOW - timedelta(hours=1)).isoformat()}
    edge.handle_frame(_frame(lagging), now=NOW)
    assert repos.flow_runs.get(uuid.UUID(run_id)).heartbeat == NOW


def test_a_heartbeat_never_revives_a_terminal_run_nor_creates_one(client, repos) -> None:
    run_id = _run(client, "COMPLETED")
    before = repos.flow_runs.get(uuid.UUID(run_id))
    assert edge.handle_frame(_frame(_heartbeat(run_id))).outcomes == (Outcome.HEARTBEAT_TERMINAL,)
    after = repos.flow_runs.get(uuid.UUID(run_id))
    assert after.state.type is StateType.COMPLETED and after.heartbeat is None and after.updated == before.updated

    missing = str(uuid.uuid4())
    assert edge.handle_frame(_frame(_heartbeat(missing))).outcomes == (Outcome.UNKNOWN_FLOW_RUN,)
    assert call(client, "GET", f"/flow_runs/{missing}")[0] == 404


def test_flow_run_state_events_are_not_written_twice(client, repos) -> None:
    run_id = _run(client)
    before = repos.flow_runs.get(uuid.UUID(run_id))
    reply = edge.handle_frame(_frame(_event("prefect.flow-run.Running", f"prefect.flow-run.{run_id}")))
    assert reply.outcomes == (Outcome.FLOW_RUN_STATE,)
    assert repos.flow_runs.get(uuid.UUID(run_id)).updated == before.updated


def test_other_events_are_dropped(settings) -> None:
    reply = edge.handle_frame(_frame(_event("prefect.deployment.created", "prefect.deployment.x")))
    assert reply.outcomes == (Outcome.DROPPED,) and reply.send == () and reply.close is None


@pytest.mark.parametrize(
    "frame",
    [
        "not json",
        "",
        "null",
        "42",
        '{"type": "hello"}',
        _frame({"event": "prefect.flow-run.heartbeat"}),  # no id, occurred, resource
        _frame(_event("prefect.flow-run.heartbeat", "prefect.flow-run.x") | {"resource": {}}),
        _frame(_event("prefect.flow-run.heartbeat", "prefect.flow-run.x") | {"occurred": "yesterday"}),
        _frame(_event("", "x")),
        _frame(_event("e", "x") | {"related": [{"prefect.resource.id": "y"}]}),  # related without a role
        _frame(_event("e", "x") | {"resource": {"prefect.resource.id": 7}}),
        _frame(_event("e" * 1025, "x")),
        "[" * 5000 + "]" * 5000,  # deeper than the JSON decoder recurses
        _frame(_event("e", "x") | {"payload": json.loads("[" * 900 + "]" * 900)}),
        _frame(_event("prefect.flow-run.heartbeat", "prefect.flow-run.x") | {"occurred": "0001-01-01T00:00:00+05:00"}),
        _frame(_event("prefect.task-run.Running", "x") | {"occurred": "9999-12-31T23:59:59-05:00"}),
    ],
)
def test_malformed_frames_are_counted_and_never_raise(settings, frame: str) -> None:
    reply = edge.handle_frame(frame)
    assert reply.outcomes == (Outcome.MALFORMED,) and reply.close is None and reply.send == ()


def test_a_heartbeat_naming_no_flow_run_is_malformed(settings) -> None:
    reply = edge.handle_frame(_frame(_event("prefect.flow-run.heartbeat", "prefect.flow-run.not-a-uuid")))
    assert reply.outcomes == (Outcome.MALFORMED,)


def test_a_batch_frame_is_worked_event_by_event(client, repos) -> None:
    run_id = _run(client)
    batch = [_heartbeat(run_id), {"junk": True}, _event("other", "x"), _heartbeat(str(uuid.uuid4()))]
    reply = edge.handle_frame(_frame(batch), now=NOW + timedelta(seconds=1))
    assert reply.outcomes == (Outcome.HEARTBEAT, Outcome.MALFORMED, Outcome.DROPPED, Outcome.UNKNOWN_FLOW_RUN)


def test_the_zombie_killer_judges_runs_by_event_heartbeats(client, repos, settings) -> None:
    from chalicelib.services.maintenance import kill_zombies

    alive, dead = _run(client), _run(client)
    t0 = NOW + timedelta(seconds=1)
    for run_id in (alive, dead):
        edge.handle_frame(_frame(_heartbeat(run_id)), now=t0)
    later = t0 + timedelta(seconds=settings.zombie_threshold_s)
    edge.handle_frame(_frame(_heartbeat(alive)), now=later)

    report = kill_zombies(repos, now=later + timedelta(seconds=1), settings=settings)
    assert report.outcomes["crashed"] == 1
    assert repos.flow_runs.get(uuid.UUID(dead)).state.type is StateType.CRASHED
    assert repos.flow_runs.get(uuid.UUID(alive)).state.type is StateType.RUNNING
    # ... and the crashed run's process, should it still be beating, cannot revive it.
    assert edge.handle_frame(_frame(_heartbeat(dead))).outcomes == (Outcome.HEARTBEAT_TERMINAL,)


# ------------------------------------------------------------------------------- task runs
def _task_event(task_run_id: str, flow_run_id: str, state: str, at: datetime) -> dict[str, Any]:
    """A ``prefect.task-run.<State>`` event as Prefect 3.9.1's engine sends it."""
    event = _event(f"prefect.task-run.{state.capitalize()}", f"prefect.task-run.{task_run_id}")
    event["occurred"] = at.isoformat()
    event["related"] = [{"prefect.resource.id": f"prefect.flow-run.{flow_run_id}", "prefect.resource.role": "flow-run"}]
    event["payload"] = {
        "validated_state": {"type": state, "name": state.capitalize(), "message": "", "state_details": {}},
        "task_run": {"name": "count-3cf", "task_key": "count-a2e1e31b", "dynamic_key": "3cf", "run_count": 1},
    }
    return event


def test_task_run_events_create_and_advance_the_task_run_never_backwards(client) -> None:
    flow_run_id, task_run_id = _run(client), str(uuid.uuid4())
    pending, running, completed = (
        _task_event(task_run_id, flow_run_id, state, NOW + timedelta(seconds=i))
        for i, state in enumerate(("PENDING", "RUNNING", "COMPLETED"))
    )
    # Delivered out of order, and the Running one twice.
    reply = edge.handle_frame(_frame([pending, completed, running, running]))
    assert reply.outcomes == (Outcome.TASK_RUN,) * 4
    status, task_run = call(client, "GET", f"/task_runs/{task_run_id}")
    assert status == 200 and task_run["state"]["type"] == "COMPLETED" and task_run["flow_run_id"] == flow_run_id
    assert task_run["state"]["id"] == completed["id"]
    status, found = call(client, "POST", "/task_runs/filter", {"flow_runs": {"id": {"any_": [flow_run_id]}}})
    assert status == 200 and [t["id"] for t in found] == [task_run_id]


def test_a_task_run_event_without_its_task_run_is_malformed(settings) -> None:
    event = _task_event(str(uuid.uuid4()), str(uuid.uuid4()), "RUNNING", NOW)
    del event["payload"]["task_run"]
    assert edge.handle_frame(_frame(event)).outcomes == (Outcome.MALFORMED,)


# ------------------------------------------------------------------------------- POST /events
def test_post_events_takes_a_batch(client, repos) -> None:
    run_id = _run(client)
    assert call(client, "POST", "/events", [_heartbeat(run_id), {"bad": 1}]) == (204, None)
    assert repos.flow_runs.get(uuid.UUID(run_id)).heartbeat is not None
    status, body = call(client, "POST", "/events", {"not": "a list"})
    assert status == 422 and body["exception_detail"][0]["loc"] == ["body"]


# ------------------------------------------------------------------------------- the deployed Lambdas
class _FakeManagementApi:
    """API Gateway's management API as a boto3 client: records what the Lambda sends."""

    class exceptions:  # noqa: N801 - boto3's spelling
        class GoneException(Exception):
            pass

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.closed: list[str] = []

    def post_to_connection(self, ConnectionId: str, Data: str) -> None:  # noqa: N803
        self.sent.append((ConnectionId, Data))

    def delete_connection(self, ConnectionId: str) -> None:  # noqa: N803
        self.closed.append(ConnectionId)


class _FakeSession:
    def __init__(self) -> None:
        self.api = _FakeManagementApi()

    def client(self, name: str, endpoint_url: str) -> _FakeManagementApi:
        assert (
            name == "apigatewaymanagementapi" and endpoint_url == "https://abc.execute-api.us-east-1.amazonaws.com/api"
        )
        return self.api


def _ws_event(route_key: str, body: str | None = None, headers: dict[str, str] | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {
        "requestContext": {
            "routeKey": route_key,
            "eventType": {"$connect": "CONNECT", "$default": "MESSAGE"}[route_key],
            "connectionId": "conn-1",
            "domainName": "abc.execute-api.us-east-1.amazonaws.com",
            "stage": "api",
            "apiId": "abc",
        },
        "isBase64Encoded": False,
    }
    if body is not None:
        event["body"] = body
    if headers is not None:
        event["headers"] = headers
    return event


@pytest.fixture
def websocket_app(client):
    from app import app

    session = _FakeSession()
    api = app.websocket_api
    saved = (api.session, api._endpoint, api._client)
    api.session, api._endpoint, api._client = session, None, None
    yield app, session.api
    api.session, api._endpoint, api._client = saved


def test_lambda_connect_selects_the_prefect_subprotocol_and_gates_auth(websocket_app, settings, repos) -> None:
    app, _ = websocket_app
    import app as app_module

    connect = app_module.events_connect  # what the Lambda runs: Chalice's wrapper around the edge
    assert app.websocket_handlers["$connect"].handler_string == "app.events_connect"
    offered = {"Sec-WebSocket-Protocol": "prefect"}
    assert connect(_ws_event("$connect", headers=offered), None) == {
        "statusCode": 200,
        "headers": {"Sec-WebSocket-Protocol": "prefect"},
    }
    assert connect(_ws_event("$connect", headers={}), None) == {"statusCode": 200}

    override_settings(settings, auth_required=True)
    key = api_keys.create_api_key(repos, "runner", NOW).key
    assert connect(_ws_event("$connect", headers=offered), None) == {"statusCode": 401}
    assert connect(_ws_event("$connect", headers={**offered, "Authorization": "Bearer x"}), None) == {"statusCode": 403}
    allowed = connect(_ws_event("$connect", headers={**offered, "Authorization": f"Bearer {key}"}), None)
    assert allowed["statusCode"] == 200


def test_lambda_message_answers_through_the_management_api(websocket_app, client, repos) -> None:
    app, api = websocket_app
    import app as app_module

    message = app_module.events_message
    run_id = _run(client)

    message(_ws_event("$default", body=_frame({"type": "auth", "token": None})), None)
    assert api.sent == [("conn-1", json.dumps({"type": "auth_success"}))]
    message(_ws_event("$default", body=_frame(_heartbeat(run_id))), None)
    message(_ws_event("$default", body="garbage"), None)
    assert len(api.sent) == 1 and api.closed == []  # events are not answered; junk does not close
    assert repos.flow_runs.get(uuid.UUID(run_id)).heartbeat is not None


def test_lambda_message_closes_on_an_invalid_token(websocket_app, settings) -> None:
    app, api = websocket_app
    override_settings(settings, auth_required=True)
    import app as app_module

    app_module.events_message(_ws_event("$default", body=_frame({"type": "auth", "token": "nope"})), None)
    assert api.sent == [] and api.closed == ["conn-1"]
