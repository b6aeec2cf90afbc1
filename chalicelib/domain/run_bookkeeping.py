"""The fields a flow run derives from its states (Prefect's global transforms), as pure functions.

Whatever the orchestration rules decide, a state that is written changes the run the same way:
``state``/``state_id``/``state_type``/``state_name``; ``start_time`` (first RUNNING);
``end_time`` (entering a terminal state after a start; cleared when leaving one);
``total_run_time`` (time spent in each RUNNING state); ``run_count`` (each RUNNING, unless resuming
a pause); ``expected_start_time`` (set once: the scheduled time, else the first state's time);
``next_scheduled_start_time`` (set entering SCHEDULED, cleared leaving it). Builders of new runs
(create, deployments' create_flow_run, the scheduler) use :func:`initial_run_fields` so a new run is
consistent with its first state.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from chalicelib.schemas.flow_runs import EmpiricalPolicy, FlowRun
from chalicelib.schemas.states import State, StateType


def normalised(state: State) -> State:
    """``state`` with Prefect's server defaults: a SCHEDULED state without a scheduled time is
    scheduled at its own timestamp (a copy; the argument is not changed)."""
    if state.type is StateType.SCHEDULED and state.state_details.scheduled_time is None:
        details = state.state_details.model_copy(update={"scheduled_time": state.timestamp})
        return state.model_copy(update={"state_details": details})
    return state


def effective_retries(policy: EmpiricalPolicy) -> tuple[int | None, float]:
    """(retries, retry delay in seconds), reading Prefect's deprecated ``max_retries`` and
    ``retry_delay_seconds`` when the new fields are unset."""
    retries = policy.retries if policy.retries else (policy.max_retries or policy.retries)
    delay = policy.retry_delay if policy.retry_delay else (policy.retry_delay_seconds or 0)
    return retries, float(delay or 0)


def _is_final(state: State | None) -> bool:
    return state is not None and state.is_terminal


def timing_fields(run: Any, state: State, *, resuming: bool = False) -> dict[str, Any]:
    """The fields a run (flow or task) derives from ``state`` replacing ``run.state``:
    ``start_time``, ``end_time``, ``total_run_time``, ``expected_start_time`` (set once),
    ``next_scheduled_start_time`` and ``run_count`` (not bumped when ``resuming`` a pause)."""
    initial = run.state
    changes: dict[str, Any] = {}
    start_time = run.start_time
    if state.type is StateType.RUNNING and start_time is None:
        start_time = state.timestamp
    changes["start_time"] = start_time

    end_time = run.end_time
    if _is_final(initial) and not state.is_terminal:
        end_time = None
    if state.is_terminal and start_time is not None and end_time is None:
        end_time = state.timestamp
    changes["end_time"] = end_time

    total = run.total_run_time
    if initial is not None and initial.type is StateType.RUNNING:
        total += (state.timestamp - initial.timestamp).total_seconds()
    changes["total_run_time"] = total

    if run.expected_start_time is None:
        is_scheduled = state.type is StateType.SCHEDULED
        changes["expected_start_time"] = state.state_details.scheduled_time if is_scheduled else state.timestamp

    next_scheduled = run.next_scheduled_start_time
    if initial is not None and initial.type is StateType.SCHEDULED:
        next_scheduled = None
    if state.type is StateType.SCHEDULED:
        next_scheduled = state.state_details.scheduled_time
    changes["next_scheduled_start_time"] = next_scheduled

    run_count = run.run_count
    if state.type is StateType.RUNNING and not resuming:
        run_count += 1
    changes["run_count"] = run_count
    return changes


def apply_state(run: FlowRun, state: State, *, now: datetime, policy: EmpiricalPolicy | None = None) -> FlowRun:
    """The run after ``state`` is written over its current state (a new object).

    ``policy`` replaces the run's empirical policy first (rules may change it: pause keys,
    resuming, retry type). ``now`` becomes ``updated``. A run entering RUNNING from another state
    forgets its heartbeat: a heartbeat counts for the attempt that sent it, so the zombie killer
    never judges a new attempt by an old attempt's silence.
    """
    state = normalised(state)
    initial = run.state
    policy = (policy or run.empirical_policy).model_copy(deep=True)
    details = state.state_details.model_copy(update={"flow_run_id": run.id})
    state = state.model_copy(update={"state_details": details})
    changes: dict[str, Any] = {
        "state": state,
        "state_id": state.id,
        "state_type": state.type,
        "state_name": state.name,
        "updated": now,
    }
    changes.update(timing_fields(run, state, resuming=bool(policy.resuming)))
    if (state.type is StateType.RUNNING or state.is_terminal) and policy.resuming:
        policy.resuming = False
    changes["empirical_policy"] = policy

    if state.type is StateType.RUNNING and (initial is None or initial.type is not StateType.RUNNING):
        changes["heartbeat"] = None
    return run.model_copy(update=changes)


def initial_run_fields(state: State, *, flow_run_id: uuid.UUID | None = None) -> dict[str, Any]:
    """The fields of a NEW run whose first state is ``state`` (Prefect sets it with force).

    Use as ``FlowRun(id=run_id, name=..., flow_id=..., **initial_run_fields(state, flow_run_id=run_id))``:
    it returns ``state``, ``state_id``, ``state_type``, ``state_name``, ``start_time``,
    ``end_time``, ``total_run_time``, ``run_count``, ``expected_start_time`` and
    ``next_scheduled_start_time``. ``state_details.flow_run_id`` is set when the id is given.
    """
    blank = FlowRun(id=flow_run_id or uuid.uuid4(), name="", flow_id=uuid.uuid4())
    applied = apply_state(blank, state, now=state.timestamp)
    fields = (
        "state", "state_id", "state_type", "state_name", "start_time", "end_time",
        "total_run_time", "run_count", "expected_start_time", "next_scheduled_start_time",
    )  # fmt: skip
    out = {name: getattr(applied, name) for name in fields}
    if flow_run_id is None:
        details = out["state"].state_details.model_copy(update={"flow_run_id": None})
        out["state"] = out["state"].model_copy(update={"state_details": details})
    return out


def with_initial_state(run: FlowRun, state: State) -> FlowRun:
    """``run`` (not yet stored) with ``state`` as its first state and every derived field set."""
    return run.model_copy(update=initial_run_fields(state, flow_run_id=run.id))
