"""Flow run use cases: create (idempotent per flow), read, update, delete, set_state, heartbeat.

Every write after a read is conditional on what was read (the state id and ``updated``): a state
transition is judged against the state it read and written only if that state is still current; a
loser re-reads and is judged again, a bounded number of times. Queries live in
:mod:`chalicelib.services.flow_runs._queries`.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar

from chalicelib.domain import identity
from chalicelib.domain.deployment_concurrency import SlotLimit, collision
from chalicelib.domain.orchestration import Decision, SetStateStatus, commit, orchestrate, with_initial_state
from chalicelib.errors import (
    ConcurrentUpdateError,
    ConflictError,
    FlowNotFoundError,
    FlowRunNotFoundError,  # noqa: F401  (callers catch it from here)
    NotFoundError,
    OverlapTokenTakenError,
    SlotsUnavailableError,
    WorkQueueNotFoundError,
)
from chalicelib.schemas.flow_run_inputs import FlowRunInput
from chalicelib.schemas.flow_runs import FlowRun, FlowRunCreate, FlowRunUpdate
from chalicelib.schemas.states import SetStateBody, State, StateCreate, StateType
from chalicelib.services.flow_runs import _overlap
from chalicelib.services.flow_runs._slots import secure_slot
from chalicelib.services.scheduler import run_name
from chalicelib.storage import Repositories

logger = logging.getLogger("cirrus.flow_runs")
logger.setLevel(logging.INFO)

#: How many times a write that lost a race is re-read and retried before the caller gets a 409.
MAX_ATTEMPTS = 16
#: The first retry's longest pause (then doubling, up to 64 times this).
_FIRST_PAUSE_S = 0.002

#: Prefect's answer when a row refers to a missing parent (here: a run of an unknown flow).
INTEGRITY_CONFLICT = (
    "Data integrity conflict. This usually means a unique or foreign key constraint was violated. "
    "See server logs for details."
)

T = TypeVar("T")


def _stamp(run: FlowRun, now: datetime) -> datetime:
    """The new ``updated`` of ``run``: ``now``, but always after the one read, so every write is
    visible to the next conditional writer even on a coarse or skewed clock."""
    return max(now, run.updated + timedelta(microseconds=1))


def _retrying(attempt: Callable[[], T]) -> T:
    """Call ``attempt`` until it does not lose a race (ConcurrentUpdateError), at most MAX_ATTEMPTS,
    pausing a growing, jittered moment before each retry: racing writers of one run spread out
    instead of colliding again (Prefect's client does not retry a 409, so set_state must settle)."""
    for retry in range(MAX_ATTEMPTS - 1):
        try:
            return attempt()
        except ConcurrentUpdateError:
            time.sleep(random.uniform(0, _FIRST_PAUSE_S * 2 ** min(retry, 6)))
    return attempt()


# ------------------------------------------------------------------ create / read / update / delete
def build_flow_run(body: FlowRunCreate, now: datetime) -> FlowRun:
    """The new run ``body`` describes: PENDING unless a state is given; the id derives from the
    idempotency key when there is one."""
    if body.idempotency_key:
        run_id = identity.flow_run_id(body.flow_id, body.idempotency_key)
    else:
        run_id = uuid.uuid4()
    state = body.state.to_state(now) if body.state is not None else State(type=StateType.PENDING, timestamp=now)
    queue_id = identity.work_queue_id(body.work_pool_name, body.work_queue_name) if body.work_queue_name else None
    run = FlowRun(
        id=run_id,
        created=now,
        updated=now,
        name=body.name or run_name(run_id),
        flow_id=body.flow_id,
        deployment_id=body.deployment_id,
        deployment_version=body.deployment_version,
        work_queue_id=queue_id,
        work_queue_name=body.work_queue_name,
        work_pool_name=body.work_pool_name,
        flow_version=body.flow_version,
        parameters=body.parameters,
        idempotency_key=body.idempotency_key,
        context=body.context,
        empirical_policy=body.empirical_policy,
        tags=body.tags,
        labels=body.labels or {},
        parent_task_run_id=body.parent_task_run_id,
        infrastructure_document_id=body.infrastructure_document_id,
        created_by=body.created_by,
        job_variables=body.job_variables or {},
    )
    return with_initial_state(run, state)


def create_flow_run(repos: Repositories, body: FlowRunCreate, now: datetime) -> tuple[FlowRun, bool]:
    """Create the run, or return the existing run of the same flow and idempotency key (``False``).

    One conditional put: concurrent creators with one key all get the same run. A run of an
    unknown flow is a conflict, as Prefect's foreign key makes it.
    """
    try:
        repos.flows.get(body.flow_id)
    except FlowNotFoundError as exc:
        raise ConflictError(INTEGRITY_CONFLICT) from exc
    if body.work_pool_name:
        body = _on_pool_queue(repos, body)
    run = build_flow_run(body, now)
    if repos.flow_runs.insert(run, expired_by=now):
        if run.parent_task_run_id is not None and run.state is not None:  # created in a state: as a set_state
            _mirror_on_parent_task_run(repos, run.parent_task_run_id, run.id, run.state, now)
        return run, True
    return repos.flow_runs.get(run.id), False


def _on_pool_queue(repos: Repositories, body: FlowRunCreate) -> FlowRunCreate:
    """A run created for a work pool goes on the queue it names, else on the pool's default queue
    (``flow.submit_to_work_pool``), so the pool's workers see it; an unknown pool or queue is a
    404, as in Prefect (one GetItem: the pool holds its queues)."""
    pool = repos.work_pools.get_named(body.work_pool_name)
    if body.work_queue_name is None:
        default = next((q for q in pool.queues if q.id == pool.default_queue_id), None)
        return body.model_copy(update={"work_queue_name": default.name}) if default else body
    if pool.queue_named(body.work_queue_name) is None:
        raise WorkQueueNotFoundError(body.work_pool_name, body.work_queue_name)
    return body


def read_flow_run(repos: Repositories, run_id: uuid.UUID) -> FlowRun:
    return repos.flow_runs.get(run_id)


def update_flow_run(repos: Repositories, run_id: uuid.UUID, body: FlowRunUpdate, now: datetime) -> None:
    """Change the fields ``body`` names (and only those), conditionally on the run being unchanged."""
    changes = {name: getattr(body, name) for name in body.model_fields_set if getattr(body, name) is not None}
    _patch(repos, run_id, lambda run: changes, now)


def update_flow_run_labels(repos: Repositories, run_id: uuid.UUID, labels: dict[str, Any], now: datetime) -> None:
    """Merge ``labels`` into the run's (the worker sends its own), conditionally as any PATCH."""
    _patch(repos, run_id, lambda run: {"labels": {**run.labels, **labels}}, now)


def _patch(repos: Repositories, run_id: uuid.UUID, changes: Callable[[FlowRun], dict[str, Any]], now: datetime) -> None:
    """Write ``changes(run)`` over the run, conditionally on it being unchanged since read."""

    def attempt() -> None:
        run = repos.flow_runs.get(run_id)
        updated = run.model_copy(update={**changes(run), "updated": _stamp(run, now)})
        state_id = run.state.id if run.state else None
        repos.flow_runs.replace(updated, (), state_id, expected_updated=run.updated, expected_heartbeat=run.heartbeat)

    _retrying(attempt)


def delete_flow_run(repos: Repositories, run_id: uuid.UUID) -> None:
    """Delete the run as read (a run that changed state meanwhile is read again); a run holding a
    slot of its deployment's concurrency limit gives it back with the delete."""
    _retrying(lambda: repos.flow_runs.delete(run_id, repos.flow_runs.get(run_id)))


def read_flow_run_states(repos: Repositories, run_id: uuid.UUID) -> list[State]:
    """The run's states, oldest first; an unknown run has none (Prefect answers ``[]`` too)."""
    return repos.flow_runs.history(run_id)


# ------------------------------------------------------------------ orchestration
@dataclass(frozen=True)
class SetStateResult:
    """An orchestration result: the decision, the run's state after it, and whether one was written."""

    decision: Decision
    state: State | None
    written: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.decision.status.value,
            "state": self.state.model_dump(mode="json") if self.state is not None else None,
            "details": self.decision.details(),
        }


