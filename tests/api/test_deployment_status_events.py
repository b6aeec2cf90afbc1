"""Deployment status events (``services/deployments/_status_events.py``): a poll makes a deployment
READY (``prefect.deployment.ready``), the maintenance tick finds it NOT_READY once it goes quiet
(``prefect.deployment.not-ready``); one event per change, however many pollers and ticks race."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.services import deployments
from chalicelib.storage.deployments import DeploymentRepository
from tests.helpers import call

pytestmark = pytest.mark.both_backends  # races and storage semantics: on DynamoDB Local too

#: A minute's start plus 10 s: a poll then gets the by-ready entry T0 + 50 s (T0 + 60 s rounded down
#: to a half window).
T0 = datetime.now(UTC).replace(second=10, microsecond=0) - timedelta(minutes=5)


def _events(client: Any) -> list[dict]:
    until = (T0 + timedelta(hours=1)).isoformat()
    body = {"filter": {"event": {"prefix": ["prefect.deployment."]}, "occurred": {"until": until}, "order": "ASC"}}
    status, page = call(client, "POST", "/events/filter", body)
    assert status == 200, page
    return page["events"]


def _names(client: Any) -> list[str]:
    return [e["event"] for e in _events(client)]


def _deployment(client: Any, name: str = "d", **fields: Any) -> dict:
    _, flow = call(client, "POST", "/flows/", {"name": "f"})
    status, deployment = call(client, "POST", "/deployments/", {"name": name, "flow_id": flow["id"], **fields})
    assert status in (200, 201), deployment
    return deployment


def _poll(repos: Any, *ids: str, at: datetime) -> int:
    return deployments.record_poll(repos, [uuid.UUID(i) for i in ids], at)


def test_a_runners_poll_makes_a_deployment_ready_and_silence_not_ready_once_each(client, repos):
    deployment = _deployment(client)
    # Through the route (the runner's call, at the real clock): one event, in Prefect's shape.
    body = {"deployment_ids": [deployment["id"]]}
    assert call(client, "POST", "/deployments/get_scheduled_flow_runs", body)[0] == 200
    assert call(client, "POST", "/deployments/get_scheduled_flow_runs", body)[0] == 200
    [ready] = _events(client)
    assert ready["event"] == "prefect.deployment.ready"
    assert ready["resource"] == {
        "prefect.resource.id": f"prefect.deployment.{deployment['id']}",
        "prefect.resource.name": "d",
    }
    assert ready["related"] == [
        {"prefect.resource.id": f"prefect.flow.{deployment['flow_id']}", "prefect.resource.name": "f",
         "prefect.resource.role": "flow"},
        {"prefect.resource.id": f"prefect.work-queue.{deployment['work_queue_id']}",
         "prefect.resource.name": "default", "prefect.resource.role": "work-queue"},
    ]  # fmt: skip
    assert call(client, "GET", f"/deployments/{deployment['id']}")[1]["status"] == "READY"

    # Quiet past the window: the tick's next look emits NOT_READY, once; a later poll, READY again.
    later = datetime.now(UTC) + timedelta(minutes=3)
    assert deployments.watch_statuses(repos, later)[deployments.STATUS_EVENTS] == 1
    assert deployments.watch_statuses(repos, later + timedelta(minutes=1)) == {}  # out of the index
    assert _poll(repos, deployment["id"], at=later + timedelta(minutes=2)) == 1
    assert _poll(repos, deployment["id"], at=later + timedelta(minutes=2, seconds=10)) == 0
    assert _names(client) == ["prefect.deployment.ready", "prefect.deployment.not-ready", "prefect.deployment.ready"]
    assert len({e["id"] for e in _events(client)}) == 3


def test_the_tick_reads_only_entries_due_and_moves_those_still_polled(client, repos):
    deployment = _deployment(client)
    assert _poll(repos, deployment["id"], at=T0) == 1  # entry at T0 + 50 s
    assert _poll(repos, deployment["id"], at=T0 + timedelta(seconds=10)) == 0  # the same entry
    assert deployments.watch_statuses(repos, T0 + timedelta(seconds=49)) == {}  # nothing due
    # Due but still READY (last poll 45 s ago): its entry moves to the real threshold (T0 + 70 s).
    moved = deployments.watch_statuses(repos, T0 + timedelta(seconds=55))
    assert moved == {deployments.STATUS_ENTRIES_MOVED: 1}
    assert deployments.watch_statuses(repos, T0 + timedelta(seconds=69)) == {}
    assert deployments.watch_statuses(repos, T0 + timedelta(seconds=71)) == {deployments.STATUS_EVENTS: 1}
    assert _names(client) == ["prefect.deployment.ready", "prefect.deployment.not-ready"]


def test_one_poll_of_several_deployments_emits_for_each_that_changed(client, repos):
    a, b = _deployment(client, "a"), _deployment(client, "b", work_queue_name="other")
    assert _poll(repos, a["id"], at=T0) == 1
    assert _poll(repos, a["id"], b["id"], str(uuid.uuid4()), at=T0 + timedelta(seconds=5)) == 1  # b only
    assert _poll(repos, a["id"], b["id"], at=T0 + timedelta(seconds=10)) == 0
    events = _events(client)
    assert [e["resource"]["prefect.resource.name"] for e in events] == ["a", "b"]
    assert events[1]["related"][1]["prefect.resource.name"] == "other"


@pytest.mark.parametrize("ids", [1, 2], ids=["one-deployment", "a-transaction"])
def test_racing_pollers_and_ticks_emit_each_change_once(client, repos, ids):
    polled = [_deployment(client, f"raced{i}")["id"] for i in range(ids)]
    with ThreadPoolExecutor(8) as pool:
        emitted = list(pool.map(lambda _: _poll(repos, *polled, at=T0), range(8)))
    assert sum(emitted) <= ids  # a racer that lost the mark move found the same event stored
    assert _names(client) == ["prefect.deployment.ready"] * ids
    later = T0 + timedelta(minutes=2)
    with ThreadPoolExecutor(8) as pool:
        counts = list(pool.map(lambda _: deployments.watch_statuses(repos, later), range(8)))
    assert sum(c[deployments.STATUS_EVENTS] for c in counts) == ids  # one mark move per deployment
    assert sorted(_names(client)) == ["prefect.deployment.not-ready"] * ids + ["prefect.deployment.ready"] * ids


def test_a_crash_between_the_event_and_the_mark_is_repaired_without_a_second_event(client, repos, monkeypatch):
    deployment = _deployment(client)
    real = DeploymentRepository.move_status_mark

    def crash(*args: Any, **kwargs: Any) -> bool:
        raise RuntimeError("the Lambda died here")

    monkeypatch.setattr(DeploymentRepository, "move_status_mark", crash)
    for when in (T0, T0 + timedelta(minutes=2)):
        with pytest.raises(RuntimeError):
            _poll(repos, deployment["id"], at=when)  # the retry comes later: nothing was stamped
    monkeypatch.setattr(DeploymentRepository, "move_status_mark", real)
    _poll(repos, deployment["id"], at=T0 + timedelta(minutes=2))
    assert _names(client) == ["prefect.deployment.ready"]

    monkeypatch.setattr(DeploymentRepository, "move_status_mark", crash)
    with pytest.raises(RuntimeError):
        deployments.watch_statuses(repos, T0 + timedelta(minutes=4))
    monkeypatch.setattr(DeploymentRepository, "move_status_mark", real)
    assert deployments.watch_statuses(repos, T0 + timedelta(minutes=5)) == {deployments.STATUS_EVENTS: 1}
    assert _names(client) == ["prefect.deployment.ready", "prefect.deployment.not-ready"]
