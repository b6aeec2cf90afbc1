"""Deployments and schedules for scheduler tests, written as the deployments work writes them.

The items follow the protocol of ``.lead/CONTRACT.md`` ("Schedule items"): a schedule created or
re-planned carries ``rev`` and is due now while active and its deployment unpaused; a pause sets
``paused`` first and then takes the schedules off the due index; a resume does the reverse (and
forgets ``planned_through``, since the pause deleted the planned runs).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chalicelib.config import Settings
from chalicelib.domain.identity import deployment_id as derive_deployment_id
from chalicelib.domain.identity import flow_id as derive_flow_id
from chalicelib.domain.identity import scheduled_run_id
from chalicelib.domain.planning import plan_runs
from chalicelib.schemas.deployments import Deployment
from chalicelib.schemas.schedules import parse_schedule
from chalicelib.storage.models import DeploymentModel, FlowModel, FlowRunModel, ScheduleModel

#: A Monday, midnight UTC: cron */5 occurrences fall on it, the hourly schedule's at :30.
T0 = datetime(2025, 1, 6, 0, 0, tzinfo=UTC)
CRON_5 = {"cron": "*/5 * * * *", "timezone": "America/New_York", "day_or": True}
HOURLY = {"interval": 3600.0, "anchor_date": "2020-01-01T00:30:00Z", "timezone": "UTC"}

_TOP_LEVEL = {"id", "flow_id", "name", "paused", "work_queue_name", "work_pool_name", "created", "updated"}


@dataclass(frozen=True)
class Placed:
    """A deployment written for a test, with its schedules (id → spec)."""

    flow_id: uuid.UUID
    deployment_id: uuid.UUID
    schedules: dict[uuid.UUID, dict[str, Any]]


def make_flow(name: str = "flow", now: datetime = T0) -> uuid.UUID:
    id_ = derive_flow_id(name)
    FlowModel(str(id_), name=name, tags=[], created=now, updated=now).save()
    return id_


def make_deployment(
    name: str,
    *,
    flow_id: uuid.UUID | None = None,
    specs: Iterable[dict[str, Any]] = (),
    paused: bool = False,
    now: datetime = T0,
    **fields: Any,
) -> Placed:
    """A deployment item (``fields``: tags, parameters, version, work_queue_name…) and its schedules."""
    flow = flow_id or make_flow()
    deployment = Deployment(
        id=derive_deployment_id(flow, name), name=name, flow_id=flow, paused=paused, created=now, updated=now, **fields
    )
    data = deployment.model_dump(mode="json")
    DeploymentModel(
        str(deployment.id),
        flow_id=str(flow),
        name=name,
        paused=paused,
        rev=0,
        work_queue_name=deployment.work_queue_name,
        work_pool_name=deployment.work_pool_name,
        created=now,
        updated=now,
        doc={k: v for k, v in data.items() if k not in _TOP_LEVEL},
    ).save()
    schedules = {add_schedule(deployment.id, spec, due=not paused, now=now): spec for spec in specs}
    return Placed(flow, deployment.id, schedules)


def add_schedule(
    deployment_id: uuid.UUID,
    spec: dict[str, Any],
    *,
    active: bool = True,
    max_scheduled_runs: int | None = None,
    parameters: dict[str, Any] | None = None,
    slug: str | None = None,
    due: bool = True,
    now: datetime = T0,
) -> uuid.UUID:
    id_ = uuid.uuid4()
    item = ScheduleModel(
        str(deployment_id),
        str(id_),
        spec=spec,
        active=active,
        max_scheduled_runs=max_scheduled_runs,
        parameters=parameters or {},
        slug=slug,
        rev=0,
        created=now,
        updated=now,
    )
    if due and active:
        item.due_shard, item.due_at = "due", now
    item.save()
    return id_


def set_paused(deployment_id: uuid.UUID, paused: bool, now: datetime) -> None:
    """Pause (paused first, then off the due index) or resume (the reverse, forgetting the plan)."""
    DeploymentModel(str(deployment_id)).update(
        actions=[DeploymentModel.paused.set(paused), DeploymentModel.updated.set(now), DeploymentModel.rev.add(1)]
    )
    for item in ScheduleModel.query(str(deployment_id), consistent_read=True):
        if paused:
            item.update(actions=[ScheduleModel.due_shard.remove(), ScheduleModel.due_at.remove()])
        elif item.active:
            item.update(
                actions=[
                    ScheduleModel.due_shard.set("due"),
                    ScheduleModel.due_at.set(now),
                    ScheduleModel.planned_through.remove(),
                ]
            )


def change_schedule(
    deployment_id: uuid.UUID, schedule_id: uuid.UUID, spec: dict[str, Any], now: datetime
) -> tuple[dict[str, Any], datetime | None]:
    """Re-plan a schedule with a new spec (rev + 1, plan forgotten, due now); return the old spec
    and old planned_through, read atomically with the change."""
    item = ScheduleModel(str(deployment_id), str(schedule_id))
    old = item.update(
        actions=[
            ScheduleModel.spec.set(spec),
            ScheduleModel.rev.add(1),
            ScheduleModel.planned_through.remove(),
            ScheduleModel.due_shard.set("due"),
            ScheduleModel.due_at.set(now),
            ScheduleModel.updated.set(now),
        ],
        condition=ScheduleModel.id.exists(),
        return_values="ALL_OLD",
    )
    attrs = old["Attributes"]
    before = ScheduleModel.from_raw_data(attrs)
    return dict(before.spec), before.planned_through


def expected_instants(
    spec: dict[str, Any], settings: Settings, clocks: Iterable[datetime], max_scheduled_runs: int | None = None
) -> dict[datetime, datetime]:
    """Occurrence → the first clock whose tick plans it: the union of each clock's plan."""
    schedule = parse_schedule(spec)
    planned: dict[datetime, datetime] = {}
    for clock in clocks:
        plan = plan_runs(
            schedule,
            start=clock,
            min_runs=settings.scheduler_min_runs,
            max_runs=settings.scheduler_max_runs,
            min_time=settings.min_scheduled_time,
            max_time=settings.max_scheduled_time,
            max_scheduled_runs=max_scheduled_runs,
        )
        for instant in plan.occurrences:
            planned.setdefault(instant, clock)
    return planned


