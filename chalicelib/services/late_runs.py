"""Late runs (Prefect 3's MarkLateRuns service): a run still in state "Scheduled" whose scheduled time
is more than ``settings.late_runs_after_s`` past becomes "Late" (type SCHEDULED).

Only Scheduled, not-yet-Late runs are on the work list; the write is conditioned on the state read,
so a run a worker picked up in the meantime is never marked.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from chalicelib.config import Settings
from chalicelib.domain import sweeps
from chalicelib.services.maintenance import Budget, Change, SweepReport, run_sweep, transition
from chalicelib.storage import Repositories
from chalicelib.storage.sweeps import Candidate, SweepStore

MARKED_LATE = "marked_late"


def mark_late_runs(
    repos: Repositories,
    *,
    now: datetime,
    settings: Settings,
    budget: Budget | None = None,
    store: SweepStore | None = None,
) -> SweepReport:
    """Mark Late every Scheduled run whose scheduled time is more than the threshold before ``now``."""
    store = store or SweepStore(repos.flow_runs)
    budget = budget or Budget(settings)
    after = timedelta(seconds=settings.late_runs_after_s)

    def mark(candidate: Candidate) -> Change | None:
        if not sweeps.is_late(candidate.run, now, after):
            return None
        return transition(candidate, sweeps.late_state(candidate.run, now), now=now, outcome=MARKED_LATE)

    return run_sweep(store, sweeps.LATE, now - after, mark, now=now, budget=budget)
