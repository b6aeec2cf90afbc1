"""The maintenance jobs' rules: which job may act on a run next, from when, and the state it proposes.

A run is on at most one work list at a time (the sparse ``by-sweep`` index), so each job's query
reads only its candidates:

- ``late``: SCHEDULED runs still named "Scheduled", keyed by their scheduled time;
- ``zombie``: RUNNING runs that have sent a heartbeat, keyed by the last heartbeat;
- ``cancelling``: CANCELLING runs, keyed by when they entered that state;
- ``pending``: PENDING runs holding a deployment concurrency slot or a schedule's overlap token,
  keyed by when they entered PENDING (a run whose worker died before starting it would hold the
  slot for good: Prefect's slot lease expires; here the zombie killer crashes it);
- ``lazarus``: runs of a deployment crashed by the zombie killer, keyed by their end time;
- ``catchup``: SCHEDULED runs of a schedule with a catch-up window, keyed by the end of it (they
  are on no other list: the late-runs marker finds planned runs from their schedules).

The ``is_*`` predicates re-check, with the clock the job passes, what the index entry claimed (an
index read may be stale); the ``*_state`` builders return the state the job proposes. All pure.
Thresholds are strict: a run is late, a zombie or stuck only when *more* than the threshold has
passed, so at exactly the threshold it is left alone.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from chalicelib.schemas.flow_runs import FlowRun
from chalicelib.schemas.states import State, StateDetails, StateType

LATE = "late"
ZOMBIE = "zombie"
CANCELLING = "cancelling"
LAZARUS = "lazarus"
CATCHUP = "catchup"
PENDING_SLOT = "pending"

#: Marker in a CRASHED state's ``state_details`` set by the zombie killer (Lazarus' candidates).
ZOMBIE_CRASH_MARK = "cirrus_zombie_killer"

ZOMBIE_MESSAGE = "No heartbeat detected from the flow run; marked as crashed by the zombie killer."
LATE_NAME = "Late"
RESCHEDULED_NAME = "Rescheduled"
SKIPPED_NAME = "Skipped"


def sweep_for(run: FlowRun) -> tuple[str, datetime] | None:
    """The (job, eligible-from) entry for ``run``, or ``None`` when no job has business with it."""
    state = run.state
    if state is None:
        return None
    if state.type is StateType.SCHEDULED and run.catchup_deadline is not None:
        return CATCHUP, run.catchup_deadline
    if state.type is StateType.SCHEDULED and state.name == "Scheduled" and run.next_scheduled_start_time:
        return LATE, run.next_scheduled_start_time
    if state.type is StateType.RUNNING and run.heartbeat is not None:
        return ZOMBIE, run.heartbeat
    if state.type is StateType.CANCELLING:
        return CANCELLING, state.timestamp
    if state.type is StateType.PENDING and (run.concurrency_slot or run.overlap_slot):
        return PENDING_SLOT, state.timestamp
    if is_lazarus_candidate(run):
        return LAZARUS, run.end_time or state.timestamp
    return None


# ---------------------------------------------------------------------------- predicates
def awaits_late_mark(run: FlowRun) -> bool:
    """Still "Scheduled" (not yet Late, not started) with a scheduled time: the late-runs job's
    candidate, whichever work list it is on (``late``, ``catchup``, or none for a planned run)."""
    state = run.state
    return (
        state is not None
        and state.type is StateType.SCHEDULED
        and state.name == "Scheduled"
        and run.next_scheduled_start_time is not None
    )


def is_late(run: FlowRun, now: datetime, after: timedelta) -> bool:
    """Still "Scheduled" (not yet Late) and its scheduled time more than ``after`` in the past."""
    return awaits_late_mark(run) and now - run.next_scheduled_start_time > after  # type: ignore[operator]


def is_zombie(run: FlowRun, now: datetime, threshold: timedelta) -> bool:
    """RUNNING, has sent a heartbeat, and the last one is more than ``threshold`` old.

    A run that never sent a heartbeat is never judged: its client may simply not send them.
    """
    return (
        run.state is not None
        and run.state.type is StateType.RUNNING
        and run.heartbeat is not None
        and now - run.heartbeat > threshold
    )


def is_stuck_cancelling(run: FlowRun, now: datetime, timeout: timedelta) -> bool:
    """CANCELLING for more than ``timeout``."""
    return run.state is not None and run.state.type is StateType.CANCELLING and now - run.state.timestamp > timeout


def is_stuck_pending(run: FlowRun, now: datetime, lease: timedelta) -> bool:
    """PENDING for more than ``lease`` while holding a slot or an overlap token."""
    state = run.state
    holds = run.concurrency_slot or run.overlap_slot
    return state is not None and state.type is StateType.PENDING and bool(holds) and now - state.timestamp > lease


def is_past_catchup(run: FlowRun, now: datetime) -> bool:
    """Still SCHEDULED (Late included) after the end of its schedule's catch-up window."""
    state = run.state
    deadline = run.catchup_deadline
    return state is not None and state.type is StateType.SCHEDULED and deadline is not None and now > deadline


