"""The scheduler's other reads and writes: the deployments runs copy from, backfill inserts,
retirement deletes, and the per-thread request count each scheduler report carries.

Backfill and retirement write runs in transactions of up to 100 items, each item conditional
(insert: the run does not exist; delete: the run is still SCHEDULED). A cancelled transaction
names the items whose condition failed; they are dropped and the rest retried, so a batch costs
one request when nothing races it and the outcome is the same as one conditional write per run.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pynamodb.exceptions import PynamoDBException, TransactWriteError
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from chalicelib.domain.identity import utc_key
from chalicelib.schemas.flow_runs import FlowRun
from chalicelib.schemas.states import StateType
from chalicelib.storage.errors import REASON_CONDITION_FAILED, cancellation_codes, response_code
from chalicelib.storage.flow_runs import FlowRunRepository, never_ran_scheduled
from chalicelib.storage.instrumentation import RequestCounter
from chalicelib.storage.models import ALL_MODELS, DeploymentModel, FlowRunModel
from chalicelib.storage.scheduler._commits import TRANSACTION_ITEMS
from chalicelib.storage.scheduler._due import SchedulingStorageError

#: Items per transaction (DynamoDB's limit).
#: The deployment attributes a run copies (a projection: half the item, and the index keys unread).
_RUN_SOURCES = ["id", "flow_id", "paused", "work_queue_name", "work_pool_name", "doc"]


@dataclass(frozen=True)
class DeploymentRecord:
    """What runs copy from their deployment (``doc`` holds the fields that are not top-level)."""

    id: uuid.UUID
    flow_id: uuid.UUID
    paused: bool
    version: str | None = None
    tags: list[str] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)
    work_queue_name: str | None = None
    work_pool_name: str | None = None
    infrastructure_document_id: uuid.UUID | None = None


def deployment_record(item: DeploymentModel) -> DeploymentRecord:
    """Decode a deployment item; ``ValueError`` when malformed."""
    doc = item.doc or {}
    if not isinstance(doc, dict):
        raise ValueError(f"deployment {item.id}: doc must be an object")
    infrastructure = doc.get("infrastructure_document_id")
    return DeploymentRecord(
        id=uuid.UUID(item.id),
        flow_id=uuid.UUID(item.flow_id),
        paused=bool(item.paused),
        version=doc.get("version"),
        tags=list(doc.get("tags") or []),
        parameters=dict(doc.get("parameters") or {}),
        work_queue_name=item.work_queue_name,
        work_pool_name=item.work_pool_name,
        infrastructure_document_id=uuid.UUID(infrastructure) if infrastructure else None,
    )


class ThreadRequestCounter(RequestCounter):
    """Counts only the calls made by the thread that created it (concurrent ticks in one process
    share the models' clients, and each report must count its own requests)."""

    def __init__(self) -> None:
        super().__init__()
        self._thread = threading.get_ident()

    def __call__(self, model: Any = None, **kwargs: Any) -> None:
        if threading.get_ident() == self._thread:
            super().__call__(model=model, **kwargs)


@contextmanager
def requests_of_this_thread() -> Iterator[RequestCounter]:
    """Count the DynamoDB calls this thread makes through the models inside the block."""
    counter = ThreadRequestCounter()
    clients: list[Any] = []
    for model in ALL_MODELS:
        client = model._get_connection().connection.client
        if all(client is not c for c in clients):
            clients.append(client)
    hook_id = f"scheduler-count-{id(counter)}"
    for client in clients:
        client.meta.events.register("before-call.dynamodb", counter, unique_id=hook_id)
    try:
        yield counter
    finally:
        for client in clients:
            client.meta.events.unregister("before-call.dynamodb", unique_id=hook_id)


class ScheduledRunStore:
    """Deployment reads for run building; backfill inserts and retirement deletes of runs."""

    def __init__(self, flow_runs: FlowRunRepository) -> None:
        self.flow_runs = flow_runs

    # ------------------------------------------------------------------ deployments
    def deployments(self, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, DeploymentRecord]:
        """The deployments among ``ids`` that exist (BatchGetItem, 100 keys a request, consistent).

        A malformed deployment is left out as if missing: the planning transaction's condition
        check on the deployment keeps that harmless.
        """
        found: dict[uuid.UUID, DeploymentRecord] = {}
        try:
            keys = [str(i) for i in set(ids)]
            for item in DeploymentModel.batch_get(keys, consistent_read=True, attributes_to_get=_RUN_SOURCES):
                try:
                    record = deployment_record(item)
                except (ValueError, TypeError):
                    continue
                found[record.id] = record
        except PynamoDBException as exc:
            raise SchedulingStorageError("BatchGetItem deployments", None, response_code(exc)) from exc
        return found

    def deployment(self, id_: uuid.UUID) -> DeploymentRecord | None:
        """One deployment (strongly consistent GetItem), ``None`` when it does not exist."""
        try:
            return deployment_record(DeploymentModel.get(str(id_), consistent_read=True))
        except DeploymentModel.DoesNotExist:
            return None
        except PynamoDBException as exc:
            raise SchedulingStorageError("GetItem deployment", id_, response_code(exc)) from exc

    def updated_since(self, since: datetime) -> list[uuid.UUID]:
        """Deployments whose ``updated`` is at or after ``since`` (the KEYS_ONLY by-updated index)."""
        try:
            items = DeploymentModel.by_updated.query("all", DeploymentModel.updated >= since)
            return [uuid.UUID(item.id) for item in items]
        except PynamoDBException as exc:
            raise SchedulingStorageError("Query by-updated", "all", response_code(exc)) from exc

    # ------------------------------------------------------------------ runs
    def insert_runs(self, runs: Sequence[FlowRun]) -> list[uuid.UUID]:
        """Insert each run that does not exist yet; return the ids inserted (backfill)."""
        inserted: list[uuid.UUID] = []
        absent = FlowRunModel.id.does_not_exist()
        for start in range(0, len(runs), TRANSACTION_ITEMS):
            chunk = runs[start : start + TRANSACTION_ITEMS]
            batch = [(r.id, self.flow_runs.to_item(r, [r.state] if r.state else [])) for r in chunk]
            inserted += self._each_or_drop(batch, lambda tx, item: tx.save(item, condition=absent))
        return inserted

    def delete_scheduled(self, ids: Iterable[uuid.UUID]) -> int:
        """Delete each of ``ids`` that is still SCHEDULED and has never run (strongly consistent, by
        key); the count. A run awaiting a retry or rescheduled by Lazarus (run_count > 0) is kept."""
        ordered = sorted(set(ids))
        still_scheduled = never_ran_scheduled()
        deleted = 0
        for start in range(0, len(ordered), TRANSACTION_ITEMS):
            batch = [(i, FlowRunModel(str(i))) for i in ordered[start : start + TRANSACTION_ITEMS]]
            deleted += len(self._each_or_drop(batch, lambda tx, item: tx.delete(item, condition=still_scheduled)))
        return deleted

    def scheduled_run_ids(
        self, deployment_id: uuid.UUID, schedule_id: uuid.UUID, since: datetime | None
    ) -> set[uuid.UUID]:
        """Ids of the deployment's SCHEDULED runs of ``schedule_id`` at or after ``since`` (all when
        ``None``), from by-owner-state (eventually consistent)."""
        low = f"{StateType.SCHEDULED.value}#{utc_key(since) if since else ''}"
        high = f"{StateType.SCHEDULED.value}#~"
        try:
            items = FlowRunModel.by_owner.query(
                str(deployment_id),
                FlowRunModel.owner_sort.between(low, high),
                filter_condition=FlowRunModel.schedule_id == str(schedule_id),
                attributes_to_get=["id"],
            )
            return {uuid.UUID(item.id) for item in items}
        except PynamoDBException as exc:
            raise SchedulingStorageError("Query by-owner-state", deployment_id, response_code(exc)) from exc

    @staticmethod
    def _each_or_drop(batch: list[tuple[uuid.UUID, Model]], add: Any) -> list[uuid.UUID]:
        """Commit one conditional write per item in one transaction; items whose condition fails are
        dropped and the rest retried. Returns the ids written."""
        while batch:
            try:
                with TransactWrite(connection=FlowRunModel._get_connection().connection) as tx:
                    for _, item in batch:
                        add(tx, item)
            except TransactWriteError as exc:
                codes = cancellation_codes(exc)
                failed = {i for i, code in enumerate(codes) if code == REASON_CONDITION_FAILED}
                if not failed:
                    raise SchedulingStorageError("TransactWriteItems runs", None, response_code(exc)) from exc
                batch = [entry for i, entry in enumerate(batch) if i not in failed]
                continue
            return [id_ for id_, _ in batch]
        return []
