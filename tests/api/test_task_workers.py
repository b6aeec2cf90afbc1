"""Background tasks: the queue of deferred task runs, handing each to one task worker (conditional
writes, racing callers), the subscribe frame, ``POST /task_workers/filter`` and the deployed delivery."""

import json
import uuid
from datetime import UTC, datetime

import pytest

from chalicelib import services
from chalicelib.services.task_workers import Refused, Subscribe, read_subscribe_frame, waiting_keys
from tests.api import test_events
from tests.api.test_events import _frame, _ws_event
from tests.helpers import call, concurrently

websocket_app = test_events.websocket_app  # the fixture

NOW = datetime.now(UTC)  # the routes read the real clock: subscriptions must be live


@pytest.fixture(autouse=True)
def _now_is_when_the_test_runs() -> None:
    """The routes read the real clock: ``NOW`` is taken when each test starts, not at import (the
    slow suites run first, so a module may be imported many minutes before its tests run)."""
    global NOW
    NOW = datetime.now(UTC)


DEFERRED = {"type": "SCHEDULED", "state_details": {"deferred": True}}


def _delay(client, task_key="add-1", state=DEFERRED):
    body = {"name": "add", "task_key": task_key, "dynamic_key": str(uuid.uuid4()), "state": state}
    status, run = call(client, "POST", "/task_runs/", body)
    assert status == 201, run
    return run["id"]


@pytest.mark.both_backends
def test_each_deferred_run_is_handed_to_one_of_racing_workers(client, repos):
    made = {_delay(client) for _ in range(6)}
    _delay(client, state={"type": "SCHEDULED"})  # not deferred: no worker's business
    _delay(client, task_key="other")
    handed: list[str] = []

    def take() -> None:
        handed.extend(str(run.id) for run in services.task_workers.hand_out(repos, ["add-1"], limit=10))

    concurrently(take, 4)
    assert sorted(handed) == sorted(made)  # every run once, none twice
    assert services.task_workers.hand_out(repos, ["add-1"]) == []
    assert len(services.task_workers.hand_out(repos, ["other", "add-1"])) == 1


def test_a_run_that_could_not_be_sent_is_put_back_and_a_moved_run_is_not(client, repos):
    first, second = _delay(client), _delay(client)
    runs = services.task_workers.hand_out(repos, ["add-1"])
    assert [str(run.id) for run in runs] == [first, second]
    assert services.task_workers.put_back(repos, runs[0]) is True
    assert services.task_workers.put_back(repos, runs[0]) is False  # queued already
    assert call(client, "POST", f"/task_runs/{second}/set_state", {"state": {"type": "PENDING"}})[0] == 201
    assert services.task_workers.put_back(repos, runs[1]) is False  # a worker got it: it moved on
    assert [str(run.id) for run in services.task_workers.hand_out(repos, ["add-1"])] == [first]
    read = call(client, "GET", f"/task_runs/{first}")[1]
    assert read["state_type"] == "SCHEDULED" and "delivered_state_id" not in read
    # A later write of the same Scheduled state (an event, a PATCH) does not queue it again.
    call(client, "POST", f"/task_runs/{first}/set_state", {"state": DEFERRED, "force": True})
    assert len(services.task_workers.hand_out(repos, ["add-1"])) == 1  # a new Scheduled state: queued again


def test_the_subscribe_frame_is_judged_as_prefect_judges_it():
    assert read_subscribe_frame('{"type": "subscribe", "keys": ["a", "a", "b"], "client_id": "w1"}') == Subscribe(
        ("a", "b"), "w1"
    )
    for frame, missing in (
        ('{"type": "ack"}', "'subscribe' message"),
        ("not json", "'subscribe' message"),
        ('{"type": "subscribe", "keys": [], "client_id": "w"}', "'keys'"),
        ('{"type": "subscribe", "keys": ["a"]}', "'client_id'"),
    ):
        refused = read_subscribe_frame(frame)
        assert isinstance(refused, Refused) and refused.code == 4001 and missing in refused.reason


