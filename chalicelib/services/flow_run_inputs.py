"""Flow run inputs and resuming a paused run (Prefect's ``/flow_runs/{id}/input*`` and
``/flow_runs/{id}/resume``).

A paused run that waits for input names a keyset in its state (``run_input_keyset``: the
``schema`` key its flow saved, the ``response`` key it will read). Resuming validates
``run_input`` against the stored schema (Cirrus's checker: required properties and JSON types,
as the UI's run forms), then proposes RUNNING (a pause) or SCHEDULED "Resuming" (a suspension:
its runner or worker starts it again) through set_state; the response input is written in the
same transaction as an accepted state, so the flow never sees RUNNING without its input.
Without a keyset, ``run_input`` is ignored, as in Prefect.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.domain.orchestration import SetStateStatus
from chalicelib.domain.parameter_schema import validate_values
from chalicelib.errors import NotFoundError
from chalicelib.schemas.flow_run_inputs import FlowRunInput, FlowRunInputCreate, FlowRunInputFilter, ResumeBody
from chalicelib.schemas.states import SetStateBody, State, StateType
from chalicelib.services.flow_runs import SetStateResult, set_flow_run_state
from chalicelib.storage import Repositories

NOT_PAUSED = "Cannot resume a flow run that is not paused."


def create_input(repos: Repositories, run_id: uuid.UUID, body: FlowRunInputCreate, now: datetime) -> None:
    """Store an input of the run: 404 for an unknown run, 409 for a key it already has."""
    value = FlowRunInput(
        flow_run_id=run_id, key=body.key, value=body.value, sender=body.sender, created=now, updated=now
    )
    repos.flow_run_inputs.create(value)


def read_input(repos: Repositories, run_id: uuid.UUID, key: str) -> str:
    """The input's value, as stored (Prefect answers it as plain text)."""
    found = repos.flow_run_inputs.get(run_id, key)
    if found is None:
        raise NotFoundError("Flow run input", key)
    return found.value


def filter_inputs(repos: Repositories, run_id: uuid.UUID, body: FlowRunInputFilter) -> list[FlowRunInput]:
    """The run's inputs whose key starts with ``prefix``, but not ``exclude_keys``, oldest first,
    at most ``limit``."""
    excluded = set(body.exclude_keys)
    found = [i for i in repos.flow_run_inputs.with_prefix(run_id, body.prefix) if i.key not in excluded]
    return found[: body.limit]


def delete_input(repos: Repositories, run_id: uuid.UUID, key: str) -> None:
    if not repos.flow_run_inputs.delete(run_id, key):
        raise NotFoundError("Flow run input", key)


@dataclass(frozen=True)
class ResumeRefusal:
    """A resume refused before any state was proposed (Prefect answers these with abort details)."""

    status: SetStateStatus
    state: State | None
    reason: str
    written: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "state": self.state.model_dump(mode="json") if self.state is not None else None,
            "details": {"type": "abort_details", "reason": self.reason},
        }


def resume_flow_run(
    repos: Repositories, run_id: uuid.UUID, body: ResumeBody, now: datetime
) -> SetStateResult | ResumeRefusal:
    """Resume a PAUSED run, with ``run_input`` when its pause waits for input."""
    run = repos.flow_runs.get(run_id)
    state = run.state
    if state is None or state.type is not StateType.PAUSED:
        return ResumeRefusal(SetStateStatus.ABORT, None, NOT_PAUSED)
    keyset = state.state_details.run_input_keyset
    response: FlowRunInput | None = None
    if keyset:
        run_input = body.run_input or {}
        refusal = _invalid_input(repos, run_id, keyset.get("schema"), run_input)
        if refusal is not None:
            return ResumeRefusal(SetStateStatus.REJECT, state, refusal)
        if run_input and keyset.get("response"):
            text = json.dumps(run_input, separators=(",", ":"))
            response = FlowRunInput(flow_run_id=run_id, key=keyset["response"], value=text, created=now, updated=now)
    if state.state_details.pause_reschedule:
        proposal = {"type": "SCHEDULED", "name": "Resuming", "state_details": {"scheduled_time": now}}
    else:
        proposal = {"type": "RUNNING"}
    return set_flow_run_state(
        repos, run_id, SetStateBody.model_validate({"state": proposal}), now, input_on_accept=response
    )


def _invalid_input(
    repos: Repositories, run_id: uuid.UUID, schema_key: str | None, run_input: dict[str, Any]
) -> str | None:
    """Why ``run_input`` cannot resume the run (Prefect's reasons), or ``None``."""
    stored = repos.flow_run_inputs.get(run_id, schema_key) if schema_key else None
    if stored is None:
        return "Run input schema not found."
    try:
        schema = json.loads(stored.value)
    except ValueError:
        return "Run input schema is not valid JSON."
    if not isinstance(schema, dict):
        return "Run input schema is not valid JSON."
    result = validate_values(schema, run_input)
    if result["valid"]:
        return None
    return f"Reason: {_first_message(result['errors'])}"


def _first_message(errors: list[Any]) -> str:
    first = errors[0]
    while isinstance(first, dict):
        first = first["errors"][0]
    return str(first)
