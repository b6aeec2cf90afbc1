"""Workers: one item per (pool, worker name), ``id`` = uuid5(pool id, name); the by-pool index
lists a pool's workers. A heartbeat is one TransactWriteItems: a ConditionCheck that the pool
exists and an upsert of the worker (1 request)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pynamodb.exceptions import TransactWriteError

from chalicelib.domain.identity import worker_id
from chalicelib.errors import WorkerNotFoundError, WorkPoolNotFoundError
from chalicelib.schemas.work_pools import Worker
from chalicelib.storage.documents import DocumentRepository
from chalicelib.storage.errors import REASON_CONDITION_FAILED
from chalicelib.storage.labelled_transaction import LabelledTransaction
from chalicelib.storage.resource_models import WorkerModel, WorkPoolModel


class WorkerRepository(DocumentRepository[Worker]):
    model = WorkerModel
    schema = Worker
    kind = "Worker"
    top_level = ("work_pool_id", "name", "last_heartbeat_time", "heartbeat_interval_seconds")

    def not_found(self, key: object) -> WorkerNotFoundError:
        return WorkerNotFoundError(key)

    def record_heartbeat(
        self, pool_id: uuid.UUID, pool_name: str, name: str, interval_s: int | None, now: datetime
    ) -> None:
        """Create or refresh worker ``name`` of the pool; :class:`WorkPoolNotFoundError` when the
        pool does not exist (nothing is written then)."""
        item = WorkerModel(str(worker_id(pool_id, name)))
        interval = (
            WorkerModel.heartbeat_interval_seconds.remove()
            if interval_s is None
            else WorkerModel.heartbeat_interval_seconds.set(interval_s)
        )
        actions = [
            WorkerModel.work_pool_id.set(str(pool_id)),
            WorkerModel.name.set(name),
            WorkerModel.last_heartbeat_time.set(now),
            interval,
            WorkerModel.created.set(WorkerModel.created | now),
            WorkerModel.updated.set(now),
            WorkerModel.doc.set(WorkerModel.doc | {}),
            WorkerModel.rev.add(1),
        ]
        tx = LabelledTransaction(WorkerModel)
        tx.check("pool", WorkPoolModel, str(pool_id), WorkPoolModel.id.exists())
        tx.update("worker", item, actions)
        try:
            tx.commit()
        except TransactWriteError as exc:
            if tx.failures(exc).get("pool") == REASON_CONDITION_FAILED:
                raise WorkPoolNotFoundError(pool_name) from exc
            raise

    def for_pool(self, pool_id: uuid.UUID) -> list[Worker]:
        """The pool's workers by name (one Query of by-pool per 1 MB)."""
        return list(self.query(WorkerModel.by_pool, str(pool_id)))

    def delete_named(self, pool_id: uuid.UUID, name: str) -> None:
        self.delete(worker_id(pool_id, name))
