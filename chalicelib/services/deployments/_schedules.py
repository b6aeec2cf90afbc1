"""The schedules sub-resource of a deployment: list, add, update, delete.

Each write is a deployment change (:func:`chalicelib.services.deployments._changes.save`): the
schedule items, their slug claims and the deployment document's copy of its schedule list move
together in one transaction. Updating what a schedule plans (spec, active, parameters,
max_scheduled_runs) or deleting it retires its future auto-scheduled runs first; a slug-only
update touches no run.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from chalicelib.config import Settings
from chalicelib.errors import DeploymentNotFoundError, InvalidRequestError, ScheduleNotFoundError
from chalicelib.schemas.deployments import (
    Deployment,
    DeploymentSchedule,
    DeploymentScheduleCreate,
    DeploymentScheduleUpdate,
)
from chalicelib.services.deployments._changes import save
from chalicelib.services.deployments._upsert import as_schedule
from chalicelib.storage import Repositories

_BODY = ("body",)


def list_schedules(repos: Repositories, deployment_id: uuid.UUID) -> list[DeploymentSchedule]:
    """The deployment's schedules (one GetItem: the deployment document holds the list)."""
    return repos.deployments.get(deployment_id).schedules


def create_schedules(
    repos: Repositories,
    settings: Settings,
    deployment_id: uuid.UUID,
    creates: list[DeploymentScheduleCreate],
    now: datetime,
) -> list[DeploymentSchedule]:
    """Add ``creates`` as new schedules (a slug already used is a 409) and plan them inline."""
    ids = [uuid.uuid4() for _ in creates]  # fixed across retries of the save

    def edit(old: Deployment | None) -> Deployment:
        existing = _required(old, deployment_id)
        added = [as_schedule(deployment_id, create, id_) for id_, create in zip(ids, creates, strict=True)]
        return existing.model_copy(update={"schedules": [*existing.schedules, *added], "updated": now})

    saved = save(repos, settings, deployment_id, edit, now=now, schedules_loc=_BODY)
    wanted = set(ids)
    return [s for s in saved.deployment.schedules if s.id in wanted]


#: Fields a PATCH may set to null (clearing them); the others given as null change nothing.
_CLEARABLE = ("slug", "max_scheduled_runs", "start_at", "end_at", "catchup_window", "jitter", "overlap")


def update_schedule(
    repos: Repositories,
    settings: Settings,
    deployment_id: uuid.UUID,
    schedule_id: uuid.UUID,
    body: DeploymentScheduleUpdate,
    now: datetime,
) -> None:
    """Change the fields ``body`` carries (``schedule``/``active``/``parameters`` given as null
    change nothing; ``slug``, ``max_scheduled_runs`` and the policies given as null clear them)."""
    changes = {
        name: getattr(body, name)
        for name in body.model_fields_set - {"replaces"}  # the path names the schedule already
        if getattr(body, name) is not None or name in _CLEARABLE
    }
    if changes.get("active") is True:
        changes["paused_by_failure"] = None  # reactivated: the pause's record goes

    def edit(old: Deployment | None) -> Deployment:
        existing = _required(old, deployment_id)
        _find(existing, schedule_id)
        schedules = [s.model_copy(update=changes) if s.id == schedule_id else s for s in existing.schedules]
        changed = _find(existing.model_copy(update={"schedules": schedules}), schedule_id)
        if changed.start_at is not None and changed.end_at is not None and changed.end_at < changed.start_at:
            raise InvalidRequestError(("body", "end_at"), "end_at must not be before start_at")
        return existing.model_copy(update={"schedules": schedules, "updated": now})

    save(repos, settings, deployment_id, edit, now=now, schedules_loc=_BODY)


def delete_schedule(
    repos: Repositories, settings: Settings, deployment_id: uuid.UUID, schedule_id: uuid.UUID, now: datetime
) -> None:
    """Delete the schedule, its slug claim and its future auto-scheduled runs still SCHEDULED."""

    def edit(old: Deployment | None) -> Deployment:
        existing = _required(old, deployment_id)
        _find(existing, schedule_id)
        schedules = [s for s in existing.schedules if s.id != schedule_id]
        return existing.model_copy(update={"schedules": schedules, "updated": now})

    save(repos, settings, deployment_id, edit, now=now, schedules_loc=_BODY)


def _required(old: Deployment | None, deployment_id: uuid.UUID) -> Deployment:
    if old is None:
        raise DeploymentNotFoundError(deployment_id)
    return old


def _find(deployment: Deployment, schedule_id: uuid.UUID) -> DeploymentSchedule:
    for schedule in deployment.schedules:
        if schedule.id == schedule_id:
            return schedule
    raise ScheduleNotFoundError(schedule_id)
