"""Prefect's legacy ``/work_queues`` routes over the queues of the work pools.

A queue created here without a pool lives in Prefect's ``default-agent-pool`` (created on first
use, type ``prefect-agent``), as do the queues deployments name without a pool; reads by name look
there. By-id routes find the queue's pool with a Scan of the (few) pools: they are an operator's
and the CLI's path (``prefect work-queue inspect``); workers poll ``/work_pools/{name}/...``.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from chalicelib.config import Settings
from chalicelib.domain import identity
from chalicelib.errors import ConflictError, NotFoundError, WorkPoolNotFoundError
from chalicelib.schemas import work_pools as schemas
from chalicelib.schemas.flow_runs import FlowRun
from chalicelib.schemas.work_pools import GetRunsBody, HealthPolicy, QueueStatusDetail, StoredWorkPool, WorkQueue
from chalicelib.services.work_pools import _pools as work_pools
from chalicelib.storage import Repositories


def _not_found(key: object) -> NotFoundError:
    return NotFoundError("Work queue", key)


def _pool_of(repos: Repositories, body: schemas.WorkQueueCreate, now: datetime) -> str:
    """The pool a legacy create targets: named, by id, or the default agent pool (created if new)."""
    if body.work_pool_name:
        return body.work_pool_name
    if body.work_pool_id is not None:
        pool = next((p for p in repos.work_pools.scan() if p.id == body.work_pool_id), None)
        if pool is None:
            raise WorkPoolNotFoundError(str(body.work_pool_id))
        return pool.name
    if repos.work_pools.find_named(identity.DEFAULT_AGENT_POOL) is None:
        agent_pool = schemas.WorkPoolCreate(name=identity.DEFAULT_AGENT_POOL, type="prefect-agent")
        try:
            repos.work_pools.create(work_pools.new_pool(agent_pool, now))
        except ConflictError:
            pass  # created concurrently
    return identity.DEFAULT_AGENT_POOL


def create_work_queue(
    repos: Repositories, settings: Settings, body: schemas.WorkQueueCreate, now: datetime
) -> WorkQueue:
    pool = _pool_of(repos, body, now)
    try:
        return work_pools.create_queue(repos, settings, pool, body, now)
    except ConflictError as exc:
        raise ConflictError("A work queue with this name already exists.") from exc


def _located(repos: Repositories, queue_id: uuid.UUID) -> tuple[StoredWorkPool, schemas.QueueSpec]:
    pool = repos.work_pools.find_queue(queue_id)
    if pool is None:
        raise _not_found(queue_id)
    return pool, next(q for q in pool.queues if q.id == queue_id)


def read_work_queue(repos: Repositories, settings: Settings, queue_id: uuid.UUID, now: datetime) -> WorkQueue:
    """The queue whose id a flow run carries. Prefect's engine reads it to label every event of the
    run (heartbeats included) and drops the event when the read fails, so the ``default`` queue of
    pool-less deployments answers too, as an id only, while no ``default-agent-pool`` holds it."""
    pool = repos.work_pools.find_queue(queue_id)
    if pool is None:
        if queue_id == identity.work_queue_id(None, identity.DEFAULT_QUEUE):
            return WorkQueue(id=queue_id, name=identity.DEFAULT_QUEUE, created=now, updated=now)
        raise _not_found(queue_id)
    queue = next(q for q in pool.queues if q.id == queue_id)
    return work_pools.present_queue(repos, settings, pool, queue, now)


def read_work_queue_by_name(repos: Repositories, settings: Settings, name: str, now: datetime) -> WorkQueue:
    pool = repos.work_pools.find_named(identity.DEFAULT_AGENT_POOL)
    queue = pool.queue_named(name) if pool is not None else None
    if pool is None or queue is None:
        raise _not_found(name)
    return work_pools.present_queue(repos, settings, pool, queue, now)


def update_work_queue(repos: Repositories, queue_id: uuid.UUID, body: schemas.WorkQueueUpdate, now: datetime) -> None:
    pool, queue = _located(repos, queue_id)
    work_pools.update_queue(repos, pool.name, queue.name, body, now)


def delete_work_queue(repos: Repositories, queue_id: uuid.UUID, now: datetime) -> None:
    pool, queue = _located(repos, queue_id)
    work_pools.delete_queue(repos, pool.name, queue.name, now)


def filter_work_queues(
    repos: Repositories, settings: Settings, body: schemas.WorkQueueFilterBody, now: datetime
) -> list[WorkQueue]:
    """Every pool's queues passing ``body.work_queues``, by pool name then priority (a Scan of the
    pools, whose items hold their queues: pools are few). The UI's Events page lists them too."""
    shown = [
        work_pools.present_queue(repos, settings, pool, queue, now)
        for pool in sorted(repos.work_pools.scan(), key=lambda p: p.name)
        for queue in sorted(pool.queues, key=lambda q: q.priority)
    ]
    group = body.work_queues
    shown = [q for q in shown if group is None or group.matches(q)]
    return shown[body.offset : body.offset + body.limit]


