"""How a ``prefect.task-run.<State>`` event reads as a task run and its state (Prefect's
task_run_recorder), on the event Prefect 3.9.1's engine sends."""

from __future__ import annotations

import uuid

from chalicelib.schemas.events import Event
from chalicelib.services.events import task_run_from_event

TASK_RUN = "01a228b0-2869-7c44-9147-c0ab245b2300"
FLOW_RUN = "888370e3-776e-4f69-b947-1d553968901a"
EVENT = {
    "id": "01a228b0-286c-748a-a184-08edd8756ded",
    "occurred": "2026-11-29T19:02:43.052769Z",
    "event": "prefect.task-run.Completed",
    "resource": {
        "prefect.resource.id": f"prefect.task-run.{TASK_RUN}",
        "prefect.resource.name": "count-3cf",
        "prefect.state-type": "COMPLETED",
        "prefect.orchestration": "client",
    },
    "related": [
        {"prefect.resource.id": f"prefect.flow-run.{FLOW_RUN}", "prefect.resource.role": "flow-run"},
        {"prefect.resource.id": "prefect.flow.d5d29ba8-6d17-5b82-b7e3-5bc13ac01ce3", "prefect.resource.role": "flow"},
    ],
    "payload": {
        "intended": {"from": "RUNNING", "to": "COMPLETED"},
        "initial_state": {"type": "RUNNING", "name": "Running", "message": "", "state_details": {}},
        "validated_state": {
            "type": "COMPLETED",
            "name": "Completed",
            "message": "",
            "state_details": {"untrackable_result": True},
            "data": None,
        },
        "task_run": {
            "name": "count-3cf",
            "task_key": "count-a2e1e31b",
            "dynamic_key": "3cfa704e-fe51-4b33-9632-57a1264113aa",
            "run_count": 1,
            "start_time": "2026-11-29T19:02:43.051169Z",
            "end_time": "2026-11-29T19:02:43.052769Z",
        },
    },
    "follows": "01a228b0-286b-78b1-a19f-e8a43456cf53",
}


def test_the_task_run_takes_the_resources_id_and_the_related_flow_run() -> None:
    task_run, state = task_run_from_event(Event.model_validate(EVENT))
    assert task_run["id"] == TASK_RUN and task_run["flow_run_id"] == FLOW_RUN
    assert (task_run["task_key"], task_run["dynamic_key"], task_run["run_count"]) == (
        "count-a2e1e31b",
        "3cfa704e-fe51-4b33-9632-57a1264113aa",
        1,
    )
    assert state["id"] == EVENT["id"] and state["timestamp"].startswith("2026-11-29T19:02:43.052769")
    assert (state["type"], state["name"]) == ("COMPLETED", "Completed")
    assert state["state_details"] == {"untrackable_result": True, "task_run_id": TASK_RUN, "flow_run_id": FLOW_RUN}


def test_without_a_flow_run_or_a_state_and_when_it_is_no_task_run() -> None:
    bare = {**EVENT, "related": [], "payload": {"task_run": EVENT["payload"]["task_run"]}}
    task_run, state = task_run_from_event(Event.model_validate(bare))
    assert task_run["flow_run_id"] is None and state is None
    other = {**EVENT, "resource": {"prefect.resource.id": f"prefect.flow-run.{uuid.uuid4()}"}}
    assert task_run_from_event(Event.model_validate(other)) is None
    assert task_run_from_event(Event.model_validate({**EVENT, "payload": {}})) is None
