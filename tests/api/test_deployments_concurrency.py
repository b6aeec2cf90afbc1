"""Races settled by DynamoDB conditions: concurrent upserts, concurrent PATCHes, pause vs a tick.

They run on both backends (``--dynamodb both``). DynamoDB Local models AWS here: its writes are
atomic per item and its transactions all-or-nothing under concurrency. moto's backend is not
thread-safe (a failed transaction's rollback restores a table snapshot, erasing other threads'
writes), so on moto the ``aws`` fixture applies :mod:`devstack.moto_shim`, which serialises
requests (stricter than DynamoDB, which serialises writes per item).
"""

import threading
import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest

from chalicelib.schemas.deployments import DeploymentUpdate
from chalicelib.services import deployments, scheduler
from tests.api.deployments_support import HOURLY, auto_runs, deploy, make_flow, utcnow
from tests.helpers import call

pytestmark = pytest.mark.both_backends  # races and storage semantics: on DynamoDB Local too


def _race(*actions: Callable[[], object]) -> list[object]:
    """Run ``actions`` in threads released together; return their results in order."""
    barrier = threading.Barrier(len(actions))
    results: list[object] = [None] * len(actions)

    def run(index: int, action: Callable[[], object]) -> None:
        barrier.wait()
        results[index] = action()

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(actions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_concurrent_upserts_yield_one_deployment(client, repos):
    flow_id = make_flow(client)
    body = {"name": "racy", "flow_id": flow_id, "schedules": [{"schedule": HOURLY, "slug": "h"}]}
    results = _race(*[lambda: call(client, "POST", "/deployments/", body)] * 8)
    assert sorted(status for status, _ in results) == [200] * 7 + [201]
    assert len({reply["id"] for _, reply in results}) == 1
    assert len({reply["schedules"][0]["id"] for _, reply in results}) == 1
    assert call(client, "POST", "/deployments/count", {}) == (200, 1)
    dep_id = results[0][1]["id"]
    stored = repos.schedules.list_for_deployment(uuid.UUID(dep_id))
    assert [str(s.id) for s in stored] == [results[0][1]["schedules"][0]["id"]]
    runs = auto_runs(repos, dep_id)
    assert runs and {str(r.schedule_id) for r in runs} == {str(stored[0].id)}
    assert len({r.expected_start_time for r in runs}) == len(runs)  # no duplicated occurrence


def test_concurrent_patches_lose_no_update(client, repos, settings):
    # Through the services: Chalice's current_request is not thread-local, so concurrent requests
    # with different bodies cannot go through one test client (a Lambda serves one at a time).
    flow_id = make_flow(client)
    dep = deploy(client, flow_id)
    patches = [
        {"description": "d"},
        {"version": "v2"},
        {"tags": ["t"]},
        {"parameters": {"p": 1}},
        {"path": "/src"},
        {"entrypoint": "flows.py:main"},
    ]
    dep_id = uuid.UUID(dep["id"])
    _race(
        *[
            (lambda p=p: deployments.update_deployment(repos, settings, dep_id, DeploymentUpdate(**p), utcnow()))
            for p in patches
        ]
    )
    _, read = call(client, "GET", f"/deployments/{dep_id}")
    for patch in patches:
        for key, value in patch.items():
            assert read[key] == value


def test_pause_racing_a_scheduler_insert_leaves_no_auto_run(client, repos, settings):
    flow_id = make_flow(client)
    for round_ in range(4):
        dep = deploy(client, flow_id, f"d{round_}", schedules=[{"schedule": HOURLY}])
        dep_id, schedule_id = uuid.UUID(dep["id"]), uuid.UUID(dep["schedules"][0]["id"])
        # make the schedule need planning again, so the racing tick really inserts runs
        for run in auto_runs(repos, dep["id"]):
            repos.flow_runs.delete(run.id)
        repos.schedules.make_due(dep_id, schedule_id, utcnow())
        _race(
            lambda: scheduler.schedule_deployment(repos, dep_id, now=utcnow(), settings=settings),  # noqa: B023
            lambda: call(client, "POST", f"/deployments/{dep_id}/pause_deployment"),  # noqa: B023
        )
        scheduler.schedule_due(repos, now=utcnow() + timedelta(minutes=2), settings=settings)
        assert auto_runs(repos, dep["id"]) == [], f"round {round_}"
