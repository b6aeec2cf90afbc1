"""What Prefect's events do to Cirrus (the ``/events/in`` websocket and ``POST /events``).

- ``prefect.flow-run.heartbeat``: the run's heartbeat moves to the time the event was *received*
  (the server's clock: a client whose clock lags can never make a healthy run look dead), through
  the same :func:`chalicelib.services.flow_runs._runs.beat` as ``POST /flow_runs/{id}/heartbeat``: only
  forward, never on a terminal run, one conditional write.
- ``prefect.task-run.*``: the task run is created or advanced (see :func:`record_task_run`).
- ``prefect.flow-run.<State>``: already recorded by the ``set_state`` call it mirrors; not written
  again.
- anything else: only stored.

Every valid event is also stored in the feed (:mod:`chalicelib.services.event_records`; once per id).

Every event is validated first; one that is not a valid Prefect event is dropped and counted as
``malformed``. Each call returns the outcome per event, for the edge to count and log.
"""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from chalicelib.errors import FlowRunNotFoundError, InvalidRequestError
from chalicelib.schemas.events import RESOURCE_ID, RESOURCE_ROLE, Event, object_id
from chalicelib.services import event_records, flow_runs, task_runs
from chalicelib.storage import Repositories

HEARTBEAT_EVENT = "prefect.flow-run.heartbeat"
FLOW_RUN_PREFIX = "prefect.flow-run."
TASK_RUN_PREFIX = "prefect.task-run."


class Outcome(StrEnum):
    """What became of one event."""

    HEARTBEAT = "heartbeat"
    #: A heartbeat older than (or equal to) the one stored: nothing written.
    HEARTBEAT_STALE = "heartbeat_stale"
    #: A heartbeat of a run in a terminal state: nothing written (never revives a run).
    HEARTBEAT_TERMINAL = "heartbeat_terminal"
    #: A heartbeat of a run Cirrus does not have (deleted, expired, another server's).
    UNKNOWN_FLOW_RUN = "unknown_flow_run"
    TASK_RUN = "task_run"
    #: A flow-run state event: ``set_state`` wrote that state already.
    FLOW_RUN_STATE = "flow_run_state"
    #: Any other event: only stored in the feed.
    DROPPED = "dropped"
    #: Not a valid Prefect event (bad JSON, a missing field, a resource without its id).
    MALFORMED = "malformed"


def ingest_json(repos: Repositories, text: str | bytes, now: datetime) -> list[Outcome]:
    """The outcomes of one websocket frame: a JSON event (Prefect's client sends one per frame)
    or a JSON array of events. A frame that is not JSON is one malformed event."""
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested deeper than ~1,000
        return [Outcome.MALFORMED]
    return ingest_many(repos, data if isinstance(data, list) else [data], now)


def ingest_many(repos: Repositories, items: list[Any], now: datetime) -> list[Outcome]:
    """The outcome of each decoded item, in order; one bad item never stops the others."""
    return [ingest(repos, item, now) for item in items]


def ingest(repos: Repositories, item: Any, now: datetime) -> Outcome:
    """Validate one decoded event and act on it (received at ``now``)."""
    try:
        event = Event.model_validate(item)
    except (ValidationError, RecursionError):
        return Outcome.MALFORMED
    event_records.store(repos, event, now)
    if event.event == HEARTBEAT_EVENT:
        return record_heartbeat(repos, event, now)
    if event.event.startswith(TASK_RUN_PREFIX):
        return record_task_run(repos, event, now)
    if event.event.startswith(FLOW_RUN_PREFIX) and event.resource_object_id("flow-run") is not None:
        return Outcome.FLOW_RUN_STATE
    return Outcome.DROPPED


def record_heartbeat(repos: Repositories, event: Event, now: datetime) -> Outcome:
    """A flow run's heartbeat, taken at ``now`` (its receipt)."""
    run_id = event.resource_object_id("flow-run")
    if run_id is None:
        return Outcome.MALFORMED
    try:
        outcome, _ = flow_runs.beat(repos, run_id, now)
    except FlowRunNotFoundError:
        return Outcome.UNKNOWN_FLOW_RUN
    return {
        flow_runs.Heartbeat.RECORDED: Outcome.HEARTBEAT,
        flow_runs.Heartbeat.STALE: Outcome.HEARTBEAT_STALE,
        flow_runs.Heartbeat.TERMINAL: Outcome.HEARTBEAT_TERMINAL,
    }[outcome]


def record_task_run(repos: Repositories, event: Event, now: datetime) -> Outcome:
    """Create or advance the task run this event reports
    (:func:`chalicelib.services.task_runs.record_task_run_from_event`: idempotent, never backwards)."""
    found = task_run_from_event(event)
    if found is None:
        return Outcome.MALFORMED
    task_run, state = found
    try:
        task_runs.record_task_run_from_event(repos, task_run=task_run, state=state, now=now)
    except InvalidRequestError:
        return Outcome.MALFORMED
    return Outcome.TASK_RUN


def task_run_from_event(event: Event) -> tuple[dict[str, Any], dict[str, Any] | None] | None:
    """``(task run, state)`` as Prefect's ``task_run_recorder`` reads them from a task-run event, or
    ``None`` when the event does not describe one: the id is the resource's, the flow run is the
    related resource in role ``flow-run``, the state is the payload's ``validated_state`` with the
    event's id and time (a replayed event carries the same state id, an older one an older time)."""
    task_run_id = event.resource_object_id("task-run")
    payload_run = event.payload.get("task_run")
    if task_run_id is None or not isinstance(payload_run, dict):
        return None
    flow_run_id = None
    for related in event.related:
        if related.get(RESOURCE_ROLE) == "flow-run":
            found = object_id(related[RESOURCE_ID], "flow-run")
            flow_run_id = str(found) if found is not None else None
    task_run = {**payload_run, "id": str(task_run_id), "flow_run_id": flow_run_id}
    validated = event.payload.get("validated_state")
    if not isinstance(validated, dict):
        return task_run, None
    details = validated.get("state_details")
    details = {**(details if isinstance(details, dict) else {}), "task_run_id": str(task_run_id)}
    details["flow_run_id"] = flow_run_id
    state = {**validated, "id": str(event.id), "timestamp": event.occurred.isoformat(), "state_details": details}
    return task_run, state
