"""Which maintenance job may act on a run next, and from when (the sparse ``by-sweep`` index).

A run is on at most one work list at a time, so each job's query reads only its candidates:

- ``late``: SCHEDULED runs still named "Scheduled", eligible from their scheduled time;
- ``zombie``: RUNNING runs that have sent a heartbeat, keyed by the last heartbeat;
- ``cancelling``: CANCELLING runs, keyed by when they entered that state;
- ``lazarus``: runs of a deployment crashed by the zombie killer, keyed by their end time.
"""

from __future__ import annotations

from datetime import datetime

from chalicelib.schemas.flow_runs import FlowRun
from chalicelib.schemas.states import StateType

LATE = "late"
ZOMBIE = "zombie"
CANCELLING = "cancelling"
LAZARUS = "lazarus"

#: Marker in a CRASHED state's ``state_details`` set by the zombie killer (Lazarus' candidates).
ZOMBIE_CRASH_MARK = "cirrus_zombie_killer"


def sweep_for(run: FlowRun) -> tuple[str, datetime] | None:
    """The (job, eligible-from) entry for ``run``, or ``None`` when no job has business with it."""
    state = run.state
    if state is None:
        return None
    if state.type is StateType.SCHEDULED and state.name == "Scheduled" and run.next_scheduled_start_time:
        return LATE, run.next_scheduled_start_time
    if state.type is StateType.RUNNING and run.heartbeat is not None:
        return ZOMBIE, run.heartbeat
    if state.type is StateType.CANCELLING:
        return CANCELLING, state.timestamp
    details = state.state_details.model_extra or {}
    if state.type is StateType.CRASHED and run.deployment_id is not None and details.get(ZOMBIE_CRASH_MARK):
        return LAZARUS, run.end_time or state.timestamp
    return None
