"""Cirrus's schedule policies beyond Prefect's (issue 28): bounds and a catch-up window.

- ``start_at`` / ``end_at``: the schedule plans no occurrence before ``start_at`` nor after
  ``end_at`` (both inclusive). A schedule whose ``end_at`` has passed plans nothing again.
- ``pause_on_failure``: when a run of the schedule ends FAILED (a state set through the API: a
  runner, a worker, the UI), the schedule deactivates itself (``active`` false, its future runs
  retired), as if a user had paused it; reactivating it is the usual ``active: true``.
- ``jitter``: each run is scheduled at its occurrence plus a deterministic offset in ``[0, jitter)``
  (a hash of the schedule and the occurrence), so re-planning and redeploys give the same time and
  the same run, and a thousand ``0 * * * *`` schedules do not all start on the hour. A run's id
  stays its occurrence's (its idempotency key names its scheduled time, as Prefect's does).
- ``overlap``: what happens when a run of the schedule would start while another is still active
  (:mod:`chalicelib.domain.schedule_overlap`); stamped on each planned run.
- ``catchup_window``: a run of the schedule still SCHEDULED this long after its scheduled time is
  skipped (CANCELLED "Skipped", by the late-runs job; polls stop handing it out at once), so an
  outage, a paused worker or a resumed deployment never runs a backlog. The scheduler itself never
  plans an occurrence in the past.

Pure: the stored form is a small JSON object (``to_json``/``from_json``), absent fields omitted.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any


@dataclass(frozen=True)
class SchedulePolicy:
    start_at: datetime | None = None
    end_at: datetime | None = None
    catchup_window: timedelta | None = None
    pause_on_failure: bool = False
    jitter: timedelta | None = None
    overlap: str | None = None
    #: Not a policy but its record: why ``pause_on_failure`` deactivated the schedule (cleared on
    #: reactivation): ``{"flow_run_id", "at", "message"}``.
    paused_by_failure: dict[str, Any] | None = None

    def window(self, now: datetime, max_time: timedelta) -> tuple[datetime, datetime | None]:
        """``(start, end)`` for :func:`~chalicelib.domain.planning.plan_runs` from ``now``: start at
        ``max(now, start_at)``; ``end`` is ``end_at`` when it comes before ``start + max_time`` (a
        fixed bound: nothing after it is ever planned), else ``None`` (Prefect's rolling window)."""
        start = max(now, self.start_at) if self.start_at is not None else now
        if self.end_at is not None and self.end_at <= start + max_time:
            return start, self.end_at
        return start, None

    def with_defaults(self, catchup_s: float, overlap: str = "ALLOW_ALL") -> SchedulePolicy:
        """The policy that applies: the schedule's own window and overlap, else the stack-wide
        defaults (a window of 0: none)."""
        policy = self
        if policy.catchup_window is None and catchup_s > 0:
            policy = replace(policy, catchup_window=timedelta(seconds=catchup_s))
        if policy.overlap is None and overlap != "ALLOW_ALL":
            policy = replace(policy, overlap=overlap)
        return policy

    def run_time(self, schedule_id: uuid.UUID, occurrence: datetime) -> datetime:
        """When the run of ``occurrence`` is scheduled: the occurrence, plus its jitter offset."""
        if not self.jitter:
            return occurrence
        span = int(self.jitter / timedelta(microseconds=1))
        digest = hashlib.sha256(f"{schedule_id}|{occurrence.astimezone(UTC).isoformat()}".encode()).digest()
        return occurrence + timedelta(microseconds=int.from_bytes(digest[:8], "big") % span)

    def to_json(self) -> dict[str, Any] | None:
        data: dict[str, Any] = {}
        if self.start_at is not None:
            data["start_at"] = self.start_at.astimezone(UTC).isoformat()
        if self.end_at is not None:
            data["end_at"] = self.end_at.astimezone(UTC).isoformat()
        if self.catchup_window is not None:
            data["catchup_window"] = self.catchup_window.total_seconds()
        if self.pause_on_failure:
            data["pause_on_failure"] = True
        if self.jitter is not None:
            data["jitter"] = self.jitter.total_seconds()
        if self.overlap is not None:
            data["overlap"] = self.overlap
        if self.paused_by_failure is not None:
            data["paused_by_failure"] = self.paused_by_failure
        return data or None

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> SchedulePolicy:
        data = data or {}
        start, end, window = data.get("start_at"), data.get("end_at"), data.get("catchup_window")
        return cls(
            start_at=datetime.fromisoformat(start) if start else None,
            end_at=datetime.fromisoformat(end) if end else None,
            catchup_window=timedelta(seconds=float(window)) if window is not None else None,
            pause_on_failure=bool(data.get("pause_on_failure", False)),
            jitter=timedelta(seconds=float(data["jitter"])) if data.get("jitter") is not None else None,
            overlap=data.get("overlap"),
            paused_by_failure=data.get("paused_by_failure"),
        )


#: The overlap policies (``domain.schedule_overlap``); ALLOW_ALL is Prefect's behaviour.
OVERLAP_POLICIES = ("ALLOW_ALL", "SKIP", "BUFFER_ONE", "BUFFER_ALL", "CANCEL_OTHER")

#: No policy: Prefect's behaviour.
NO_POLICY = SchedulePolicy()
