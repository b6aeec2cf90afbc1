"""Logs: one item per line in its flow run's partition, sorted by ``<timestamp>#<id>``.

Writes are BatchWriteItem requests of 25 (200 lines: 8 requests); reads are one Query per
partition page (a flow run's lines by the table key, a task run's by the ``by-task-run`` index),
never a Scan. Items expire ``retention_days`` after they were stored.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta

from chalicelib.config import Settings
from chalicelib.domain.identity import utc_key
from chalicelib.schemas.logs import Log
from chalicelib.storage.resource_models import LogModel

NO_FLOW_RUN = "-"
#: Above every ``#``-suffixed sort key of one instant (``~`` sorts after hex digits and ``#``).
_AFTER_INSTANT = "~"


def _to_log(item: LogModel) -> Log:
    return Log(
        id=uuid.UUID(item.id),
        created=item.created,
        updated=item.created,
        name=item.name,
        level=int(item.level),
        message=item.message,
        timestamp=datetime.fromisoformat(item.sk.split("#", 1)[0].replace("Z", "+00:00")),
        flow_run_id=None if item.flow_run_id == NO_FLOW_RUN else uuid.UUID(item.flow_run_id),
        task_run_id=uuid.UUID(item.task_run_id) if item.task_run_id else None,
    )


class LogRepository:
    def __init__(self, settings: Settings) -> None:
        self.retention = timedelta(days=settings.retention_days)

    def put_many(self, logs: Iterable[Log], now: datetime) -> None:
        """Store ``logs`` (already validated) in BatchWriteItem requests of 25. Ids are derived
        from the content, so a batch sent again overwrites its own lines instead of doubling them."""
        expires = now + self.retention
        with LogModel.batch_write() as batch:
            for log in logs:
                batch.save(
                    LogModel(
                        str(log.flow_run_id) if log.flow_run_id else NO_FLOW_RUN,
                        f"{utc_key(log.timestamp)}#{log.id}",
                        id=str(log.id),
                        task_run_id=str(log.task_run_id) if log.task_run_id else None,
                        name=log.name,
                        level=log.level,
                        message=log.message,
                        created=log.created,
                        expires_at=expires,
                    )
                )

    def query(
        self,
        *,
        flow_run_id: uuid.UUID | None = None,
        task_run_id: uuid.UUID | None = None,
        after: datetime | None = None,
        before: datetime | None = None,
        descending: bool = False,
        limit: int | None = None,
    ) -> Iterator[Log]:
        """One run's lines in time order (``descending``: newest first), within [after, before],
        stopping after ``limit``: a flow run's by the table key, else a task run's by its index."""
        low = utc_key(after) if after is not None else None
        high = utc_key(before) + _AFTER_INSTANT if before is not None else None
        if low is not None and high is not None:
            condition = LogModel.sk.between(low, high)
        elif low is not None:
            condition = LogModel.sk >= low
        elif high is not None:
            condition = LogModel.sk <= high
        else:
            condition = None
        if flow_run_id is not None:
            source, key = LogModel, str(flow_run_id)
        elif task_run_id is not None:
            source, key = LogModel.by_task_run, str(task_run_id)
        else:
            raise ValueError("a flow run or a task run id is required")
        page = min(limit, 1000) if limit else None
        for item in source.query(key, condition, scan_index_forward=not descending, limit=limit, page_size=page):
            yield _to_log(item)
