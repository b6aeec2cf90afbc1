"""Flow runs in DynamoDB: one item per run, its state history inside it.

Writes are conditional: an insert on ``attribute_not_exists(id)`` (ids of runs with an
idempotency key, and of auto-scheduled runs, are derived from that key), a transition on the
``state_id`` that was read. Terminal runs get a TTL (``expires_at``); reads treat an expired item
as gone even before DynamoDB deletes it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta

from pynamodb.exceptions import DeleteError, PutError, UpdateError
from pynamodb.expressions.condition import Condition

from chalicelib.config import Settings
from chalicelib.domain.identity import utc_key
from chalicelib.domain.sweeps import sweep_for
from chalicelib.errors import ConcurrentUpdateError, FlowRunNotFoundError
from chalicelib.schemas.common import utcnow
from chalicelib.schemas.filters import FlowRunFilter
from chalicelib.schemas.flow_runs import FlowRun
from chalicelib.schemas.states import State, StateType
from chalicelib.storage import flow_run_queries
from chalicelib.storage.errors import is_condition_failure
from chalicelib.storage.flow_run_queries import AccessPath
from chalicelib.storage.models import FlowRunModel

# Fields kept as top-level attributes; everything else of the response lives in ``doc`` (tags in
# both: ordered in ``doc``, as a string set on the item for filter expressions).
_TOP_LEVEL = {
    "id", "flow_id", "deployment_id", "schedule_id", "name", "idempotency_key", "auto_scheduled", "state_id",
    "state_type", "state_name", "run_count", "work_queue_name", "work_queue_id", "next_scheduled_start_time",
    "expected_start_time", "start_time", "end_time", "heartbeat", "lazarus_attempts", "created", "updated",
}  # fmt: skip


def state_sort_key(run: FlowRun) -> str:
    """``<STATE_TYPE>#<time>``: the range key of the by-deployment and by-work-queue indexes.

    The time is the next scheduled start while SCHEDULED (get_scheduled_flow_runs reads a range of
    it), else the expected start, else the creation time.
    """
    when = run.next_scheduled_start_time or run.expected_start_time or run.created
    return f"{run.state_type.value if run.state_type else 'NONE'}#{utc_key(when)}"


class FlowRunRepository:
    """Reads and writes flow runs; a missing or expired run raises :class:`FlowRunNotFoundError`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    # ------------------------------------------------------------------ mapping
    def to_item(self, run: FlowRun, history: list[State] | None = None) -> FlowRunModel:
        """The item for ``run`` with every derived attribute (index keys, sweep, TTL) computed."""
        data = run.model_dump(mode="json")
        doc = {k: v for k, v in data.items() if k not in _TOP_LEVEL}
        item = FlowRunModel(
            str(run.id),
            flow_id=str(run.flow_id),
            deployment_id=str(run.deployment_id) if run.deployment_id else None,
            schedule_id=str(run.schedule_id) if run.schedule_id else None,
            name=run.name,
            idempotency_key=run.idempotency_key,
            auto_scheduled=run.auto_scheduled,
            state_id=str(run.state.id) if run.state else "none",
            state_type=run.state_type.value if run.state_type else "NONE",
            state_name=run.state_name or "",
            state_sort=state_sort_key(run),
            run_count=run.run_count,
            work_queue_name=run.work_queue_name,
            work_queue_id=str(run.work_queue_id) if run.work_queue_id else None,
            tags=set(run.tags) or None,
            next_scheduled_start_time=run.next_scheduled_start_time,
            expected_start_time=run.expected_start_time,
            start_time=run.start_time,
            end_time=run.end_time,
            heartbeat=run.heartbeat,
            lazarus_attempts=run.lazarus_attempts,
            created=run.created,
            updated=run.updated,
            doc=doc,
            history=[s.model_dump(mode="json") for s in (history or [])],
        )
        sweep = sweep_for(run)
        if sweep is not None:
            item.sweep, item.sweep_at = sweep
        if run.state is not None and run.state.is_terminal:
            ended = run.end_time or run.state.timestamp
            item.expires_at = ended + timedelta(days=self.settings.retention_days)
        return item

    @staticmethod
    def from_item(item: FlowRunModel) -> FlowRun:
        data = dict(item.doc or {})
        data.update({name: getattr(item, name) for name in _TOP_LEVEL})
        # Placeholders that keep key attributes non-empty on the item mean "none" in the response.
        data.update(
            auto_scheduled=bool(item.auto_scheduled),
            state_id=None if item.state_id == "none" else item.state_id,
            state_type=None if item.state_type == "NONE" else item.state_type,
            state_name=item.state_name or None,
            run_count=int(item.run_count or 0),
            lazarus_attempts=int(item.lazarus_attempts or 0),
        )
        return FlowRun.model_validate(data)

    @staticmethod
    def history_of(item: FlowRunModel) -> list[State]:
        return [State.model_validate(s) for s in (item.history or [])]

    @staticmethod
    def _expired(item: FlowRunModel, now: datetime | None = None) -> bool:
        return item.expires_at is not None and item.expires_at <= (now or utcnow())

    # ------------------------------------------------------------------ reads
    def get_item(self, id_: uuid.UUID) -> FlowRunModel:
        """The stored item (strongly consistent); expired items count as missing."""
        try:
            item = FlowRunModel.get(str(id_), consistent_read=True)
        except FlowRunModel.DoesNotExist as exc:
            raise FlowRunNotFoundError(id_) from exc
        if self._expired(item):
            raise FlowRunNotFoundError(id_)
        return item

    def get(self, id_: uuid.UUID) -> FlowRun:
        return self.from_item(self.get_item(id_))

    def get_with_history(self, id_: uuid.UUID) -> tuple[FlowRun, list[State]]:
        item = self.get_item(id_)
        return self.from_item(item), self.history_of(item)

    def live(self, items: Iterable[FlowRunModel]) -> Iterator[FlowRun]:
        """Runs of ``items`` that have not expired."""
        now = utcnow()
        for item in items:
            if not self._expired(item, now):
                yield self.from_item(item)

    def by_deployment(
        self,
        deployment_id: uuid.UUID,
        state_type: StateType | None = None,
        after: datetime | None = None,
        before: datetime | None = None,
        limit: int | None = None,
        filter_condition: Condition | None = None,
    ) -> Iterator[FlowRun]:
        """A deployment's runs from the by-deployment index, ascending by the state-sort time.

        With ``state_type`` the query reads only that state's range, optionally between ``after``
        and ``before`` (inclusive) on its time (for SCHEDULED: next_scheduled_start_time).
        """
        condition = None
        if state_type is not None:
            low = f"{state_type.value}#{utc_key(after) if after else ''}"
            high = f"{state_type.value}#{utc_key(before) if before else '~'}"
            condition = FlowRunModel.state_sort.between(low, high)
        items = FlowRunModel.by_deployment.query(
            str(deployment_id), condition, filter_condition=filter_condition, limit=limit
        )
        return self.live(items)

    def find(self, paths: Iterable[AccessPath]) -> Iterator[FlowRun]:
        """The live runs the access paths reach (see :mod:`chalicelib.storage.flow_run_queries`)."""
        return self.live(flow_run_queries.read(paths))

    def get_many(self, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, FlowRun]:
        """Live runs by id (BatchGetItem, strongly consistent); missing ids are left out."""
        path = AccessPath(flow_run_queries.KEYS, tuple(dict.fromkeys(str(i) for i in ids)))
        return {run.id: run for run in self.find([path])}

    def by_flow(self, flow_id: uuid.UUID) -> Iterator[FlowRun]:
        """A flow's runs (by-flow index, by creation time)."""
        return self.find([AccessPath(flow_run_queries.BY_FLOW, (str(flow_id),))])

    def by_work_queue(self, work_queue_id: uuid.UUID, state_type: StateType | None = None) -> Iterator[FlowRun]:
        """A work queue's runs (by-work-queue index), optionally only those of ``state_type``."""
        flt = FlowRunFilter.model_validate({"state": {"type": {"any_": [state_type.value]}}}) if state_type else None
        return self.find(flow_run_queries.plan(flt, work_queue_ids=[work_queue_id]))

    def scheduled_in_queue(
        self, work_queue_id: uuid.UUID, *, after: datetime | None, before: datetime | None, limit: int
    ) -> list[FlowRun]:
        """A worker's poll of one queue: its SCHEDULED runs with next_scheduled_start_time in
        [after, before], earliest first, at most ``limit`` (one Query of by-work-queue)."""
        if limit <= 0:
            return []
        low = f"{StateType.SCHEDULED.value}#{utc_key(after) if after else ''}"
        high = f"{StateType.SCHEDULED.value}#{utc_key(before) if before else '~'}"
        items = FlowRunModel.by_work_queue.query(
            str(work_queue_id), FlowRunModel.state_sort.between(low, high), limit=limit, page_size=limit
        )
        return list(self.live(items))

    @staticmethod
    def count_active_in_queue(work_queue_id: uuid.UUID) -> int:
        """How many of the queue's runs are PENDING or RUNNING (the slots its concurrency limit
        counts): one Query with Select COUNT of by-work-queue (``PENDING#`` … ``RUNNING#~`` holds
        exactly those two state types)."""
        condition = FlowRunModel.state_sort.between(f"{StateType.PENDING.value}#", f"{StateType.RUNNING.value}#~")
        return FlowRunModel.by_work_queue.count(str(work_queue_id), condition)

    def by_next_scheduled(self, after: datetime | None = None, before: datetime | None = None) -> Iterator[FlowRun]:
        """SCHEDULED runs whose next scheduled start is in [after, before], ascending (sparse index)."""
        window = {"after_": after, "before_": before}
        flt = FlowRunFilter.model_validate({"next_scheduled_start_time": window})
        return self.find(flow_run_queries.plan(flt))

    def flow_ids_matching(self, flt: FlowRunFilter) -> set[uuid.UUID]:
        """Ids of the flows that have a run matching ``flt`` (the ``flow_runs`` group of other filters)."""
        return {run.flow_id for run in self.find(flow_run_queries.plan(flt)) if flt.matches(run)}

    # ------------------------------------------------------------------ writes
    def insert(self, run: FlowRun, history: list[State] | None = None, *, expired_by: datetime | None = None) -> bool:
        """Put ``run`` unless a run with its id exists; ``False`` when it already existed.

        With ``expired_by``, an item whose TTL passed by then (reads already hide it) counts as absent.
        """
        item = self.to_item(run, history if history is not None else ([run.state] if run.state else []))
        condition = FlowRunModel.id.does_not_exist()
        if expired_by is not None:
            condition |= FlowRunModel.expires_at <= expired_by
        try:
            item.save(condition=condition)
        except PutError as exc:
            if is_condition_failure(exc):
                return False
            raise
        return True

    def replace(
        self,
        run: FlowRun,
        history: list[State],
        expected_state_id: uuid.UUID | None,
        *,
        expected_updated: datetime | None = None,
    ) -> None:
        """Write ``run`` over the stored one, only if its state is still ``expected_state_id`` (and,
        when given, its ``updated`` still ``expected_updated``: no PATCH or heartbeat in between)."""
        item = self.to_item(run, history)
        expected = str(expected_state_id) if expected_state_id else "none"
        condition = FlowRunModel.state_id == expected
        if expected_updated is not None:
            condition &= FlowRunModel.updated == expected_updated
        try:
            item.save(condition=condition)
        except PutError as exc:
            if is_condition_failure(exc):
                raise ConcurrentUpdateError("Flow run", run.id) from exc
            raise

    def record_heartbeat(self, run: FlowRun, at: datetime) -> None:
        """Store ``at`` as the heartbeat of ``run`` as it was read, with its work-list entry.

        One UpdateItem conditioned on the item still holding the state and ``updated`` that were
        read: it never recreates a deleted run nor touches one that moved on (a crash by the zombie
        killer included). ``updated`` moves too, so a write based on an older read fails.
        """
        beating = run.model_copy(update={"heartbeat": at, "updated": max(at, run.updated + timedelta(microseconds=1))})
        actions = [FlowRunModel.heartbeat.set(at), FlowRunModel.updated.set(beating.updated)]
        sweep = sweep_for(beating)
        if sweep is None:
            actions += [FlowRunModel.sweep.remove(), FlowRunModel.sweep_at.remove()]
        else:
            actions += [FlowRunModel.sweep.set(sweep[0]), FlowRunModel.sweep_at.set(sweep[1])]
        state_id = str(run.state.id) if run.state else "none"
        condition = (FlowRunModel.state_id == state_id) & (FlowRunModel.updated == run.updated)
        try:
            FlowRunModel(str(run.id)).update(actions=actions, condition=condition)
        except UpdateError as exc:
            if is_condition_failure(exc):
                raise ConcurrentUpdateError("Flow run", run.id) from exc
            raise

    def delete(self, id_: uuid.UUID) -> None:
        try:
            FlowRunModel(str(id_)).delete(condition=FlowRunModel.id.exists())
        except DeleteError as exc:
            if is_condition_failure(exc):
                raise FlowRunNotFoundError(id_) from exc
            raise

    def delete_if_scheduled(self, id_: uuid.UUID, require_run_count_zero: bool = False) -> bool:
        """Delete a run only while it is still SCHEDULED (a run that started in between stays)."""
        condition = FlowRunModel.state_type == StateType.SCHEDULED.value
        if require_run_count_zero:
            condition &= FlowRunModel.run_count == 0
        try:
            FlowRunModel(str(id_)).delete(condition=condition)
        except DeleteError as exc:
            if is_condition_failure(exc):
                return False
            raise
        return True
