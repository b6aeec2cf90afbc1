"""Prefect's flow-run orchestration rules, as pure functions of (run, current state, proposed state, now).

:func:`orchestrate` runs the rules of Prefect's ``CoreFlowPolicy`` in its order; the first rule that
does not accept decides. A decision either writes a state (ACCEPT: the proposed one, possibly
amended; REJECT with a replacement state such as AwaitingRetry) or writes nothing (REJECT without a
state, ABORT, WAIT: the current state stands). ``force`` skips every rule. :func:`commit` turns a
decision that writes into the run to store, through the bookkeeping of
:mod:`chalicelib.domain.run_bookkeeping`.

Deployment concurrency limits: :mod:`chalicelib.domain.deployment_concurrency` takes a slot
(``Decision.take_slot``); :func:`commit` keeps the run's ``concurrency_slot`` as Prefect's
``ReleaseFlowConcurrencySlots`` gives it back. Not modelled: deployment concurrency leases.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from chalicelib.domain.run_bookkeeping import (
    apply_state,
    effective_retries,
    initial_run_fields,
    normalised,
    with_initial_state,
)
from chalicelib.schemas.flow_runs import EmpiricalPolicy, FlowRun
from chalicelib.schemas.states import TERMINAL_STATES, State, StateDetails, StateType

__all__ = ["Decision", "RULES", "SetStateStatus", "commit", "initial_run_fields", "orchestrate", "with_initial_state"]


class SetStateStatus(StrEnum):
    ACCEPT = "ACCEPT"
    REJECT = "REJECT"
    ABORT = "ABORT"
    WAIT = "WAIT"


_DETAILS_TYPE = {
    SetStateStatus.ACCEPT: "accept_details",
    SetStateStatus.REJECT: "reject_details",
    SetStateStatus.ABORT: "abort_details",
    SetStateStatus.WAIT: "wait_details",
}


@dataclass(frozen=True)
class Decision:
    """The outcome of a proposal. ``state`` is the state to write, or ``None`` to write nothing."""

    status: SetStateStatus
    state: State | None
    reason: str | None = None
    delay_seconds: int | None = None
    #: The run's empirical policy as the rules left it (written only with a state).
    policy: EmpiricalPolicy | None = None
    #: Set ``resuming`` after the bookkeeping (Prefect does it in an after-transition hook).
    mark_resuming: bool = False
    #: Written only with a slot of the deployment's concurrency limit (storage takes it).
    take_slot: bool = False
    #: Written only with this schedule overlap token taken (``domain.schedule_overlap``; storage takes it).
    overlap_token: str | None = None

    @property
    def writes(self) -> bool:
        return self.state is not None

    def details(self) -> dict[str, Any]:
        """Prefect's ``details`` object of an orchestration result."""
        out: dict[str, Any] = {"type": _DETAILS_TYPE[self.status]}
        if self.status is SetStateStatus.WAIT:
            out["delay_seconds"] = self.delay_seconds
        if self.status is not SetStateStatus.ACCEPT:
            out["reason"] = self.reason
        return out


@dataclass
class _Transition:
    run: FlowRun
    initial: State
    proposed: State
    now: datetime
    policy: EmpiricalPolicy
    mark_resuming: bool = False


def _reject(reason: str, state: State | None = None) -> Decision:
    return Decision(SetStateStatus.REJECT, state, reason)


def _abort(reason: str) -> Decision:
    return Decision(SetStateStatus.ABORT, None, reason)


def _new_state(type_: StateType, now: datetime, **fields: Any) -> State:
    details = StateDetails(**fields.pop("details", {}))
    return State(type=type_, timestamp=now, state_details=details, **fields)


# ------------------------------------------------------------------ the rules, in Prefect's order
def _prevent_duplicate_transitions(t: _Transition) -> Decision | None:
    current, proposed = t.initial.state_details.transition_id, t.proposed.state_details.transition_id
    if current is not None and current == proposed:
        return _reject("This run has already made this state transition.")
    return None


def _has_persisted_result(state: State) -> bool:
    data = state.data
    return bool(data) and not (isinstance(data, dict) and data.get("type") == "unpersisted")


def _handle_terminal_state_transitions(t: _Transition) -> Decision | None:
    proposed = t.proposed
    if proposed.type in {StateType.CANCELLING, StateType.PAUSED, StateType.CRASHED}:
        return _abort(f"Run is already in terminal state {t.initial.type.value}.")
    if t.initial.type is StateType.COMPLETED and not proposed.is_terminal and _has_persisted_result(t.initial):
        return _reject("Run is already COMPLETED.")
    if proposed.type is StateType.SCHEDULED and t.run.deployment_id is None:
        return _abort("Cannot reschedule a run without an associated deployment.")
    if not proposed.is_terminal:  # a re-run starts with fresh pause metadata
        t.policy.resuming = False
        t.policy.pause_keys = []
        t.policy.retry_type = "reschedule" if proposed.type is StateType.SCHEDULED else None
    return None


