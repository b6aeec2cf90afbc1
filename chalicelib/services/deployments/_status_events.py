"""Deployment status events: ``prefect.deployment.ready`` and ``prefect.deployment.not-ready``, in
Prefect's shape (``server/models/events.py``: ``deployment_status_event``).

A deployment's status is computed when it is read (:func:`present`); what was last emitted for it
is its *mark* (``status_mark`` on its item, :mod:`chalicelib.storage.deployments._readiness`), and
while the mark is READY the deployment has an entry in the sparse ``by-ready`` index at the
earliest instant it may be NOT_READY.

- **READY, on a poll** (:func:`record_poll`, ``POST /deployments/get_scheduled_flow_runs``). The
  poll's one write stamps ``last_polled`` on the condition that the entry exists: then nothing
  changed. When it fails (never polled, or the last event said NOT_READY), the deployment is read
  and ``prefect.deployment.ready`` emitted; its mark, entry and ``last_polled`` then move in one
  UpdateItem conditioned on the mark read.
- **NOT_READY, on the maintenance tick** (:func:`watch_statuses`): a Query of the entries due
  (``ready_until <= now``), a strongly consistent BatchGetItem of those deployments; one still
  READY has its entry moved to its new threshold, one NOT_READY gets ``prefect.deployment.not-ready``
  and leaves the index (the same conditional UpdateItem of its mark).

Exactly once per change, without locks, as :mod:`chalicelib.services.status_events`: the event's id
derives from the mark it replaces and the new status, so racing pollers (or ticks, or a Lambda
retry) build the same event and the store keeps it once; the mark moves only from the mark read. The
event is stored before the mark moves: a crash between them leaves the old mark, and the next poll
(or tick) rebuilds the same event and moves it. A status that flips back before anyone looks (a
poll after a gap shorter than the tick's period) emits nothing, as Prefect's foreman, which also
marks deployments NOT_READY periodically.

- **A work pool's queue** (:func:`watch_queue`, from :func:`chalicelib.services.status_events.watch_pool`:
  the maintenance tick and pool or queue edits). A worker's poll stamps only its pool; the queue's
  deployments are READY when read while it was polled within the window, as in Prefect (whose
  worker poll marks every deployment of the polled queues READY, paused or not, and whose foreman
  marks them NOT_READY). Per queue, one Query of ``by-queue`` finds the deployments whose mark
  differs from what the queue's polls make them (usually none); those are read (strongly consistent)
  and the event emitted, the mark moved as above. Their marks stay out of ``by-ready`` (their
  NOT_READY comes from the queue). A deployment created on (or moved to) a queue already READY is
  found by the next tick, as Prefect's next poll finds it NOT_READY. At most :data:`QUEUE_LIMIT`
  deployments per queue per tick: the rest still differ, so the next tick finds them.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime
from typing import Any

from chalicelib.domain.worker_health import ready_entry_at
from chalicelib.errors import NotFoundError
from chalicelib.schemas.deployments import Deployment
from chalicelib.schemas.events import Event
from chalicelib.schemas.work_pools import QueueSpec, StoredWorkPool
from chalicelib.services import event_records
from chalicelib.services.deployments._upsert import READY_WINDOW, polled_status, present
from chalicelib.storage import Repositories

_NS = uuid.UUID("5d0f3a8e-2c41-4b7d-9e16-8a3f0c2b6d51")
READY, NOT_READY = "READY", "NOT_READY"
#: The tick's counts: events emitted, by-ready entries moved (deployments still READY).
STATUS_EVENTS = "deployment_status_events"
STATUS_ENTRIES_MOVED = "deployment_ready_entries_moved"
#: The work queues' part of the tick: deployment events emitted, marks aligned with their by-queue key.
QUEUE_STATUS_EVENTS = "deployment_status_events_of_queues"
QUEUE_MARKS_ALIGNED = "deployment_queue_marks_aligned"
#: Entries a tick examines at most (the rest wait for the next tick).
TICK_LIMIT = 500
#: Deployments of one work queue a tick (or an edit) reads at most: one BatchGetItem.
QUEUE_LIMIT = 100
#: Attempts of a poll's mark move against racing writers (each re-reads the deployment).
_ATTEMPTS = 3


def _entry_at(last_polled: datetime) -> datetime:
    return ready_entry_at(last_polled, READY_WINDOW.total_seconds())


def record_poll(repos: Repositories, ids: list[uuid.UUID], now: datetime) -> int:
    """A poll of ``ids`` at ``now``: stamp ``last_polled`` (one write) and emit
    ``prefect.deployment.ready`` for those whose last status event was not READY. Returns how
    many events this call emitted (or found stored by a racer)."""
    changed = repos.deployments.stamp_polls(ids, now, _entry_at(now))
    return sum(_become_ready(repos, id_, now) for id_ in changed)


def _become_ready(repos: Repositories, id_: uuid.UUID, now: datetime) -> bool:
    for _ in range(_ATTEMPTS):
        found = repos.deployments.readiness(id_)
        if found is None:
            return False
        mark, emitted = found.mark, False
        if _status_of(found.mark) != READY:
            mark, emitted = _emit(repos, found.deployment, found.mark, READY, now), True
        if repos.deployments.move_status_mark(id_, found.mark, mark, ready_until=_entry_at(now), polled=now):
            return emitted
    return False  # racing writers kept moving it: one of them recorded this change


def watch_statuses(repos: Repositories, now: datetime) -> Counter[str]:
    """The maintenance tick: ``prefect.deployment.not-ready`` for each deployment marked READY
    that nobody polled within the window (only those whose by-ready entry is due are read)."""
    counts: Counter[str] = Counter()
    due = repos.deployments.ready_entries_due(now, TICK_LIMIT)
    found = repos.deployments.readiness_many(due) if due else []
    pools = {name: repos.work_pools.find_named(name) for name in {r.deployment.work_pool_name for r in found} if name}
    for r in found:
        shown = present(r.deployment, now, pools.get(r.deployment.work_pool_name or ""))
        if shown.status == READY:
            # Still polled (or its queue is): its entry moves to its new threshold.
            if r.ready_until is not None and shown.last_polled is not None:
                until = shown.last_polled + READY_WINDOW
                counts[STATUS_ENTRIES_MOVED] += repos.deployments.move_ready_entry(
                    r.deployment.id, r.ready_until, until
                )
            continue
        mark = r.mark
        if _status_of(r.mark) == READY:
            mark = _emit(repos, r.deployment, r.mark, NOT_READY, now)
        if repos.deployments.move_status_mark(r.deployment.id, r.mark, mark or f"{NOT_READY}|", ready_until=None):
            counts[STATUS_EVENTS] += mark != r.mark
    return counts


def watch_queue(repos: Repositories, pool: StoredWorkPool, queue: QueueSpec, now: datetime) -> Counter[str]:
    """``prefect.deployment.ready|not-ready`` for the deployments of ``pool``'s ``queue`` whose last
    status event differs from their status at ``now`` (at most :data:`QUEUE_LIMIT` of them)."""
    counts: Counter[str] = Counter()
    queue_status = polled_status(pool.queue_last_polled(queue), now)
    due = repos.deployments.marked_otherwise_in_queue(queue.id, queue_status, QUEUE_LIMIT)
    for r in repos.deployments.readiness_many(due) if due else []:
        if r.deployment.work_pool_name != pool.name or r.deployment.work_queue_id != queue.id:
            continue  # moved since by-queue was written: its new queue's look finds it
        status, marked = present(r.deployment, now, pool).status, _status_of(r.mark)
        if status == marked or (marked is None and status == NOT_READY):  # NOT_READY first: no event
            if r.mark is not None and r.queue_mark != marked:  # an item older than by-queue: align its key
                moved = repos.deployments.move_status_mark(r.deployment.id, r.mark, r.mark, ready_until=r.ready_until)
                counts[QUEUE_MARKS_ALIGNED] += moved
            continue
        mark = _emit(repos, r.deployment, r.mark, status, now)
        moved = repos.deployments.move_status_mark(r.deployment.id, r.mark, mark, ready_until=None)
        counts[QUEUE_STATUS_EVENTS] += moved
    return counts


def _status_of(mark: str | None) -> str | None:
    return mark.partition("|")[0] if mark else None


def _emit(repos: Repositories, deployment: Deployment, seen: str | None, status: str, now: datetime) -> str:
    """Store the event of ``deployment``'s move from the mark ``seen`` to ``status`` (its id derives
    from both: a rebuilt event is the same event) and return the mark that records it."""
    resource_id = f"prefect.deployment.{deployment.id}"
    event_id = uuid.uuid5(_NS, f"{resource_id}|{seen or ''}|{status}")
    event = Event(
        id=event_id,
        occurred=now,
        event=f"prefect.deployment.{status.lower().replace('_', '-')}",
        resource={"prefect.resource.id": resource_id, "prefect.resource.name": deployment.name},
        related=_related(repos, deployment),
    )
    event_records.store(repos, event, now)
    return f"{status}|{event_id}"


def _related(repos: Repositories, deployment: Deployment) -> list[dict[str, str]]:
    """Prefect's related resources of a deployment event: its flow, work queue and work pool (the
    pool's type as a label), storage and infrastructure documents, concurrency limit."""
    related: list[dict[str, str]] = []

    def add(kind: str, object_id: Any, role: str, name: str | None = None, **labels: str) -> None:
        named = {"prefect.resource.name": name} if name is not None else {}
        entry = {"prefect.resource.id": f"prefect.{kind}.{object_id}", **named, **labels}
        related.append({**entry, "prefect.resource.role": role})

    try:
        flow = repos.flows.get(deployment.flow_id)
        add("flow", flow.id, "flow", flow.name)
    except NotFoundError:
        pass
    if deployment.work_queue_id is not None and deployment.work_queue_name:
        add("work-queue", deployment.work_queue_id, "work-queue", deployment.work_queue_name)
    pool = repos.work_pools.find_named(deployment.work_pool_name) if deployment.work_pool_name else None
    if pool is not None:
        add("work-pool", pool.id, "work-pool", pool.name, **{"prefect.work-pool.type": pool.type})
    if deployment.storage_document_id is not None:
        add("block-document", deployment.storage_document_id, "storage")
    if deployment.infrastructure_document_id is not None:
        add("block-document", deployment.infrastructure_document_id, "infrastructure")
    limit_id = (deployment.global_concurrency_limit or {}).get("id")
    if limit_id:
        add("concurrency-limit", limit_id, "concurrency-limit")
    return related
