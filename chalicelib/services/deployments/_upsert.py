"""Deployment use cases: upsert, read, PATCH, delete, pause and resume.

Writes go through :func:`chalicelib.services.deployments._changes.save` (one transaction per change,
optimistic on the deployment's ``rev``, runs of changed schedules retired first). Every function
takes ``now``; none reads the clock.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ValidationError

from chalicelib.config import Settings
from chalicelib.domain import identity
from chalicelib.domain.schedule_matching import duplicate_slugs, match_schedules
from chalicelib.errors import (
    ConcurrentUpdateError,
    ConflictError,
    DeploymentNotFoundError,
    FlowNotFoundError,
    InvalidRequestError,
)
from chalicelib.schemas.deployments import (
    Deployment,
    DeploymentCreate,
    DeploymentSchedule,
    DeploymentScheduleCreate,
    DeploymentUpdate,
)
from chalicelib.schemas.work_pools import StoredWorkPool
from chalicelib.services import automations, scheduler, work_pools
from chalicelib.services.deployments._changes import (
    MAX_ATTEMPTS,
    Saved,
    backoff,
    queue_id_of,
    save,
    schedule_key,
    stop_schedules,
)
from chalicelib.storage import Repositories

#: A deployment is READY while a worker polled it at most this long ago (Prefect's foreman default).
READY_WINDOW = timedelta(seconds=60)
#: Fields an upsert of an existing deployment never changes (they are its identity).
_IDENTITY = {"name", "flow_id"}


def present(deployment: Deployment, now: datetime, pool: StoredWorkPool | None = None) -> Deployment:
    """The deployment as the API shows it at ``now``: READY while a worker polled it (``/deployments/
    get_scheduled_flow_runs``) or its work queue (``pool``'s) within the window, as Prefect's foreman."""
    marks = [deployment.last_polled]
    queue = pool.queue_named(deployment.work_queue_name) if pool and deployment.work_queue_name else None
    if queue is not None and pool is not None:
        marks.append(pool.queue_last_polled(queue))
    polled = max((m for m in marks if m is not None), default=None)
    return deployment.model_copy(update={"status": polled_status(polled, now), "last_polled": polled})


def polled_status(polled: datetime | None, now: datetime) -> str:
    """READY when ``polled`` (a deployment's or its queue's last poll) is within the window at ``now``."""
    return "READY" if polled is not None and now - polled <= READY_WINDOW else "NOT_READY"


def present_all(repos: Repositories, deployments: list[Deployment], now: datetime) -> list[Deployment]:
    """:func:`present` for each, reading each work pool named once (a GetItem per distinct pool)."""
    names = {d.work_pool_name for d in deployments if d.work_pool_name}
    pools = {name: repos.work_pools.find_named(name) for name in names}
    return [present(d, now, pools.get(d.work_pool_name) if d.work_pool_name else None) for d in deployments]


def upsert_deployment(repos: Repositories, settings: Settings, body: DeploymentCreate, now: datetime) -> Saved:
    """Create the deployment (flow_id, name) or update it with the fields ``body`` carries.

    The id is uuid5(flow_id, name): concurrent upserts of one pair converge on one deployment.
    An unknown flow is a :class:`ConflictError` (Prefect's 409). Schedules sent replace the stored
    ones, each keeping the id of the stored schedule with its slug or identical plan.
    """
    deployment_id = identity.deployment_id(body.flow_id, body.name)
    sent = set(body.model_fields_set)

    def edit(old: Deployment | None) -> Deployment:
        if old is None:
            data = body.model_dump(exclude={"schedules"})
            data.update(id=deployment_id, created=now, updated=now, work_queue_name=body.work_queue_name or "default")
            return _placed(repos, old, _with_queue_id(_validated(data), body.schedules, []), now)
        return _placed(repos, old, _apply(old, body, sent - _IDENTITY, now), now)

    try:
        saved = save(repos, settings, deployment_id, edit, now=now, may_create=True)
    except FlowNotFoundError as exc:
        raise ConflictError(f"Flow {body.flow_id} not found", flow_id=str(body.flow_id)) from exc
    return Saved(present_all(repos, [saved.deployment], now)[0], saved.created)


def read_deployment(repos: Repositories, id_: uuid.UUID, now: datetime) -> Deployment:
    return present_all(repos, [repos.deployments.get(id_)], now)[0]


def read_deployment_by_name(repos: Repositories, flow_name: str, name: str, now: datetime) -> Deployment:
    """One GetItem: the id follows from the names (uuid5 of the flow's uuid5 and the name)."""
    return read_deployment(repos, identity.deployment_id(identity.flow_id(flow_name), name), now)


def update_deployment(
    repos: Repositories, settings: Settings, id_: uuid.UUID, body: DeploymentUpdate, now: datetime
) -> None:
    """PATCH: change exactly the fields ``body`` carries (``schedules: null`` changes nothing).

    Only runs of schedules whose plan changed, or that were removed, are retired; ``paused: true``
    also retires every schedule's *future* auto-scheduled runs, ``paused: false`` resumes.
    """
    sent = set(body.model_fields_set)

    def edit(old: Deployment | None) -> Deployment:
        return _placed(repos, old, _apply(_required(old, id_), body, sent, now), now)

    save(repos, settings, id_, edit, now=now)


def delete_deployment(repos: Repositories, id_: uuid.UUID) -> None:
    """Delete the deployment, its schedules and slug claims in one transaction, then its runs
    still SCHEDULED that never ran (conditional deletes); other runs keep their deployment_id.

    The deployment item goes first, so no scheduler transaction (which checks it exists) can add
    a run afterwards. The auto-scheduled runs are deleted by the ids their schedules planned
    (strongly consistent, from the ``planned_through`` read just before), then whatever the
    by-owner-state index still lists (it lags writes by a moment). The automations the deployment
    owns (its ``serve``/``deploy`` triggers) go last, as in Prefect.
    """
    for attempt in range(MAX_ATTEMPTS):
        stored = repos.deployments.get_stored(id_)
        schedules = repos.schedules.stored_for_deployment(id_)
        try:
            repos.deployments.delete(stored)
        except ConcurrentUpdateError:
            time.sleep(backoff(attempt))
            continue
        for schedule in schedules:
            scheduler.retire_runs(
                repos,
                id_,
                schedule.schedule.id,
                old_spec=schedule.schedule.schedule,
                old_planned_through=schedule.planned_through,
                since=None,
            )
        repos.deployments.delete_unstarted_runs(id_)
        automations.delete_owned_by(repos, f"prefect.deployment.{id_}")
        return
    raise ConcurrentUpdateError("Deployment", id_)


def pause_deployment(repos: Repositories, id_: uuid.UUID, now: datetime) -> None:
    """Pause, then delete every auto-scheduled run still SCHEDULED (past and future); manual
    runs stay. ``paused`` is written first: from then on no scheduler transaction can insert."""
    repos.deployments.set_paused(id_, True, now)
    stop_schedules(repos, id_, since=None)
    repos.deployments.delete_unstarted_runs(id_, auto_scheduled_only=True)


def resume_deployment(repos: Repositories, settings: Settings, id_: uuid.UUID, now: datetime) -> None:
    """Unpause, make every active schedule due from now, and plan the deployment inline."""
    written = repos.deployments.set_paused(id_, False, now)
    if written is not None:
        for schedule in written.deployment.schedules:
            if schedule.active:
                repos.schedules.make_due(id_, schedule.id, now)
    scheduler.schedule_deployment(repos, id_, now=now, settings=settings)


# ---------------------------------------------------------------------------------------- edits
def _placed(repos: Repositories, old: Deployment | None, new: Deployment, now: datetime) -> Deployment:
    """``new`` with its work queue settled, as Prefect does: a pool that does not exist is a 404;
    a pool without a queue name means its ``default`` queue; a queue the pool lacks is created;
    job variables that break the pool's base job template are a 422. Reads (and writes) only when
    the pool, queue or job variables changed."""
    if new.work_pool_name is None:
        return new
    if new.work_queue_name is None:
        new = new.model_copy(update={"work_queue_name": identity.DEFAULT_QUEUE})
    moved = old is None or (old.work_pool_name, old.work_queue_name) != (new.work_pool_name, new.work_queue_name)
    if moved:
        pool = work_pools.ensure_queue(repos, new.work_pool_name, new.work_queue_name, now)
    elif old is not None and old.job_variables != new.job_variables:
        pool = repos.work_pools.find_named(new.work_pool_name)
    else:
        return new
    if pool is not None:
        work_pools.check_job_variables(pool, new.job_variables, check_required=False, loc=("body", "job_variables"))
    return new.model_copy(update={"work_queue_id": queue_id_of(new)})


def _required(old: Deployment | None, id_: uuid.UUID) -> Deployment:
    if old is None:
        raise DeploymentNotFoundError(id_)
    return old


def _apply(old: Deployment, body: BaseModel, fields: set[str], now: datetime) -> Deployment:
    """``old`` with the ``fields`` of ``body`` (a PATCH or upsert body) written over it."""
    data: dict[str, Any] = {name: getattr(old, name) for name in type(old).model_fields}
    for name in fields - {"schedules"}:
        data[name] = getattr(body, name)
    data["updated"] = now
    incoming = getattr(body, "schedules", None) if "schedules" in fields else None
    return _with_queue_id(_validated(data), incoming, old.schedules)


def _with_queue_id(
    deployment: Deployment, incoming: list[DeploymentScheduleCreate] | None, stored: list[DeploymentSchedule]
) -> Deployment:
    schedules = stored if incoming is None else matched_schedules(deployment.id, stored, incoming)
    return deployment.model_copy(update={"schedules": schedules, "work_queue_id": queue_id_of(deployment)})


def matched_schedules(
    deployment_id: uuid.UUID, stored: list[DeploymentSchedule], incoming: list[DeploymentScheduleCreate]
) -> list[DeploymentSchedule]:
    """``incoming`` as schedules, each keeping the id of the stored one it matches (the slug it
    ``replaces``, else its slug, else an identical plan) or getting a new one; timestamps are
    settled by ``save``."""
    if duplicate_slugs([c.replaces for c in incoming]):
        raise InvalidRequestError(("body", "schedules"), "Multiple schedules have 'replaces' targeting the same slug")
    candidates = [as_schedule(deployment_id, c, uuid.uuid4()) for c in incoming]
    keys = [replace(schedule_key(s), replaces=c.replaces) for s, c in zip(candidates, incoming, strict=True)]
    matching = match_schedules([(s.id, schedule_key(s)) for s in stored], keys)
    return [
        c if assigned is None else c.model_copy(update={"id": assigned})
        for c, assigned in zip(candidates, matching.assigned, strict=True)
    ]


def as_schedule(deployment_id: uuid.UUID, create: DeploymentScheduleCreate, id_: uuid.UUID) -> DeploymentSchedule:
    """The schedule ``create`` describes, with id ``id_`` (timestamps are settled by ``save``)."""
    return DeploymentSchedule(
        id=id_,
        deployment_id=deployment_id,
        **create.model_dump(include={"schedule", "active", "max_scheduled_runs", "parameters", "slug"}),
        **create.model_dump(include={"start_at", "end_at", "catchup_window", "jitter", "overlap"}),
        pause_on_failure=bool(create.pause_on_failure),
    )


def _validated(data: dict[str, Any]) -> Deployment:
    """A :class:`Deployment` from ``data``; a field the body nulled but may not be null is a 422."""
    data = {k: v for k, v in data.items() if k != "schedules"}
    try:
        return Deployment.model_validate(data)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        raise InvalidRequestError(("body", *error["loc"]), error["msg"], error["type"]) from exc
