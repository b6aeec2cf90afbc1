"""Schedule overlap policies (issue 28): what happens when a run of a schedule would start while
another run of the same schedule is still active. Pure functions of a run and a decision.

- ``ALLOW_ALL`` (Prefect's behaviour, the default): runs overlap freely.
- ``SKIP``: the run that would start is skipped: CANCELLED, named "Skipped", with a message naming
  the active run (a terminal state in Prefect's vocabulary: runners and workers abandon it).
- ``BUFFER_ONE``: it waits (SCHEDULED "AwaitingConcurrencySlot", tried again after
  :data:`BUFFER_WAIT`) if no other run of the schedule waits already, else it is skipped.
- ``BUFFER_ALL``: every such run waits.
- ``CANCEL_OTHER``: the active run is cancelled through Prefect's cancellation path (CANCELLING:
  its runner or worker kills it) and the new run waits until it has ended.

The decision is taken when the run would start (a proposal into PENDING or RUNNING from a state
that is neither), never at planning time. A run stamped with such a policy (its schedule's, when
planned) holds a token while it counts: ``active`` from its start until it reaches a terminal state
(a pause or an in-process retry keeps it), ``waiting`` while it is BUFFER_ONE's one waiting run.
Storage keeps one counter item per schedule and moves it in the same transaction as the state
(:mod:`chalicelib.storage.schedule_overlap`), so racing runners, workers and ticks never see two
active runs of a SKIP/BUFFER_ONE schedule nor two waiting runs of a BUFFER_ONE one. Forced
transitions bypass the policy, as they bypass Prefect's deployment concurrency.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from chalicelib.domain.orchestration import SLOT_HOLDING, Decision, SetStateStatus
from chalicelib.domain.schedule_policy import OVERLAP_POLICIES
from chalicelib.schemas.flow_runs import FlowRun
from chalicelib.schemas.states import State, StateDetails, StateType

ALLOW_ALL, SKIP, BUFFER_ONE, BUFFER_ALL, CANCEL_OTHER = OVERLAP_POLICIES

#: The run's token (``FlowRun.overlap_slot``): it is its schedule's active run, or its one waiting run.
ACTIVE = "active"
WAITING = "waiting"

#: How long a buffered run waits before its runner or worker tries again (Prefect's
#: ``concurrency_slot_wait_seconds`` for AwaitingConcurrencySlot is 30 s; overlaps are often short).
BUFFER_WAIT = timedelta(seconds=10)
SKIPPED = "Skipped"
AWAITING = "AwaitingConcurrencySlot"
_STARTS = frozenset({StateType.PENDING, StateType.RUNNING})


def governed(run: FlowRun) -> bool:
    """Whether ``run`` is a schedule's run under a policy other than ALLOW_ALL."""
    return run.schedule_id is not None and run.overlap not in (None, ALLOW_ALL)


def starts(run: FlowRun, decision: Decision, *, force: bool) -> bool:
    """Whether ``decision`` starts ``run`` under its overlap policy, so it must become the
    schedule's active run first: it writes PENDING or RUNNING over any other state (or none),
    unforced, and the run is not the active run already (a resumed pause keeps its token)."""
    state = decision.state
    if force or state is None or state.type not in _STARTS or not governed(run):
        return False
    if run.overlap_slot == ACTIVE:
        return False
    return run.state is None or run.state.type not in SLOT_HOLDING


def taking(decision: Decision, token: str = ACTIVE) -> Decision:
    """``decision``, written only with ``token`` taken (storage checks the schedule's counter)."""
    return replace(decision, overlap_token=token)


def _other(holder: str | None) -> str:
    return f"run {holder}" if holder else "another run"


def skipped(run: FlowRun, decision: Decision, now: datetime, holder: str | None) -> Decision:
    """SKIP's answer (and BUFFER_ONE's when a run already waits): CANCELLED "Skipped"."""
    why = "is still active" if run.overlap == SKIP else "is still active and another run already waits"
    message = f"Skipped: {_other(holder)} of this schedule {why} (overlap policy {run.overlap})."
    state = State(type=StateType.CANCELLED, name=SKIPPED, timestamp=now, message=message)
    return Decision(SetStateStatus.REJECT, state, message, policy=decision.policy)


def buffered(run: FlowRun, decision: Decision, now: datetime, holder: str | None) -> Decision:
    """BUFFER_ONE, BUFFER_ALL and CANCEL_OTHER's answer: wait, SCHEDULED "AwaitingConcurrencySlot"."""
    if run.overlap == CANCEL_OTHER:
        message = f"Waiting for {_other(holder)} of this schedule to end: cancelled (overlap policy CANCEL_OTHER)."
    else:
        message = f"Waiting: {_other(holder)} of this schedule is still active (overlap policy {run.overlap})."
    details = StateDetails(scheduled_time=now + BUFFER_WAIT)
    state = State(type=StateType.SCHEDULED, name=AWAITING, timestamp=now, message=message, state_details=details)
    return Decision(SetStateStatus.REJECT, state, message, policy=decision.policy)


def collision(run: FlowRun, decision: Decision, now: datetime, holder: str | None) -> Decision:
    """What replaces ``decision`` while another run of ``run``'s schedule is active. A BUFFER_ONE
    run not yet waiting must take the waiting token with its state (``overlap_token``); when that
    fails too, :func:`skipped` is written instead."""
    if run.overlap == SKIP:
        return skipped(run, decision, now, holder)
    wait = buffered(run, decision, now, holder)
    if run.overlap == BUFFER_ONE and run.overlap_slot != WAITING:
        return taking(wait, WAITING)
    return wait
