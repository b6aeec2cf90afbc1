"""Bodies and replies of the routes Prefect's UI calls (``/ui/...``; prefect/server/api/ui/*.py)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field, field_serializer

from chalicelib.schemas.common import ActionModel, Number, PositiveInt, UtcDateTime
from chalicelib.schemas.filters import FilterBody
from chalicelib.schemas.states import StateType
from chalicelib.schemas.task_runs import TaskRunFilterBody

#: Prefect's bound on the id lists of the ``/ui`` aggregation routes.
MAX_IDS = 200


class FlowIdsBody(ActionModel):
    flow_ids: list[uuid.UUID] = Field(max_length=MAX_IDS)


class FlowRunIdsBody(ActionModel):
    flow_run_ids: list[uuid.UUID] = Field(max_length=MAX_IDS)


class HistoryBody(FilterBody):
    """``/ui/flow_runs/history``: a flow-run filter with Prefect's larger limit and default sort."""

    limit: int = Field(default=1000, ge=0, le=1000, strict=True)
    sort: str | None = "EXPECTED_START_TIME_DESC"


class SimpleFlowRun(BaseModel):
    id: uuid.UUID
    state_type: StateType | None
    timestamp: UtcDateTime | None
    duration: timedelta
    lateness: timedelta

    @field_serializer("duration", "lateness")
    def _seconds(self, value: timedelta) -> float:
        return value.total_seconds()


class SimpleNextFlowRun(BaseModel):
    id: uuid.UUID
    flow_id: uuid.UUID
    name: str
    state_name: str | None
    state_type: StateType | None
    next_scheduled_start_time: UtcDateTime | None


class SchemaValidateBody(ActionModel):
    schema_: dict[str, Any] = Field(alias="schema")
    values: dict[str, Any]


class GraphState(BaseModel):
    id: uuid.UUID
    timestamp: UtcDateTime | None
    type: StateType
    name: str | None


class GraphEdge(BaseModel):
    id: uuid.UUID


class GraphNode(BaseModel):
    """Prefect's graph ``Node``: a task run, or the subflow run a task run stands for."""

    kind: Literal["flow-run", "task-run"]
    id: uuid.UUID
    label: str
    state_type: StateType
    start_time: UtcDateTime
    end_time: UtcDateTime | None
    parents: list[GraphEdge] = Field(default_factory=list)
    children: list[GraphEdge] = Field(default_factory=list)
    encapsulating: list[GraphEdge] = Field(default_factory=list)
    artifacts: list[dict[str, Any]] = Field(default_factory=list)


class FlowRunGraph(BaseModel):
    """Prefect's ``Graph`` (prefect/server/schemas/graph.py); nodes are ``[id, node]`` pairs."""

    start_time: UtcDateTime | None
    end_time: UtcDateTime | None
    root_node_ids: list[uuid.UUID] = Field(default_factory=list)
    nodes: list[tuple[uuid.UUID, GraphNode]] = Field(default_factory=list)
    artifacts: list[dict[str, Any]] = Field(default_factory=list)
    states: list[GraphState] = Field(default_factory=list)


class TaskRunHistoryBody(TaskRunFilterBody):
    """``/task_runs/history``: the window, the interval (≥ 1 s) and a task-run filter."""

    history_start: UtcDateTime
    history_end: UtcDateTime
    history_interval_seconds: Number = Field(ge=1)


class TaskRunPaginateBody(TaskRunFilterBody):
    page: PositiveInt = 1


class HistoryState(BaseModel):
    state_type: StateType
    state_name: str
    count_runs: int = 0
    sum_estimated_run_time: timedelta = timedelta(0)
    sum_estimated_lateness: timedelta = timedelta(0)

    @field_serializer("sum_estimated_run_time", "sum_estimated_lateness")
    def _seconds(self, value: timedelta) -> float:
        return value.total_seconds()


class HistoryInterval(BaseModel):
    """Prefect's ``HistoryResponse``: one interval and the runs in it, per state."""

    interval_start: UtcDateTime
    interval_end: UtcDateTime
    states: list[HistoryState] = Field(default_factory=list)
