"""Backfill (``POST /deployments/{id}/schedule``) and retirement of a schedule's runs.

Both are called by the deployments service. Backfill inserts runs by Prefect's ``/schedule``
rule and leaves the scheduler's bookkeeping (``planned_through``, the due index) alone: its runs
have the same identities as the scheduler's, so a later tick planning the same occurrences finds
them and inserts nothing twice. Retirement deletes the runs a schedule planned before it changed
or was deleted, each delete conditional on the run still being SCHEDULED.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from chalicelib.config import Settings
from chalicelib.domain.identity import scheduled_run_id
from chalicelib.domain.planning import plan_runs
from chalicelib.domain.schedules import ScheduleLike, occurrences
from chalicelib.errors import DeploymentNotFoundError
from chalicelib.schemas.schedules import parse_schedule
from chalicelib.services.scheduler._run_builder import build_scheduled_run
from chalicelib.storage import Repositories

logger = logging.getLogger("cirrus.scheduler")


def backfill(
    repos: Repositories,
    deployment_id: uuid.UUID,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    min_time: timedelta | float | None = None,
    min_runs: int | None = None,
    max_runs: int | None = None,
    now: datetime,
    settings: Settings,
) -> int:
    """Insert the runs of each active schedule from ``start`` (default ``now``); return how many
    were new.

    Prefect's rule: occurrences from ``start`` (inclusive), stopping at ``max_runs`` (default
    ``scheduler_max_runs``) or after ``end`` (inclusive; default ``start + max_scheduled_time``),
    and not before both ``min_runs`` (default ``scheduler_min_runs``) runs and ``start +
    min_time`` (seconds or a timedelta; default ``min_scheduled_time``) are reached. Like
    Prefect's endpoint it ignores ``paused`` and the schedule's ``max_scheduled_runs``.
    Idempotent: runs that exist are left as they are. Raises :class:`DeploymentNotFoundError`.
    """
    runs = repos.scheduled_runs
    deployment = runs.deployment(deployment_id)
    if deployment is None:
        raise DeploymentNotFoundError(deployment_id)
    start = start or now
    end = end or start + settings.max_scheduled_time
    if min_time is None:
        window = settings.min_scheduled_time
    else:
        window = min_time if isinstance(min_time, timedelta) else timedelta(seconds=min_time)
    inserted = 0
    for schedule in repos.scheduling.schedules_of(deployment_id):
        if not schedule.active:
            continue
        try:
            spec = parse_schedule(schedule.spec)
        except ValueError as exc:
            _log_skip(deployment_id, schedule.id, exc)
            continue
        policy = schedule.policy
        bounded_start = max(start, policy.start_at) if policy.start_at is not None else start
        bounded_end = min(end, policy.end_at) if policy.end_at is not None else end
        plan = plan_runs(
            spec,
            start=bounded_start,
            end=bounded_end,
            min_runs=settings.scheduler_min_runs if min_runs is None else min_runs,
            max_runs=settings.scheduler_max_runs if max_runs is None else max_runs,
            min_time=window,
            max_time=settings.max_scheduled_time,
        )
        display = schedule.slug or type(spec).__name__
        built = [
            build_scheduled_run(
                deployment,
                schedule.id,
                t,
                display_value=display,
                schedule_parameters=schedule.parameters,
                now=now,
                policy=policy.with_defaults(settings.schedule_catchup_window_s, settings.schedule_overlap),
            )
            for t in plan.new
        ]
        inserted += len(runs.insert_runs(built))
    return inserted


def retire_runs(
    repos: Repositories,
    deployment_id: uuid.UUID,
    schedule_id: uuid.UUID,
    *,
    old_spec: dict[str, Any] | ScheduleLike | None,
    old_planned_through: datetime | None,
    since: datetime | None,
) -> int:
    """Delete the schedule's auto-scheduled runs still SCHEDULED at or after ``since`` (all of
    them when ``None``); return how many were deleted.

    Two sources, because the by-owner-state index lags writes: the index (filtered on the
    schedule, which also finds backfilled runs), and the ids of ``old_spec``'s occurrences from
    ``since`` through ``old_planned_through`` -- the runs the scheduler inserted, however recently.
    With ``since=None`` the computed ids cover the last ``min_scheduled_time`` of the plan (the
    runs written last); older ones are long visible in the index. Each delete is by key and
    conditional on the run still being SCHEDULED, so a run that started meanwhile stays.
    """
    settings = repos.settings
    runs = repos.scheduled_runs
    ids = runs.scheduled_run_ids(deployment_id, schedule_id, since)
    if old_spec is not None and old_planned_through is not None:
        low = since if since is not None else old_planned_through - settings.min_scheduled_time
        deployment = runs.deployment(deployment_id) if low <= old_planned_through else None
        if deployment is not None:
            try:
                spec = parse_schedule(old_spec) if isinstance(old_spec, dict) else old_spec
                limit = settings.scheduler_max_runs + settings.scheduler_min_runs
                for instant in occurrences(spec, low, old_planned_through, limit):
                    ids.add(scheduled_run_id(deployment.flow_id, deployment_id, schedule_id, instant))
            except ValueError as exc:
                _log_skip(deployment_id, schedule_id, exc)
    return runs.delete_scheduled(ids)


def _log_skip(deployment_id: uuid.UUID, schedule_id: uuid.UUID, exc: Exception) -> None:
    error = f"{type(exc).__name__}: {exc}"
    logger.warning(json.dumps({"deployment_id": str(deployment_id), "schedule_id": str(schedule_id), "error": error}))