def _enforce_cancelling(t: _Transition) -> Decision | None:
    return _reject("Cannot transition flows that are cancelling to a state other than Cancelled.")


def _bypass_cancelling(t: _Transition) -> Decision | None:
    initial = t.initial
    if (initial.type is StateType.SCHEDULED and not t.run.infrastructure_pid) or initial.name == "Resuming":
        return _reject("Scheduled flow run has no infrastructure to terminate.", _new_state(StateType.CANCELLED, t.now))
    if initial.type is StateType.PAUSED and initial.state_details.pause_reschedule:
        return _reject("Suspended flow run has no infrastructure to terminate.", _new_state(StateType.CANCELLED, t.now))
    return None


def _prevent_pending_transitions(t: _Transition) -> Decision | None:
    initial, proposed = t.initial, t.proposed
    if initial.type is StateType.PENDING and initial.name != proposed.name and proposed.name != "Pending":
        # A named PENDING sub-state (Submitting, InfrastructurePending) may follow Pending.
        proposed.state_details.scheduled_time = initial.state_details.scheduled_time
        return None
    return _abort(f"This run is in a {initial.type.value} state and cannot transition to a PENDING state.")


def _only_scheduled_runs_marked_late(t: _Transition) -> Decision | None:
    if t.proposed.name != "Late":
        return None
    if t.initial.type is not StateType.SCHEDULED:
        return _reject("Only scheduled flows can be marked late.")
    if t.initial.name == "Late":  # Cirrus: marking late is idempotent, never a second write
        return _reject("Run is already Late.")
    return None


def _handle_pausing(t: _Transition) -> Decision | None:
    proposed = t.proposed
    verb = "suspend" if proposed.name == "Suspended" else "pause"
    if t.initial.type is not StateType.RUNNING:
        return _reject(f"Cannot {verb} flows that are not currently running.")
    key = proposed.state_details.pause_key or str(proposed.id)
    if key in (t.policy.pause_keys or []):
        return _reject(f"This {verb} has already fired.")
    if proposed.state_details.pause_reschedule:
        if t.run.parent_task_run_id is not None:
            return _abort(f"Cannot {verb} subflows.")
        if t.run.deployment_id is None:
            return _abort(f"Cannot {verb} flows without a deployment.")
    t.policy.pause_keys = [*(t.policy.pause_keys or []), key]
    return None


def _handle_resuming(t: _Transition) -> Decision | None:
    initial, proposed = t.initial, t.proposed
    if not (proposed.type in {StateType.RUNNING, StateType.SCHEDULED} or proposed.is_terminal):
        return _reject(
            f"This run cannot transition to the {proposed.type.value} state from the {initial.type.value} state."
        )
    verb = "suspend" if proposed.name == "Suspended" else "pause"
    display = (proposed.name or proposed.type.value).lower()
    if initial.state_details.pause_reschedule and t.run.deployment_id is None:
        return _reject(f"Cannot reschedule a {display} flow run without a deployment.")
    timeout = initial.state_details.pause_timeout
    if timeout is not None and timeout < t.now:
        failed = _new_state(StateType.FAILED, t.now, message=f"The flow was {display} and never resumed.")
        return _reject(f"The flow run {verb} has timed out and can no longer resume.", failed)
    t.mark_resuming = True
    return None


def _copy_scheduled_time(t: _Transition) -> Decision | None:
    if t.proposed.state_details.scheduled_time is None:
        t.proposed.state_details.scheduled_time = t.initial.state_details.scheduled_time
    return None


def _wait_for_scheduled_time(t: _Transition) -> Decision | None:
    scheduled = t.initial.state_details.scheduled_time
    if scheduled is None:
        return None
    delay = scheduled - t.now
    # Prefect's rounding: whole seconds, plus the fraction rounded to the nearest second.
    seconds = math.floor(delay.total_seconds()) + round(delay.microseconds / 1e6)
    if seconds > 0:
        return Decision(SetStateStatus.WAIT, None, "Scheduled time is in the future", delay_seconds=seconds)
    return None


def _retry_failed_flows(t: _Transition) -> Decision | None:
    retries, delay = effective_retries(t.policy)
    if retries is None or t.run.run_count > retries:
        t.policy.retry_type = None
        return None
    t.policy.resuming = False
    t.policy.pause_keys = []
    t.policy.retry_type = "in_process"
    retry = _new_state(
        StateType.SCHEDULED,
        t.now,
        name="AwaitingRetry",
        message=t.proposed.message,
        data=t.proposed.data,
        details={"scheduled_time": t.now + timedelta(seconds=delay)},
    )
    return _reject("Retrying", retry)


_ALL = frozenset(StateType)
#: States in which a run holds a slot of its deployment's concurrency limit.
SLOT_HOLDING = frozenset({StateType.PENDING, StateType.RUNNING, StateType.CANCELLING})


