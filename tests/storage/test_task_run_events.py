"""record_task_run_from_event: creates, advances, never moves a task run backwards."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.errors import InvalidRequestError
from chalicelib.services.task_runs import record_task_run_from_event

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _flow_run(repos, run_id=None) -> uuid.UUID:
    """A stored flow run (task-run events of unknown flow runs are refused)."""
    from tests.storage.test_flow_run_items import scheduled_run

    run = scheduled_run().model_copy(update={"id": run_id or uuid.uuid4(), "idempotency_key": None})
    repos.flow_runs.insert(run)
    return run.id


def _event(run_id, state_type, at, flow_run_id=None):
    task_run = {
        "id": str(run_id),
        "name": "t-1",
        "task_key": "t",
        "dynamic_key": "0",
        "flow_run_id": str(flow_run_id) if flow_run_id else None,
        "tags": ["a"],
        "run_count": 1,
    }
    state = {"id": str(uuid.uuid4()), "type": state_type, "name": state_type.title(), "timestamp": at.isoformat()}
    return task_run, state


def test_creates_then_advances_and_ignores_older_events(repos):
    run_id = uuid.uuid4()
    task_run, state = _event(run_id, "RUNNING", T0)
    run = record_task_run_from_event(repos, task_run=task_run, state=state, now=T0)
    assert run.id == run_id and run.state_type.value == "RUNNING" and run.tags == ["a"]
    task_run, done = _event(run_id, "COMPLETED", T0 + timedelta(seconds=5))
    assert record_task_run_from_event(repos, task_run=task_run, state=done, now=T0).state_type.value == "COMPLETED"
    # a late Running event and a replay change nothing
    task_run, late = _event(run_id, "RUNNING", T0 + timedelta(seconds=1))
    assert record_task_run_from_event(repos, task_run=task_run, state=late, now=T0).state_type.value == "COMPLETED"
    assert record_task_run_from_event(repos, task_run=task_run, state=done, now=T0).state_type.value == "COMPLETED"
    assert repos.task_runs.get(run_id).state.id == uuid.UUID(done["id"])


def test_same_key_from_the_api_and_an_event_is_one_run(repos):
    flow_run_id = _flow_run(repos)
    first, state = _event(uuid.uuid4(), "PENDING", T0, flow_run_id)
    record_task_run_from_event(repos, task_run=first, state=state, now=T0)
    other, later = _event(uuid.uuid4(), "RUNNING", T0 + timedelta(seconds=1), flow_run_id)
    run = record_task_run_from_event(repos, task_run=other, state=later, now=T0)
    assert str(run.id) == first["id"] and run.state_type.value == "RUNNING"
    assert len(list(repos.task_runs.for_flow_run(flow_run_id))) == 1


def test_a_bad_payload_names_the_field(repos):
    with pytest.raises(InvalidRequestError) as info:
        record_task_run_from_event(repos, task_run={"id": str(uuid.uuid4())}, state=None, now=T0)
    assert info.value.loc[0] == "task_run"


def test_an_engine_event_records_the_task_run(repos):
    import json

    from chalicelib.services.events import Outcome, ingest_json
    from tests.unit.test_task_run_events import EVENT, FLOW_RUN, TASK_RUN

    _flow_run(repos, uuid.UUID(FLOW_RUN))
    received = datetime.fromisoformat(EVENT["occurred"].replace("Z", "+00:00"))
    assert ingest_json(repos, json.dumps(EVENT), received) == [Outcome.TASK_RUN]
    run = repos.task_runs.get(uuid.UUID(TASK_RUN))
    assert str(run.flow_run_id) == FLOW_RUN and run.state_type.value == "COMPLETED" and run.run_count == 1
    assert ingest_json(repos, json.dumps(EVENT), received) == [Outcome.TASK_RUN]  # a replay changes nothing
    assert repos.task_runs.get(uuid.UUID(TASK_RUN)).state == run.state


def test_events_of_unknown_flow_runs_and_far_future_states_are_refused(repos):
    """A task run needs its flow run; a state dated ahead of the server's clock by more than the skew
    would pin the task run (every later real event would look older): both are invalid events."""
    task_run, state = _event(uuid.uuid4(), "RUNNING", T0, uuid.uuid4())
    with pytest.raises(InvalidRequestError) as info:
        record_task_run_from_event(repos, task_run=task_run, state=state, now=T0)
    assert info.value.loc == ("task_run", "flow_run_id")
    task_run, state = _event(uuid.uuid4(), "RUNNING", datetime(2999, 12, 31, tzinfo=UTC), _flow_run(repos))
    with pytest.raises(InvalidRequestError) as info:
        record_task_run_from_event(repos, task_run=task_run, state=state, now=T0)
    assert info.value.loc == ("task_run", "state", "timestamp")
    assert list(repos.task_runs.scan()) == []
