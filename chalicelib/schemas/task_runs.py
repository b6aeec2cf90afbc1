"""Task runs (Prefect's ``TaskRunCreate``/``TaskRun``, its filter and sorts).

The flow engine creates a task run through the API for a subflow's parent task and for
``run_deployment``; other task runs are reported by events (``prefect.task-run.*``).
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from chalicelib.schemas.common import ActionModel, Flag, Int, Number, ResponseModel, Text, UtcDateTime
from chalicelib.schemas.filters import (
    IdFilter,
    NameFilter,
    PagedBody,
    TagsFilter,
    Unsupported,
    _crit,
    _Criterion,
    _Group,
    _is_null,
    _StateFilter,
    _time_criterion,
)
from chalicelib.schemas.states import State, StateCreate, StateType

MAX_CACHE_KEY_LENGTH = 2000


class TaskRunPolicy(BaseModel):
    model_config = ConfigDict(extra="ignore")

    max_retries: Int = 0
    retry_delay_seconds: Number = 0
    retries: Int | None = None
    retry_delay: Int | Number | list[Int] | list[Number] | None = None
    retry_jitter_factor: Number | None = Field(default=None, ge=0)


class TaskRunCreate(ActionModel):
    id: uuid.UUID | None = None
    state: StateCreate | None = None
    name: str | None = None
    flow_run_id: uuid.UUID | None = None
    task_key: str
    dynamic_key: str
    cache_key: str | None = None
    cache_expiration: UtcDateTime | None = None
    task_version: str | None = None
    empirical_policy: TaskRunPolicy = Field(default_factory=TaskRunPolicy)
    tags: list[str] = Field(default_factory=list)
    labels: dict[str, Any] | None = Field(default_factory=dict)
    task_inputs: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)

    @field_validator("cache_key")
    @classmethod
    def _cache_key_length(cls, value: str | None) -> str | None:
        if value is not None and len(value) > MAX_CACHE_KEY_LENGTH:
            raise ValueError(f"Cache key exceeded maximum allowed length of {MAX_CACHE_KEY_LENGTH} characters.")
        return value


class TaskRun(ResponseModel):
    name: str
    flow_run_id: uuid.UUID | None = None
    task_key: str
    dynamic_key: str
    cache_key: str | None = None
    cache_expiration: UtcDateTime | None = None
    task_version: str | None = None
    empirical_policy: TaskRunPolicy = Field(default_factory=TaskRunPolicy)
    tags: list[str] = Field(default_factory=list)
    labels: dict[str, Any] | None = Field(default_factory=dict)
    state_id: uuid.UUID | None = None
    task_inputs: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)
    state_type: StateType | None = None
    state_name: str | None = None
    run_count: int = 0
    flow_run_run_count: int = 0
    expected_start_time: UtcDateTime | None = None
    next_scheduled_start_time: UtcDateTime | None = None
    start_time: UtcDateTime | None = None
    end_time: UtcDateTime | None = None
    total_run_time: float = 0.0
    estimated_run_time: float = 0.0
    estimated_start_time_delta: float = 0.0
    state: State | None = None
    #: The id of the Scheduled state a task worker was handed (storage only): a background task
    #: run is queued while its state is a deferred Scheduled one that was not handed out yet.
    delivered_state_id: uuid.UUID | None = Field(default=None, exclude=True)

    def awaits_task_worker(self) -> bool:
        """A background task run (``task.delay()``) waiting for a task worker: its state is
        Scheduled with ``deferred`` set (Prefect's ``EnqueueScheduledTasks``) and not handed out."""
        state = self.state
        return (
            state is not None
            and state.type is StateType.SCHEDULED
            and bool(state.state_details.deferred)
            and state.id != self.delivered_state_id
        )

    def stands_for_subflow(self) -> bool:
        """Whether this task run stands for a subflow in its parent run: the subflow's states are
        copied onto it with ``child_flow_run_id`` (Prefect's ``UpdateSubflowParentTask``)."""
        return self.state is not None and self.state.state_details.child_flow_run_id is not None


class _FlowRunId(_Criterion):
    any_: list[uuid.UUID] | None = None
    is_null_: Flag | None = None
    checks = _crit("flow_run_id", any_=lambda actual, wanted: actual in set(wanted), is_null_=_is_null)


class _TaskRunTags(TagsFilter):
    pass


class _SubflowRuns(_Criterion):
    """Whether a subflow run hangs off the task run (:meth:`TaskRun.stands_for_subflow`): the UI
    sends ``exists_: false`` to count "tasks, not subflows". The kept counts do not know it: a count
    they answer (a window, no flow run named) includes the task runs standing for subflows."""

    exists_: Flag | None = None

    def checks(self, obj: Any) -> list[bool]:
        return [] if self.exists_ is None else [obj.stands_for_subflow() == self.exists_]


class TaskRunFilter(_Group):
    id: IdFilter | None = None
    name: NameFilter | None = None
    tags: _TaskRunTags | None = None
    state: _StateFilter | None = None
    start_time: _time_criterion("start_time", with_null=True) | None = None  # type: ignore[valid-type]
    end_time: _time_criterion("end_time", with_null=True) | None = None  # type: ignore[valid-type]
    expected_start_time: _time_criterion("expected_start_time", with_null=False) | None = None  # type: ignore[valid-type]
    flow_run_id: _FlowRunId | None = None
    subflow_runs: _SubflowRuns | None = None


class _FlowRunIds(_Group):
    """The ``flow_runs`` group of a task-run filter: Cirrus evaluates ``id`` only."""

    id: IdFilter | None = None


class _FlowIds(_Group):
    """The ``flows`` group of a task-run filter: Cirrus evaluates ``id`` only (the UI's flow page)."""

    id: IdFilter | None = None


class TaskRunFilterBody(PagedBody):
    task_runs: TaskRunFilter | None = None
    flow_runs: _FlowRunIds | None = None
    flows: _FlowIds | None = None
    deployments: Unsupported = None


class TaskRunCountBody(ActionModel):
    #: Prefect's UI sends its list's sort with the count (the Task Runs tab): accepted, and irrelevant.
    sort: Text | None = None
    task_runs: TaskRunFilter | None = None
    flow_runs: _FlowRunIds | None = None
    flows: _FlowIds | None = None
    deployments: Unsupported = None


def _duration(run: TaskRun) -> float:
    return run.total_run_time


SORTS = {
    "ID_DESC": (lambda r: r.id, True),
    "EXPECTED_START_TIME_ASC": (lambda r: r.expected_start_time, False),
    "EXPECTED_START_TIME_DESC": (lambda r: r.expected_start_time, True),
    "NAME_ASC": (lambda r: r.name, False),
    "NAME_DESC": (lambda r: r.name, True),
    "NEXT_SCHEDULED_START_TIME_ASC": (lambda r: r.next_scheduled_start_time, False),
    "END_TIME_DESC": (lambda r: r.end_time, True),
    "DURATION_DESC": (_duration, True),
    "DURATION_ASC": (_duration, False),
}


class TaskWorkerFilter(ActionModel):
    task_keys: list[Text] = Field(default_factory=list, max_length=500)


class TaskWorkerFilterBody(ActionModel):
    """``POST /task_workers/filter``: ``{"task_worker_filter": {"task_keys": [...]}}`` or nothing."""

    task_worker_filter: TaskWorkerFilter | None = None