def holds_slot_after(run: FlowRun, decision: Decision) -> bool:
    """Whether ``run`` holds a deployment slot once ``decision`` (which writes a state) is written:
    it took one, or held one and stays PENDING, RUNNING or CANCELLING (Prefect's
    ``ReleaseFlowConcurrencySlots``, forced transitions included), or failed into an in-process
    retry (AwaitingRetry by rejection: the engine keeps its slot across the delay)."""
    state = decision.state
    if decision.take_slot:
        return True
    if not run.concurrency_slot or state is None:
        return False
    if state.type in SLOT_HOLDING:
        return True
    return state.name == "AwaitingRetry" and decision.status is SetStateStatus.REJECT


def overlap_token_after(run: FlowRun, decision: Decision) -> str | None:
    """The schedule overlap token ``run`` holds once ``decision`` (which writes a state) is
    written (``domain.schedule_overlap``): the one it takes, else none from a terminal state on,
    else the one it held (a pause, an in-process retry and a rescheduling keep it)."""
    if decision.overlap_token is not None:
        return decision.overlap_token
    if decision.state is not None and decision.state.is_terminal:
        return None
    return run.overlap_slot


@dataclass(frozen=True)
class Rule:
    """One orchestration rule: it runs when the current state's type is in ``from_types`` and the
    proposed state's type in ``to_types``."""

    name: str
    from_types: frozenset[StateType] | set[StateType]
    to_types: frozenset[StateType] | set[StateType]
    check: Callable[[_Transition], Decision | None] = field(repr=False)


_S = StateType
RULES: tuple[Rule, ...] = (
    Rule("PreventDuplicateTransitions", _ALL, _ALL, _prevent_duplicate_transitions),
    Rule("HandleFlowTerminalStateTransitions", TERMINAL_STATES, _ALL, _handle_terminal_state_transitions),
    Rule("EnforceCancellingToCancelledTransition", {_S.CANCELLING}, _ALL - {_S.CANCELLED}, _enforce_cancelling),
    Rule("BypassCancellingFlowRunsWithNoInfra", {_S.SCHEDULED, _S.PAUSED}, {_S.CANCELLING}, _bypass_cancelling),
    Rule(
        "PreventPendingTransitions",
        {_S.PENDING, _S.CANCELLING, _S.RUNNING, _S.CANCELLED},
        {_S.PENDING},
        _prevent_pending_transitions,
    ),
    Rule("EnsureOnlyScheduledFlowsMarkedLate", _ALL, {_S.SCHEDULED}, _only_scheduled_runs_marked_late),
    Rule("HandlePausingFlows", _ALL, {_S.PAUSED}, _handle_pausing),
    Rule("HandleResumingPausedFlows", {_S.PAUSED}, _ALL, _handle_resuming),
    Rule("CopyScheduledTime", {_S.SCHEDULED}, {_S.PENDING}, _copy_scheduled_time),
    Rule("WaitForScheduledTime", {_S.SCHEDULED, _S.PENDING}, {_S.RUNNING}, _wait_for_scheduled_time),
    Rule("RetryFailedFlows", {_S.RUNNING}, {_S.FAILED}, _retry_failed_flows),
)


def orchestrate(run: FlowRun, proposed: State, *, now: datetime, force: bool = False) -> Decision:
    """Judge ``proposed`` against ``run``'s current state at ``now``; neither argument is changed."""
    proposed = normalised(proposed).model_copy(deep=True)
    policy = run.empirical_policy.model_copy(deep=True)
    initial = run.state
    if force:
        return Decision(SetStateStatus.ACCEPT, proposed, policy=policy)
    if initial is None:
        if proposed.type is StateType.PAUSED:
            return _abort("Cannot pause flows with no state.")
        return Decision(SetStateStatus.ACCEPT, proposed, policy=policy)
    transition = _Transition(run=run, initial=initial, proposed=proposed, now=now, policy=policy)
    decision = Decision(SetStateStatus.ACCEPT, transition.proposed)
    for rule in RULES:
        if initial.type in rule.from_types and transition.proposed.type in rule.to_types:
            verdict = rule.check(transition)
            if verdict is not None:
                decision = verdict
                break
    return replace(decision, policy=transition.policy, mark_resuming=transition.mark_resuming)


def commit(run: FlowRun, decision: Decision, *, now: datetime) -> FlowRun:
    """The run to store after a decision that writes a state (``decision.writes``)."""
    if decision.state is None:
        raise ValueError("this decision writes no state")
    updated = apply_state(run, decision.state, now=now, policy=decision.policy)
    if decision.mark_resuming:
        policy = updated.empirical_policy.model_copy(update={"resuming": True})
        updated = updated.model_copy(update={"empirical_policy": policy})
    holds = holds_slot_after(run, decision)
    if holds != updated.concurrency_slot:
        updated = updated.model_copy(update={"concurrency_slot": holds})
    token = overlap_token_after(run, decision)
    if token != updated.overlap_slot:
        updated = updated.model_copy(update={"overlap_slot": token})
    return updated
