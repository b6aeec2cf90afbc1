"""Task runs: one item each, unique per ``(flow_run_id, task_key, dynamic_key)`` through a claim;
a flow run's task runs through the ``by-flow-run`` index. Items and claims expire (TTL)
``retention_days`` after creation, like finished flow runs."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

from pynamodb.exceptions import PutError, UpdateError

from chalicelib.config import Settings
from chalicelib.domain.identity import utc_key
from chalicelib.schemas.task_runs import TaskRun
from chalicelib.storage.documents import DocumentRepository, Unique
from chalicelib.storage.errors import is_condition_failure
from chalicelib.storage.flow_runs._items import day_bucket
from chalicelib.storage.flow_runs._listing import by_day
from chalicelib.storage.model_meta import DocumentModel
from chalicelib.storage.resource_models import TaskRunModel


def list_time(run: TaskRun) -> datetime:
    """by-time's time of a task run: its start, else its expected start, else its creation."""
    return run.start_time or run.expected_start_time or run.created


def queued_at(run: TaskRun) -> str:
    """A waiting background task run's place in its task key's queue: its Scheduled state's time
    and id (a retry's new Scheduled state queues it again, at the back)."""
    assert run.state is not None
    return f"{utc_key(run.state.timestamp)}#{run.state.id}"


def upsert_key(run: TaskRun) -> str:
    return f"{run.flow_run_id or '-'}/{run.task_key}/{run.dynamic_key}"


class TaskRunRepository(DocumentRepository[TaskRun]):
    model = TaskRunModel
    schema = TaskRun
    kind = "Task run"
    top_level = ("flow_run_id", "delivered_state_id")
    unique = Unique("task_key", "task-run", lambda key: f"Task run {key} already exists.", compute=upsert_key)

    def __init__(self, settings: Settings) -> None:
        self.retention = timedelta(days=settings.retention_days)

    def expires_at(self, obj: TaskRun) -> datetime | None:
        return obj.created + self.retention

    def to_item(self, obj: TaskRun, rev: int = 0) -> DocumentModel:
        item = super().to_item(obj, rev)
        when = list_time(obj)
        item.time_bucket = day_bucket(when)  # type: ignore[attr-defined]
        item.time_key = f"{utc_key(when)}#{obj.id}"  # type: ignore[attr-defined]
        if obj.awaits_task_worker():
            item.queue_key, item.queued_at = obj.task_key, queued_at(obj)  # type: ignore[attr-defined]
        return item

    def attribute_value(self, name: str, value: object) -> object:
        return str(value) if value is not None else None

    def by_time(
        self,
        days: frozenset[str],
        low: datetime | None,
        high: datetime | None,
        *,
        descending: bool = True,
        first_page: int = 10,
    ) -> Iterator[tuple[TaskRun, str]]:
        """Task runs whose time (start, else expected start, else creation) is in [low, high], in
        that order, each with its by-time key: the day partitions of ``days`` a page at a time."""
        items = by_day(TaskRunModel.by_time, TaskRunModel.time_key, days, low, high, descending, first_page)
        for item in items:
            yield self.from_item(item), item.time_key

    def rewrite_outdated(self, cursor: dict | None = None, limit: int = 100) -> tuple[int, int, dict | None]:
        """Give one Scan page's task runs written before by-time its keys (a put conditioned on the
        ``rev`` read: a run changed meanwhile has them already). Returns (rewritten, current, cursor)."""
        page = TaskRunModel._get_connection().scan(limit=limit, exclusive_start_key=cursor, consistent_read=True)
        rewritten = kept = 0
        for raw in page.get("Items", []):
            item = TaskRunModel.from_raw_data(raw)
            if item.time_key is not None:
                kept += 1
                continue
            fresh = self.to_item(self.from_item(item), rev=int(item.rev))
            fresh.expires_at = item.expires_at
            try:
                fresh.save(condition=TaskRunModel.rev == item.rev)
                rewritten += 1
            except PutError as exc:
                if not is_condition_failure(exc):
                    raise
                kept += 1
        return rewritten, kept, page.get("LastEvaluatedKey")

    def for_flow_run(self, flow_run_id: uuid.UUID) -> Iterator[TaskRun]:
        """The flow run's task runs, oldest first (one Query per page of the index)."""
        return self.query(TaskRunModel.by_flow_run, str(flow_run_id))

    # ------------------------------------------------------------------ background task runs
    def waiting(self, task_key: str, limit: int) -> list[str]:
        """Up to ``limit`` places (``queued_at``) of the task key's waiting runs, oldest first
        (one Query of the sparse ``by-task-key`` index)."""
        found = TaskRunModel.by_task_key.query(task_key, limit=limit, page_size=limit)
        return [f"{item.queued_at}|{item.id}" for item in found]

    def waiting_keys(self, records: Iterable[Mapping[str, Any]]) -> list[str]:
        """The task keys of runs that started waiting, from records of this table's stream (their
        new image carries the queue's key ``qk``), each once, in order."""
        keys = (((record.get("dynamodb") or {}).get("NewImage") or {}).get("qk") or {} for record in records)
        return list(dict.fromkeys(key["S"] for key in keys if key.get("S")))

    def hand_out(self, place: str) -> TaskRun | None:
        """Take the waiting run at ``place`` (from :meth:`waiting`) off its queue for one task
        worker: an UpdateItem conditional on the run still being at that place, so each Scheduled
        state is handed out once however many workers race for it. ``None``: another took it, or
        the run moved on."""
        at, run_id = place.split("|")
        state_id = at.rsplit("#", 1)[1]
        actions = [
            TaskRunModel.queue_key.remove(),
            TaskRunModel.queued_at.remove(),
            TaskRunModel.delivered_state_id.set(state_id),
            TaskRunModel.rev.add(1),
        ]
        try:
            item = TaskRunModel(run_id)
            item.update(actions=actions, condition=TaskRunModel.queued_at == at)
        except UpdateError as exc:
            if is_condition_failure(exc):
                return None
            raise
        return self.from_item(item)

    def put_back(self, run: TaskRun) -> bool:
        """Queue a run handed out to a worker that never got it (its socket failed) again, at its
        old place; ``False`` when the run changed since (a worker did get it)."""
        assert run.state is not None and run.delivered_state_id is not None
        actions = [
            TaskRunModel.queue_key.set(run.task_key),
            TaskRunModel.queued_at.set(queued_at(run)),
            TaskRunModel.delivered_state_id.remove(),
            TaskRunModel.rev.add(1),
        ]
        condition = (TaskRunModel.delivered_state_id == str(run.delivered_state_id)) & (
            TaskRunModel.updated == run.updated
        )
        try:
            TaskRunModel(str(run.id)).update(actions=actions, condition=condition)
        except UpdateError as exc:
            if is_condition_failure(exc):
                return False
            raise
        return True
