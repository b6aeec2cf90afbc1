import uuid
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.errors import ConcurrentUpdateError, FlowRunNotFoundError
from chalicelib.schemas.flow_runs import FlowRun
from chalicelib.schemas.states import State, StateType

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def _run(**kw):
    state = kw.pop("state", State(type=StateType.SCHEDULED, timestamp=T0))
    return FlowRun(
        name="r",
        flow_id=uuid.uuid4(),
        state=state,
        state_id=state.id,
        state_type=state.type,
        state_name=state.name,
        **kw,
    )


def test_round_trip_and_conditional_insert(repos):
    run = _run(deployment_id=uuid.uuid4(), next_scheduled_start_time=T0, tags=["b", "a"], parameters={"x": 1})
    assert repos.flow_runs.insert(run) is True
    assert repos.flow_runs.insert(run) is False
    read, history = repos.flow_runs.get_with_history(run.id)
    assert read.model_dump() == run.model_dump()
    assert [s.id for s in history] == [run.state.id]


def test_by_deployment_reads_a_state_range(repos):
    dep = uuid.uuid4()
    runs = [_run(deployment_id=dep, next_scheduled_start_time=T0 + timedelta(hours=h)) for h in (2, 0, 1)]
    for r in runs:
        repos.flow_runs.insert(r)
    got = list(repos.flow_runs.by_deployment(dep, StateType.SCHEDULED, before=T0 + timedelta(hours=1)))
    assert [r.next_scheduled_start_time for r in got] == [T0, T0 + timedelta(hours=1)]


def test_replace_is_conditional_on_the_state_read(repos):
    run = _run()
    repos.flow_runs.insert(run)
    new_state = State(type=StateType.PENDING)
    moved = run.model_copy(update={"state": new_state, "state_id": new_state.id, "state_type": StateType.PENDING})
    repos.flow_runs.replace(moved, [run.state, new_state], expected_state_id=run.state.id)
    with pytest.raises(ConcurrentUpdateError):
        repos.flow_runs.replace(moved, [run.state, new_state], expected_state_id=run.state.id)


def test_terminal_runs_expire_and_reads_hide_expired(repos, settings):
    ended = datetime.now(UTC) - timedelta(days=settings.retention_days + 1)
    state = State(type=StateType.COMPLETED, timestamp=ended)
    run = _run(state=state, end_time=ended)
    item = repos.flow_runs.to_item(run)
    assert item.expires_at == (ended + timedelta(days=settings.retention_days)).replace(microsecond=0)
    repos.flow_runs.insert(run)
    with pytest.raises(FlowRunNotFoundError):
        repos.flow_runs.get(run.id)
    assert repos.flow_runs.to_item(_run()).expires_at is None


def test_delete_if_scheduled(repos):
    run = _run()
    repos.flow_runs.insert(run)
    assert repos.flow_runs.delete_if_scheduled(run.id) is True
    assert repos.flow_runs.delete_if_scheduled(run.id) is False
