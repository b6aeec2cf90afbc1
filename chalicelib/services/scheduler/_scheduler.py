"""The scheduler: keeps every active schedule of every unpaused deployment stocked with runs.

One per-schedule path serves the tick (:func:`schedule_due`), the API's inline scheduling
(:func:`schedule_deployment`) and the recent-deployments safety net: plan with
:func:`~chalicelib.domain.planning.plan_runs` from ``now``, passing the schedule's stored
``planned_through`` so runs already inserted are never regenerated, then commit the new runs and
the schedule's next due time in one transaction (:mod:`chalicelib.storage.scheduler._commits`) that
also checks the deployment is unpaused and the schedule unchanged. Run ids derive from the run
identity, so racing ticks, retries and API calls insert each occurrence once.

Cost follows the work: a tick reads only the due index (one Query when nothing is due), one
BatchGetItem of deployments per page, and packs the commits of many schedules into each
transaction of up to 100 items, so write requests grow with the runs inserted (one per ~30 to
~100 runs), never with the deployments. Bounded: pages with a cursor, a page cap, a stop before
the Lambda's time runs out (the rest stays due for the next tick), and one failing schedule is
logged and skipped.

:func:`backfill` and :func:`retire_runs` (the other calls the deployments service makes) live in
:mod:`chalicelib.services.scheduler._backfill` and are re-exported here.
"""

from __future__ import annotations

import gc
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from chalicelib.config import Settings
from chalicelib.domain.planning import plan_runs
from chalicelib.errors import CirrusError
from chalicelib.schemas.schedules import parse_schedule
from chalicelib.services.scheduler._backfill import backfill, retire_runs
from chalicelib.services.scheduler._report import SchedulingReport, logger
from chalicelib.services.scheduler._run_builder import build_scheduled_runs
from chalicelib.services.ticks import Deadline
from chalicelib.storage import (
    MAX_RUNS_PER_COMMIT,
    PAGE_SIZE,
    TRANSACTION_ITEMS,
    CommitResult,
    DeploymentRecord,
    Outcome,
    PlanCommit,
    Repositories,
    ScheduleRecord,
    items_needed,
    requests_of_this_thread,
)

__all__ = [
    "Deadline",
    "SchedulingReport",
    "backfill",
    "logger",
    "retire_runs",
    "schedule_deployment",
    "schedule_due",
    "schedule_recent_deployments",
]


#: Pages of due schedules per tick: a cap on one tick's work whatever the clock says.
MAX_PAGES = 100
#: What a schedule failure may raise: invalid stored data (pydantic's ValidationError is a
#: ValueError), arithmetic at the far edge of the calendar, or a storage refusal (a CirrusError).
_SCHEDULE_FAILURES = (ValueError, ArithmeticError, CirrusError)


