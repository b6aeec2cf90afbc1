"""The scheduler Lambdas (EventBridge, every minute): due schedules, and recently changed deployments.

Each handler takes its clock from the event's time (EventBridge's scheduled minute, so a Lambda
retry of one tick plans from the same instant) unless that is missing or more than a few minutes
off (a replayed event must not plan runs into the past), hands the service the Lambda's remaining
time (it stops ``job_time_margin_s`` before the timeout and leaves the rest due for the next
tick), logs one bare JSON line of counts on stdout and returns the same dict.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from chalice import Blueprint, Rate
from chalice.app import CloudWatchEvent

from chalicelib import services
from chalicelib.jobs.common import run_tick

bp = Blueprint(__name__)

#: The logger of chalicelib.services.scheduler._report (configured here without importing it).
LOGGER_NAME = "cirrus.scheduler"
#: How far the event's time may be from the clock and still be the tick's clock.
MAX_EVENT_SKEW = timedelta(minutes=5)


def tick_time(event: CloudWatchEvent, now: datetime | None = None) -> datetime:
    """The event's time (ISO 8601) when within :data:`MAX_EVENT_SKEW` of ``now``, else ``now``."""
    now = now or datetime.now(UTC)
    raw = getattr(event, "time", None)
    if isinstance(raw, str) and raw:
        try:
            at = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            return now  # not a time: the clock rather than a failed tick
        at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
        if abs(now - at) <= MAX_EVENT_SKEW:
            return at
    return now


def _tick(job: str, service: Any, event: CloudWatchEvent) -> dict[str, Any]:
    return run_tick(job, service, event, now=tick_time(event), logger_name=LOGGER_NAME)


@bp.schedule(Rate(1, unit=Rate.MINUTES))
def schedule_deployments(event: CloudWatchEvent) -> dict[str, Any]:
    """Insert the next runs of every due schedule (reads only the due index)."""
    return _tick("schedule_deployments", services.scheduler.schedule_due, event)


@bp.schedule(Rate(1, unit=Rate.MINUTES))
def schedule_recent_deployments(event: CloudWatchEvent) -> dict[str, Any]:
    """Re-plan deployments changed within ``scheduler_recent_window_s`` (behind inline scheduling)."""
    return _tick("schedule_recent_deployments", services.scheduler.schedule_recent_deployments, event)