def set_flow_run_state(
    repos: Repositories,
    run_id: uuid.UUID,
    body: SetStateBody,
    now: datetime,
    *,
    input_on_accept: FlowRunInput | None = None,
) -> SetStateResult:
    """Propose ``body.state``: the rules judge it against the state read; a state that is written
    replaces that state only if it is still current (else the proposal is judged again).

    A written state's timestamp is the time it was accepted: ``now``, but after the run's last
    write, so the history's timestamps increase in commit order even when racing requests that
    started in another order are settled by retries.

    A proposal into PENDING of a run whose deployment has a concurrency limit is written together
    with a slot (:mod:`chalicelib.services.flow_runs._slots`); when none is free, the
    collision strategy's state (AwaitingConcurrencySlot or Cancelled) is written instead.

    A proposal that starts a run of a schedule with an overlap policy is written together with the
    schedule's active token (:mod:`chalicelib.services.flow_runs._overlap`); when another run holds
    it, the policy's state (Skipped, AwaitingConcurrencySlot) is written instead, and CANCEL_OTHER
    then cancels that other run (CANCELLING, which its runner or worker acts on).

    ``input_on_accept`` is stored in the same transaction as an ACCEPTed state, and only then (a
    resume's response input: the flow never sees RUNNING without it)."""
    proposed = body.state.to_state(now)
    read: list[FlowRun] = []
    cancel: list[str] = []

    def attempt() -> SetStateResult:
        run = repos.flow_runs.get(run_id)
        read[:] = [run]
        accepted = _stamp(run, now)

        def write(decision: Decision, slot: SlotLimit | None) -> SetStateResult:
            moved = commit(run, decision, now=accepted)
            state_id = run.state.id if run.state else None
            accepted_input = input_on_accept if decision.status is SetStateStatus.ACCEPT else None
            repos.flow_runs.replace(
                moved, (), state_id, expected_updated=run.updated, expected_heartbeat=run.heartbeat,
                held_slot=run.concurrency_slot, slot_limit=slot.limit if slot else None,
                inputs=(accepted_input,) if accepted_input else (), held_overlap=run.overlap_slot,
            )  # fmt: skip
            return SetStateResult(decision, moved.state, written=True)

        def overlapped(decision: Decision, taken: OverlapTokenTakenError) -> SetStateResult:
            replacement, holder = _overlap.instead(repos, run, decision, accepted, taken)
            cancel[:] = [holder] if holder and run.overlap == "CANCEL_OTHER" else []
            try:
                return write(replacement, None)
            except OverlapTokenTakenError as again:  # BUFFER_ONE: another run took the waiting token
                cancel.clear()
                return write(_overlap.instead(repos, run, replacement, accepted, again)[0], None)

        decision = orchestrate(run, proposed.model_copy(update={"timestamp": accepted}), now=accepted, force=body.force)
        decision, slot = secure_slot(repos, run, decision, force=body.force)
        decision = _overlap.securing(run, decision, force=body.force)
        if not decision.writes:
            return SetStateResult(decision, run.state, written=False)
        try:
            return write(decision, slot)
        except SlotsUnavailableError:  # every slot is taken: the collision strategy's state instead
            return write(collision(slot, decision, accepted), None)  # type: ignore[arg-type]
        except OverlapTokenTakenError as taken:  # another run of the schedule is active: its policy
            return overlapped(decision, taken)

    result = _retrying(attempt)
    if result.written and result.state is not None:
        run = read[0]
        if cancel and result.state.name == "AwaitingConcurrencySlot":
            _cancel_other(repos, uuid.UUID(cancel[0]), run, now)
        if run.parent_task_run_id is not None:
            _mirror_on_parent_task_run(repos, run.parent_task_run_id, run_id, result.state, now)
        if result.state.type is StateType.FAILED and run.schedule_id is not None and run.deployment_id is not None:
            _pause_schedule_on_failure(repos, run.model_copy(update={"state": result.state}), now)
    return result


