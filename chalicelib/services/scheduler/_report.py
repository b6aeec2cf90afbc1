"""What a scheduler run reports: :class:`SchedulingReport`, the small report of counts every
scheduler entry point returns (the jobs log it as one JSON line with
:func:`chalicelib.services.ticks.log_counts`)."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

logger = logging.getLogger("cirrus.scheduler")
# Chalice sets its app logger ("cirrus") to ERROR; the jobs' count lines and warnings are INFO/WARNING.
logger.setLevel(logging.INFO)


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
