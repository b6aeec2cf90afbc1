"""Property: whatever states are proposed, in whatever order, forced or not, the run's fields are
exactly those its history of written states implies."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.orchestration import commit, orchestrate, with_initial_state
from chalicelib.schemas.flow_runs import EmpiricalPolicy, FlowRun
from chalicelib.schemas.states import State, StateDetails, StateType

T0 = datetime(2030, 1, 1, tzinfo=UTC)
NAMES = {
    StateType.SCHEDULED: [None, "Late", "AwaitingRetry", "Resuming"],
    StateType.PENDING: [None, "Submitting"],
    StateType.PAUSED: [None, "Suspended"],
    StateType.RUNNING: [None, "Retrying"],
}


@st.composite
def proposals(draw: st.DrawFn) -> dict:
    type_ = draw(st.sampled_from(list(StateType)))
    return {
        "type": type_,
        "name": draw(st.sampled_from(NAMES.get(type_, [None]))),
        "after_s": draw(st.integers(min_value=0, max_value=3600)),
        "scheduled_in_s": draw(st.none() | st.integers(min_value=-600, max_value=600)),
        "force": draw(st.booleans()),
        "persisted": draw(st.booleans()),
        "pause_reschedule": draw(st.booleans()),
    }


def to_state(p: dict, now: datetime) -> State:
    scheduled = None if p["scheduled_in_s"] is None else now + timedelta(seconds=p["scheduled_in_s"])
    return State(
        type=p["type"],
        name=p["name"],
        timestamp=now,
        data={"type": "local", "storage_key": "k"} if p["persisted"] else None,
        state_details=StateDetails(scheduled_time=scheduled, pause_reschedule=p["pause_reschedule"]),
    )


def assert_consistent(run: FlowRun, history: list[State]) -> None:
    last = history[-1]
    assert run.state == last and run.state_id == last.id
    assert (run.state_type, run.state_name) == (last.type, last.name)
    assert all(s.state_details.flow_run_id == run.id for s in history)

    first = history[0]
    expected = first.state_details.scheduled_time if first.type is StateType.SCHEDULED else first.timestamp
    assert run.expected_start_time == expected
    assert run.next_scheduled_start_time == (
        last.state_details.scheduled_time if last.type is StateType.SCHEDULED else None
    )

    running = [i for i, s in enumerate(history) if s.type is StateType.RUNNING]
    assert run.start_time == (history[running[0]].timestamp if running else None)
    total = 0.0
    for before, after in zip(history, history[1:], strict=False):
        if before.type is StateType.RUNNING:
            total += (after.timestamp - before.timestamp).total_seconds()
    assert run.total_run_time == pytest.approx(total)

    end_time = None
    if last.is_terminal:
        streak = len(history) - 1
        while streak > 0 and history[streak - 1].is_terminal:
            streak -= 1
        ended = [j for j in range(streak, len(history)) if running and running[0] < j]
        end_time = history[ended[0]].timestamp if ended else None
    assert run.end_time == end_time

    pauses = sum(1 for s in history if s.type is StateType.PAUSED)
    assert len(running) - pauses <= run.run_count <= len(running)
    if pauses == 0:
        assert run.run_count == len(running)


@settings(max_examples=300, deadline=None)
@given(
    first=proposals(),
    steps=st.lists(proposals(), max_size=25),
    retries=st.none() | st.integers(min_value=0, max_value=2),
    with_deployment=st.booleans(),
    infrastructure_pid=st.none() | st.just("4242"),
)
def test_fields_always_follow_the_history(first, steps, retries, with_deployment, infrastructure_pid):
    run = FlowRun(
        name="r",
        flow_id=uuid.uuid4(),
        deployment_id=uuid.uuid4() if with_deployment else None,
        infrastructure_pid=infrastructure_pid,
        empirical_policy=EmpiricalPolicy(retries=retries, retry_delay=5),
    )
    now = T0
    run = with_initial_state(run, to_state(first, now))
    history = [run.state]
    assert_consistent(run, history)
    for step in steps:
        now += timedelta(seconds=step["after_s"])
        decision = orchestrate(run, to_state(step, now), now=now, force=step["force"])
        if not decision.writes:
            assert decision.status.value in {"REJECT", "ABORT", "WAIT"}
            continue
        run = commit(run, decision, now=now)
        history.append(run.state)
        assert_consistent(run, history)
