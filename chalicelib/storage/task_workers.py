"""Task workers subscribed to ``/task_runs/subscriptions/scheduled``: one item per connection in
one partition (``task_workers``), written when its subscribe frame arrives and refreshed while it
lasts, deleted when it closes. Every read is one Query of that partition; entries past their expiry
(a connection that vanished unannounced) are skipped."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from chalicelib.storage.resource_models import TaskWorkerModel

#: How long an entry lasts without a refresh (API Gateway's connections last at most 2 hours).
WORKER_TTL = timedelta(hours=2, minutes=5)


@dataclass(frozen=True)
class TaskWorkerRecord:
    connection_id: str
    client_id: str
    task_keys: tuple[str, ...]
    seen: datetime


class TaskWorkerRepository:
    def observe(self, connection_id: str, client_id: str, task_keys: Iterable[str], now: datetime) -> None:
        """Record (or refresh) a connection's subscription (a put: the same item every time)."""
        TaskWorkerModel(
            "worker", connection_id, client_id=client_id, task_keys=sorted(set(task_keys)),
            seen=now, expires_at=now + WORKER_TTL,
        ).save()  # fmt: skip

    def forget(self, connection_id: str) -> None:
        TaskWorkerModel("worker", connection_id).delete()

    def active(self, now: datetime) -> list[TaskWorkerRecord]:
        """The subscribed connections, by connection id (one Query)."""
        return [
            TaskWorkerRecord(item.connection_id, item.client_id, tuple(item.task_keys or ()), item.seen)
            for item in TaskWorkerModel.query("worker", consistent_read=True)
            if item.expires_at is None or item.expires_at > now
        ]