def expected_run_ids(
    placed: Placed,
    settings: Settings,
    clocks: Iterable[datetime],
    caps: dict[uuid.UUID, int] | None = None,
) -> set[uuid.UUID]:
    """The auto-scheduled run ids ticks at ``clocks`` produce (``caps``: max_scheduled_runs)."""
    clocks = list(clocks)
    return {
        scheduled_run_id(placed.flow_id, placed.deployment_id, schedule_id, instant)
        for schedule_id, spec in placed.schedules.items()
        for instant in expected_instants(spec, settings, clocks, (caps or {}).get(schedule_id))
    }


def auto_runs(deployment_id: uuid.UUID | None = None) -> list[FlowRunModel]:
    """Every auto-scheduled run item (of one deployment), read with a consistent scan."""
    condition = FlowRunModel.auto_scheduled == True  # noqa: E712
    if deployment_id is not None:
        condition &= FlowRunModel.deployment_id == str(deployment_id)
    return list(FlowRunModel.scan(condition, consistent_read=True))


def schedule_item(deployment_id: uuid.UUID, schedule_id: uuid.UUID) -> ScheduleModel:
    return ScheduleModel.get(str(deployment_id), str(schedule_id), consistent_read=True)


def stored(deployment_id: uuid.UUID) -> Placed:
    """A deployment as stored (written by the API), with its active schedules' specs."""
    deployment = DeploymentModel.get(str(deployment_id), consistent_read=True)
    schedules = {
        uuid.UUID(item.id): dict(item.spec)
        for item in ScheduleModel.query(str(deployment_id), consistent_read=True)
        if item.active
    }
    return Placed(uuid.UUID(deployment.flow_id), deployment_id, schedules)
