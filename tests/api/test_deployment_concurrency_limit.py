"""Deployment concurrency limits (Prefect's SecureFlowConcurrencySlots / ReleaseFlowConcurrencySlots):
the slot is taken entering PENDING and given back by the state that leaves PENDING/RUNNING/CANCELLING,
in the same transaction as the state. Races run on both backends (``--dynamodb both``); threads call
the services directly (the Chalice test client is not thread-safe)."""

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain.orchestration import SetStateStatus
from chalicelib.schemas.flow_runs import FlowRunCreate
from chalicelib.schemas.states import SetStateBody
from chalicelib.services import flow_runs, maintenance
from chalicelib.storage.deployment_slots import active_slots
from tests.api.deployments_support import deploy, make_flow
from tests.helpers import call

pytestmark = pytest.mark.both_backends  # races and storage semantics: on DynamoDB Local too

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def _deployment(client, limit: int | None = 1, strategy: str | None = None) -> dict:
    fields: dict = {"concurrency_limit": limit}
    if strategy:
        fields["concurrency_options"] = {"collision_strategy": strategy}
    return deploy(client, make_flow(client), **fields)


def _run(repos, dep: dict, state: str = "SCHEDULED"):
    fields = {"flow_id": dep["flow_id"], "deployment_id": dep["id"], "state": {"type": state}}
    body = FlowRunCreate.model_validate(fields)
    return flow_runs.create_flow_run(repos, body, NOW)[0]


def _propose(repos, run_id, type_: str, *, force: bool = False, at: datetime = NOW, **state):
    body = SetStateBody.model_validate({"state": {"type": type_, **state}, "force": force})
    return flow_runs.set_flow_run_state(repos, run_id, body, at)


def _slots(dep: dict) -> int:
    return active_slots(dep["id"])


def test_enqueue_rejects_into_awaiting_concurrency_slot(client, repos):
    dep = _deployment(client)
    first, second = _run(repos, dep), _run(repos, dep)
    assert _propose(repos, first.id, "PENDING").decision.status is SetStateStatus.ACCEPT
    result = _propose(repos, second.id, "PENDING")
    assert result.decision.status is SetStateStatus.REJECT
    assert result.decision.reason == "Deployment concurrency limit reached."
    assert result.written and result.state.type.value == "SCHEDULED"
    assert result.state.name == "AwaitingConcurrencySlot"
    waits_until = result.state.state_details.scheduled_time
    assert NOW + timedelta(seconds=30) <= waits_until < NOW + timedelta(seconds=30, milliseconds=1)
    assert repos.flow_runs.get(second.id).next_scheduled_start_time == waits_until
    assert _slots(dep) == 1
    # The holder finishes: its slot comes back, and the waiting run gets it.
    assert _propose(repos, first.id, "RUNNING").decision.status is SetStateStatus.ACCEPT
    assert _propose(repos, first.id, "COMPLETED").decision.status is SetStateStatus.ACCEPT
    assert _slots(dep) == 0
    later = NOW + timedelta(seconds=31)
    assert _propose(repos, second.id, "PENDING", at=later).decision.status is SetStateStatus.ACCEPT
    assert _slots(dep) == 1


def test_cancel_new_cancels_the_second_run(client, repos):
    dep = _deployment(client, 1, "CANCEL_NEW")
    first, second = _run(repos, dep), _run(repos, dep)
    _propose(repos, first.id, "PENDING")
    result = _propose(repos, second.id, "PENDING")
    assert result.decision.status is SetStateStatus.REJECT
    assert result.state.type.value == "CANCELLED"
    assert result.state.message == "Deployment concurrency limit reached."
    assert _slots(dep) == 1
    status, reply = call(client, "GET", f"/flow_runs/{second.id}")
    assert status == 200 and reply["state"]["type"] == "CANCELLED"


def test_the_wire_answer_of_a_full_limit(client, repos):
    dep = _deployment(client)
    first, second = _run(repos, dep), _run(repos, dep)
    assert call(client, "POST", f"/flow_runs/{first.id}/set_state", {"state": {"type": "PENDING"}})[0] == 201
    status, reply = call(client, "POST", f"/flow_runs/{second.id}/set_state", {"state": {"type": "PENDING"}})
    assert status == 201
    assert reply["status"] == "REJECT"
    assert reply["details"] == {"type": "reject_details", "reason": "Deployment concurrency limit reached."}
    assert reply["state"]["name"] == "AwaitingConcurrencySlot"


def test_slots_come_back_on_every_state_outside_pending_running_cancelling(client, repos):
    dep = _deployment(client, 3)
    ends = {"FAILED": {}, "CANCELLED": {}, "CRASHED": {}, "PAUSED": {"state_details": {"pause_key": "k"}}}
    for end, extra in ends.items():
        run = _run(repos, dep)
        _propose(repos, run.id, "PENDING")
        _propose(repos, run.id, "RUNNING")
        assert _slots(dep) == 1
        assert _propose(repos, run.id, end, **extra).written, end
        assert _slots(dep) == 0, end
        assert not repos.flow_runs.get(run.id).concurrency_slot


def test_forced_and_cancelling_transitions_release_once(client, repos):
    dep = _deployment(client, 2)
    run = _run(repos, dep)
    _propose(repos, run.id, "PENDING")
    _propose(repos, run.id, "RUNNING")
    _propose(repos, run.id, "CANCELLING")
    assert _slots(dep) == 1  # CANCELLING still holds it
    _propose(repos, run.id, "CANCELLED")
    assert _slots(dep) == 0
    _propose(repos, run.id, "COMPLETED", force=True)  # no second release
    assert _slots(dep) == 0
    forced = _run(repos, dep)
    _propose(repos, forced.id, "PENDING", force=True)  # force takes no slot (Prefect's minimal policy)
    assert _slots(dep) == 0