def test_task_workers_filter_lists_subscribed_workers(client, repos):
    assert call(client, "POST", "/task_workers/filter", None) == (200, [])
    services.task_workers.subscribe(repos, "c1", Subscribe(("add-1", "mul-1"), "w1"), NOW)
    services.task_workers.subscribe(repos, "c2", Subscribe(("other",), "w2"), NOW)
    status, listed = call(client, "POST", "/task_workers/filter", {})
    assert status == 200 and [(w["identifier"], w["task_keys"]) for w in listed] == [
        ("w1", ["add-1", "mul-1"]),
        ("w2", ["other"]),
    ]
    body = {"task_worker_filter": {"task_keys": ["other"]}}
    assert [w["identifier"] for w in call(client, "POST", "/task_workers/filter", body)[1]] == ["w2"]
    services.task_workers.unsubscribe(repos, "c2")
    assert call(client, "POST", "/task_workers/filter", body) == (200, [])
    assert call(client, "POST", "/task_workers/filter", {"task_worker_filter": {"keys": []}})[0] == 422


def test_deployed_delivery_posts_each_run_once_and_skips_gone_connections(client, repos):
    made = [_delay(client) for _ in range(3)]
    services.task_workers.subscribe(repos, "gone", Subscribe(("add-1",), "w0"), NOW)
    services.task_workers.subscribe(repos, "live", Subscribe(("add-1",), "w1"), NOW)
    posted: list[tuple[str, str]] = []

    def send(connection_id: str, frame: str) -> bool:
        if connection_id == "gone":
            return False
        posted.append((connection_id, frame))
        return True

    assert services.task_workers.deliver(repos, ["add-1"], send, NOW) == 3
    assert sorted(json.loads(frame)["id"] for _, frame in posted) == sorted(made)
    assert [w.connection_id for w in repos.task_workers.active(NOW)] == ["live"]
    assert services.task_workers.deliver(repos, ["add-1"], send, NOW) == 0
    services.task_workers.unsubscribe(repos, "live")
    waiting = _delay(client)
    assert services.task_workers.deliver(repos, ["add-1"], send, NOW) == 0  # nobody to take it: it waits
    assert [str(run.id) for run in services.task_workers.hand_out(repos, ["add-1"])] == [waiting]


def test_the_deployed_message_lambda_subscribes_posts_waiting_runs_and_ignores_acks(websocket_app, client, repos):
    """The shared WebSocket API's message Lambda: a subscribe frame records the task worker and
    posts the runs already waiting; an ack is answered with nothing (not taken for an event);
    ``$disconnect`` forgets the worker; a stream record of a run that starts waiting is delivered."""
    _, api = websocket_app
    import app as app_module

    waiting = _delay(client)
    app_module.events_message(_ws_event("$default", body=_frame({"type": "auth", "token": None})), None)
    subscribe = {"type": "subscribe", "keys": ["add-1"], "client_id": "worker-1"}
    app_module.events_message(_ws_event("$default", body=_frame(subscribe)), None)
    assert [json.loads(data)["id"] for _, data in api.sent[1:]] == [waiting]
    assert [w.client_id for w in repos.task_workers.active(datetime.now(UTC))] == ["worker-1"]
    sent = len(api.sent)
    app_module.events_message(_ws_event("$default", body='{"type": "ack"}'), None)
    assert len(api.sent) == sent and api.closed == []

    later = _delay(client)
    disconnect = dict(_ws_event("$default"))
    disconnect["requestContext"] = {
        **disconnect["requestContext"],
        "routeKey": "$disconnect",
        "eventType": "DISCONNECT",
    }
    app_module.events_disconnect(disconnect, None)
    assert repos.task_workers.active(datetime.now(UTC)) == []
    assert [str(run.id) for run in services.task_workers.hand_out(repos, ["add-1"])] == [later]


def test_the_delivery_lambda_reads_the_task_keys_of_runs_that_start_waiting(repos):
    records = [
        {"eventName": "INSERT", "dynamodb": {"NewImage": {"qk": {"S": "add-1"}, "id": {"S": "x"}}}},
        {"eventName": "MODIFY", "dynamodb": {"NewImage": {"qk": {"S": "mul-1"}}}},
        {"eventName": "MODIFY", "dynamodb": {"NewImage": {"id": {"S": "y"}}}},  # handed out: no key
        {"eventName": "REMOVE", "dynamodb": {}},
    ]
    assert waiting_keys(repos, records) == ["add-1", "mul-1"]
