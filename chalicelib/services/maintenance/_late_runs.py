"""Late runs (Prefect 3's MarkLateRuns service): a run still in state "Scheduled" whose scheduled time
is more than ``settings.late_runs_after_s`` past becomes "Late" (type SCHEDULED).

The candidates come from two places, so that the scheduler's inserts pay for no work-list entry:

- the ``late`` work list (by-sweep): every Scheduled run but the scheduler's planned ones (runs
  created through the API, backfills, any run a later write put back in Scheduled);
- the scheduler's planned runs, found from their schedules: a run the scheduler plans is the
  occurrence ``t`` of a schedule (its id is ``scheduled_run_id(flow, deployment, schedule, t)``), so
  the runs that became late since the last tick are those of the occurrences in ``(cursor, now -
  threshold]`` up to each schedule's ``planned_through``. A tick reads every schedule (a Scan, one
  request per ~2,000 schedules), computes those occurrences, reads their deployments' flow ids and
  then the runs by key (BatchGetItem), and moves the cursor (``job_state``, a conditional write)
  only once the window is done: a tick cut short by its time budget leaves the window to the next
  one, which redoes it harmlessly. A tick examines at most :data:`MAX_WINDOW` of planned time, so a
  marker that was down catches up that much per tick.

Either way the write is conditioned on the state read, so a run a worker picked up in the meantime
is never marked, and two ticks racing each other mark a run once.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from chalicelib.config import Settings
from chalicelib.domain import sweeps
from chalicelib.domain.identity import scheduled_run_id
from chalicelib.domain.schedules import occurrences
from chalicelib.schemas.schedules import parse_schedule
from chalicelib.services.maintenance._sweep import Budget, Change, Policy, Sweeper, SweepReport, act, transition
from chalicelib.services.ticks import Deadline
from chalicelib.storage import Candidate, Repositories, SweepStore

MARKED_LATE = "marked_late"
SKIPPED = "skipped"
#: The ``job_state`` cursor: planned time examined so far.
PLANNED_CURSOR = "late-runs/planned"
#: The most planned time one tick examines (also where a first tick starts: this far back). An hour
#: of D = 1,000 deployments' runs is ~65 BatchGetItems; a marker down for a day catches up in 24 ticks.
MAX_WINDOW = timedelta(hours=1)
#: Occurrences of one schedule examined per tick at most (an interval of a second over the window).
MAX_OCCURRENCES = 1000
#: Runs read per BatchGetItem.
_BATCH = 100
_US = timedelta(microseconds=1)


def mark_late_runs(
    repos: Repositories,
    *,
    now: datetime,
    settings: Settings,
    deadline: Deadline | None = None,
    budget: Budget | None = None,
    store: SweepStore | None = None,
) -> SweepReport:
    """Mark Late every Scheduled run whose scheduled time is more than the threshold before ``now``,
    and skip (CANCELLED "Skipped") every run still SCHEDULED past its schedule's catch-up window."""
    sweeper = Sweeper.open(repos, settings, now=now, deadline=deadline, budget=budget, store=store)
    after = timedelta(seconds=settings.late_runs_after_s)

    def mark(candidate: Candidate) -> Change | None:
        if not sweeps.is_late(candidate.run, now, after):
            return None
        return transition(candidate, sweeps.late_state(candidate.run, now), now=now, outcome=MARKED_LATE)

    def skip(candidate: Candidate) -> Change | None:
        if not sweeps.is_past_catchup(candidate.run, now):
            return None
        return transition(candidate, sweeps.skipped_state(candidate.run, now), now=now, outcome=SKIPPED)

    listed = sweeper.run(Policy(sweeps.LATE, now - after, mark), Policy(sweeps.CATCHUP, now, skip))
    return listed.merge(_mark_planned(repos, sweeper.store, mark, now - after, now=now, budget=sweeper.budget))


def _mark_planned(
    repos: Repositories,
    store: SweepStore,
    decide: Callable[[Candidate], Change | None],
    end: datetime,
    *,
    now: datetime,
    budget: Budget,
) -> SweepReport:
    """Mark the planned runs of the occurrences in ``(cursor, end]`` (at most MAX_WINDOW of it)."""
    report = SweepReport()
    read = repos.job_state.through(PLANNED_CURSOR)
    start = read if read is not None else end - MAX_WINDOW
    if start >= end:
        return report
    stop = min(end, start + MAX_WINDOW)
    ids = _planned_run_ids(repos, start, stop, budget, report)
    if ids is None:  # out of time while reading the schedules
        return report
    for first in range(0, len(ids), _BATCH):
        if budget.out_of_time():
            report.stopped_early = True
            return report
        page = store.candidates(ids[first : first + _BATCH], now=now, source=PLANNED_CURSOR)
        report.expired += page.expired
        report.errors += len(page.undecodable)
        report.candidates += len(page.undecodable)
        for candidate in page.candidates:
            if sweeps.awaits_late_mark(candidate.run):
                report.candidates += 1  # still Scheduled: a candidate (started ones are not)
                act(store, sweeps.LATE, candidate, decide, report)
    repos.job_state.advance(PLANNED_CURSOR, read, stop)
    report.stopped_early = report.stopped_early or stop < end
    return report


def _planned_run_ids(
    repos: Repositories, start: datetime, stop: datetime, budget: Budget, report: SweepReport
) -> list[str] | None:
    """Ids of the runs the scheduler planned for occurrences in ``(start, stop]`` (those it may have
    planned: up to each schedule's ``planned_through``); ``None`` when the budget ran out."""
    schedules = repos.scheduling
    planned: list[tuple[uuid.UUID, uuid.UUID, datetime]] = []
    cursor = None
    while True:
        if budget.out_of_time() or report.pages >= budget.max_pages:
            report.stopped_early = True
            return None
        page = schedules.scan_page(cursor)
        report.pages += 1
        report.errors += len(page.undecodable)
        for schedule in page.schedules:
            if schedule.planned_through is None or schedule.planned_through <= start:
                continue
            try:
                spec = parse_schedule(schedule.spec)
            except ValueError:
                report.errors += 1
                continue
            last = min(stop, schedule.planned_through)
            # A jittered run is scheduled up to ``jitter`` after its occurrence: look that far back,
            # so the window in which its own time falls sees it (the earlier ones leave it alone).
            jitter = schedule.policy.jitter or timedelta(0)
            times = occurrences(spec, start + _US - jitter, last, MAX_OCCURRENCES)
            planned += [(schedule.deployment_id, schedule.id, t) for t in times]
        cursor = page.cursor
        if cursor is None:
            break
    flows = {d.id: d.flow_id for d in repos.deployments.get_many({dep for dep, _, _ in planned}).values()}
    return [str(scheduled_run_id(flows[dep], dep, sched, t)) for dep, sched, t in planned if dep in flows]
