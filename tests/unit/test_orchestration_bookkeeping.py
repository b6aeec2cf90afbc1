"""The fields a run derives from its states (Prefect's global transforms) and a new run's fields."""

import uuid
from datetime import UTC, datetime, timedelta

from chalicelib.domain.orchestration import commit, initial_run_fields, orchestrate, with_initial_state
from chalicelib.domain.run_bookkeeping import apply_state
from chalicelib.schemas.flow_runs import EmpiricalPolicy, FlowRun
from chalicelib.schemas.states import State, StateDetails, StateType

T0 = datetime(2030, 1, 1, tzinfo=UTC)
S = StateType


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def state(type_: StateType, minutes: float, name: str | None = None, **details) -> State:
    return State(type=type_, name=name, timestamp=at(minutes), state_details=StateDetails(**details))


def new_run(first: State, **fields) -> FlowRun:
    return with_initial_state(FlowRun(name="r", flow_id=uuid.uuid4(), **fields), first)


def test_initial_fields_of_a_pending_run():
    first = state(S.PENDING, 0)
    fields = initial_run_fields(first)
    assert fields["state_type"] is S.PENDING and fields["state_name"] == "Pending"
    assert fields["state_id"] == first.id and fields["expected_start_time"] == at(0)
    assert fields["next_scheduled_start_time"] is None and fields["run_count"] == 0
    assert fields["start_time"] is None and fields["end_time"] is None and fields["total_run_time"] == 0.0
    assert fields["state"].state_details.flow_run_id is None


def test_initial_fields_of_a_scheduled_run_use_its_scheduled_time():
    fields = initial_run_fields(state(S.SCHEDULED, 0, scheduled_time=at(30)), flow_run_id=uuid.UUID(int=7))
    assert fields["next_scheduled_start_time"] == at(30) == fields["expected_start_time"]
    assert fields["state"].state_details.flow_run_id == uuid.UUID(int=7)


def test_a_scheduled_state_without_a_time_is_scheduled_at_its_timestamp():
    run = new_run(state(S.SCHEDULED, 5))
    assert run.state.state_details.scheduled_time == at(5) == run.next_scheduled_start_time


def test_a_run_created_running_has_started():
    run = new_run(state(S.RUNNING, 1))
    assert run.run_count == 1 and run.start_time == at(1)
    assert run.state.state_details.flow_run_id == run.id


def test_a_full_lifecycle():
    run = new_run(state(S.SCHEDULED, 0, scheduled_time=at(10)))
    run = apply_state(run, state(S.PENDING, 9, scheduled_time=at(10)), now=at(9))
    assert run.next_scheduled_start_time is None and run.expected_start_time == at(10)
    run = apply_state(run, state(S.RUNNING, 10), now=at(10))
    assert (run.start_time, run.run_count, run.updated) == (at(10), 1, at(10))
    run = apply_state(run, state(S.COMPLETED, 12.5), now=at(12.5))
    assert run.end_time == at(12.5) and run.total_run_time == 150.0
    assert (run.state_type, run.state_name) == (S.COMPLETED, "Completed")


def test_a_retry_counts_runs_and_keeps_the_first_start():
    run = new_run(state(S.RUNNING, 0), empirical_policy=EmpiricalPolicy(retries=1))
    decision = orchestrate(run, state(S.FAILED, 1), now=at(1))
    run = commit(run, decision, now=at(1))
    assert run.state_name == "AwaitingRetry" and run.next_scheduled_start_time == at(1) and run.end_time is None
    run = apply_state(run, state(S.RUNNING, 2), now=at(2))
    assert run.run_count == 2 and run.start_time == at(0) and run.next_scheduled_start_time is None
    run = apply_state(run, state(S.FAILED, 3), now=at(3))
    assert run.total_run_time == 120.0 and run.end_time == at(3)


def test_leaving_a_terminal_state_clears_the_end_time():
    run = new_run(state(S.RUNNING, 0))
    run = apply_state(run, state(S.CRASHED, 1), now=at(1))
    assert run.end_time == at(1)
    run = apply_state(run, state(S.RUNNING, 2), now=at(2))
    assert run.end_time is None and run.run_count == 2
    run = apply_state(run, state(S.COMPLETED, 4), now=at(4))
    assert run.end_time == at(4)


def test_a_run_that_never_started_gets_no_end_time():
    run = apply_state(new_run(state(S.SCHEDULED, 0)), state(S.CANCELLED, 1), now=at(1))
    assert run.end_time is None and run.state_type is S.CANCELLED


def test_resuming_a_pause_does_not_count_a_run():
    run = new_run(state(S.RUNNING, 0))
    run = apply_state(run, state(S.PAUSED, 1), now=at(1))
    decision = orchestrate(run, state(S.SCHEDULED, 2, "Resuming"), now=at(2))
    run = commit(run, decision, now=at(2))
    assert run.empirical_policy.resuming is True
    run = apply_state(run, state(S.RUNNING, 3), now=at(3))
    assert run.run_count == 1 and run.empirical_policy.resuming is False


def test_entering_running_forgets_an_old_heartbeat():
    run = new_run(state(S.RUNNING, 0)).model_copy(update={"heartbeat": at(1)})
    assert apply_state(run, state(S.RUNNING, 2, "Retrying"), now=at(2)).heartbeat == at(1)
    failed = apply_state(run, state(S.SCHEDULED, 3, "AwaitingRetry"), now=at(3))
    assert apply_state(failed, state(S.RUNNING, 4), now=at(4)).heartbeat is None


def test_apply_state_changes_nothing_in_place():
    run = new_run(state(S.PENDING, 0))
    before = run.model_dump()
    apply_state(run, state(S.RUNNING, 1), now=at(1))
    assert run.model_dump() == before
