"""Applying one change to a deployment: the write path shared by upsert, PATCH and the schedules
sub-resource.

A change is an *edit*: a pure function from the stored deployment (``None`` when creating) to the
document it should become, schedules included (ids assigned by the caller). :func:`save` then

1. reads the deployment (one consistent GetItem: the document holds its schedule list) and
   applies the edit; classifies each schedule as new, re-planned, relabelled, unchanged or removed;
2. retires first: for each re-planned or removed schedule, reads its ``rev``/``planned_through``
   (one consistent Query) and deletes its auto-scheduled runs still SCHEDULED from now on
   (``scheduler.retire_runs``, since = now). Retiring *before* the commit means no run the
   scheduler plans from the new spec can be mistaken for an old one and deleted;
3. commits everything in one transaction conditioned on the deployment's ``rev`` and on each
   re-planned/removed schedule being exactly as read (a scheduler tick that planned more runs in
   between cancels the commit). A lost condition re-runs the whole loop on fresh reads;
4. after the commit: a deployment
   that became paused leaves the due index and loses its future auto-scheduled runs; one that
   became unpaused is due again from now; an unpaused deployment is then planned inline
   (``scheduler.schedule_deployment``), so its runs exist when the call returns.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from chalicelib.config import Settings
from chalicelib.domain.identity import work_queue_id
from chalicelib.domain.schedule_matching import Change, ScheduleKey, classify, duplicate_slugs, plan_fingerprint
from chalicelib.errors import ConcurrentUpdateError, ConflictError, DeploymentNotFoundError, InvalidRequestError
from chalicelib.schemas.deployments import Deployment, DeploymentSchedule
from chalicelib.schemas.schedules import schedule_to_json
from chalicelib.services import scheduler
from chalicelib.storage import DeploymentChange, Repositories, ScheduleWrite, slugs_of

#: Re-reads after a lost optimistic lock before the request answers 409: 16 writers racing on one
#: deployment (issue 16) all get through with exponential, jittered backoff (about 3 s at worst).
MAX_ATTEMPTS = 16
BACKOFF_BASE_S = 0.005
BACKOFF_CAP_S = 0.25


def backoff(attempt: int) -> float:
    """Seconds to wait after losing ``attempt`` (0-based): full jitter up to a capped exponential."""
    return random.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**attempt))


#: At most this many schedules per deployment: replacing all of them, with their slug claims,
#: still fits one transaction (1 deployment + 1 flow check + 2 x 24 schedules + 2 x 24 claims <= 100).
MAX_SCHEDULES = 24

Edit = Callable[[Deployment | None], Deployment]


@dataclass(frozen=True)
class Saved:
    deployment: Deployment
    created: bool


def schedule_key(schedule: DeploymentSchedule) -> ScheduleKey:
    """What schedule matching compares (slug, and everything that decides the schedule's runs)."""
    spec = schedule_to_json(schedule.schedule)
    return ScheduleKey(
        slug=schedule.slug,
        plan=plan_fingerprint(
            spec, schedule.parameters, schedule.active, schedule.max_scheduled_runs, schedule.policy().to_json()
        ),
    )


def save(
    repos: Repositories,
    settings: Settings,
    deployment_id: uuid.UUID,
    edit: Edit,
    *,
    now: datetime,
    may_create: bool = False,
    schedules_loc: tuple[str | int, ...] = ("body", "schedules"),
) -> Saved:
    """Apply ``edit`` to the deployment race-free (see the module docstring); 404 when it does not
    exist and ``may_create`` is false. Raises :class:`ConcurrentUpdateError` after
    :data:`MAX_ATTEMPTS` lost races, :class:`ConflictError` for duplicate slugs."""
    for attempt in range(MAX_ATTEMPTS):
        stored = repos.deployments.find(deployment_id)
        if stored is None and not may_create:
            raise DeploymentNotFoundError(deployment_id)
        old = stored.deployment if stored is not None else None
        new, writes = _settle(old, edit(old), now)
        _validate(new.schedules, schedules_loc)
        writes = _with_stored_state(repos, deployment_id, writes)
        for write in writes:
            _retire(repos, deployment_id, write, since=now)
        change = DeploymentChange(
            deployment=new,
            expected_rev=stored.rev if stored is not None else None,
            now=now,
            schedules=writes,
            old_slugs=slugs_of(old.schedules) if old is not None else {},
        )
        try:
            repos.deployments.commit(change)
        except ConcurrentUpdateError:
            time.sleep(backoff(attempt))  # de-synchronise racing writers
            continue
        _after_commit(repos, settings, old, new, writes, now)
        return Saved(new, created=stored is None)
    raise ConcurrentUpdateError("Deployment", deployment_id)


def _settle(old: Deployment | None, new: Deployment, now: datetime) -> tuple[Deployment, list[ScheduleWrite]]:
    """Fix the schedules' ids, timestamps and deployment_id, and list the write each one needs."""
    before = {s.id: s for s in (old.schedules if old is not None else [])}
    settled: list[DeploymentSchedule] = []
    writes: list[ScheduleWrite] = []
    for schedule in new.schedules:
        previous = before.get(schedule.id)
        change = classify(schedule_key(previous) if previous else None, schedule_key(schedule))
        if previous is not None and change is Change.UNCHANGED:
            settled.append(previous)
            continue
        schedule = schedule.model_copy(
            update={
                "deployment_id": new.id,
                "created": previous.created if previous is not None else now,
                "updated": now,
            }
        )
        settled.append(schedule)
        writes.append(ScheduleWrite(schedule, change))
    kept = {s.id for s in settled}
    writes += [ScheduleWrite(s, Change.REMOVED) for s in before.values() if s.id not in kept]
    return new.model_copy(update={"schedules": settled}), writes


def _validate(schedules: list[DeploymentSchedule], loc: tuple[str | int, ...]) -> None:
    if len(schedules) > MAX_SCHEDULES:
        raise InvalidRequestError(loc, f"A deployment can have at most {MAX_SCHEDULES} schedules")
    duplicates = duplicate_slugs([s.slug for s in schedules])
    if duplicates:
        raise ConflictError(f"A schedule with slug {duplicates[0]!r} already exists for this deployment.")


def _with_stored_state(
    repos: Repositories, deployment_id: uuid.UUID, writes: list[ScheduleWrite]
) -> list[ScheduleWrite]:
    """Attach the stored ``rev``/``planned_through`` to re-planned and removed schedules (one
    consistent Query, only when there are such schedules). A re-planned schedule whose item is
    missing is written afresh."""
    if not any(w.change in (Change.REPLAN, Change.REMOVED) for w in writes):
        return writes
    stored = {s.schedule.id: s for s in repos.schedules.stored_for_deployment(deployment_id)}
    out = []
    for write in writes:
        if write.change in (Change.REPLAN, Change.REMOVED):
            expected = stored.get(write.schedule.id)
            change = Change.NEW if expected is None and write.change is Change.REPLAN else write.change
            write = ScheduleWrite(write.schedule, change, expected)
        out.append(write)
    return out


def _retire(repos: Repositories, deployment_id: uuid.UUID, write: ScheduleWrite, *, since: datetime | None) -> None:
    """Delete the runs a re-planned or removed schedule planned from ``since`` on (its old spec)."""
    if write.change not in (Change.REPLAN, Change.REMOVED) or write.expected is None:
        return
    old = write.expected.schedule
    if not old.active and write.expected.planned_through is None:
        return  # an inactive schedule never planned anything
    scheduler.retire_runs(
        repos,
        deployment_id,
        old.id,
        old_spec=old.schedule,
        old_planned_through=write.expected.planned_through,
        since=since,
    )


def queue_id_of(deployment: Deployment) -> uuid.UUID | None:
    if deployment.work_queue_name is None:
        return None
    return work_queue_id(deployment.work_pool_name, deployment.work_queue_name)


def _after_commit(
    repos: Repositories,
    settings: Settings,
    old: Deployment | None,
    new: Deployment,
    writes: list[ScheduleWrite],
    now: datetime,
) -> None:
    written = {w.schedule.id for w in writes if w.change in (Change.NEW, Change.REPLAN)}
    untouched = [s for s in new.schedules if s.id not in written]
    was_paused = old.paused if old is not None else new.paused
    if new.paused and not was_paused:
        stop_schedules(repos, new.id, since=now, only={s.id for s in untouched})
    elif was_paused and not new.paused:
        for schedule in untouched:
            if schedule.active:
                repos.schedules.make_due(new.id, schedule.id, now)
    if not new.paused:
        scheduler.schedule_deployment(repos, new.id, now=now, settings=settings)


def stop_schedules(
    repos: Repositories, deployment_id: uuid.UUID, *, since: datetime | None, only: set[uuid.UUID] | None = None
) -> None:
    """For a deployment just paused: take its schedules off the due index and delete their
    auto-scheduled runs still SCHEDULED from ``since`` on (``None``: past ones too).

    The deployment's ``paused`` is already true, so the scheduler's transactions (conditioned on
    ``paused = false``) can no longer add runs, and the ``planned_through`` read here is final.
    """
    for stored in repos.schedules.stored_for_deployment(deployment_id):
        if only is not None and stored.schedule.id not in only:
            continue
        if stored.due:
            repos.schedules.remove_due(deployment_id, stored.schedule.id)
        scheduler.retire_runs(
            repos,
            deployment_id,
            stored.schedule.id,
            old_spec=stored.schedule.schedule,
            old_planned_through=stored.planned_through,
            since=since,
        )
