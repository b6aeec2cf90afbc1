"""Work pools, their queues and workers (Prefect 3.9's ``/work_pools`` wire format).

A pool's queues are stored inside the pool (:class:`StoredWorkPool`), so one read gives a worker's
poll everything it needs; the API shows them as separate objects (:class:`WorkQueue`).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from chalicelib.schemas.common import (
    ActionModel,
    Flag,
    KeyText,
    NonNegativeInt,
    PositiveInt,
    ResponseModel,
    Text,
    UtcDateTime,
)
from chalicelib.schemas.filters import (
    IdFilter,
    NameFilter,
    PagedBody,
    _after,
    _any,
    _before,
    _crit,
    _Criterion,
    _Group,
    _not_any,
)
from chalicelib.schemas.flow_runs import FlowRun

Name = KeyText  # non-empty, at most MAX_KEY_BYTES (chalicelib.schemas.common)

WorkPoolStatus = Literal["READY", "NOT_READY", "PAUSED"]
WorkQueueStatus = Literal["READY", "NOT_READY", "PAUSED"]
WorkerStatus = Literal["ONLINE", "OFFLINE"]


def _no_slash(value: str) -> str:
    """Names appear in paths (``/work_pools/{name}``): Prefect rejects ``/`` and ``%`` in them."""
    if "/" in value or "%" in value:
        raise ValueError("Name cannot contain '/' or '%'")
    if not value.strip():
        raise ValueError("Name cannot be empty")
    return value


def _job_template(value: dict[str, Any]) -> dict[str, Any]:
    """Prefect's shape check: a non-empty template has ``job_configuration`` and ``variables``."""
    if value and not {"job_configuration", "variables"} <= value.keys():
        raise ValueError("The `base_job_template` must contain both a `job_configuration` key and a `variables` key.")
    variables = value.get("variables")
    if variables is not None and not isinstance(variables, dict):
        raise ValueError("`variables` must be a JSON schema object")
    return value


class StorageConfiguration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bundle_upload_step: dict[str, Any] | None = None
    bundle_execution_step: dict[str, Any] | None = None
    default_result_storage_block_id: uuid.UUID | None = None


# ------------------------------------------------------------------------------------ pools
class WorkPoolCreate(ActionModel):
    name: Name
    description: str | None = None
    type: str = "prefect-agent"
    base_job_template: dict[str, Any] = Field(default_factory=dict)
    is_paused: Flag = False
    concurrency_limit: NonNegativeInt | None = None
    storage_configuration: StorageConfiguration = Field(default_factory=StorageConfiguration)

    _name = field_validator("name")(_no_slash)
    _template = field_validator("base_job_template")(_job_template)


