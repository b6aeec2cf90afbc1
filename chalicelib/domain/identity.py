"""Deterministic identities: the basis of every idempotent, race-free insert.

An object whose natural key is unique (a flow's name, a deployment's flow and name, a flow run's
flow and idempotency key) gets an id derived from that key with UUIDv5. Inserting it is then a
conditional put on the id (``attribute_not_exists``): two concurrent creators compute the same id,
exactly one put wins, and the loser reads the winner's object. No uniqueness index, no
read-then-write.

An auto-scheduled run's idempotency key is Prefect's (``scheduled <deployment> <schedule> <instant>``)
with the instant normalised to UTC, so every scheduler tick, retry, backfill or redeploy that
plans one occurrence of one schedule computes one run id.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from functools import lru_cache

_NAMESPACE = uuid.UUID("5d3f6a1e-8c2b-4f47-9a0e-2b1c9e7d4a10")
_FLOW_NS = uuid.uuid5(_NAMESPACE, "flow")
_DEPLOYMENT_NS = uuid.uuid5(_NAMESPACE, "deployment")
_FLOW_RUN_NS = uuid.uuid5(_NAMESPACE, "flow-run")
_WORK_QUEUE_NS = uuid.uuid5(_NAMESPACE, "work-queue")
_WORK_POOL_NS = uuid.uuid5(_NAMESPACE, "work-pool")
_WORKER_NS = uuid.uuid5(_NAMESPACE, "worker")
_TAG_LEASE_NS = uuid.uuid5(_NAMESPACE, "v1-tag-lease")

#: Prefect's pool of queues named without a pool (legacy ``/work_queues``, deployments naming
#: only a queue): ``work_queue_id(None, q) == work_queue_id(DEFAULT_AGENT_POOL, q)``.
DEFAULT_AGENT_POOL = "default-agent-pool"
#: The queue every pool is created with.
DEFAULT_QUEUE = "default"


def v1_tag_lease_id(task_run: uuid.UUID, tags: list[str]) -> uuid.UUID:
    """The lease holding a task run's v1 tag slots (``/concurrency_limits/increment``), from the
    task run and its sorted tags: a repeated increment and its decrement name the same lease."""
    return uuid.uuid5(_TAG_LEASE_NS, "\n".join([str(task_run), *tags]))


def flow_id(name: str) -> uuid.UUID:
    """The id of the flow called ``name`` (flow names are unique and immutable)."""
    return uuid.uuid5(_FLOW_NS, name)


def deployment_id(flow: uuid.UUID, name: str) -> uuid.UUID:
    """The id of deployment ``name`` of flow ``flow`` ((flow_id, name) is unique)."""
    return uuid.uuid5(_DEPLOYMENT_NS, f"{flow}/{name}")


def flow_run_id(flow: uuid.UUID, idempotency_key: str) -> uuid.UUID:
    """The id of the run of ``flow`` carrying ``idempotency_key`` (unique per flow, as in Prefect)."""
    return uuid.uuid5(_FLOW_RUN_NS, f"{flow}/{idempotency_key}")


def work_pool_id(name: str) -> uuid.UUID:
    """The id of the work pool called ``name`` (pool names are unique and immutable)."""
    return uuid.uuid5(_WORK_POOL_NS, name)


def work_queue_id(work_pool_name: str | None, work_queue_name: str) -> uuid.UUID:
    """The id of a work queue, named within its work pool (none: the default agent pool). Queue
    names are unique per pool and immutable, so runs get their queue's id without a read."""
    return uuid.uuid5(_WORK_QUEUE_NS, f"{work_pool_name or DEFAULT_AGENT_POOL}/{work_queue_name}")


def worker_id(pool: uuid.UUID, name: str) -> uuid.UUID:
    """The id of worker ``name`` of pool ``pool``: a heartbeat upserts it."""
    return uuid.uuid5(_WORKER_NS, f"{pool}/{name}")


@lru_cache(maxsize=16384)
def utc_key(instant: datetime) -> str:
    """An instant as a fixed-width UTC string whose text order is its time order (cached: a
    scheduler pass formats each run's few instants several times, as keys and attributes)."""
    if instant.tzinfo is None:
        raise ValueError("instant must be timezone-aware")
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def scheduled_run_idempotency_key(deployment: uuid.UUID, schedule: uuid.UUID, instant: datetime) -> str:
    """The idempotency key of the auto-scheduled run of ``schedule`` at ``instant``."""
    return f"scheduled {deployment} {schedule} {utc_key(instant)}"


def scheduled_run_id(flow: uuid.UUID, deployment: uuid.UUID, schedule: uuid.UUID, instant: datetime) -> uuid.UUID:
    """The id of the auto-scheduled run of (deployment, schedule, instant)."""
    return flow_run_id(flow, scheduled_run_idempotency_key(deployment, schedule, instant))
