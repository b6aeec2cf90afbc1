"""Prefect's deployment concurrency rule (``SecureFlowConcurrencySlots`` and
``ReleaseFlowConcurrencySlots``), as pure functions of a run and an orchestration decision.

A run of a deployment with a ``concurrency_limit`` takes one of its slots when a proposal moves
it into PENDING from any state but PENDING, RUNNING and CANCELLING (the PENDING transition lets a
worker secure the slot before it provisions infrastructure). When the limit is full, the
deployment's collision strategy decides: ENQUEUE (the default) rejects into SCHEDULED
"AwaitingConcurrencySlot" 30 s ahead (Prefect's ``concurrency_slot_wait_seconds``), CANCEL_NEW
rejects into CANCELLED; both with the reason "Deployment concurrency limit reached.". A limit of
0 aborts: the run would deadlock.

The slot is held while the run is PENDING, RUNNING or CANCELLING and given back by the first
written state outside those three (every terminal state, PAUSED, SCHEDULED), forced or not, by
the API or a maintenance job (the zombie killer's CRASHED). One exception, as Prefect: a failed
run rejected into AwaitingRetry retries in its process and keeps its slot.

Whether a run holds a slot is recorded on the run (``FlowRun.concurrency_slot``, kept by
:func:`chalicelib.domain.orchestration.commit`), so a slot is never given back twice, nor by a
run that never took one (a limit added while it ran). Storage moves the deployment's slot count
in the same transaction as the state.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from chalicelib.domain.orchestration import SLOT_HOLDING as HOLDING
from chalicelib.domain.orchestration import Decision, SetStateStatus
from chalicelib.schemas.flow_runs import FlowRun
from chalicelib.schemas.states import State, StateDetails, StateType

#: Prefect's ``server.deployments.concurrency_slot_wait_seconds`` default.
SLOT_WAIT = timedelta(seconds=30)
LIMIT_REACHED = "Deployment concurrency limit reached."
ZERO_LIMIT = "The deployment concurrency limit is 0. The flow will deadlock if submitted again."
ENQUEUE = "ENQUEUE"
CANCEL_NEW = "CANCEL_NEW"


@dataclass(frozen=True)
class SlotLimit:
    """A deployment's limit as read for one proposal: at most ``limit`` runs hold a slot."""

    limit: int
    collision_strategy: str = ENQUEUE


def needs_slot(run: FlowRun, decision: Decision, *, force: bool) -> bool:
    """Whether ``decision`` must take a slot of ``run``'s deployment before it is written: it
    writes PENDING over a state outside :data:`HOLDING` (or none), without ``force``. A run that
    already holds one (kept across an in-process retry) takes no second slot."""
    state = decision.state
    if force or state is None or state.type is not StateType.PENDING or run.deployment_id is None:
        return False
    if run.concurrency_slot:
        return False
    return run.state is None or run.state.type not in HOLDING


def taking(decision: Decision) -> Decision:
    """``decision``, written only if a slot is free."""
    return replace(decision, take_slot=True)


def zero_limit() -> Decision:
    return Decision(SetStateStatus.ABORT, None, ZERO_LIMIT)


def collision(limit: SlotLimit, decision: Decision, now: datetime) -> Decision:
    """What replaces ``decision`` when every slot is taken: the collision strategy's state."""
    if limit.collision_strategy == CANCEL_NEW:
        state = State(type=StateType.CANCELLED, timestamp=now, message=LIMIT_REACHED)
    else:
        details = StateDetails(scheduled_time=now + SLOT_WAIT)
        state = State(type=StateType.SCHEDULED, name="AwaitingConcurrencySlot", timestamp=now, state_details=details)
    return Decision(SetStateStatus.REJECT, state, LIMIT_REACHED, policy=decision.policy)
