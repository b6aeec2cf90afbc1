"""Work queues in DynamoDB: created the first time a deployment names one.

The id is derived from (work pool, name) (``identity.work_queue_id``), so "create unless it
exists" is one conditional put and concurrent deployments naming one queue all agree on it.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from pynamodb.exceptions import PutError

from chalicelib.domain.identity import work_queue_id
from chalicelib.schemas.deployments import WorkQueue
from chalicelib.storage.errors import is_condition_failure
from chalicelib.storage.models import WorkQueueModel


def _to_queue(item: WorkQueueModel) -> WorkQueue:
    doc = dict(item.doc or {})
    doc.pop("work_pool_name", None)
    return WorkQueue.model_validate(
        {**doc, "id": item.id, "name": item.name, "created": item.created, "updated": item.updated}
    )


class WorkQueueRepository:
    """Put-if-absent and reads of work queues."""

    def ensure(self, name: str, work_pool_name: str | None, now: datetime) -> bool:
        """Create the queue ``name`` of ``work_pool_name`` unless it exists; ``True`` if created."""
        item = WorkQueueModel(
            str(work_queue_id(work_pool_name, name)),
            name=name,
            work_pool_name=work_pool_name,
            created=now,
            updated=now,
            doc={},
        )
        try:
            item.save(condition=WorkQueueModel.id.does_not_exist())
        except PutError as exc:
            if is_condition_failure(exc):
                return False
            raise
        return True

    def get(self, name: str, work_pool_name: str | None) -> WorkQueue | None:
        """The queue ``name`` of ``work_pool_name`` (one GetItem), ``None`` if it was never named."""
        return self.get_by_id(work_queue_id(work_pool_name, name))

    def get_by_id(self, id_: uuid.UUID) -> WorkQueue | None:
        try:
            return _to_queue(WorkQueueModel.get(str(id_), consistent_read=True))
        except WorkQueueModel.DoesNotExist:
            return None