class WorkPoolUpdate(ActionModel):
    description: str | None = None
    is_paused: Flag | None = None
    base_job_template: dict[str, Any] | None = None
    concurrency_limit: NonNegativeInt | None = None
    storage_configuration: StorageConfiguration | None = None

    @field_validator("base_job_template")
    @classmethod
    def _template(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if value is None else _job_template(value)


class WorkPool(ResponseModel):
    name: str
    description: str | None = None
    type: str
    base_job_template: dict[str, Any] = Field(default_factory=dict)
    is_paused: bool = False
    concurrency_limit: int | None = None
    status: WorkPoolStatus | None = None
    default_queue_id: uuid.UUID | None = None
    storage_configuration: StorageConfiguration = Field(default_factory=StorageConfiguration)
    active_slots: int | None = None


# ------------------------------------------------------------------------------------ queues
class QueueFilter(BaseModel):
    """A legacy queue's ``filter`` as Prefect types it (what is stored always reads back)."""

    model_config = ConfigDict(extra="ignore")

    tags: list[Text] | None = None
    deployment_ids: list[uuid.UUID] | None = None


class WorkQueueCreate(ActionModel):
    name: Name
    description: str | None = ""
    is_paused: Flag = False
    concurrency_limit: NonNegativeInt | None = None
    priority: PositiveInt | None = None
    filter: QueueFilter | None = None
    #: Only the legacy ``POST /work_queues/`` sends these.
    work_pool_id: uuid.UUID | None = None
    work_pool_name: str | None = None

    _name = field_validator("name")(_no_slash)


class WorkQueueUpdate(ActionModel):
    name: str | None = None
    description: str | None = None
    is_paused: Flag | None = None
    concurrency_limit: NonNegativeInt | None = None
    priority: PositiveInt | None = None
    last_polled: UtcDateTime | None = None
    filter: QueueFilter | None = None


class QueueSpec(BaseModel):
    """A queue as stored inside its pool (what is its own; status and pool fields are derived)."""

    model_config = ConfigDict(extra="ignore")

    id: uuid.UUID
    name: str
    description: str | None = ""
    is_paused: bool = False
    concurrency_limit: int | None = None
    priority: int = 1
    filter: dict[str, Any] | None = None
    created: UtcDateTime
    updated: UtcDateTime
    #: Set by PATCH ``last_polled``; worker polls are recorded on the pool (``queue_polls``).
    last_polled: UtcDateTime | None = None


class WorkQueue(ResponseModel):
    name: str
    description: str | None = ""
    is_paused: bool = False
    concurrency_limit: int | None = None
    priority: int = 1
    work_pool_id: uuid.UUID | None = None
    filter: dict[str, Any] | None = None
    last_polled: UtcDateTime | None = None
    work_pool_name: str | None = None
    status: WorkQueueStatus | None = "NOT_READY"
    active_slots: int | None = None


class StoredWorkPool(WorkPool):
    """A pool as stored: the response fields, its queues, and when workers last polled them
    (``queue_polls``: queue id → instant; ``all_polled``: a poll of every queue)."""

    queues: list[QueueSpec] = Field(default_factory=list)
    queue_polls: dict[str, UtcDateTime] = Field(default_factory=dict)
    all_polled: UtcDateTime | None = None

    @model_validator(mode="after")
    def _polls_of_existing_queues(self) -> StoredWorkPool:
        # A poll naming a queue that does not exist stamped it anyway: forget such stamps.
        ids = {str(q.id) for q in self.queues}
        if not self.queue_polls.keys() <= ids:
            self.queue_polls = {k: v for k, v in self.queue_polls.items() if k in ids}
        return self

    def queue_named(self, name: str) -> QueueSpec | None:
        return next((q for q in self.queues if q.name == name), None)

    def queue_last_polled(self, queue: QueueSpec) -> datetime | None:
        marks = [t for t in (queue.last_polled, self.queue_polls.get(str(queue.id)), self.all_polled) if t]
        return max(marks) if marks else None


# ------------------------------------------------------------------------------------ workers
class Worker(ResponseModel):
    name: str
    work_pool_id: uuid.UUID
    last_heartbeat_time: UtcDateTime | None = None
    heartbeat_interval_seconds: int | None = None
    status: WorkerStatus = "OFFLINE"


class WorkerHeartbeat(ActionModel):
    name: Name
    heartbeat_interval_seconds: NonNegativeInt | None = Field(default=None, ge=0, le=86400)
    #: Prefect Cloud's form; Prefect's own server ignores both (and so does Cirrus: 204).
    return_id: Flag = False
    metadata: dict[str, Any] | None = None


# ------------------------------------------------------------------------------------ filters
class _WorkPoolType(_Criterion):
    any_: list[str] | None = None
    checks = _crit("type", any_=_any)


class WorkPoolFilter(_Group):
    id: IdFilter | None = None
    name: NameFilter | None = None
    type: _WorkPoolType | None = None


class WorkQueueFilter(_Group):
    id: IdFilter | None = None
    name: NameFilter | None = None


class _WorkerStatus(_Criterion):
    any_: list[WorkerStatus] | None = None
    not_any_: list[WorkerStatus] | None = None
    checks = _crit("status", any_=_any, not_any_=_not_any)


class _WorkerHeartbeat(_Criterion):
    before_: UtcDateTime | None = None
    after_: UtcDateTime | None = None
    checks = _crit("last_heartbeat_time", before_=_before, after_=_after)


class WorkerFilter(_Group):
    last_heartbeat_time: _WorkerHeartbeat | None = None
    status: _WorkerStatus | None = None


class WorkPoolFilterBody(PagedBody):
    work_pools: WorkPoolFilter | None = None


class WorkPoolCountBody(ActionModel):
    work_pools: WorkPoolFilter | None = None


class WorkQueueFilterBody(PagedBody):
    work_queues: WorkQueueFilter | None = None


class WorkerFilterBody(PagedBody):
    workers: WorkerFilter | None = None


class ScheduledRunsBody(ActionModel):
    work_queue_names: list[str] | None = None
    scheduled_before: UtcDateTime | None = None
    scheduled_after: UtcDateTime | None = None
    limit: NonNegativeInt | None = Field(default=None, ge=0, le=200)


class WorkerFlowRun(BaseModel):
    work_pool_id: uuid.UUID
    work_queue_id: uuid.UUID
    flow_run: FlowRun


# ------------------------------------------------------------------------------------ legacy
class HealthPolicy(BaseModel):
    maximum_late_runs: int | None = 0
    maximum_seconds_since_last_polled: int | None = 60


class QueueStatusDetail(BaseModel):
    """``GET /work_queues/{id}/status``."""

    healthy: bool
    late_runs_count: int = 0
    last_polled: UtcDateTime | None = None
    health_check_policy: HealthPolicy = Field(default_factory=HealthPolicy)


class GetRunsBody(ActionModel):
    """``POST /work_queues/{id}/get_runs`` (an agent's poll)."""

    scheduled_before: UtcDateTime | None = None
    limit: NonNegativeInt | None = Field(default=None, le=200)
    agent_id: uuid.UUID | None = None
