"""Flow run bodies and responses (PREFECT_CONTRACT.md, "Flow runs")."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, field_validator

from chalicelib.schemas.common import (
    ActionModel,
    Document,
    Flag,
    Int,
    KeyText,
    Labels,
    Name,
    Number,
    ResponseModel,
    Tags,
    Text,
    UtcDateTime,
)
from chalicelib.schemas.states import State, StateCreate, StateType


class EmpiricalPolicy(BaseModel):
    model_config = ConfigDict(extra="ignore")

    max_retries: Int = 0
    retry_delay_seconds: Number = 0
    retries: Int | None = None
    retry_delay: Int | None = None
    pause_keys: list[Text] | None = Field(default_factory=list)
    resuming: Flag | None = False
    retry_type: Literal["in_process", "reschedule"] | None = None

    @field_validator("pause_keys")
    @classmethod
    def _a_set(cls, keys: list[str] | None) -> list[str] | None:
        """Prefect's ``pause_keys`` is a set: duplicates collapse (first occurrence kept)."""
        return None if keys is None else list(dict.fromkeys(keys))


class CreatedBy(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: uuid.UUID | None = None
    type: Text | None = None
    display_value: Text | None = None


class FlowRunCreate(ActionModel):
    flow_id: uuid.UUID
    name: Text | None = None
    state: StateCreate | None = None
    parameters: Document = Field(default_factory=dict)
    context: Document = Field(default_factory=dict)
    tags: Tags = Field(default_factory=list)
    labels: Labels | None = None
    idempotency_key: KeyText | None = None
    parent_task_run_id: uuid.UUID | None = None
    empirical_policy: EmpiricalPolicy = Field(default_factory=EmpiricalPolicy)
    work_queue_name: Name | None = None
    work_pool_name: Name | None = None
    job_variables: Document | None = None
    deployment_id: uuid.UUID | None = None
    flow_version: Text | None = None
    infrastructure_document_id: uuid.UUID | None = None
    deployment_version: Text | None = None
    created_by: CreatedBy | None = None


class FlowRunUpdate(ActionModel):
    name: Text | None = None
    flow_version: Text | None = None
    parameters: Document | None = None
    empirical_policy: EmpiricalPolicy | None = None
    tags: Tags | None = None
    labels: Labels | None = None
    infrastructure_pid: Text | None = None
    job_variables: Document | None = None


class FlowRunLabels(RootModel[Labels]):
    """The body of ``PATCH /flow_runs/{id}/labels``: labels merged into the run's."""


class FlowRun(ResponseModel):
    """A flow run as the API shows it. ``state`` is the current state; history lives in storage."""

    name: str
    flow_id: uuid.UUID
    state_id: uuid.UUID | None = None
    deployment_id: uuid.UUID | None = None
    deployment_version: str | None = None
    work_queue_id: uuid.UUID | None = None
    work_queue_name: str | None = None
    flow_version: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    idempotency_key: str | None = None
    context: dict[str, Any] = Field(default_factory=dict)
    empirical_policy: EmpiricalPolicy = Field(default_factory=EmpiricalPolicy)
    tags: list[str] = Field(default_factory=list)
    labels: dict[str, Any] = Field(default_factory=dict)
    parent_task_run_id: uuid.UUID | None = None
    state_type: StateType | None = None
    state_name: str | None = None
    run_count: int = 0
    expected_start_time: UtcDateTime | None = None
    next_scheduled_start_time: UtcDateTime | None = None
    start_time: UtcDateTime | None = None
    end_time: UtcDateTime | None = None
    total_run_time: float = 0.0
    estimated_run_time: float = 0.0
    estimated_start_time_delta: float = 0.0
    auto_scheduled: bool = False
    infrastructure_document_id: uuid.UUID | None = None
    infrastructure_pid: str | None = None
    created_by: CreatedBy | None = None
    work_pool_id: uuid.UUID | None = None
    work_pool_name: str | None = None
    state: State | None = None
    job_variables: dict[str, Any] | None = Field(default_factory=dict)
    # Cirrus bookkeeping (not in Prefect's schema, harmless to its client): the schedule that
    # planned an auto-scheduled run, the last heartbeat, Lazarus' attempts, and (as read from
    # storage, never written from here) the time of the run's maintenance work-list entry and the
    # end of a worker's claim on it (``claimed_until``: a poll handed it out).
    schedule_id: uuid.UUID | None = Field(default=None, exclude=True)
    heartbeat: UtcDateTime | None = Field(default=None, exclude=True)
    lazarus_attempts: int = Field(default=0, exclude=True)
    stored_sweep_at: UtcDateTime | None = Field(default=None, exclude=True)
    claimed_until: UtcDateTime | None = Field(default=None, exclude=True)
    #: The states the stored run's history table lacked as read (carried in its item, and its
    #: current state while not recorded), oldest first, as history entries ``{k, t, s}``.
    unrecorded: list[dict[str, Any]] | None = Field(default=None, exclude=True)
    #: The end of its schedule's catch-up window: still SCHEDULED then, the run is skipped.
    catchup_deadline: UtcDateTime | None = Field(default=None, exclude=True)
    #: Holds a slot of its deployment's concurrency limit (``domain.deployment_concurrency``).
    concurrency_slot: bool = Field(default=False, exclude=True)
    #: Its schedule's overlap policy when planned (``domain.schedule_overlap``; None: ALLOW_ALL).
    overlap: str | None = Field(default=None, exclude=True)
    #: Its schedule overlap token: "active" or "waiting" (None: none).
    overlap_slot: str | None = Field(default=None, exclude=True)
