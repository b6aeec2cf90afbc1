"""The zombie killer: RUNNING runs whose heartbeat stopped become CRASHED; runs stuck in CANCELLING
become CANCELLED; runs PENDING past ``pending_slot_lease_s`` while holding a deployment concurrency
slot or an overlap token become CRASHED (their slot given back; Lazarus may reschedule them).

Only runs that have sent at least one heartbeat are on the zombie work list (a client that never
sends them is never judged), and each write is conditioned on the state and the heartbeat that
were read, so a heartbeat landing between the read and the write saves the run.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from chalicelib.config import Settings
from chalicelib.domain import sweeps
from chalicelib.services.maintenance._sweep import Budget, Change, Policy, Sweeper, SweepReport, transition
from chalicelib.services.ticks import Deadline
from chalicelib.storage import Candidate, Repositories, SweepStore

CRASHED = "crashed"
CANCELLED = "cancelled"
CRASHED_PENDING = "crashed_pending"


def kill_zombies(
    repos: Repositories,
    *,
    now: datetime,
    settings: Settings,
    deadline: Deadline | None = None,
    budget: Budget | None = None,
    store: SweepStore | None = None,
) -> SweepReport:
    """Crash the RUNNING runs silent for more than ``settings.zombie_threshold_s`` and cancel the runs
    CANCELLING for more than ``settings.cancelling_timeout_s``, as of ``now``.

    Returns the counts of both sweeps (``crashed`` and ``cancelled`` among the outcomes).
    """
    sweeper = Sweeper.open(repos, settings, now=now, deadline=deadline, budget=budget, store=store)
    threshold = timedelta(seconds=settings.zombie_threshold_s)
    timeout = timedelta(seconds=settings.cancelling_timeout_s)

    def crash(candidate: Candidate) -> Change | None:
        if not sweeps.is_zombie(candidate.run, now, threshold):
            return None
        return transition(candidate, sweeps.zombie_crash_state(now), now=now, outcome=CRASHED)

    def cancel(candidate: Candidate) -> Change | None:
        if not sweeps.is_stuck_cancelling(candidate.run, now, timeout):
            return None
        return transition(candidate, sweeps.cancelled_state(now, timeout), now=now, outcome=CANCELLED)

    lease = timedelta(seconds=settings.pending_slot_lease_s)

    def crash_pending(candidate: Candidate) -> Change | None:
        if not sweeps.is_stuck_pending(candidate.run, now, lease):
            return None
        return transition(candidate, sweeps.stuck_pending_state(now, lease), now=now, outcome=CRASHED_PENDING)

    return sweeper.run(
        Policy(sweeps.ZOMBIE, now - threshold, crash),
        Policy(sweeps.CANCELLING, now - timeout, cancel),
        Policy(sweeps.PENDING_SLOT, now - lease, crash_pending),
    )
