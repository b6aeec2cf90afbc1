"""The scheduler's view of schedules: the sparse due index, and taking schedules off it.

A schedule item carries ``due_shard = "due"`` and ``due_at`` only while it may need runs; a tick
reads ``due_shard = "due" AND due_at <= now`` one page (one Query) at a time, so a tick with nothing
due costs one request whatever the number of deployments. The scheduler moves ``due_at`` forward
(and ``planned_through`` with it) only in the planning transaction of
:mod:`chalicelib.storage.scheduler._commits`; it removes the due attributes of a schedule that cannot
plan (inactive, or its deployment paused or gone) with the guarded writes here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from pynamodb.exceptions import AttributeDeserializationError, PynamoDBException, TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.domain.schedule_policy import SchedulePolicy
from chalicelib.errors import StorageUnavailableError
from chalicelib.storage.errors import CONDITION_FAILED, cancellation_codes, response_code
from chalicelib.storage.models import DeploymentModel, ScheduleModel

DUE_SHARD = "due"
#: Due schedules per Query page (DynamoDB caps a page at 1 MB, ~2,000 schedule items).
PAGE_SIZE = 1000
#: The code DynamoDB puts in a transaction's cancellation reason for a failed condition (a single
#: write's error code is ``ConditionalCheckFailedException``; a reason's code has no suffix).


class SchedulingStorageError(StorageUnavailableError):
    """DynamoDB refused a scheduler request for a reason other than a condition (throttled after
    the client's retries, a timeout, a server error). The caller skips the schedule; the next tick
    retries it, since nothing the scheduler writes is applied unless the whole transaction is."""


@dataclass(frozen=True)
class ScheduleRecord:
    """A schedule item as the scheduler plans from it (``spec`` is the schedule's JSON)."""

    deployment_id: uuid.UUID
    id: uuid.UUID
    spec: dict[str, Any]
    active: bool
    max_scheduled_runs: int | None
    parameters: dict[str, Any]
    slug: str | None
    rev: int
    planned_through: datetime | None
    due_at: datetime | None
    policy: SchedulePolicy = SchedulePolicy()

    def after_commit(self, planned_through: datetime | None, due_at: datetime | None) -> ScheduleRecord:
        """The record as a committed plan leaves it (for a following transaction of one plan)."""
        return replace(self, planned_through=planned_through, due_at=due_at)


@dataclass(frozen=True)
class DuePage:
    """One Query's worth of due schedules; ``cursor`` is ``None`` after the last page."""

    schedules: list[ScheduleRecord]
    cursor: dict[str, Any] | None
    #: Keys of items that could not be decoded: reported as errors, never fatal to the tick.
    undecodable: list[str] = field(default_factory=list)


def schedule_record(item: ScheduleModel) -> ScheduleRecord:
    """Decode a schedule item; ``ValueError`` when its keys, documents or counts are malformed."""
    if not isinstance(item.spec, dict) or not isinstance(item.parameters or {}, dict):
        raise ValueError(f"schedule {item.deployment_id}/{item.id}: spec and parameters must be objects")
    return ScheduleRecord(
        deployment_id=uuid.UUID(item.deployment_id),
        id=uuid.UUID(item.id),
        spec=dict(item.spec),
        active=bool(item.active),
        max_scheduled_runs=None if item.max_scheduled_runs is None else int(item.max_scheduled_runs),
        parameters=dict(item.parameters or {}),
        slug=item.slug,
        rev=int(item.rev or 0),
        planned_through=item.planned_through,
        due_at=item.due_at,
        policy=SchedulePolicy.from_json(item.policy),
    )


def _decoded(response: dict[str, Any]) -> DuePage:
    """A page of raw schedule items, decoded (one malformed item is reported, never fatal)."""
    schedules: list[ScheduleRecord] = []
    undecodable: list[str] = []
    for raw in response.get("Items", []):
        try:
            schedules.append(schedule_record(ScheduleModel.from_raw_data(raw)))
        except (ValueError, TypeError, AttributeDeserializationError):
            undecodable.append(f"{raw.get('deployment_id', {}).get('S')}/{raw.get('id', {}).get('S')}")
    return DuePage(schedules, response.get("LastEvaluatedKey"), undecodable)


class SchedulingStore:
    """Due-index reads, schedule reads, and the writes that take a schedule off the index."""

    # ------------------------------------------------------------------ reads
    def due_page(self, now: datetime, cursor: dict[str, Any] | None = None, limit: int = PAGE_SIZE) -> DuePage:
        """The next page of schedules with ``due_at <= now``, earliest first. Exactly one Query.

        The index is eventually consistent: a record may be stale, which the transaction's
        conditions on ``rev`` and ``planned_through`` make harmless.
        """
        try:
            # The raw connection (not Model.query's iterator): one call is one request, and one
            # malformed item cannot abort the page while it is decoded.
            response = ScheduleModel._get_connection().query(
                DUE_SHARD,
                range_key_condition=ScheduleModel.due_at <= now,
                index_name=ScheduleModel.by_due.Meta.index_name,
                limit=limit,
                exclusive_start_key=cursor,
            )
        except PynamoDBException as exc:
            raise SchedulingStorageError("Query by-due", DUE_SHARD, response_code(exc)) from exc
        return _decoded(response)

    def scan_page(self, cursor: dict[str, Any] | None = None, limit: int = PAGE_SIZE) -> DuePage:
        """The next page of every schedule (a Scan: exactly one request; ~2,000 schedules per MB)."""
        try:
            response = ScheduleModel._get_connection().scan(limit=limit, exclusive_start_key=cursor)
        except PynamoDBException as exc:
            raise SchedulingStorageError("Scan schedules", None, response_code(exc)) from exc
        return _decoded(response)

    def schedules_of(self, deployment_id: uuid.UUID) -> list[ScheduleRecord]:
        """Every schedule of a deployment (one strongly consistent Query on the table)."""
        try:
            return [schedule_record(i) for i in ScheduleModel.query(str(deployment_id), consistent_read=True)]
        except PynamoDBException as exc:
            raise SchedulingStorageError("Query schedules", deployment_id, response_code(exc)) from exc

    # ------------------------------------------------------------------ writes
    def park(self, schedule: ScheduleRecord) -> bool:
        """Take a schedule of a paused or deleted deployment off the due index, so ticks stop
        reading it; ``False`` when the deployment is live again or the schedule changed.

        A transaction: the deployment's condition (gone, or paused) holds at the moment of the
        update, so a resume (``paused=false`` first, then ``due_at=now``) is never undone.
        """
        deployment_inactive = DeploymentModel.id.does_not_exist() | (DeploymentModel.paused == True)  # noqa: E712
        try:
            with TransactWrite(connection=ScheduleModel._get_connection().connection) as tx:
                tx.condition_check(DeploymentModel, str(schedule.deployment_id), condition=deployment_inactive)
                tx.update(
                    ScheduleModel(str(schedule.deployment_id), str(schedule.id)),
                    actions=[ScheduleModel.due_shard.remove(), ScheduleModel.due_at.remove()],
                    condition=ScheduleModel.rev == schedule.rev,
                )
        except TransactWriteError as exc:
            if cancellation_codes(exc):
                return False
            raise SchedulingStorageError("TransactWriteItems park", schedule.id, response_code(exc)) from exc
        return True

    def unschedule(self, schedule: ScheduleRecord) -> bool:
        """Take an inactive schedule off the due index (its ``rev`` unchanged); ``False`` if it changed."""
        try:
            ScheduleModel(str(schedule.deployment_id), str(schedule.id)).update(
                actions=[ScheduleModel.due_shard.remove(), ScheduleModel.due_at.remove()],
                condition=ScheduleModel.rev == schedule.rev,
            )
        except PynamoDBException as exc:
            if response_code(exc) == CONDITION_FAILED:
                return False
            raise SchedulingStorageError("UpdateItem unschedule", schedule.id, response_code(exc)) from exc
        return True
