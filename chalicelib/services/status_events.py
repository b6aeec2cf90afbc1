"""Work-pool and work-queue status events: ``prefect.work-pool.ready|not-ready|paused`` and
``prefect.work-queue.ready|not-ready|paused``, in Prefect's shapes (``server/models/events.py``).

Cirrus computes those statuses when they are read (:mod:`chalicelib.domain.worker_health`): nothing
is written when a worker goes quiet. So a watcher compares each pool's and queue's status now with
the last status event emitted for it (a *mark*, :meth:`EventStore.status_mark`) and emits one
event per change: on the zombie killer's tick (every minute), and at once after a pool or queue is
edited (a pause, a resume).

Exactly once per change, without locks: the event's id derives from the mark it replaces and the
new status, so watchers racing on one change (two ticks, a tick and an edit, a Lambda retry) build
the same event, which the store keeps once; the mark then moves conditionally on being the one
read. A crash between the two leaves the mark behind: the next watcher rebuilds the same event (a
no-op) and moves it. A resource seen for the first time NOT_READY gets a mark and no event (Prefect
emits nothing when a pool is created either). The deployments of each queue are observed with it
(``prefect.deployment.ready|not-ready``, :mod:`chalicelib.services.deployments._status_events`).
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime
from typing import Any

from chalicelib.config import Settings
from chalicelib.schemas.events import Event
from chalicelib.services import deployments, event_records
from chalicelib.services.work_pools import present_pool, present_queue
from chalicelib.storage import Repositories

_NS = uuid.UUID("0b7c1d2e-6f43-4e59-8a1b-3c5d7e9f1a24")
EMITTED = "status_events"
UNCHANGED = "statuses_unchanged"


def _kebab(status: str) -> str:
    return status.lower().replace("_", "-")


def observe(repos: Repositories, resource: dict[str, str], status: str, related: list[dict[str, str]],
            now: datetime) -> bool:  # fmt: skip
    """Emit ``prefect.<kind>.<status>`` for ``resource`` if its last emitted status differs; True
    when this call moved the mark (it emitted, or found its event already stored)."""
    resource_id = resource["prefect.resource.id"]
    seen = repos.events.status_mark(resource_id)
    last_status, _, last_event = (seen or "").partition("|")
    if last_status == status:
        return False
    event_id = uuid.uuid5(_NS, f"{resource_id}|{seen or ''}|{status}")
    if seen is not None or status != "NOT_READY":
        kind = resource_id.rsplit(".", 1)[0]  # prefect.work-pool / prefect.work-queue
        event = Event(
            id=event_id,
            occurred=now,
            event=f"{kind}.{_kebab(status)}",
            resource=resource,
            related=related,
            follows=uuid.UUID(last_event) if last_event else None,
        )
        event_records.store(repos, event, now)
    return repos.events.advance_status_mark(resource_id, seen, f"{status}|{event_id}")


def watch_pool(repos: Repositories, settings: Settings, pool: Any, now: datetime) -> Counter[str]:
    """Observe ``pool`` (a stored pool), each of its queues and their deployments (one by-queue Query
    per queue: :func:`chalicelib.services.deployments.watch_queue`)."""
    counts: Counter[str] = Counter()
    shown = present_pool(repos, settings, pool, now)
    pool_resource = {
        "prefect.resource.id": f"prefect.work-pool.{pool.id}",
        "prefect.resource.name": pool.name,
        "prefect.work-pool.type": pool.type,
    }
    if shown.status is not None:  # Prefect's prefect-agent pools have none
        counts[EMITTED if observe(repos, pool_resource, shown.status, [], now) else UNCHANGED] += 1
    as_related = [{**pool_resource, "prefect.resource.role": "work-pool"}]
    for queue in pool.queues:
        status = present_queue(None, settings, pool, queue, now).status
        queue_resource = {
            "prefect.resource.id": f"prefect.work-queue.{queue.id}",
            "prefect.resource.name": queue.name,
            "prefect.resource.role": "work-queue",
        }
        if status is not None:
            counts[EMITTED if observe(repos, queue_resource, status, as_related, now) else UNCHANGED] += 1
        counts += deployments.watch_queue(repos, pool, queue, now)
    return counts


def watch_pool_named(repos: Repositories, settings: Settings, name: str, now: datetime) -> Counter[str]:
    """After an edit of pool ``name`` (or of one of its queues): its status events, at once."""
    pool = repos.work_pools.find_named(name)
    return watch_pool(repos, settings, pool, now) if pool is not None else Counter()


def watch_work_pools(repos: Repositories, settings: Settings, now: datetime) -> Counter[str]:
    """Every pool and queue (a Scan of the pools table: a job's path, and a table of a few items)."""
    counts: Counter[str] = Counter()
    for pool in repos.work_pools.scan():
        counts += watch_pool(repos, settings, pool, now)
    return counts