def _pause_schedule_on_failure(repos: Repositories, run: FlowRun, now: datetime) -> None:
    """A FAILED run of a schedule with ``pause_on_failure`` deactivates it (``deployments.pause_on_failure``)."""
    from chalicelib.services import deployments  # here, not at the top: deployments imports this package

    deployments.pause_on_failure(repos, repos.settings, run, now)


def _cancel_other(repos: Repositories, other: uuid.UUID, run: FlowRun, now: datetime) -> None:
    """CANCEL_OTHER: the schedule's active run is cancelled as a user would (CANCELLING: its runner
    or worker kills it and reports CANCELLED, which gives its token back to the waiting ``run``)."""
    message = f"Cancelled: run {run.id} of this schedule is due (overlap policy CANCEL_OTHER)."
    try:
        set_flow_run_state(
            repos, other, SetStateBody(state=StateCreate(type=StateType.CANCELLING, message=message)), now
        )
    except NotFoundError:
        pass


def _mirror_on_parent_task_run(
    repos: Repositories, task_run_id: uuid.UUID, flow_run_id: uuid.UUID, state: State, now: datetime
) -> None:
    """A subflow's new state, copied onto the task run that stands for it in its parent run (Prefect's
    ``UpdateSubflowParentTask``: forced, with ``child_flow_run_id`` naming the subflow), so the parent's
    run page shows the subflow's progress. The subflow's own transition is already written; a parent
    task run that is gone is left alone."""
    from chalicelib.services import task_runs  # here, not at the top: task_runs imports this package

    details = state.state_details.model_copy(update={"child_flow_run_id": flow_run_id})
    copy = StateCreate(type=state.type, name=state.name, message=state.message, state_details=details)
    try:
        task_runs.set_task_run_state(repos, task_run_id, SetStateBody(state=copy, force=True), now)
    except NotFoundError:
        pass


