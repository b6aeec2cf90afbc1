"""The maintenance Lambdas (EventBridge schedules): zombie killer, Lazarus, late runs.

Each handler takes the time at the start of its tick, hands the service the Lambda's remaining
time (so a sweep stops ``job_time_margin_s`` before the timeout), logs one JSON line of counts and
returns the same dict (the invocation's result, what tests and the local emulator show).
Retention needs no job: DynamoDB's TTL deletes finished runs (``expires_at``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chalice import Blueprint, Rate
from chalice.app import CloudWatchEvent

from chalicelib import services
from chalicelib.jobs.common import run_tick

bp = Blueprint(__name__)

#: The logger of chalicelib.services.maintenance._sweep (configured here without importing it).
LOGGER_NAME = "cirrus.maintenance"


def _tick(job: str, service: Any, event: CloudWatchEvent) -> dict[str, Any]:
    # The tick's clock: every threshold of this run is measured from it.
    return run_tick(job, service, event, now=datetime.now(UTC), logger_name=LOGGER_NAME)


def _zombies_and_statuses(repos: Any, *, now: datetime, settings: Any, deadline: Any) -> Any:
    report = services.maintenance.kill_zombies(repos, now=now, settings=settings, deadline=deadline)
    report.outcomes.update(services.status_events.watch_work_pools(repos, settings, now))
    report.outcomes.update(services.deployments.watch_statuses(repos, now))
    return report


@bp.schedule(Rate(1, unit=Rate.MINUTES))
def kill_zombies(event: CloudWatchEvent) -> dict[str, Any]:
    """RUNNING runs silent past the zombie threshold → CRASHED; stuck CANCELLING → CANCELLED; then
    the work pools', queues' and deployments' status events (a worker gone quiet makes its pool
    NOT_READY, a runner gone quiet its deployments; a worker's queue, polled or quiet, its own)."""
    return _tick("kill_zombies", _zombies_and_statuses, event)


@bp.schedule(Rate(5, unit=Rate.MINUTES))
def revive_crashed_runs(event: CloudWatchEvent) -> dict[str, Any]:
    """Lazarus: reschedule zombie-crashed runs of deployments, up to the attempt limit, then FAILED."""
    return _tick("revive_crashed_runs", services.maintenance.revive_crashed_runs, event)


@bp.schedule(Rate(1, unit=Rate.MINUTES))
def mark_late_runs(event: CloudWatchEvent) -> dict[str, Any]:
    """Scheduled runs more than ``late_runs_after_s`` past their time → Late."""
    return _tick("mark_late_runs", services.maintenance.mark_late_runs, event)
