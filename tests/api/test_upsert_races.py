"""Issue 16's races: 16 threads upserting one deployment with *different* schedules all succeed
(lost optimistic locks are retried with backoff, never a 409 while the races are this small), and
a raced run's state history has timestamps in commit order (a state's time is when it was accepted)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from chalicelib.errors import ConcurrentUpdateError
from chalicelib.schemas.deployments import DeploymentCreate
from chalicelib.schemas.flow_runs import FlowRunCreate
from chalicelib.schemas.flows import FlowCreate
from chalicelib.schemas.states import SetStateBody
from chalicelib.services import deployments, flow_runs, flows
from tests.moto_shim import installed

pytestmark = pytest.mark.both_backends  # races and storage semantics: on DynamoDB Local too

THREADS = 16


@pytest.fixture(autouse=True)
def _serialised_moto(aws):
    with installed():
        yield


def _together(n: int, action: Callable[[int], object]) -> list[object]:
    """``action(i)`` for i < n in n threads released at once; exceptions are returned, not raised."""
    barrier = threading.Barrier(n)

    def run(i: int) -> object:
        barrier.wait(timeout=30)
        try:
            return action(i)
        except ConcurrentUpdateError as exc:
            return exc

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


def test_upserts_with_different_schedules_racing_all_succeed(repos, settings):
    now = datetime.now(UTC)
    flow, _ = flows.create_flow(repos, FlowCreate(name="raced"), now)

    def upsert(i: int) -> object:
        body = DeploymentCreate(
            name="d",
            flow_id=flow.id,
            paused=True,
            schedules=[{"schedule": {"interval": 60 * (i + 1)}, "slug": f"s{i}"}],
        )
        return deployments.upsert_deployment(repos, settings, body, datetime.now(UTC))

    results = _together(THREADS, upsert) + _together(THREADS, upsert)
    lost = [r for r in results if isinstance(r, ConcurrentUpdateError)]
    assert not lost, f"{len(lost)} of {len(results)} upserts answered 409"
    assert len({r.deployment.id for r in results}) == 1


def test_raced_state_history_is_in_commit_order(repos):
    now = datetime.now(UTC)
    flow, _ = flows.create_flow(repos, FlowCreate(name="history"), now)
    run, _ = flow_runs.create_flow_run(repos, FlowRunCreate(flow_id=flow.id), now)
    started = [datetime.now(UTC) for _ in range(8)]  # earlier "now"s for later threads, reversed below
    started.reverse()

    def propose(i: int) -> object:
        body = SetStateBody(state={"type": "RUNNING" if i % 2 else "PENDING"}, force=True)
        return flow_runs.set_flow_run_state(repos, run.id, body, started[i])

    _together(8, propose)
    history = flow_runs.read_flow_run_states(repos, run.id)
    stamps = [state.timestamp for state in history]
    assert len(stamps) == 9
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