class _Scheduler:
    """The per-schedule path, shared by every entry point (one instance per call).

    Plans are collected into :class:`PlanCommit` s and written a transaction's worth at a time
    (:meth:`flush`): a tick's requests grow with the runs it inserts, not with the schedules.
    """

    def __init__(self, repos: Repositories, now: datetime, settings: Settings, deadline: Deadline | None) -> None:
        self.schedules = repos.scheduling
        self.runs = repos.scheduled_runs
        self.committer = repos.plan_commits
        self.now = now
        self.settings = settings
        self.deadline = deadline or Deadline()
        self.report = SchedulingReport()
        self.pending: list[PlanCommit] = []

    def schedule(self, deployment: DeploymentRecord | None, schedule: ScheduleRecord) -> None:
        """Plan one schedule and queue its commit; failures are counted and logged, never raised."""
        self.report.schedules_examined += 1
        try:
            commit = self._plan(deployment, schedule)
        except _SCHEDULE_FAILURES as exc:
            self.report.errors += 1
            _log_failure(schedule, exc)
            return
        if commit is None:
            return
        if items_needed([*self.pending, commit]) > TRANSACTION_ITEMS:
            self.flush()
        self.pending.append(commit)

    def flush(self) -> None:
        """Write the queued commits (one transaction, plus retries after cancellations)."""
        commits, self.pending = self.pending, []
        if commits:
            for commit, result in zip(commits, self.committer.commit(commits), strict=True):
                self._account(commit, result)

    def _account(self, commit: PlanCommit, result: CommitResult) -> bool:
        """Count a commit's result (parking a schedule whose deployment is paused or gone)."""
        self.report.runs_inserted += len(result.inserted)
        self.report.conflicts += result.existing
        if result.outcome is Outcome.COMMITTED:
            return True
        if result.outcome is Outcome.FAILED:
            self.report.errors += 1
            _log_failure(commit.schedule, result.error or RuntimeError(result.outcome))
            return False
        self.report.conflicts += 1
        if result.outcome is Outcome.DEPLOYMENT_INACTIVE:
            try:
                self.schedules.park(commit.schedule)
            except CirrusError as exc:
                self.report.errors += 1
                _log_failure(commit.schedule, exc)
        return False

    def _plan(self, deployment: DeploymentRecord | None, schedule: ScheduleRecord) -> PlanCommit | None:
        """The schedule's commit, or ``None`` when it has nothing to write."""
        if deployment is None or deployment.paused:
            # Stale due entry of a paused or deleted deployment: take it off the index so later
            # ticks stop reading it (unless the deployment came back meanwhile).
            if schedule.due_at is not None:
                self.schedules.park(schedule)
            return None
        if not schedule.active:
            if schedule.due_at is not None:
                self.schedules.unschedule(schedule)
            return None
        spec = parse_schedule(schedule.spec)
        start, end = schedule.policy.window(self.now, self.settings.max_scheduled_time)
        plan = plan_runs(
            spec,
            start=start,
            end=end,
            min_runs=self.settings.scheduler_min_runs,
            max_runs=self.settings.scheduler_max_runs,
            min_time=self.settings.min_scheduled_time,
            max_time=self.settings.max_scheduled_time,
            max_scheduled_runs=schedule.max_scheduled_runs,
            planned_through=schedule.planned_through,
        )
        if not plan.new and plan.planned_through == schedule.planned_through and plan.next_due == schedule.due_at:
            return None  # nothing to insert, nothing to move: no write at all
        display = schedule.slug or type(spec).__name__
        runs = build_scheduled_runs(
            deployment,
            schedule.id,
            plan.new,
            display_value=display,
            schedule_parameters=schedule.parameters,
            now=self.now,
            policy=schedule.policy.with_defaults(
                self.settings.schedule_catchup_window_s, self.settings.schedule_overlap
            ),
        )
        # More than one transaction's worth: commit the leading runs now, in order, each step
        # advancing planned_through and leaving the schedule due, so a stop midway loses nothing.
        current = schedule
        while len(runs) > MAX_RUNS_PER_COMMIT:
            head, runs = runs[:MAX_RUNS_PER_COMMIT], runs[MAX_RUNS_PER_COMMIT:]
            step = PlanCommit(current, head, head[-1].expected_start_time, self.now)
            if not self._account(step, self.committer.commit([step])[0]):
                return None
            if self.deadline.passed():
                self.report.stopped_early = True  # still due, planned_through where it stopped
                return None
            current = current.after_commit(step.planned_through, step.next_due)
        return PlanCommit(current, runs, plan.planned_through, plan.next_due)

    def schedule_deployment(self, deployment_id: uuid.UUID) -> None:
        self.report.deployments_examined += 1
        try:
            deployment = self.runs.deployment(deployment_id)
            schedules = self.schedules.schedules_of(deployment_id) if deployment and not deployment.paused else []
        except _SCHEDULE_FAILURES as exc:
            self.report.errors += 1
            logger.warning(json.dumps({"deployment_id": str(deployment_id), "error": f"{type(exc).__name__}: {exc}"}))
            return
        for schedule in schedules:
            if self.deadline.passed():
                self.report.stopped_early = True
                break
            self.schedule(deployment, schedule)
        self.flush()

    def due(self) -> None:
        cursor: dict[str, Any] | None = None
        seen: set[tuple[uuid.UUID, uuid.UUID]] = set()
        for _ in range(MAX_PAGES):
            if self.deadline.passed():
                self.report.stopped_early = True
                return
            page = self.schedules.due_page(self.now, cursor, PAGE_SIZE)
            self.report.errors += len(page.undecodable)
            for key in page.undecodable:
                logger.warning(json.dumps({"schedule": key, "error": "undecodable schedule item"}))
            # A schedule whose new due time is still <= now moves further along the index and
            # would be read again by a later page: each schedule is taken once per tick.
            fresh = [s for s in page.schedules if (s.deployment_id, s.id) not in seen]
            seen.update((s.deployment_id, s.id) for s in fresh)
            deployments = self.runs.deployments({s.deployment_id for s in fresh}) if fresh else {}
            self.report.deployments_examined += len({s.deployment_id for s in fresh})
            for schedule in fresh:
                if self.deadline.passed():
                    # Commit what is planned (one request), leave the rest due for the next tick.
                    self.flush()
                    self.report.stopped_early = True
                    return
                self.schedule(deployments.get(schedule.deployment_id), schedule)
            self.flush()
            cursor = page.cursor
            if cursor is None:
                return
        self.report.stopped_early = True