class Heartbeat(StrEnum):
    """What became of one heartbeat."""

    #: Stored: the run's heartbeat moved forward to it.
    RECORDED = "recorded"
    #: Not stored: the run already holds this heartbeat or a newer one (a late or repeated delivery).
    STALE = "stale"
    #: Not stored: the run is in a terminal state, and a heartbeat never revives it.
    TERMINAL = "terminal"


def beat(repos: Repositories, run_id: uuid.UUID, at: datetime) -> tuple[Heartbeat, FlowRun]:
    """Record that the run's process was alive at ``at``; the one path every heartbeat takes
    (``POST /flow_runs/{id}/heartbeat`` and the ``prefect.flow-run.heartbeat`` event).

    The heartbeat only moves forward and never touches a terminal run. The write is one UpdateItem
    conditioned on the run being as it was read (state and ``updated``), so it never resurrects a
    deleted run nor lands on one that was just crashed; a lost race re-reads and is judged again.
    Returns the outcome and the run as read. Raises :class:`FlowRunNotFoundError`.
    """

    def attempt() -> tuple[Heartbeat, FlowRun]:
        run = repos.flow_runs.get(run_id)
        if run.state is not None and run.state.is_terminal:
            return Heartbeat.TERMINAL, run
        if run.heartbeat is not None and run.heartbeat >= at:
            return Heartbeat.STALE, run
        repos.flow_runs.record_heartbeat(run, at)
        return Heartbeat.RECORDED, run

    return _retrying(attempt)


def record_heartbeat(repos: Repositories, run_id: uuid.UUID, now: datetime) -> None:
    """``POST /flow_runs/{id}/heartbeat``: :func:`beat` at ``now``.

    A run in a terminal state is a conflict carrying that state: its worker learns that the run was
    crashed (or cancelled) and stops.
    """
    outcome, run = beat(repos, run_id, now)
    if outcome is Heartbeat.TERMINAL and run.state is not None:
        raise ConflictError(f"Flow run is in terminal state {run.state.type.value}.", state=run.state)
