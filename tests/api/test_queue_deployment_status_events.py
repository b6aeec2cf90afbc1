"""Deployment status events of a work pool's deployments (``services/deployments/_status_events.py``,
``watch_queue``): a worker's poll of their queue makes them READY, the queue's silence NOT_READY;
the maintenance tick (or a pool/queue edit) emits one ``prefect.deployment.ready|not-ready`` per
deployment and change, found through the by-queue index, however many watchers race."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.services import deployments, status_events
from chalicelib.services.deployments import _status_events
from chalicelib.storage.instrumentation import count_requests
from chalicelib.storage.models import DeploymentModel
from tests.helpers import call

pytestmark = pytest.mark.both_backends  # races and index semantics: on DynamoDB Local too

EVENTS = deployments.QUEUE_STATUS_EVENTS


def _events(client: Any) -> list[dict]:
    until = (datetime.now(UTC) + timedelta(hours=1)).isoformat()  # the ticks "later" are ahead of now
    body = {"filter": {"event": {"prefix": ["prefect.deployment."]}, "occurred": {"until": until}, "order": "ASC"}}
    status, page = call(client, "POST", "/events/filter", body)
    assert status == 200, page
    return page["events"]


def _named(client: Any) -> list[tuple[str, str]]:
    """(event, deployment name) of each deployment status event, sorted."""
    return sorted((e["event"], e["resource"]["prefect.resource.name"]) for e in _events(client))


def _pool(client: Any, *queues: str) -> dict:
    status, pool = call(client, "POST", "/work_pools/", {"name": "pool", "type": "process"})
    assert status == 201, pool
    for queue in queues:
        assert call(client, "POST", "/work_pools/pool/queues/", {"name": queue})[0] == 201
    return pool


def _deployment(client: Any, name: str, queue: str, **fields: Any) -> dict:
    _, flow = call(client, "POST", "/flows/", {"name": "f"})
    body = {"name": name, "flow_id": flow["id"], "work_pool_name": "pool", "work_queue_name": queue, **fields}
    status, deployment = call(client, "POST", "/deployments/", body)
    assert status in (200, 201), deployment
    return deployment


def _worker_polls(client: Any, *queues: str) -> None:
    body = {"work_queue_names": list(queues)}
    assert call(client, "POST", "/work_pools/pool/get_scheduled_flow_runs", body)[0] == 200


def _tick(repos: Any, now: datetime) -> Any:
    return status_events.watch_work_pools(repos, repos.settings, now)


def test_a_workers_poll_makes_each_deployment_of_its_queue_ready_and_silence_not_ready_once(client, repos):
    pool = _pool(client, "q", "other")
    a = _deployment(client, "a", "q")
    _deployment(client, "b", "q", paused=True)  # as Prefect: a paused deployment is polled too
    _deployment(client, "c", "other")
    assert _tick(repos, datetime.now(UTC))[EVENTS] == 0  # never polled: nothing to announce
    _worker_polls(client, "q")
    assert call(client, "GET", f"/deployments/{a['id']}")[1]["status"] == "READY"
    assert _tick(repos, datetime.now(UTC))[EVENTS] == 2
    assert _tick(repos, datetime.now(UTC))[EVENTS] == 0  # nothing changed
    assert _named(client) == [("prefect.deployment.ready", "a"), ("prefect.deployment.ready", "b")]
    ready = next(e for e in _events(client) if e["resource"]["prefect.resource.name"] == "a")
    assert ready["resource"] == {"prefect.resource.id": f"prefect.deployment.{a['id']}", "prefect.resource.name": "a"}
    assert ready["related"] == [
        {"prefect.resource.id": f"prefect.flow.{a['flow_id']}", "prefect.resource.name": "f",
         "prefect.resource.role": "flow"},
        {"prefect.resource.id": f"prefect.work-queue.{a['work_queue_id']}", "prefect.resource.name": "q",
         "prefect.resource.role": "work-queue"},
        {"prefect.resource.id": f"prefect.work-pool.{pool['id']}", "prefect.resource.name": "pool",
         "prefect.work-pool.type": "process", "prefect.resource.role": "work-pool"},
    ]  # fmt: skip

    # Their NOT_READY comes from the queue's silence, not from by-ready (the runners' path).
    later = datetime.now(UTC) + timedelta(minutes=3)
    assert deployments.watch_statuses(repos, later) == {}
    assert _tick(repos, later)[EVENTS] == 2
    assert _tick(repos, later + timedelta(minutes=1))[EVENTS] == 0
    assert [n for n in _named(client) if n[0] == "prefect.deployment.not-ready"] == [
        ("prefect.deployment.not-ready", "a"),
        ("prefect.deployment.not-ready", "b"),
    ]
    # Polled again: READY again, once each (new ids: each event replaces another mark).
    _worker_polls(client, "q")
    assert _tick(repos, datetime.now(UTC))[EVENTS] == 2
    assert len(_events(client)) == len({e["id"] for e in _events(client)}) == 6


def test_a_deployment_created_on_a_queue_already_ready_is_ready_at_the_next_tick(client, repos):
    _pool(client, "q")
    _worker_polls(client, "q")
    assert _tick(repos, datetime.now(UTC))[EVENTS] == 0
    _deployment(client, "late", "q")  # no change of the queue's status announces it
    assert _tick(repos, datetime.now(UTC))[EVENTS] == 1
    assert _named(client) == [("prefect.deployment.ready", "late")]


def test_a_deployment_moved_to_another_queue_follows_that_queues_polls(client, repos):
    _pool(client, "q1", "q2")
    moved = _deployment(client, "moved", "q1")
    _worker_polls(client, "q1")
    assert _tick(repos, datetime.now(UTC))[EVENTS] == 1
    assert call(client, "PATCH", f"/deployments/{moved['id']}", {"work_queue_name": "q2"})[0] == 204
    # q2 was never polled: NOT_READY, once (q1, still READY, no longer holds it).
    assert _tick(repos, datetime.now(UTC))[EVENTS] == 1
    assert _tick(repos, datetime.now(UTC))[EVENTS] == 0
    _worker_polls(client, "q2")
    assert _tick(repos, datetime.now(UTC))[EVENTS] == 1
    names = [e["event"] for e in _events(client)]
    assert names == ["prefect.deployment.ready", "prefect.deployment.not-ready", "prefect.deployment.ready"]
    assert _events(client)[-1]["related"][1]["prefect.resource.name"] == "q2"


def test_racing_ticks_and_edits_emit_each_change_once(client, repos):
    _pool(client, "q")
    names = [f"raced{i}" for i in range(3)]
    for name in names:
        _deployment(client, name, "q")
    _worker_polls(client, "q")
    now = datetime.now(UTC)

    def watch(i: int, at: datetime) -> Any:
        if i % 2:  # what a pool or queue edit (a pause, a resume) runs
            return status_events.watch_pool_named(repos, repos.settings, "pool", at)
        return _tick(repos, at)

    with ThreadPoolExecutor(8) as pool:
        counts = list(pool.map(lambda i: watch(i, now), range(8)))
    assert sum(c[EVENTS] for c in counts) == 3  # one mark move per deployment
    assert _named(client) == [("prefect.deployment.ready", name) for name in names]
    later = now + timedelta(minutes=3)
    with ThreadPoolExecutor(8) as pool:
        counts = list(pool.map(lambda i: watch(i, later), range(8)))
    assert sum(c[EVENTS] for c in counts) == 3
    assert [n for n in _named(client) if n[0].endswith("not-ready")] == [
        ("prefect.deployment.not-ready", name) for name in names
    ]


def test_a_tick_reads_a_bounded_number_of_a_queues_deployments_and_the_rest_at_the_next(client, repos, monkeypatch):
    _pool(client, "q")
    _worker_polls(client, "q")
    _tick(repos, datetime.now(UTC))  # the queue's own event
    for i in range(7):
        _deployment(client, f"d{i}", "q")
    monkeypatch.setattr(_status_events, "QUEUE_LIMIT", 3)
    now = datetime.now(UTC)
    emitted, requests = [], []
    for _ in range(4):
        with count_requests() as counter:
            emitted.append(_tick(repos, now)[EVENTS])
        requests.append(counter.snapshot())
    assert emitted == [3, 3, 1, 0]  # nothing lost: the rest still differ at the next tick
    assert len(_events(client)) == 7
    # Nothing to announce: the pool's and its 2 queues' marks, and one by-queue Query per queue.
    assert requests[-1] == {"Scan": 1, "Query": 3, "GetItem": 3}
    # k events: + one BatchGetItem, and per event its flow and pool (related), its store (3), its mark.
    assert [sum(r.values()) for r in requests] == [7 + 1 + 6 * 3, 7 + 1 + 6 * 3, 7 + 1 + 6 * 1, 7]
    assert [r.get("BatchGetItem", 0) for r in requests] == [1, 1, 1, 0]
    assert deployments.QUEUE_LIMIT <= 100  # what one BatchGetItem reads


def test_an_item_older_than_the_index_gets_its_key_aligned_without_an_event(client, repos):
    _pool(client, "q")
    old = _deployment(client, "old", "q")
    _worker_polls(client, "q")
    assert _tick(repos, datetime.now(UTC))[EVENTS] == 1
    # Written before by-queue, then updated: its key says "no mark" while its mark is READY.
    DeploymentModel(old["id"]).update(actions=[DeploymentModel.queue_mark.set("-")])
    assert _tick(repos, datetime.now(UTC))[_status_events.QUEUE_MARKS_ALIGNED] == 1
    assert _tick(repos, datetime.now(UTC) + timedelta(minutes=3))[EVENTS] == 1  # found by its key: READY
    assert [e["event"] for e in _events(client)] == ["prefect.deployment.ready", "prefect.deployment.not-ready"]


def test_what_the_index_and_the_events_cost(client, repos, aws):
    if aws.name == "moto":
        pytest.skip("moto reports fixed capacity figures")

    def measured(action: Any) -> Any:
        with count_requests(capacity=True) as counter:
            action()
        return counter.capacity

    _pool(client, "q1", "q2")
    _worker_polls(client, "q1")
    _tick(repos, datetime.now(UTC))
    created = measured(lambda: _deployment(client, "d", "q1"))
    d = call(client, "GET", "/deployments/name/f/d")[1]
    kept = measured(lambda: call(client, "PATCH", f"/deployments/{d['id']}", {"description": "x"}))
    ready = measured(lambda: _tick(repos, datetime.now(UTC)))
    quiet = measured(lambda: _tick(repos, datetime.now(UTC)))
    moved = measured(lambda: call(client, "PATCH", f"/deployments/{d['id']}", {"work_queue_name": "q2"}))
    not_ready = measured(lambda: _tick(repos, datetime.now(UTC)))

    def index(capacity: Any, kind: str) -> float:
        return sum(u for key, u in capacity.by_index().items() if key.startswith(kind) and key.endswith("/by-queue"))

    # Entering by-queue: one keys-only entry, in the deployment's transaction (DynamoDB Local reports
    # 4 units for it, AWS bills 2); an update that keeps the queue rewrites none; a move, 2 entries.
    assert index(created, "write") == 4, created.by_index()
    assert index(kept, "write") == 0, kept.by_index()
    assert index(moved, "write") == 8, moved.by_index()
    # A change: the event (6: claim, the event, 4 pointers), the mark (1) and its by-queue key (2);
    # reads: the Query, the deployment (strongly consistent), its flow and pool (related).
    for change in (ready, not_ready):
        assert (change.write_units(), index(change, "write")) == (9, 2), change.by_index()
        assert index(change, "read") == 0.5, change.by_index()
    assert quiet.write_units() == 0 and index(quiet, "read") <= 0.5, quiet.by_index()
    assert not any(k.endswith("deployments") and v for k, v in quiet.by_index().items()), quiet.by_index()


def test_migrate_runs_enters_deployments_stored_before_by_queue(client, repos, capsys):
    """A deployment of a pool's queue stored before the ``by-queue`` index (no ``queue_id``) gets
    its entry from ``cirrus migrate-runs``, so the next worker poll and tick emit its status event
    without waiting for a redeploy; a deployment outside a pool gets none; running it again changes
    nothing."""
    from chalicelib import cli

    _pool(client, "q")
    old = _deployment(client, "old", "q")
    _, flow = call(client, "POST", "/flows/", {"name": "f"})
    assert call(client, "POST", "/deployments/", {"name": "plain", "flow_id": flow["id"]})[0] in (200, 201)
    DeploymentModel(old["id"]).update(actions=[DeploymentModel.queue_id.remove(), DeploymentModel.queue_mark.remove()])
    assert cli.main(["migrate-runs"]) == 0
    assert json.loads(capsys.readouterr().out)["deployments_by_queue"] == {"entered": 1, "current": 1}
    item = DeploymentModel.get(old["id"], consistent_read=True)
    assert (item.queue_id, item.queue_mark) == (old["work_queue_id"], "-")
    _worker_polls(client, "q")
    _tick(repos, datetime.now(UTC))
    assert _named(client) == [("prefect.deployment.ready", "old")]
    assert cli.main(["migrate-runs"]) == 0
    assert json.loads(capsys.readouterr().out)["deployments_by_queue"] == {"entered": 0, "current": 2}