def _log_failure(schedule: ScheduleRecord, exc: BaseException) -> None:
    logger.warning(
        json.dumps(
            {
                "deployment_id": str(schedule.deployment_id),
                "schedule_id": str(schedule.id),
                "error": f"{type(exc).__name__}: {exc}",
            }
        )
    )


_gc_lock = threading.Lock()
_gc_passes = 0
#: Whether the collector was on when the first running pass paused it.
_gc_state: dict[str, bool] = {}


@contextmanager
def _without_cycle_collection() -> Iterator[None]:
    """Pause Python's cycle collector while a pass runs (in any thread; resumed after the last):
    a pass allocates many short-lived objects, reference counting frees them, and the collector's
    runs over the Lambda's heap cost ~15% of the pass's CPU. What cycles remain go on resume."""
    global _gc_passes
    with _gc_lock:
        _gc_passes += 1
        if _gc_passes == 1:
            paused = gc.isenabled()
            gc.disable()
            _gc_state["resume"] = paused
    try:
        yield
    finally:
        with _gc_lock:
            _gc_passes -= 1
            if _gc_passes == 0 and _gc_state.get("resume"):
                gc.enable()


def _run(scheduler: _Scheduler, work: Callable[[], None]) -> SchedulingReport:
    started = time.perf_counter()
    with requests_of_this_thread() as counter, _without_cycle_collection():
        try:
            work()
        except CirrusError as exc:
            # A page or a deployment read refused after the client's retries: the tick ends here
            # and the next one starts over (everything not committed is still due).
            scheduler.report.errors += 1
            scheduler.report.stopped_early = True
            logger.warning(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
    scheduler.report.requests = counter.total
    scheduler.report.duration_s = time.perf_counter() - started
    return scheduler.report


def schedule_due(
    repos: Repositories, *, now: datetime, settings: Settings, deadline: Deadline | None = None
) -> SchedulingReport:
    """One scheduler tick: plan and insert the runs of every schedule due at ``now``."""
    scheduler = _Scheduler(repos, now, settings, deadline)
    return _run(scheduler, scheduler.due)


def schedule_deployment(
    repos: Repositories,
    deployment_id: uuid.UUID,
    *,
    now: datetime,
    settings: Settings,
    deadline: Deadline | None = None,
) -> SchedulingReport:
    """Plan and insert the runs of every active schedule of one deployment, as a tick would.

    Idempotent; a no-op for a paused or missing deployment; never raises for a failing schedule
    (see the report's ``errors``). The deployments service calls it after create, update, resume.
    """
    scheduler = _Scheduler(repos, now, settings, deadline)
    return _run(scheduler, lambda: scheduler.schedule_deployment(deployment_id))


def schedule_recent_deployments(
    repos: Repositories, *, now: datetime, settings: Settings, deadline: Deadline | None = None
) -> SchedulingReport:
    """The safety net behind inline scheduling: :func:`schedule_deployment` for every deployment
    updated within ``settings.scheduler_recent_window_s`` of ``now`` (the by-updated index)."""
    scheduler = _Scheduler(repos, now, settings, deadline)

    def work() -> None:
        since = now - timedelta(seconds=settings.scheduler_recent_window_s)
        for deployment_id in scheduler.runs.updated_since(since):
            if scheduler.deadline.passed():
                scheduler.report.stopped_early = True
                return
            scheduler.schedule_deployment(deployment_id)

    return _run(scheduler, work)
