"""Work pools: one item per pool, its queues inside it (``doc``), ``id`` = uuid5(name).

Creating, reading, updating and deleting a pool (and its queues, which are edits of the pool) go
through the shared simple-resource path (:mod:`chalicelib.storage.documents`): a create is a put
on a new id (two racing creators: one pool, one conflict), an edit a put conditioned on ``rev``.
A worker's poll is :meth:`WorkPoolRepository.record_poll`: one UpdateItem that stamps the polled
queues and returns the whole pool, so the poll reads its queues in the same request.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pynamodb.exceptions import UpdateError

from chalicelib.domain.identity import work_pool_id
from chalicelib.errors import NotFoundError, WorkPoolNotFoundError
from chalicelib.schemas.common import iso_z
from chalicelib.schemas.work_pools import StoredWorkPool
from chalicelib.storage.documents import DocumentRepository
from chalicelib.storage.errors import is_condition_failure
from chalicelib.storage.resource_models import WorkPoolModel


class WorkPoolRepository(DocumentRepository[StoredWorkPool]):
    model = WorkPoolModel
    schema = StoredWorkPool
    kind = "Work pool"
    top_level = ("name", "queue_polls", "all_polled")

    def attribute_value(self, name: str, value: Any) -> Any:
        if name == "queue_polls":
            return {key: iso_z(at) for key, at in value.items()}
        return super().attribute_value(name, value)

    def get_named(self, name: str) -> StoredWorkPool:
        """The pool called ``name`` (one GetItem: the id follows from the name)."""
        try:
            return self.get(work_pool_id(name))
        except NotFoundError as exc:
            raise WorkPoolNotFoundError(name) from exc

    def find_named(self, name: str) -> StoredWorkPool | None:
        try:
            return self.get(work_pool_id(name))
        except NotFoundError:
            return None

    def record_poll(self, name: str, queue_ids: list[uuid.UUID] | None, now: datetime) -> StoredWorkPool:
        """Stamp a worker's poll of ``queue_ids`` (``None``: every queue) and return the pool as it
        is after the stamp: one UpdateItem (ReturnValues ALL_NEW). It leaves ``rev`` alone, so a
        poll never makes an edit of the pool retry (an edit racing it may drop one stamp; the
        worker's next poll, seconds later, stamps again)."""
        item = WorkPoolModel(str(work_pool_id(name)))
        if queue_ids is None:
            actions = [WorkPoolModel.all_polled.set(now)]
        else:
            actions = [WorkPoolModel.queue_polls[str(q)].set(iso_z(now)) for q in dict.fromkeys(queue_ids)]
        if not actions:
            return self.get_named(name)
        try:
            item.update(actions=actions, condition=WorkPoolModel.id.exists())
        except UpdateError as exc:
            if is_condition_failure(exc):
                raise WorkPoolNotFoundError(name) from exc
            raise
        return self.from_item(item)

    def find_queue(self, queue_id: uuid.UUID) -> StoredWorkPool | None:
        """The pool holding the queue ``queue_id`` (a Scan of the pools: the legacy by-id routes
        are an operator's path; a worker's poll names its pool)."""
        return next((pool for pool in self.scan() if any(q.id == queue_id for q in pool.queues)), None)
