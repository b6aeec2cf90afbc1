"""Deployment bodies and responses (PREFECT_CONTRACT.md, "Deployments")."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, Strict, model_validator
from pydantic_core import PydanticCustomError

from chalicelib.domain.schedule_policy import SchedulePolicy
from chalicelib.schemas.common import (
    MAX_IDS_PER_REQUEST,
    ActionModel,
    Document,
    DocumentList,
    Flag,
    KeyText,
    Labels,
    Name,
    NonNegativeInt,
    Number,
    PositiveInt,
    ResponseModel,
    Tags,
    Text,
    UtcDateTime,
)
from chalicelib.schemas.flow_runs import CreatedBy, EmpiricalPolicy
from chalicelib.schemas.schedules import Schedule
from chalicelib.schemas.states import StateCreate


class ConcurrencyOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    collision_strategy: Literal["ENQUEUE", "CANCEL_NEW"]
    grace_period_seconds: NonNegativeInt | None = Field(default=None, ge=60, le=86400)


#: A catch-up window: more than a second, at most a year (seconds, as Prefect writes durations).
CatchupWindow = Annotated[float, Strict(), Field(gt=1, le=366 * 86400, allow_inf_nan=False)]
#: A jitter: more than a microsecond, at most a day (seconds).
Jitter = Annotated[float, Strict(), Field(gt=0.000001, le=86400, allow_inf_nan=False)]


class SchedulePolicyFields(ActionModel):
    """Cirrus's schedule policies beyond Prefect's fields (``chalicelib.domain.schedule_policy``):
    accepted beside them, returned in every read (Prefect's client ignores fields it does not know)."""

    start_at: UtcDateTime | None = None
    end_at: UtcDateTime | None = None
    catchup_window: CatchupWindow | None = None
    pause_on_failure: Flag | None = None
    jitter: Jitter | None = None
    overlap: Literal["ALLOW_ALL", "SKIP", "BUFFER_ONE", "BUFFER_ALL", "CANCEL_OTHER"] | None = None

    @model_validator(mode="after")
    def _ordered(self) -> SchedulePolicyFields:
        if self.start_at is not None and self.end_at is not None and self.end_at < self.start_at:
            raise PydanticCustomError("value_error", "end_at must not be before start_at")
        return self


class DeploymentScheduleCreate(SchedulePolicyFields):
    schedule: Schedule
    active: Flag = True
    max_scheduled_runs: PositiveInt | None = None
    parameters: Document = Field(default_factory=dict)
    slug: KeyText | None = None
    #: Prefect 3.9's client sends this (the slug of a schedule this one replaces); matched by slug here.
    replaces: KeyText | None = None


class DeploymentScheduleCreateList(RootModel[list[DeploymentScheduleCreate]]):
    """The body of ``POST /deployments/{id}/schedules``: a JSON list of schedules."""


class DeploymentScheduleUpdate(SchedulePolicyFields):
    schedule: Schedule | None = None
    active: Flag | None = None
    max_scheduled_runs: PositiveInt | None = None
    parameters: Document | None = None
    slug: KeyText | None = None
    replaces: KeyText | None = None


class DeploymentSchedule(ResponseModel):
    deployment_id: uuid.UUID
    schedule: Schedule
    active: bool = True
    max_scheduled_runs: int | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    slug: str | None = None
    # Cirrus's policies (SchedulePolicyFields), read back as set.
    start_at: UtcDateTime | None = None
    end_at: UtcDateTime | None = None
    catchup_window: float | None = None
    pause_on_failure: bool = False
    jitter: float | None = None
    overlap: str | None = None
    #: Set when ``pause_on_failure`` deactivated the schedule: the failed run, when, its message.
    paused_by_failure: dict[str, Any] | None = None

    def policy(self) -> SchedulePolicy:
        window = timedelta(seconds=self.catchup_window) if self.catchup_window is not None else None
        jitter = timedelta(seconds=self.jitter) if self.jitter is not None else None
        return SchedulePolicy(
            self.start_at, self.end_at, window, self.pause_on_failure, jitter, self.overlap, self.paused_by_failure
        )


class _DeploymentFields(ActionModel):
    """Fields shared by create and update (all optional here)."""

    version: Text | None = None
    description: Text | None = None
    paused: Flag | None = None
    parameters: Document | None = None
    tags: Tags | None = None
    labels: Labels | None = None
    work_queue_name: Name | None = None
    work_pool_name: Name | None = None
    path: Text | None = None
    job_variables: Document | None = None
    entrypoint: Text | None = None
    parameter_openapi_schema: Document | None = None
    enforce_parameter_schema: Flag | None = None
    pull_steps: DocumentList | None = None
    concurrency_limit: PositiveInt | None = None
    concurrency_options: ConcurrencyOptions | None = None
    storage_document_id: uuid.UUID | None = None
    infrastructure_document_id: uuid.UUID | None = None
    version_info: Document | None = None
    schedules: list[DeploymentScheduleCreate] | None = None


class DeploymentCreate(_DeploymentFields):
    name: Name
    flow_id: uuid.UUID
    paused: Flag = False
    schedules: list[DeploymentScheduleCreate] = Field(default_factory=list)
    parameters: Document = Field(default_factory=dict)
    tags: Tags = Field(default_factory=list)
    labels: Labels = Field(default_factory=dict)
    job_variables: Document = Field(default_factory=dict)
    enforce_parameter_schema: Flag = True


class DeploymentUpdate(_DeploymentFields):
    """PATCH body: only the fields present are changed (use ``model_fields_set``)."""


class Deployment(ResponseModel):
    name: str
    flow_id: uuid.UUID
    version: str | None = None
    description: str | None = None
    paused: bool = False
    schedules: list[DeploymentSchedule] = Field(default_factory=list)
    parameters: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    labels: dict[str, Any] = Field(default_factory=dict)
    work_queue_name: str | None = None
    work_pool_name: str | None = None
    path: str | None = None
    job_variables: dict[str, Any] = Field(default_factory=dict)
    entrypoint: str | None = None
    parameter_openapi_schema: dict[str, Any] | None = None
    enforce_parameter_schema: bool = True
    pull_steps: list[dict[str, Any]] | None = None
    concurrency_limit: int | None = None
    concurrency_options: ConcurrencyOptions | None = None
    storage_document_id: uuid.UUID | None = None
    infrastructure_document_id: uuid.UUID | None = None
    version_info: dict[str, Any] | None = None
    status: Literal["READY", "NOT_READY"] = "NOT_READY"
    last_polled: UtcDateTime | None = None
    work_queue_id: uuid.UUID | None = None
    created_by: CreatedBy | None = None
    updated_by: CreatedBy | None = None
    global_concurrency_limit: dict[str, Any] | None = None


class DeploymentFlowRunCreate(ActionModel):
    state: StateCreate | None = None
    name: Text | None = None
    parameters: Document = Field(default_factory=dict)
    enforce_parameter_schema: Flag | None = None
    context: Document = Field(default_factory=dict)
    infrastructure_document_id: uuid.UUID | None = None
    empirical_policy: EmpiricalPolicy = Field(default_factory=EmpiricalPolicy)
    tags: Tags = Field(default_factory=list)
    labels: Labels | None = None
    idempotency_key: KeyText | None = None
    parent_task_run_id: uuid.UUID | None = None
    work_queue_name: Name | None = None
    job_variables: Document | None = Field(default_factory=dict)
    job_variables_overrides: Document | None = None


#: Bounds that keep a backfill's work finite (Prefect has none; a century of seconds, 10,000 runs).
MAX_BACKFILL_SECONDS = 100 * 365.25 * 86400
MAX_BACKFILL_RUNS = 10_000


class BackfillBody(ActionModel):
    start_time: UtcDateTime | None = None
    end_time: UtcDateTime | None = None
    min_time: Number | None = Field(default=None, ge=0, le=MAX_BACKFILL_SECONDS)
    min_runs: NonNegativeInt | None = Field(default=None, le=MAX_BACKFILL_RUNS)
    max_runs: NonNegativeInt | None = Field(default=None, le=MAX_BACKFILL_RUNS)


class GetScheduledFlowRunsBody(ActionModel):
    deployment_ids: list[uuid.UUID] = Field(max_length=MAX_IDS_PER_REQUEST)
    scheduled_before: UtcDateTime | None = None
    #: Prefect's ``LimitBody``: 0 to 200 (``null`` means 200).
    limit: NonNegativeInt | None = Field(default=None, le=200)