def work_queue_status(repos: Repositories, settings: Settings, queue_id: uuid.UUID, now: datetime) -> QueueStatusDetail:
    """Prefect's health check: healthy when no run is Late and a worker polled within 60 s."""
    pool, queue = _located(repos, queue_id)
    due = _scheduled(repos, pool, queue.id, now, 1000)
    late = sum(1 for run in due if run.state_name == "Late")
    last_polled = pool.queue_last_polled(queue)
    policy = HealthPolicy()
    window = policy.maximum_seconds_since_last_polled or 0
    recent = last_polled is not None and (now - last_polled).total_seconds() <= window
    return QueueStatusDetail(
        healthy=late <= (policy.maximum_late_runs or 0) and recent,
        late_runs_count=late,
        last_polled=last_polled,
        health_check_policy=policy,
    )


def work_queue_runs(
    repos: Repositories, queue_id: uuid.UUID, body: GetRunsBody, now: datetime, *, from_ui: bool
) -> list[FlowRun]:
    """The queue's scheduled runs due by ``scheduled_before`` (an agent's poll, which stamps the
    queue; the UI's reads do not)."""
    pool, queue = _located(repos, queue_id)
    if not from_ui:
        repos.work_pools.record_poll(pool.name, [queue.id], now)
    limit = 200 if body.limit is None else body.limit
    return _scheduled(repos, pool, queue.id, body.scheduled_before, limit)


def _scheduled(
    repos: Repositories, pool: StoredWorkPool, queue_id: uuid.UUID, before: datetime | None, limit: int
) -> list[FlowRun]:
    """The queue's SCHEDULED runs due by ``before``, earliest first: one by-queue Query for a work
    pool's queue; the runs of pool-less deployments (``default-agent-pool``'s queues) are not in
    by-queue (their runners poll them by deployment), so those are read as a runner's poll of the
    pool-less deployments naming the queue (the deployments read whole: a table of what users
    configured; an agent's legacy path). A pool-less run of no deployment is not seen there."""
    if pool.name != identity.DEFAULT_AGENT_POOL:
        return repos.flow_runs.scheduled_in_queue(queue_id, after=None, before=before, limit=limit)
    queue = next((q for q in pool.queues if q.id == queue_id), None)
    names = {queue.name} if queue is not None else set()
    deployments = [
        (d.id, None)
        for d in repos.deployments.scan()
        if d.work_pool_name in (None, identity.DEFAULT_AGENT_POOL) and d.work_queue_name in names
    ]
    polled = repos.flow_runs.polled_in_deployments(deployments, before=before) if deployments else {}
    due = [run for runs in polled.values() for run in runs if run.work_queue_id == queue_id]
    return sorted(due, key=lambda r: (r.next_scheduled_start_time or r.created, str(r.id)))[:limit]
