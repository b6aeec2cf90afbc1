"""The scheduler Lambdas (EventBridge, every minute): due schedules, and recently changed deployments.

Each handler takes its clock from the event's time (EventBridge's scheduled minute, so a Lambda
retry of one tick plans from the same instant) unless that is missing or more than a few minutes
off (a replayed event must not plan runs into the past), hands the service the Lambda's remaining
time (it stops ``job_time_margin_s`` before the timeout and leaves the rest due for the next
tick), logs one bare JSON line of counts on stdout and returns the same dict.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from chalice import Blueprint, Rate
from chalice.app import CloudWatchEvent

from chalicelib.config import Settings, get_settings
from chalicelib.schemas.common import as_utc, utcnow
from chalicelib.services import scheduler
from chalicelib.storage import Repositories, open_repositories

bp = Blueprint(__name__)

#: How far the event's time may be from the clock and still be the tick's clock.
MAX_EVENT_SKEW = timedelta(minutes=5)


class _StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to ``sys.stdout`` as it is when a record is emitted (a test may have replaced it)."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def _log_bare_json_lines(log: logging.Logger) -> None:
    """Print the scheduler's records (JSON objects) as bare lines on stdout, which Lambda sends to
    CloudWatch and Logs Insights indexes; through Chalice's ``cirrus`` logger they would get a
    ``name - LEVEL -`` prefix."""
    if not any(isinstance(handler, _StdoutHandler) for handler in log.handlers):
        handler = _StdoutHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


_log_bare_json_lines(scheduler.logger)

_repos: dict[int, Repositories] = {}


def _repositories(settings: Settings) -> Repositories:
    """One set of repositories per settings object (a warm Lambda reuses its connections)."""
    repos = _repos.get(id(settings))
    if repos is None or repos.settings is not settings:
        _repos.clear()
        repos = _repos[id(settings)] = open_repositories(settings)
    return repos


def tick_time(event: CloudWatchEvent, now: datetime | None = None) -> datetime:
    """The event's time (ISO 8601) when within :data:`MAX_EVENT_SKEW` of ``now``, else ``now``."""
    now = now or utcnow()
    raw = getattr(event, "time", None)
    if isinstance(raw, str) and raw:
        try:
            at = as_utc(datetime.fromisoformat(raw.replace("Z", "+00:00")))
        except ValueError:
            return now  # not a time: the clock rather than a failed tick
        if abs(now - at) <= MAX_EVENT_SKEW:
            return at
    return now


def deadline(event: CloudWatchEvent, settings: Settings) -> scheduler.Deadline:
    """The Lambda's remaining time (read afresh on each check) against the job margin."""
    remaining_ms: Callable[[], int] | None = getattr(event.context, "get_remaining_time_in_millis", None)
    if remaining_ms is None:
        return scheduler.Deadline()
    return scheduler.Deadline(lambda: remaining_ms() / 1000.0, settings.job_time_margin_s)


def _tick(job: str, service: Callable[..., scheduler.SchedulingReport], event: CloudWatchEvent) -> dict[str, Any]:
    settings = get_settings()
    report = service(
        _repositories(settings), now=tick_time(event), settings=settings, deadline=deadline(event, settings)
    )
    return scheduler.log_report(job, report)


@bp.schedule(Rate(1, unit=Rate.MINUTES))
def schedule_deployments(event: CloudWatchEvent) -> dict[str, Any]:
    """Insert the next runs of every due schedule (reads only the due index)."""
    return _tick("schedule_deployments", scheduler.schedule_due, event)


@bp.schedule(Rate(1, unit=Rate.MINUTES))
def schedule_recent_deployments(event: CloudWatchEvent) -> dict[str, Any]:
    """Re-plan deployments changed within ``scheduler_recent_window_s`` (behind inline scheduling)."""
    return _tick("schedule_recent_deployments", scheduler.schedule_recent_deployments, event)
