"""What every scheduled job's tick shares: when to stop, and the one line of counts it logs.

A job's service takes ``deadline=`` (a :class:`Deadline`: the Lambda's remaining time against the
settings' margin) and returns a report of counts (anything with ``as_dict()``: the scheduler's
:class:`~chalicelib.services.scheduler.SchedulingReport`, the sweeps'
:class:`~chalicelib.services.maintenance.SweepReport`); the job logs it with :func:`log_counts`
and returns the same dict as the invocation's result (``chalicelib.jobs.common.run_tick``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Deadline:
    """When to stop: the Lambda's remaining seconds (``None``: never) against a margin."""

    remaining_s: Callable[[], float] | None = None
    margin_s: float = 0.0

    def passed(self) -> bool:
        return self.remaining_s is not None and self.remaining_s() < self.margin_s


class Report(Protocol):
    """A tick's counts."""

    def as_dict(self) -> dict[str, Any]: ...


def log_counts(job: str, report: Report, log: logging.Logger) -> dict[str, Any]:
    """A job's one structured line: ``{"job": …, <the report's counts>}``, logged on ``log``;
    returns the same dict."""
    counts = {"job": job, **report.as_dict()}
    log.info(json.dumps(counts))
    return counts
