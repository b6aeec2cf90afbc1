"""The deployment concurrency rule as pure functions: which proposals take a slot, which states
give it back (Prefect's SecureFlowConcurrencySlots / ReleaseFlowConcurrencySlots)."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain import deployment_concurrency as rule
from chalicelib.domain.orchestration import Decision, SetStateStatus, commit, orchestrate, with_initial_state
from chalicelib.schemas.flow_runs import FlowRun
from chalicelib.schemas.states import State, StateType

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def _run(state: StateType, *, slot: bool = False, deployment: bool = True) -> FlowRun:
    run = FlowRun(id=uuid.uuid4(), name="r", flow_id=uuid.uuid4(), deployment_id=uuid.uuid4() if deployment else None)
    run = with_initial_state(run, State(type=state, timestamp=NOW - timedelta(minutes=1)))
    return run.model_copy(update={"concurrency_slot": slot})


def _accept(type_: StateType, name: str | None = None) -> Decision:
    return Decision(SetStateStatus.ACCEPT, State(type=type_, name=name, timestamp=NOW))


@pytest.mark.parametrize("initial", [StateType.SCHEDULED, StateType.PAUSED, StateType.FAILED, StateType.CRASHED])
def test_entering_pending_from_outside_the_holding_states_needs_a_slot(initial):
    assert rule.needs_slot(_run(initial), _accept(StateType.PENDING), force=False)


@pytest.mark.parametrize("initial", [StateType.PENDING, StateType.RUNNING, StateType.CANCELLING])
def test_no_slot_from_a_holding_state(initial):
    assert not rule.needs_slot(_run(initial), _accept(StateType.PENDING), force=False)


def test_no_slot_when_forced_without_deployment_or_already_held_or_not_pending():
    assert not rule.needs_slot(_run(StateType.SCHEDULED), _accept(StateType.PENDING), force=True)
    assert not rule.needs_slot(_run(StateType.SCHEDULED, deployment=False), _accept(StateType.PENDING), force=False)
    assert not rule.needs_slot(_run(StateType.SCHEDULED, slot=True), _accept(StateType.PENDING), force=False)
    assert not rule.needs_slot(_run(StateType.SCHEDULED), _accept(StateType.RUNNING), force=False)


@pytest.mark.parametrize(
    ("new", "holds"),
    [
        (StateType.RUNNING, True),
        (StateType.CANCELLING, True),
        (StateType.COMPLETED, False),
        (StateType.FAILED, False),
        (StateType.CRASHED, False),
        (StateType.CANCELLED, False),
        (StateType.PAUSED, False),
        (StateType.SCHEDULED, False),
    ],
)
def test_the_slot_is_kept_only_in_the_holding_states(new, holds):
    run = _run(StateType.RUNNING, slot=True)
    assert commit(run, _accept(new), now=NOW).concurrency_slot is holds


def test_an_in_process_retry_keeps_the_slot_and_a_proposed_awaiting_retry_does_not():
    run = _run(StateType.RUNNING, slot=True).model_copy(update={"run_count": 1})
    run = run.model_copy(update={"empirical_policy": run.empirical_policy.model_copy(update={"retries": 2})})
    retried = orchestrate(run, State(type=StateType.FAILED, timestamp=NOW), now=NOW)
    assert retried.status is SetStateStatus.REJECT and retried.state.name == "AwaitingRetry"
    assert commit(run, retried, now=NOW).concurrency_slot
    proposed = _accept(StateType.SCHEDULED, "AwaitingRetry")  # a SIGTERM reschedule leaves the process
    assert not commit(run, proposed, now=NOW).concurrency_slot


def test_a_taking_decision_marks_the_run_and_collisions_follow_the_strategy():
    run = _run(StateType.SCHEDULED)
    assert commit(run, rule.taking(_accept(StateType.PENDING)), now=NOW).concurrency_slot
    waiting = rule.collision(rule.SlotLimit(1), _accept(StateType.PENDING), NOW)
    assert waiting.status is SetStateStatus.REJECT and waiting.reason == rule.LIMIT_REACHED
    assert waiting.state.name == "AwaitingConcurrencySlot"
    assert waiting.state.state_details.scheduled_time == NOW + timedelta(seconds=30)
    cancelled = rule.collision(rule.SlotLimit(1, rule.CANCEL_NEW), _accept(StateType.PENDING), NOW)
    assert cancelled.state.type is StateType.CANCELLED and cancelled.state.message == rule.LIMIT_REACHED
    assert rule.zero_limit().status is SetStateStatus.ABORT
