"""Lazarus (Prefect 1's Towel service): a run of a deployment crashed by the zombie killer is
rescheduled, a bounded number of times, then marked FAILED with a message that says why (a FAILED
that pauses a schedule with ``pause_on_failure``, as one set through the API does).

The attempt count lives on the run (``lazarus_attempts``); each step is a put conditioned on the
run being unchanged since it was read, so a client's set_state racing Lazarus wins or loses as a
whole and two Lazarus ticks never reschedule one crash twice.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from chalicelib.config import Settings
from chalicelib.domain import sweeps
from chalicelib.schemas.states import StateType
from chalicelib.services import deployments
from chalicelib.services.maintenance._sweep import Budget, Change, Policy, Sweeper, SweepReport, transition
from chalicelib.services.ticks import Deadline
from chalicelib.storage import Candidate, Repositories, SweepStore

RESCHEDULED = "rescheduled"
GAVE_UP = "gave_up"


def revive_crashed_runs(
    repos: Repositories,
    *,
    now: datetime,
    settings: Settings,
    deadline: Deadline | None = None,
    budget: Budget | None = None,
    store: SweepStore | None = None,
) -> SweepReport:
    """Reschedule (SCHEDULED "Rescheduled" at ``now``) every zombie-crashed run of a deployment that
    has had fewer than ``settings.lazarus_max_attempts`` attempts; fail the others.

    Returns the counts (``rescheduled`` and ``gave_up`` among the outcomes).
    """
    sweeper = Sweeper.open(repos, settings, now=now, deadline=deadline, budget=budget, store=store)
    max_attempts = settings.lazarus_max_attempts

    def revive(candidate: Candidate) -> Change | None:
        run = candidate.run
        if not sweeps.is_lazarus_candidate(run):
            return None
        state = sweeps.lazarus_state(run, now, max_attempts)
        if state.type is StateType.SCHEDULED:
            return transition(candidate, state, now=now, outcome=RESCHEDULED, lazarus_attempts=run.lazarus_attempts + 1)
        change = transition(candidate, state, now=now, outcome=GAVE_UP)
        if change is None or change.run.schedule_id is None:
            return change
        return replace(change, after=lambda: deployments.pause_on_failure(repos, settings, change.run, now))

    # Eligible from the crash itself: the crash's time is its entry's sort key.
    return sweeper.run(Policy(sweeps.LAZARUS, now, revive, inclusive=True))
