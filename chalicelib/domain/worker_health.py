"""Statuses of workers, work queues and work pools, as Prefect's foreman judges them, computed
from stored instants at a given ``now`` (no clock read here).

- A worker is ONLINE while its last heartbeat is less than ``multiple`` of its heartbeat interval
  (or the fallback interval) old; else OFFLINE.
- A queue is PAUSED when paused, READY while a worker polled it within the window, else NOT_READY.
- A pool is PAUSED when paused, READY while one of its workers is ONLINE, else NOT_READY;
  Prefect's ``prefect-agent`` pools have no status.

Because every status is a function of stored instants, a reader sees it flip at the exact
threshold, and nothing has to be written when a worker goes quiet.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Thresholds:
    heartbeat_multiple: int = 3
    fallback_heartbeat_s: float = 30.0
    poll_window_s: float = 60.0

    def offline_at(self, last_heartbeat: datetime, interval_s: float | None) -> datetime:
        """When a worker that last beat at ``last_heartbeat`` becomes OFFLINE."""
        return last_heartbeat + timedelta(seconds=(interval_s or self.fallback_heartbeat_s) * self.heartbeat_multiple)

    def not_ready_at(self, last_polled: datetime) -> datetime:
        """When a queue (or deployment) last polled at ``last_polled`` becomes NOT_READY."""
        return last_polled + timedelta(seconds=self.poll_window_s)


def worker_status(t: Thresholds, last_heartbeat: datetime | None, interval_s: float | None, now: datetime) -> str:
    if last_heartbeat is None:
        return "OFFLINE"
    return "ONLINE" if now < t.offline_at(last_heartbeat, interval_s) else "OFFLINE"


def queue_status(t: Thresholds, is_paused: bool, last_polled: datetime | None, now: datetime) -> str:
    if is_paused:
        return "PAUSED"
    return "READY" if last_polled is not None and now < t.not_ready_at(last_polled) else "NOT_READY"


def pool_status(pool_type: str, is_paused: bool, worker_statuses: Iterable[str]) -> str | None:
    if pool_type == "prefect-agent":
        return None
    if is_paused:
        return "PAUSED"
    return "READY" if "ONLINE" in worker_statuses else "NOT_READY"


def ready_entry_at(last_polled: datetime, window_s: float) -> datetime:
    """When a deployment polled at ``last_polled`` is next looked at for NOT_READY: the instant it
    would be NOT_READY (``last_polled + window``), rounded down to a multiple of half the window.
    So polls within one half window give the same instant (its index entry moves at most once per
    half window), and it is never later than the real one (at most half a window early)."""
    half = timedelta(seconds=window_s / 2)
    epoch = datetime(1970, 1, 1, tzinfo=last_polled.tzinfo)
    return epoch + ((last_polled - epoch) // half) * half + timedelta(seconds=window_s)
