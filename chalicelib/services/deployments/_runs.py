"""Runs of a deployment: a manual run (create_flow_run), a worker's poll (get_scheduled_flow_runs),
a backfill (/schedule) and the work queues that would pick the deployment up.

Request budgets: create_flow_run is a GetItem of the deployment and one conditional PutItem
(plus a GetItem of the existing run when its idempotency key was used before: 3 at most).
get_scheduled_flow_runs is one by-owner-state index Query per deployment asked (no scan), one
BatchGetItem of the due runs (none when nothing is due) and one write that records the poll (an
UpdateItem for one deployment, a transaction for several).
"""

from __future__ import annotations

import heapq
import itertools
import uuid
from datetime import datetime
from typing import Any

from chalicelib.config import Settings
from chalicelib.domain import identity, sweeps
from chalicelib.domain.run_bookkeeping import with_initial_state
from chalicelib.schemas.deployments import BackfillBody, Deployment, DeploymentFlowRunCreate, GetScheduledFlowRunsBody
from chalicelib.schemas.flow_runs import FlowRun
from chalicelib.schemas.states import State, StateDetails, StateType
from chalicelib.schemas.work_pools import WorkQueue
from chalicelib.services import scheduler
from chalicelib.services.deployments._status_events import record_poll
from chalicelib.services.scheduler import run_name
from chalicelib.services.work_pools import check_job_variables, present_queue
from chalicelib.storage import Repositories

#: Runs returned by get_scheduled_flow_runs when the body names no limit (Prefect's default).
DEFAULT_LIMIT = 200


def check_run_job_variables(
    repos: Repositories, deployment: Deployment, job_variables: dict[str, Any] | None, loc: tuple[Any, ...]
) -> None:
    """422 naming the variable when a run of ``deployment`` with ``job_variables`` would break its
    work pool's base job template (its ``required`` variables included: a run's are final)."""
    if deployment.work_pool_name and (deployment.job_variables or job_variables):
        pool = repos.work_pools.find_named(deployment.work_pool_name)
        if pool is not None:
            check_job_variables(pool, deployment.job_variables, job_variables, check_required=True, loc=loc)


def create_flow_run(
    repos: Repositories, deployment_id: uuid.UUID, body: DeploymentFlowRunCreate, now: datetime
) -> tuple[FlowRun, bool]:
    """A manual run of the deployment; ``True`` when it was created, ``False`` when a run with the
    same idempotency key (unique per flow) existed and is returned instead.

    Parameters are the deployment's updated by the body's; tags are the union (deployment's
    first); without a state the run is SCHEDULED at ``now``; an explicit state (PENDING, a future
    SCHEDULED, RUNNING...) is the run's first state, with every derived field set from it.
    """
    deployment = repos.deployments.get(deployment_id)
    check_run_job_variables(repos, deployment, body.job_variables, ("body", "job_variables"))
    key = body.idempotency_key
    run_id = identity.flow_run_id(deployment.flow_id, key) if key is not None else uuid.uuid4()
    state = body.state.to_state(now) if body.state is not None else _scheduled_now(now)
    queue = body.work_queue_name or deployment.work_queue_name
    run = FlowRun(
        id=run_id,
        name=body.name or run_name(run_id),
        flow_id=deployment.flow_id,
        deployment_id=deployment.id,
        deployment_version=deployment.version,
        parameters={**deployment.parameters, **body.parameters},
        tags=list(dict.fromkeys([*deployment.tags, *body.tags])),
        labels={**deployment.labels, **(body.labels or {})},
        context=body.context,
        empirical_policy=body.empirical_policy,
        idempotency_key=key,
        parent_task_run_id=body.parent_task_run_id,
        work_queue_name=queue,
        work_queue_id=identity.work_queue_id(deployment.work_pool_name, queue) if queue else None,
        work_pool_name=deployment.work_pool_name,
        work_pool_id=identity.work_pool_id(deployment.work_pool_name) if deployment.work_pool_name else None,
        infrastructure_document_id=body.infrastructure_document_id or deployment.infrastructure_document_id,
        job_variables=body.job_variables if body.job_variables is not None else {},
        auto_scheduled=False,
        created=now,
        updated=now,
    )
    run = with_initial_state(run, state)
    if repos.flow_runs.insert(run):
        return run, True
    return repos.flow_runs.get(run_id), False


def _scheduled_now(now: datetime) -> State:
    return State(type=StateType.SCHEDULED, timestamp=now, state_details=StateDetails(scheduled_time=now))


def get_scheduled_flow_runs(repos: Repositories, body: GetScheduledFlowRunsBody, now: datetime) -> list[FlowRun]:
    """A worker's poll: runs in state type SCHEDULED (Late included) of ``body.deployment_ids``
    due by ``scheduled_before``, ascending by next_scheduled_start_time, the first ``limit``.

    One by-owner-state Query per deployment, each reading only its SCHEDULED range up to
    ``scheduled_before`` and at most ``limit`` keys, then one BatchGetItem of the runs (none when
    nothing is due); the sorted streams are merged. A run past its schedule's catch-up window is
    never handed out (the late-runs job skips it). The deployments that exist are then marked
    polled (READY, ``last_polled`` = ``now``; ``prefect.deployment.ready`` for those that were not).
    """
    ids = list(dict.fromkeys(body.deployment_ids))
    if not ids:
        return []
    limit = DEFAULT_LIMIT if body.limit is None else body.limit
    found = repos.flow_runs.polled_in_deployments([(id_, limit or None) for id_ in ids], before=body.scheduled_before)
    streams = [found[id_] for id_ in ids]
    merged = heapq.merge(*streams, key=lambda run: (run.next_scheduled_start_time or run.created, str(run.id)))
    runs = list(itertools.islice((r for r in merged if not sweeps.is_past_catchup(r, now)), limit))
    record_poll(repos, ids, now)
    return runs


def backfill(
    repos: Repositories, settings: Settings, deployment_id: uuid.UUID, body: BackfillBody, now: datetime
) -> int:
    """Insert each active schedule's runs for the window ``body`` describes (idempotent; ignores
    ``paused``); 404 for an unknown deployment. Returns how many runs were new."""
    return scheduler.backfill(
        repos,
        deployment_id,
        start=body.start_time,
        end=body.end_time,
        min_time=body.min_time,
        min_runs=body.min_runs,
        max_runs=body.max_runs,
        now=now,
        settings=settings,
    )


def work_queue_check(repos: Repositories, deployment_id: uuid.UUID, now: datetime) -> list[WorkQueue]:
    """The work queues that would pick the deployment's runs up: the queue it names in its pool."""
    deployment = repos.deployments.get(deployment_id)
    if deployment.work_queue_name is None:
        return []
    pool = repos.work_pools.find_named(deployment.work_pool_name or identity.DEFAULT_AGENT_POOL)
    queue = pool.queue_named(deployment.work_queue_name) if pool is not None else None
    return [present_queue(None, repos.settings, pool, queue, now)] if queue is not None else []
