"""Prefect's filter bodies and their evaluation against response objects.

Each filter group has ``operator`` (``and_``/``or_``); each criterion is ``None`` when not given.
``like_`` is a case-insensitive substring, ``before_`` is ≤ and ``after_`` is ≥. Evaluation is pure
Python over response models, so a repository may narrow candidates with a key or an index and the
service applies the whole filter to what comes back.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from chalicelib.schemas.common import MAX_INT, ActionModel, Flag, Int, KeyText, Text, UtcDateTime


class Operator(StrEnum):
    and_ = "and_"
    or_ = "or_"


class _Criterion(ActionModel):
    def checks(self, obj: Any) -> list[bool]:  # pragma: no cover - overridden
        raise NotImplementedError


#: A criterion the Prefect client may send that Cirrus does not implement: accepted only as ``null``
#: (the client dumps every criterion it knows), so a real one is a 422 naming it, never ignored.
Unsupported = Annotated[None, Field(default=None, description="not supported by Cirrus; must be null")]


class _Group(ActionModel):
    operator: Operator = Operator.and_

    def matches(self, obj: Any) -> bool:
        """Whether ``obj`` passes this group (an empty group passes everything)."""
        results: list[bool] = []
        for name in type(self).model_fields:
            if name == "operator":
                continue
            value = getattr(self, name)
            if value is None:
                continue
            results.extend(value.checks(obj) if isinstance(value, _Criterion) else [value.matches(obj)])
        if not results:
            return True
        return all(results) if self.operator is Operator.and_ else any(results)


def _field(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def _crit(attr: str, **tests: Callable[[Any, Any], bool]) -> Callable[[Any, Any], list[bool]]:
    """Build a ``checks`` method evaluating each set sub-field of a criterion on ``obj.attr``."""

    def checks(self: Any, obj: Any) -> list[bool]:
        actual = _field(obj, attr)
        return [test(actual, getattr(self, key)) for key, test in tests.items() if getattr(self, key) is not None]

    return checks


def _any(actual: Any, wanted: Iterable[Any]) -> bool:
    return actual in set(wanted)


def _not_any(actual: Any, wanted: Iterable[Any]) -> bool:
    return actual not in set(wanted)


def _like(actual: Any, pattern: str) -> bool:
    return actual is not None and pattern.lower() in str(actual).lower()


def _is_null(actual: Any, wanted: bool) -> bool:
    empty = actual is None or actual == [] or actual == {}
    return empty if wanted else not empty


def _before(actual: datetime | None, bound: datetime) -> bool:
    return actual is not None and actual <= bound


def _after(actual: datetime | None, bound: datetime) -> bool:
    return actual is not None and actual >= bound


def _all_tags(actual: list[str] | None, wanted: list[str]) -> bool:
    return set(wanted) <= set(actual or [])


def _any_tags(actual: list[str] | None, wanted: list[str]) -> bool:
    return bool(set(wanted) & set(actual or []))


class IdFilter(_Criterion):
    any_: list[uuid.UUID] | None = None
    not_any_: list[uuid.UUID] | None = None
    checks = _crit("id", any_=_any, not_any_=_not_any)


class NameFilter(_Criterion):
    any_: list[Text] | None = None
    like_: Text | None = None
    checks = _crit("name", any_=_any, like_=_like)


class TagsFilter(_Criterion):
    all_: list[Text] | None = None
    any_: list[Text] | None = None
    is_null_: Flag | None = None
    checks = _crit("tags", all_=_all_tags, any_=_any_tags, is_null_=_is_null)


class FlowFilter(_Group):
    id: IdFilter | None = None
    name: NameFilter | None = None
    tags: TagsFilter | None = None


class _FlowOrDeploymentName(_Criterion):
    like_: Text | None = None

    def checks(self, obj: Any) -> list[bool]:
        if self.like_ is None:
            return []
        names = [_field(obj, "name"), _field(obj, "flow_name")]
        return [any(_like(n, self.like_) for n in names)]


class _Paused(_Criterion):
    eq_: Flag | None = None
    checks = _crit("paused", eq_=lambda actual, wanted: bool(actual) == wanted)


class _WorkQueueName(_Criterion):
    any_: list[Text] | None = None
    is_null_: Flag | None = None
    checks = _crit("work_queue_name", any_=_any, is_null_=_is_null)


class _ConcurrencyLimit(_Criterion):
    ge_: Int | None = None
    le_: Int | None = None
    is_null_: Flag | None = None
    checks = _crit(
        "concurrency_limit",
        ge_=lambda actual, bound: actual is not None and actual >= bound,
        le_=lambda actual, bound: actual is not None and actual <= bound,
        is_null_=_is_null,
    )


class DeploymentFilter(_Group):
    id: IdFilter | None = None
    concurrency_limit: _ConcurrencyLimit | None = None
    name: NameFilter | None = None
    flow_or_deployment_name: _FlowOrDeploymentName | None = None
    paused: _Paused | None = None
    tags: TagsFilter | None = None
    work_queue_name: _WorkQueueName | None = None


class _DeploymentId(_Criterion):
    any_: list[uuid.UUID] | None = None
    is_null_: Flag | None = None
    checks = _crit("deployment_id", any_=_any, is_null_=_is_null)


class _StateType(_Criterion):
    any_: list[Text] | None = None
    not_any_: list[Text] | None = None
    checks = _crit("state_type", any_=_any, not_any_=_not_any)


class _StateName(_Criterion):
    any_: list[Text] | None = None
    not_any_: list[Text] | None = None
    checks = _crit("state_name", any_=_any, not_any_=_not_any)


class _StateFilter(_Group):
    type: _StateType | None = None
    name: _StateName | None = None


def _time_criterion(attr: str, with_null: bool) -> type[_Criterion]:
    tests: dict[str, Callable[[Any, Any], bool]] = {"before_": _before, "after_": _after}
    annotations: dict[str, Any] = {"before_": UtcDateTime | None, "after_": UtcDateTime | None}
    namespace: dict[str, Any] = {"before_": None, "after_": None}
    if with_null:
        tests["is_null_"] = _is_null
        annotations["is_null_"] = Flag | None
        namespace["is_null_"] = None
    namespace["__annotations__"] = annotations
    namespace["checks"] = _crit(attr, **tests)
    return type(f"_{attr.title().replace('_', '')}Filter", (_Criterion,), namespace)


_StartTime = _time_criterion("start_time", with_null=True)
_EndTime = _time_criterion("end_time", with_null=True)
_ExpectedStartTime = _time_criterion("expected_start_time", with_null=False)
_NextScheduledStartTime = _time_criterion("next_scheduled_start_time", with_null=False)


class _IdempotencyKey(_Criterion):
    any_: list[KeyText] | None = None
    not_any_: list[KeyText] | None = None
    checks = _crit("idempotency_key", any_=_any, not_any_=_not_any)


class _CreatedBy(_Criterion):
    id_: list[uuid.UUID] | None = None
    type_: list[Text] | None = None
    is_null_: Flag | None = None

    def checks(self, obj: Any) -> list[bool]:
        created_by = _field(obj, "created_by")
        cb_id = _field(created_by, "id") if created_by is not None else None
        cb_type = _field(created_by, "type") if created_by is not None else None
        out = []
        if self.id_ is not None:
            out.append(cb_id in set(self.id_))
        if self.type_ is not None:
            out.append(cb_type in set(self.type_))
        if self.is_null_ is not None:
            out.append(_is_null(created_by, self.is_null_))
        return out


class _ParentTaskRunId(_Criterion):
    any_: list[uuid.UUID] | None = None
    is_null_: Flag | None = None
    checks = _crit("parent_task_run_id", any_=_any, is_null_=_is_null)


class _ParentFlowRunId(_Criterion):
    """Runs whose parent task run belongs to one of these flow runs (Prefect's subflow link). The
    flow-runs service turns it into run ids before reading (``_with_subflows_of``); a filter still
    holding it matches no run (a run does not carry its parent flow run's id)."""

    any_: list[uuid.UUID] | None = None
    checks = _crit("parent_flow_run_id", any_=_any)


class _FlowRunTags(TagsFilter):
    pass


class FlowRunFilter(_Group):
    id: IdFilter | None = None
    name: NameFilter | None = None
    tags: _FlowRunTags | None = None
    deployment_id: _DeploymentId | None = None
    work_queue_name: _WorkQueueName | None = None
    state: _StateFilter | None = None
    start_time: _StartTime | None = None  # type: ignore[valid-type]
    end_time: _EndTime | None = None  # type: ignore[valid-type]
    expected_start_time: _ExpectedStartTime | None = None  # type: ignore[valid-type]
    next_scheduled_start_time: _NextScheduledStartTime | None = None  # type: ignore[valid-type]
    idempotency_key: _IdempotencyKey | None = None
    created_by: _CreatedBy | None = None
    parent_task_run_id: _ParentTaskRunId | None = None
    flow_version: Unsupported = None
    parent_flow_run_id: _ParentFlowRunId | None = None


class WorkQueueFilter(_Group):
    id: IdFilter | None = None
    name: NameFilter | None = None


#: Prefect's bounds: ``limit`` 0 to 200, ``offset`` ≥ 0, ``page`` ≥ 1 (and all within 64 bits).
Limit = Field(default=200, ge=0, le=200, strict=True)


class PagedBody(ActionModel):
    """``limit``/``offset``/``sort`` of a ``/filter`` body (each resource adds its filter groups)."""

    limit: int = Limit
    offset: int = Field(default=0, ge=0, le=MAX_INT, strict=True)
    sort: Text | None = None

    @field_validator("limit", "offset", mode="before")
    @classmethod
    def _null_means_default(cls, value: Any, info: Any) -> Any:
        # The Prefect client sends ``"limit": null`` for "the server's default".
        if value is None:
            return cls.model_fields[info.field_name].default
        return value


class FilterBody(PagedBody):
    """The body of every ``/filter`` route. Groups other than the ones a resource knows may be sent
    as ``null`` by the Prefect client; a non-null one it cannot apply is rejected by the service."""

    flows: FlowFilter | None = None
    deployments: DeploymentFilter | None = None
    flow_runs: FlowRunFilter | None = None
    task_runs: dict[str, Any] | None = None
    work_pools: dict[str, Any] | None = None
    work_pool_queues: WorkQueueFilter | None = None
    work_queues: WorkQueueFilter | None = None


class CountBody(FilterBody):
    limit: int | None = Field(default=None, ge=0, le=200, strict=True)  # type: ignore[assignment]


class PaginateBody(FilterBody):
    page: int = Field(default=1, ge=1, le=MAX_INT, strict=True)


SortOrder = Literal["asc", "desc"]