def is_lazarus_candidate(run: FlowRun) -> bool:
    """A run of a deployment that the zombie killer marked CRASHED (and nothing moved since)."""
    state = run.state
    if state is None or state.type is not StateType.CRASHED or run.deployment_id is None:
        return False
    return bool((state.state_details.model_extra or {}).get(ZOMBIE_CRASH_MARK))


# ---------------------------------------------------------------------------- proposed states
def zombie_crash_state(now: datetime) -> State:
    """CRASHED, marked so that Lazarus may reschedule the run."""
    return State(
        type=StateType.CRASHED,
        timestamp=now,
        message=ZOMBIE_MESSAGE,
        state_details=StateDetails(**{ZOMBIE_CRASH_MARK: True}),
    )


def stuck_pending_state(now: datetime, lease: timedelta) -> State:
    """CRASHED for a run that never started, marked so that Lazarus may reschedule it."""
    seconds = f"{lease.total_seconds():g}"
    return State(
        type=StateType.CRASHED,
        timestamp=now,
        message=f"The flow run stayed PENDING for more than {seconds} seconds holding a concurrency slot; "
        "marked as crashed by the zombie killer to give the slot back.",
        state_details=StateDetails(**{ZOMBIE_CRASH_MARK: True}),
    )


def cancelled_state(now: datetime, timeout: timedelta) -> State:
    """CANCELLED for a run that never acknowledged its cancellation."""
    seconds = f"{timeout.total_seconds():g}"
    return State(
        type=StateType.CANCELLED,
        timestamp=now,
        message=f"The flow run stayed in CANCELLING for more than {seconds} seconds; "
        "marked as cancelled by the zombie killer.",
    )


def late_state(run: FlowRun, now: datetime) -> State:
    """Prefect's ``Late``: still SCHEDULED, for the same scheduled time."""
    return State(
        type=StateType.SCHEDULED,
        name=LATE_NAME,
        timestamp=now,
        state_details=StateDetails(scheduled_time=run.next_scheduled_start_time),
    )


def skipped_state(run: FlowRun, now: datetime) -> State:
    """CANCELLED "Skipped": the run did not start within its schedule's catch-up window, so it
    will not run (Cirrus's catch-up policy; Prefect would still run it, however late)."""
    scheduled = run.next_scheduled_start_time
    window = (run.catchup_deadline - scheduled).total_seconds() if run.catchup_deadline and scheduled else None
    shown = f" of {window:g} seconds" if window is not None else ""
    when = f" after its scheduled time {scheduled.isoformat()}" if scheduled else ""
    return State(
        type=StateType.CANCELLED,
        name=SKIPPED_NAME,
        timestamp=now,
        message=f"Skipped: not started within its schedule's catch-up window{shown}{when}.",
    )


def lazarus_state(run: FlowRun, now: datetime, max_attempts: int) -> State:
    """The next step for a zombie-crashed run: SCHEDULED "Rescheduled" at ``now`` for attempts
    1..``max_attempts`` (counted in ``run.lazarus_attempts``), then FAILED."""
    attempt = run.lazarus_attempts + 1
    if attempt <= max_attempts:
        return State(
            type=StateType.SCHEDULED,
            name=RESCHEDULED_NAME,
            timestamp=now,
            message=f"Rescheduled by Lazarus, attempt {attempt} of {max_attempts}.",
            state_details=StateDetails(scheduled_time=now),
        )
    return State(
        type=StateType.FAILED,
        timestamp=now,
        message=f"Lazarus gave up after {max_attempts} attempts: the flow run crashed without a heartbeat "
        "each time it was rescheduled.",
    )
