"""What a scheduler run reports, and when it must stop.

A :class:`SchedulingReport` is the small report of counts every scheduler entry point returns;
the jobs log it as one JSON line (:func:`log_report`) and return it as the invocation's result. A
:class:`Deadline` is the Lambda's remaining time against the job margin.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

logger = logging.getLogger("cirrus.scheduler")
# Chalice sets its app logger ("cirrus") to ERROR; the jobs' count lines and warnings are INFO/WARNING.
logger.setLevel(logging.INFO)


@dataclass(frozen=True)
class Deadline:
    """When to stop: the Lambda's remaining seconds (``None``: never) against a margin."""

    remaining_s: Callable[[], float] | None = None
    margin_s: float = 0.0

    def passed(self) -> bool:
        return self.remaining_s is not None and self.remaining_s() < self.margin_s


@dataclass
class SchedulingReport:
    """Counts of one tick (or one deployment's scheduling): what the job logs and returns."""

    deployments_examined: int = 0
    schedules_examined: int = 0
    runs_inserted: int = 0
    #: Lost races: runs another writer inserted first, and plans abandoned because the deployment
    #: was paused or the schedule changed (or re-planned) after it was read.
    conflicts: int = 0
    errors: int = 0
    requests: int = 0
    duration_s: float = 0.0
    #: Stopped on the deadline or the page cap: the rest is still due, for the next tick.
    stopped_early: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "duration_s": round(self.duration_s, 3)}


def log_counts(job: str, report: Any, log: logging.Logger) -> dict[str, Any]:
    """A job's one structured line: ``{"job": …, <the report's counts>}`` (any report with
    ``as_dict``), logged on ``log``; returns the same dict."""
    counts = {"job": job, **report.as_dict()}
    log.info(json.dumps(counts))
    return counts


def log_report(job: str, report: SchedulingReport) -> dict[str, Any]:
    """Log the tick's one structured line; return the same dict."""
    return log_counts(job, report, logger)
