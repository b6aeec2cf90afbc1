"""Workers: heartbeats, listing and deleting them, and their poll for scheduled runs.

Request budgets: a heartbeat is one TransactWriteItems (the pool exists + upsert the worker). A
poll is one UpdateItem of the pool (stamping the polled queues and returning the pool with its
queues), one by-queue Query per polled queue (its SCHEDULED range, at most ``limit`` keys) and one
BatchGetItem of the runs they name (none when no run is due), plus one count Query per queue with a
concurrency limit (and per queue of a limited pool). The cost follows the queues polled, never the
runs or deployments stored. The stamp is what makes the queues, and the deployments in them, READY
(computed when they are read).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from chalicelib.config import Settings
from chalicelib.domain import identity
from chalicelib.domain.sweeps import is_past_catchup
from chalicelib.domain.worker_health import worker_status
from chalicelib.errors import WorkQueueNotFoundError
from chalicelib.schemas import work_pools as schemas
from chalicelib.schemas.flow_runs import FlowRun
from chalicelib.schemas.work_pools import QueueSpec, StoredWorkPool, Worker, WorkerFlowRun
from chalicelib.services.work_pools._pools import thresholds
from chalicelib.storage import Repositories

#: Runs a poll returns when its body names no limit (Prefect's default limit).
DEFAULT_LIMIT = 200


def record_heartbeat(repos: Repositories, pool_name: str, body: schemas.WorkerHeartbeat, now: datetime) -> None:
    """Create or refresh the worker (404 for an unknown pool). ``return_id`` is accepted and, as
    on Prefect's own server, answered with 204."""
    pool_id = identity.work_pool_id(pool_name)
    repos.workers.record_heartbeat(pool_id, pool_name, body.name, body.heartbeat_interval_seconds, now)


def _present(settings: Settings, worker: Worker, now: datetime) -> Worker:
    status = worker_status(thresholds(settings), worker.last_heartbeat_time, worker.heartbeat_interval_seconds, now)
    return worker.model_copy(update={"status": status})


def filter_workers(
    repos: Repositories, settings: Settings, pool_name: str, body: schemas.WorkerFilterBody, now: datetime
) -> list[Worker]:
    """The pool's workers passing ``body.workers``, most recent heartbeat first."""
    pool = repos.work_pools.get_named(pool_name)
    workers = [_present(settings, w, now) for w in repos.workers.for_pool(pool.id)]
    group = body.workers
    workers = [w for w in workers if group is None or group.matches(w)]
    workers.sort(key=lambda w: w.last_heartbeat_time or now, reverse=True)
    return workers[body.offset : body.offset + body.limit]


def delete_worker(repos: Repositories, pool_name: str, name: str) -> None:
    pool = repos.work_pools.get_named(pool_name)
    repos.workers.delete_named(pool.id, name)


# ------------------------------------------------------------------------------------ the poll
def get_scheduled_flow_runs(
    repos: Repositories, pool_name: str, body: schemas.ScheduledRunsBody, now: datetime
) -> list[WorkerFlowRun]:
    """A worker's poll of ``pool_name``: SCHEDULED runs (Late included) of the named queues (none
    named: every queue) with next_scheduled_start_time in [scheduled_after, scheduled_before],
    by queue priority then earliest first, at most ``limit``. Paused pools and queues give
    nothing; pool and queue concurrency limits cap what is returned by their free slots (runs
    PENDING or RUNNING hold one). The polled queues are stamped (their status becomes READY).
    Each run handed out is claimed for ``settings.worker_claim_s`` (one conditional UpdateItem each),
    so racing workers are not handed the same run (the worker's PENDING proposal follows within
    seconds); one claimed by another poll is left out."""
    names = list(dict.fromkeys(body.work_queue_names or []))
    ids = [identity.work_queue_id(pool_name, name) for name in names] if names else None
    pool = repos.work_pools.record_poll(pool_name, ids, now)
    queues = [_named(pool, pool_name, name) for name in names] if names else list(pool.queues)
    limit = DEFAULT_LIMIT if body.limit is None else body.limit
    if pool.is_paused:
        return []
    polled = sorted((q for q in queues if not q.is_paused), key=lambda q: q.priority)
    budget = min(limit, _pool_slots(repos, pool))
    takes = [(queue.id, int(min(budget, _queue_slots(repos, queue)))) for queue in polled]
    due = repos.flow_runs.scheduled_in_queues(takes, after=body.scheduled_after, before=body.scheduled_before)
    found: list[tuple[int, FlowRun, QueueSpec]] = [
        (queue.priority, run, queue)
        for queue in polled
        for run in due[queue.id]
        if run.empirical_policy.retry_type != "in_process" and not _claimed(run, now) and not is_past_catchup(run, now)
    ]
    found.sort(key=lambda entry: (entry[0], entry[1].next_scheduled_start_time or entry[1].created, str(entry[1].id)))
    until = now + timedelta(seconds=repos.settings.worker_claim_s)
    chosen = [(run, queue) for _, run, queue in found[:budget] if repos.flow_runs.claim(run, until, now)]
    return [WorkerFlowRun(work_pool_id=pool.id, work_queue_id=queue.id, flow_run=run) for run, queue in chosen]


def _claimed(run: FlowRun, now: datetime) -> bool:
    return run.claimed_until is not None and run.claimed_until > now


def _named(pool: StoredWorkPool, pool_name: str, name: str) -> QueueSpec:
    queue = pool.queue_named(name)
    if queue is None:
        raise WorkQueueNotFoundError(pool_name, name)
    return queue


def _pool_slots(repos: Repositories, pool: StoredWorkPool) -> int | float:
    """Free slots of the pool's concurrency limit (runs PENDING or RUNNING in its unpaused queues)."""
    if pool.concurrency_limit is None:
        return math.inf
    active = sum(repos.flow_runs.count_active_in_queue(q.id) for q in pool.queues if not q.is_paused)
    return max(0, pool.concurrency_limit - active)


def _queue_slots(repos: Repositories, queue: QueueSpec) -> int | float:
    if queue.concurrency_limit is None:
        return math.inf
    return max(0, queue.concurrency_limit - repos.flow_runs.count_active_in_queue(queue.id))
