"""The maintenance Lambdas (EventBridge schedules): zombie killer, Lazarus, late runs.

Each handler takes the time at the start of its tick, hands the service the Lambda's remaining
time (so a sweep stops ``job_time_margin_s`` before the timeout), logs one JSON line of counts and
returns the same dict (the invocation's result, what tests and the local emulator show).
Retention needs no job: DynamoDB's TTL deletes finished runs (``expires_at``).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from chalice import Blueprint, Rate
from chalice.app import CloudWatchEvent

from chalicelib.config import Settings, get_settings
from chalicelib.schemas.common import utcnow
from chalicelib.services.late_runs import mark_late_runs as late_service
from chalicelib.services.lazarus import revive_crashed_runs as revive_service
from chalicelib.services.maintenance import Budget, SweepReport, log_report, logger
from chalicelib.services.zombies import kill_zombies as zombie_service
from chalicelib.storage import Repositories, open_repositories

bp = Blueprint(__name__)


class _StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to ``sys.stdout`` as it is when a record is emitted (a test may have replaced it)."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def _log_bare_json_lines(log: logging.Logger) -> None:
    """Print this logger's records as bare lines on stdout (what Lambda sends to CloudWatch).

    The records are JSON objects; printed bare, CloudWatch Logs Insights indexes their fields. Left
    alone they would reach Chalice's ``cirrus`` logger, which prefixes ``name - LEVEL -``.
    """
    if not any(isinstance(handler, _StdoutHandler) for handler in log.handlers):
        handler = _StdoutHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


_log_bare_json_lines(logger)


class _Service(Protocol):
    def __call__(
        self, repos: Repositories, *, now: datetime, settings: Settings, budget: Budget | None = ...
    ) -> SweepReport: ...


def _remaining_seconds(event: CloudWatchEvent) -> Callable[[], float] | None:
    """The Lambda's remaining time in seconds, read afresh on each call (``None`` without a context)."""
    context = event.context
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    if remaining_ms is None:
        return None
    return lambda: remaining_ms() / 1000.0


def _tick(job: str, service: _Service, event: CloudWatchEvent) -> dict[str, Any]:
    now = utcnow()  # the tick's clock: every threshold of this run is measured from it
    settings = get_settings()
    budget = Budget(settings, remaining_s=_remaining_seconds(event))
    report = service(open_repositories(settings), now=now, settings=settings, budget=budget)
    return log_report(job, report)


@bp.schedule(Rate(1, unit=Rate.MINUTES))
def kill_zombies(event: CloudWatchEvent) -> dict[str, Any]:
    """RUNNING runs silent past the zombie threshold → CRASHED; stuck CANCELLING → CANCELLED."""
    return _tick("kill_zombies", zombie_service, event)


@bp.schedule(Rate(5, unit=Rate.MINUTES))
def revive_crashed_runs(event: CloudWatchEvent) -> dict[str, Any]:
    """Lazarus: reschedule zombie-crashed runs of deployments, up to the attempt limit, then FAILED."""
    return _tick("revive_crashed_runs", revive_service, event)


@bp.schedule(Rate(1, unit=Rate.MINUTES))
def mark_late_runs(event: CloudWatchEvent) -> dict[str, Any]:
    """Scheduled runs more than ``late_runs_after_s`` past their time → Late."""
    return _tick("mark_late_runs", late_service, event)