def test_an_in_process_retry_keeps_its_slot(client, repos):
    dep = _deployment(client)
    body = FlowRunCreate.model_validate(
        {"flow_id": dep["flow_id"], "deployment_id": dep["id"], "empirical_policy": {"retries": 1}}
    )
    run = flow_runs.create_flow_run(repos, body, NOW)[0]
    _propose(repos, run.id, "SCHEDULED", state_details={"scheduled_time": "2029-01-01T00:00:00Z"}, force=True)
    _propose(repos, run.id, "PENDING")
    _propose(repos, run.id, "RUNNING")
    retry = _propose(repos, run.id, "FAILED")
    assert retry.state.name == "AwaitingRetry"
    assert _slots(dep) == 1
    assert _propose(repos, run.id, "RUNNING", at=NOW + timedelta(minutes=1), name="Retrying").written
    assert _propose(repos, run.id, "FAILED", at=NOW + timedelta(minutes=2)).state.type.value == "FAILED"
    assert _slots(dep) == 0


def test_a_deployment_without_a_limit_takes_no_slot(client, repos):
    free = _deployment(client, None)
    run = _run(repos, free)
    assert _propose(repos, run.id, "PENDING").decision.status is SetStateStatus.ACCEPT
    assert _slots(free) == 0 and not repos.flow_runs.get(run.id).concurrency_slot


def test_the_zombie_killer_gives_the_slot_back(client, repos, settings):
    dep = _deployment(client)
    run = _run(repos, dep)
    _propose(repos, run.id, "PENDING")
    _propose(repos, run.id, "RUNNING")
    flow_runs.beat(repos, run.id, NOW)
    assert _slots(dep) == 1
    report = maintenance.kill_zombies(repos, now=NOW + timedelta(days=1), settings=settings)
    assert repos.flow_runs.get(run.id).state_type.value == "CRASHED", report
    assert _slots(dep) == 0


def test_a_run_stuck_pending_gives_its_slot_back_when_its_lease_ends(client, repos, settings):
    """A worker died between PENDING and RUNNING: the zombie killer crashes the run once it has been
    PENDING longer than ``pending_slot_lease_s`` (Prefect's slot lease), the slot comes back and
    the waiting run starts; Lazarus may reschedule the crashed one. A run that started is not touched."""
    dep = _deployment(client, 2)
    stuck, started, waiting = _run(repos, dep), _run(repos, dep), _run(repos, dep)
    _propose(repos, stuck.id, "PENDING")
    _propose(repos, started.id, "PENDING")
    _propose(repos, started.id, "RUNNING", at=NOW + timedelta(seconds=5))
    assert _propose(repos, waiting.id, "PENDING").state.name == "AwaitingConcurrencySlot"
    lease = timedelta(seconds=settings.pending_slot_lease_s)
    maintenance.kill_zombies(repos, now=NOW + lease, settings=settings)  # exactly the lease: left alone
    assert repos.flow_runs.get(stuck.id).state_type.value == "PENDING" and _slots(dep) == 2
    report = maintenance.kill_zombies(repos, now=NOW + lease + timedelta(seconds=1), settings=settings)
    crashed = repos.flow_runs.get(stuck.id)
    assert crashed.state_type.value == "CRASHED", report.as_dict()
    assert "stayed PENDING for more than 300 seconds" in crashed.state.message
    assert report.outcomes["crashed_pending"] == 1
    assert repos.flow_runs.get(started.id).state_type.value == "RUNNING"
    assert _slots(dep) == 1
    at = NOW + lease + timedelta(seconds=2)
    assert _propose(repos, waiting.id, "PENDING", at=at).decision.status is SetStateStatus.ACCEPT
    revived = maintenance.revive_crashed_runs(repos, now=at + timedelta(minutes=10), settings=settings)
    assert repos.flow_runs.get(stuck.id).state_type.value == "SCHEDULED", revived.as_dict()


def test_racing_proposals_admit_at_most_the_limit(client, repos):
    dep = _deployment(client)
    runs = [_run(repos, dep) for _ in range(16)]
    barrier = threading.Barrier(len(runs))

    def submit(run_id: uuid.UUID):
        barrier.wait(timeout=10)
        return _propose(repos, run_id, "PENDING")

    with ThreadPoolExecutor(len(runs)) as pool:
        results = [f.result(timeout=60) for f in [pool.submit(submit, r.id) for r in runs]]
    accepted = [r for r in results if r.decision.status is SetStateStatus.ACCEPT]
    assert len(accepted) == 1
    assert all(r.state.name == "AwaitingConcurrencySlot" for r in results if r not in accepted)
    assert _slots(dep) == 1
    pending = [r for r in runs if repos.flow_runs.get(r.id).state_type.value == "PENDING"]
    assert len(pending) == 1


def test_deleting_a_run_that_holds_a_slot_gives_it_back(client, repos):
    dep = _deployment(client)
    holder, other = _run(repos, dep), _run(repos, dep)
    _propose(repos, holder.id, "PENDING")
    assert call(client, "DELETE", f"/flow_runs/{holder.id}")[0] == 204
    assert _slots(dep) == 0
    assert _propose(repos, other.id, "PENDING").decision.status is SetStateStatus.ACCEPT
    assert call(client, "DELETE", f"/flow_runs/{holder.id}") == (404, {"detail": "Flow run not found"})
