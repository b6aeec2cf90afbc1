"""Prefect's task-run orchestration rules (``CoreTaskPolicy``), as pure functions.

:func:`orchestrate_task` runs, in Prefect's order: HandleTaskTerminalStateTransitions,
PreventRunningTasksFromStoppedFlows, CopyScheduledTime, WaitForScheduledTime, RetryFailedTasks,
RenameReruns; the first rule that does not accept decides (:class:`Decision`, as for flow runs).
:func:`commit_task_state` writes an accepted state with the bookkeeping flow runs share
(:func:`~chalicelib.domain.run_bookkeeping.timing_fields`) and UpdateFlowRunTrackerOnTasks.

Not applied (Cirrus has no such features): cache retrieval/insertion, v1 tag concurrency slots
(tags are limited through the v2 ``concurrency_limits`` API by the client), retry jitter (the
retry is scheduled after the base delay).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

# The two scheduled-time rules are the flow rules themselves (they read only the states and the clock).
from chalicelib.domain.orchestration import Decision, SetStateStatus, _copy_scheduled_time, _wait_for_scheduled_time
from chalicelib.domain.run_bookkeeping import normalised, timing_fields
from chalicelib.schemas.states import TERMINAL_STATES, State, StateDetails, StateType
from chalicelib.schemas.task_runs import TaskRun


@dataclass(frozen=True)
class FlowRunView:
    """What the task rules need of the enclosing flow run (``None`` state: not started)."""

    state: State | None
    run_count: int


@dataclass
class _Transition:
    run: TaskRun
    initial: State
    proposed: State
    now: datetime
    flow_run: FlowRunView | None
    reset_run_count: bool = False


def _reject(reason: str, state: State | None = None) -> Decision:
    return Decision(SetStateStatus.REJECT, state, reason)


def _abort(reason: str) -> Decision:
    return Decision(SetStateStatus.ABORT, None, reason)


def _renamed(t: _Transition, name: str) -> None:
    t.proposed = t.proposed.model_copy(update={"name": name})


def _terminal_transitions(t: _Transition) -> Decision | None:
    if t.proposed.type in {StateType.CANCELLING, StateType.PAUSED, StateType.CRASHED}:
        return _abort(f"Run is already {t.initial.type.value}.")
    data = t.initial.data
    persisted = bool(data) and not (isinstance(data, dict) and data.get("type") == "unpersisted")
    if t.initial.type is StateType.COMPLETED and persisted:
        return _reject("This run is already completed.")
    if not t.proposed.is_terminal:
        t.reset_run_count = True  # leaving a terminal state resets retries
    flow_retrying = t.flow_run is not None and t.run.flow_run_run_count < t.flow_run.run_count
    if t.proposed.type is StateType.RUNNING and flow_retrying:
        _renamed(t, "Retrying")
    return None


def _stopped_flows(t: _Transition) -> Decision | None:
    flow_run = t.flow_run
    if flow_run is None:
        return None
    if flow_run.state is None:
        return _abort("The enclosing flow must be running to begin task execution.")
    if flow_run.state.type is StateType.PAUSED:
        details = flow_run.state.state_details
        paused = State(
            type=StateType.PAUSED,
            name="NotReady",
            timestamp=t.now,
            state_details=StateDetails(pause_timeout=details.pause_timeout, pause_reschedule=details.pause_reschedule),
        )
        return _reject(
            f"The flow is paused, new tasks can execute after resuming flow run: {t.run.flow_run_id}.", paused
        )
    if flow_run.state.type is not StateType.RUNNING:
        return _abort("The enclosing flow must be running to begin task execution.")
    return None


def retry_delay_seconds(retry_delay: Any, run_count: int) -> float:
    """The delay before retry number ``run_count`` (a list gives one delay per retry, the last repeating)."""
    if isinstance(retry_delay, list):
        return float(retry_delay[min(max(run_count - 1, 0), len(retry_delay) - 1)]) if retry_delay else 0.0
    return float(retry_delay or 0)


def _retry_failed_tasks(t: _Transition) -> Decision | None:
    policy = t.run.empirical_policy
    if t.proposed.state_details.retriable is False:
        return None
    if policy.retries is None or t.run.run_count > policy.retries:
        return None
    delay = retry_delay_seconds(policy.retry_delay, t.run.run_count)
    retry = State(
        type=StateType.SCHEDULED,
        name="AwaitingRetry",
        timestamp=t.now,
        message=t.proposed.message,
        data=t.proposed.data,
        state_details=StateDetails(scheduled_time=t.now + timedelta(seconds=delay)),
    )
    return _reject("Retrying", retry)


def _rename_reruns(t: _Transition) -> Decision | None:
    run_count = 0 if t.reset_run_count else t.run.run_count
    if run_count > 0:
        _renamed(t, "Retrying" if t.initial.name == "AwaitingRetry" else "Rerunning")
    return None


_ALL = frozenset(StateType)
_S = StateType
#: (rule, from types, to types), in CoreTaskPolicy's order.
TASK_RULES = (
    (_terminal_transitions, TERMINAL_STATES, _ALL),
    (_stopped_flows, _ALL, {_S.RUNNING}),
    (_copy_scheduled_time, {_S.SCHEDULED}, {_S.PENDING}),
    (_wait_for_scheduled_time, {_S.SCHEDULED, _S.PENDING}, {_S.RUNNING}),
    (_retry_failed_tasks, {_S.RUNNING}, {_S.FAILED}),
    (_rename_reruns, _ALL, {_S.RUNNING}),
)


@dataclass(frozen=True)
class TaskDecision:
    decision: Decision
    #: Leaving a terminal state: the run count restarts (retries are counted afresh).
    reset_run_count: bool = False


def orchestrate_task(
    run: TaskRun, proposed: State, *, now: datetime, flow_run: FlowRunView | None, force: bool = False
) -> TaskDecision:
    """Judge ``proposed`` for ``run`` at ``now``; ``flow_run`` is the enclosing run (None if none)."""
    proposed = normalised(proposed).model_copy(deep=True)
    if force or run.state is None:
        return TaskDecision(Decision(SetStateStatus.ACCEPT, proposed))
    t = _Transition(run=run, initial=run.state, proposed=proposed, now=now, flow_run=flow_run)
    for rule, from_types, to_types in TASK_RULES:
        if t.initial.type in from_types and t.proposed.type in to_types:
            verdict = rule(t)
            if verdict is not None:
                return TaskDecision(verdict)
    return TaskDecision(Decision(SetStateStatus.ACCEPT, t.proposed), reset_run_count=t.reset_run_count)


def commit_task_state(
    run: TaskRun, state: State, *, now: datetime, flow_run: FlowRunView | None = None, reset_run_count: bool = False
) -> TaskRun:
    """``run`` with ``state`` written over its current state (a new object): the state fields,
    the timing fields flow runs share, and the flow run's run count when entering RUNNING."""
    state = normalised(state)
    details = state.state_details.model_copy(update={"task_run_id": run.id, "flow_run_id": run.flow_run_id})
    state = state.model_copy(update={"state_details": details})
    base = run.model_copy(update={"run_count": 0}) if reset_run_count else run
    changes: dict[str, Any] = {
        "state": state, "state_id": state.id, "state_type": state.type, "state_name": state.name, "updated": now,
    }  # fmt: skip
    changes.update(timing_fields(base, state))
    if state.type is StateType.RUNNING and flow_run is not None:
        changes["flow_run_run_count"] = flow_run.run_count
    return run.model_copy(update=changes)
