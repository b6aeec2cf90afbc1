"""What every scheduled Lambda shares: one tick (:func:`run_tick`), bare JSON log lines and the
Lambda's remaining time."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any

from chalice.app import CloudWatchEvent

from chalicelib import services
from chalicelib.config import get_settings
from chalicelib.storage import shared_repositories

_muted = False


def mute_bare_json_lines(muted: bool = True) -> None:
    """Stop (or resume) printing the jobs' report lines. The local schedule emulator logs one line
    per tick with the report in it; printing the job's own line too made every tick appear twice."""
    global _muted
    _muted = muted


class _StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to ``sys.stdout`` as it is when a record is emitted (a test may have replaced it)."""

    def emit(self, record: logging.LogRecord) -> None:
        if not _muted:
            super().emit(record)

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def log_bare_json_lines(logger_name: str) -> None:
    """Print the named logger's records (JSON objects) as bare lines on stdout.

    Lambda sends stdout to CloudWatch, whose Logs Insights indexes the fields of a bare JSON line;
    left alone the records would reach Chalice's ``cirrus`` logger, which prefixes
    ``name - LEVEL -``. Idempotent.
    """
    log = logging.getLogger(logger_name)
    if not any(isinstance(handler, _StdoutHandler) for handler in log.handlers):
        handler = _StdoutHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


def remaining_seconds(event: CloudWatchEvent) -> Callable[[], float] | None:
    """The Lambda's remaining time in seconds, read afresh on each call (``None`` without a context)."""
    remaining_ms = getattr(event.context, "get_remaining_time_in_millis", None)
    if remaining_ms is None:
        return None
    return lambda: remaining_ms() / 1000.0


def run_tick(
    job: str, service: Callable[..., Any], event: CloudWatchEvent, *, now: datetime, logger_name: str
) -> dict[str, Any]:
    """One tick of a scheduled job: ``service(repos, now=, settings=, deadline=)`` with the tick's
    clock ``now`` and the Lambda's remaining time (it stops ``job_time_margin_s`` before the
    timeout), its report logged as one bare JSON line on ``logger_name``; returns the same dict."""
    log_bare_json_lines(logger_name)
    settings = get_settings()
    deadline = services.ticks.Deadline(remaining_seconds(event), settings.job_time_margin_s)
    report = service(shared_repositories(settings), now=now, settings=settings, deadline=deadline)
    return services.ticks.log_counts(job, report, logging.getLogger(logger_name))
