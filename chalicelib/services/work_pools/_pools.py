"""Work pools and their queues: create, read, update, delete, filter (Prefect 3.9's ``/work_pools``).

A pool is a simple resource on the shared path (:mod:`chalicelib.services.resources`); its id
derives from its name, so a read by name is one GetItem and two racing creates of one name yield
one pool and one 409. Its queues live inside it: creating, changing or deleting a queue is an edit
of the pool (a put conditioned on the pool's ``rev``), so queue names are unique per pool under
races too. Statuses are computed at read time from stored instants
(:mod:`chalicelib.domain.worker_health`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from chalicelib.config import Settings
from chalicelib.domain import identity, job_variables
from chalicelib.domain.worker_health import Thresholds, pool_status, queue_status, worker_status
from chalicelib.errors import (
    ConflictError,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
    WorkPoolNotFoundError,
    WorkQueueNotFoundError,
)
from chalicelib.schemas import work_pools as schemas
from chalicelib.schemas.work_pools import QueueSpec, StoredWorkPool, WorkPool, WorkQueue
from chalicelib.services import resources
from chalicelib.services.resources import SimpleResource
from chalicelib.storage import Repositories

POOL_SORTS: dict[str, tuple[Callable[[Any], object], bool]] = {
    "NAME_ASC": (lambda p: p.name, False),
    "NAME_DESC": (lambda p: p.name, True),
    "CREATED_DESC": (lambda p: p.created, True),
}

RESOURCE = SimpleResource(
    repository=lambda repos: repos.work_pools,
    create_schema=schemas.WorkPoolCreate,
    update_schema=schemas.WorkPoolUpdate,
    filter_schema=schemas.WorkPoolFilterBody,
    count_schema=schemas.WorkPoolCountBody,
    filter_group="work_pools",
    sorts=POOL_SORTS,
    default_sort="NAME_ASC",
    nullable_updates=frozenset({"description", "concurrency_limit"}),
)

#: Prefect reserves pool names starting with this (case-insensitive) for itself.
_RESERVED = "prefect"


def thresholds(settings: Settings) -> Thresholds:
    return Thresholds(
        heartbeat_multiple=settings.worker_heartbeat_multiple,
        fallback_heartbeat_s=settings.worker_fallback_heartbeat_s,
        poll_window_s=settings.poll_ready_window_s,
    )


# ------------------------------------------------------------------------------------ presenting
def present_pool(repos: Repositories, settings: Settings, pool: StoredWorkPool, now: datetime) -> WorkPool:
    """The pool as the API shows it: ``status`` from its workers (one by-pool Query) and, when it
    has a concurrency limit, ``active_slots`` (one count Query per queue)."""
    t = thresholds(settings)
    statuses = [
        worker_status(t, w.last_heartbeat_time, w.heartbeat_interval_seconds, now)
        for w in repos.workers.for_pool(pool.id)
    ]
    slots = None
    if pool.concurrency_limit is not None:
        slots = sum(repos.flow_runs.count_active_in_queue(q.id) for q in pool.queues)
    shown = pool.model_dump(exclude={"queues", "queue_polls", "all_polled"})
    shown.update(status=pool_status(pool.type, pool.is_paused, statuses), active_slots=slots)
    return WorkPool.model_validate(shown)


def present_queue(
    repos: Repositories | None, settings: Settings, pool: StoredWorkPool, queue: QueueSpec, now: datetime
) -> WorkQueue:
    """The queue as the API shows it (``active_slots`` costs one count Query when it has a limit)."""
    last_polled = pool.queue_last_polled(queue)
    slots = None
    if queue.concurrency_limit is not None and repos is not None:
        slots = repos.flow_runs.count_active_in_queue(queue.id)
    return WorkQueue(
        **queue.model_dump(exclude={"last_polled"}),
        last_polled=last_polled,
        work_pool_id=pool.id,
        work_pool_name=pool.name,
        status=queue_status(thresholds(settings), queue.is_paused, last_polled, now),
        active_slots=slots,
    )


def check_job_variables(
    pool: StoredWorkPool, *overlays: dict[str, Any] | None, check_required: bool, loc: tuple[str, ...]
) -> None:
    """422 naming the variable when the overlaid job variables break the pool's base job template
    (``required`` checked only for a run, the terminal overlay, as Prefect does)."""
    problems = job_variables.errors(pool.base_job_template, *(o or {} for o in overlays), check_required=check_required)
    if problems:
        name, message = problems[0]
        raise InvalidRequestError((*loc, name), f"Validation failed for field {name!r}: {message}")


# ------------------------------------------------------------------------------------ pools
def _refuse_reserved(name: str, message: str) -> None:
    if name.lower().startswith(_RESERVED):
        raise ForbiddenError(message)


def new_pool(body: schemas.WorkPoolCreate, now: datetime) -> StoredWorkPool:
    """The pool ``body`` describes, with its ``default`` queue (ids derived from the names)."""
    default = QueueSpec(
        id=identity.work_queue_id(body.name, identity.DEFAULT_QUEUE),
        name=identity.DEFAULT_QUEUE,
        description="The work pool's default queue.",
        created=now,
        updated=now,
    )
    return StoredWorkPool(
        **body.model_dump(),
        id=identity.work_pool_id(body.name),
        created=now,
        updated=now,
        default_queue_id=default.id,
        queues=[default],
    )


def create_pool(repos: Repositories, settings: Settings, body: schemas.WorkPoolCreate, now: datetime) -> WorkPool:
    """Create the pool; a name in use is a :class:`ConflictError` (Prefect's 409)."""
    _refuse_reserved(body.name, "Work pools starting with 'Prefect' are reserved for internal use.")
    try:
        pool = repos.work_pools.create(new_pool(body, now))
    except ConflictError as exc:
        raise ConflictError("A work pool with this name already exists.") from exc
    return present_pool(repos, settings, pool, now)


def read_pool(repos: Repositories, settings: Settings, name: str, now: datetime) -> WorkPool:
    return present_pool(repos, settings, repos.work_pools.get_named(name), now)


def filter_pools(
    repos: Repositories, settings: Settings, body: schemas.WorkPoolFilterBody, now: datetime
) -> list[WorkPool]:
    """Pools passing ``body.work_pools`` by name (a Scan: pools are few; an operator's path)."""
    return [present_pool(repos, settings, p, now) for p in resources.filter_objects(RESOURCE, repos, body)]


def count_pools(repos: Repositories, body: schemas.WorkPoolCountBody) -> int:
    return resources.count(RESOURCE, repos, body)


def update_pool(repos: Repositories, name: str, body: schemas.WorkPoolUpdate, now: datetime) -> None:
    """PATCH: the fields ``body`` sets (reserved pools: only ``is_paused`` and ``concurrency_limit``)."""
    if body.model_fields_set - {"is_paused", "concurrency_limit"}:
        _refuse_reserved(
            name,
            "Work pools starting with 'Prefect' are reserved for internal use "
            "and can only be updated to set concurrency limits or pause.",
        )
    try:
        resources.update(RESOURCE, repos, identity.work_pool_id(name), body, now)
    except NotFoundError as exc:
        raise WorkPoolNotFoundError(name) from exc
    if "is_paused" in body.model_fields_set:
        _status_changed(repos, name, now)


def _status_changed(repos: Repositories, pool_name: str, now: datetime) -> None:
    """A pause or a resume: the pool's and its queues' status events now, not at the next tick."""
    from chalicelib.services import status_events  # it presents pools with this module

    status_events.watch_pool_named(repos, repos.settings, pool_name, now)


def delete_pool(repos: Repositories, name: str) -> None:
    """Delete the pool and its queues. As in Prefect, its deployments stay (they keep naming it:
    their runs wait until a pool of that name exists again)."""
    _refuse_reserved(name, "Work pools starting with 'Prefect' are reserved for internal use and can not be deleted.")
    try:
        resources.delete(RESOURCE, repos, identity.work_pool_id(name))
    except NotFoundError as exc:
        raise WorkPoolNotFoundError(name) from exc


# ------------------------------------------------------------------------------------ queues
def _first_free_priority(queues: list[QueueSpec]) -> int:
    taken = {q.priority for q in queues}
    return next(p for p in range(1, len(queues) + 2) if p not in taken)


def _with_priority(queues: list[QueueSpec], queue: QueueSpec, priority: int, now: datetime) -> list[QueueSpec]:
    """``queues`` with ``queue`` (new or changed) at ``priority``; a taken rank pushes its holder
    (and only as many others as needed) one down, as Prefect does."""
    others = sorted((q for q in queues if q.id != queue.id), key=lambda q: q.priority)
    placed = [queue.model_copy(update={"priority": priority})]
    wanted = priority
    for other in others:
        if other.priority == wanted:
            wanted += 1
            other = other.model_copy(update={"priority": wanted, "updated": now})
        placed.append(other)
    order = {q.id: i for i, q in enumerate(queues)}
    return sorted(placed, key=lambda q: order.get(q.id, len(order)))


def _edit_pool(
    repos: Repositories, pool_name: str, change: Callable[[StoredWorkPool], StoredWorkPool], now: datetime
) -> StoredWorkPool:
    try:
        return repos.work_pools.update(identity.work_pool_id(pool_name), change, now)
    except NotFoundError as exc:
        if isinstance(exc, WorkQueueNotFoundError):
            raise
        raise WorkPoolNotFoundError(pool_name) from exc


def _queue(pool: StoredWorkPool, pool_name: str, name: str) -> QueueSpec:
    queue = pool.queue_named(name)
    if queue is None:
        raise WorkQueueNotFoundError(pool_name, name)
    return queue


def create_queue(
    repos: Repositories, settings: Settings, pool_name: str, body: schemas.WorkQueueCreate, now: datetime
) -> WorkQueue:
    """Add a queue to the pool (a name in use there is a 409); 404 for an unknown pool."""
    pool = _add_queue(repos, pool_name, body, now)
    return present_queue(repos, settings, pool, _queue(pool, pool_name, body.name), now)


def _add_queue(repos: Repositories, pool_name: str, body: schemas.WorkQueueCreate, now: datetime) -> StoredWorkPool:
    queue = QueueSpec(
        **body.model_dump(exclude={"priority", "work_pool_id", "work_pool_name"}),
        id=identity.work_queue_id(pool_name, body.name),
        created=now,
        updated=now,
    )

    def add(pool: StoredWorkPool) -> StoredWorkPool:
        if pool.queue_named(body.name) is not None:
            raise ConflictError(f"A work queue with this name already exists in work pool {pool_name!r}.")
        priority = body.priority or _first_free_priority(pool.queues)
        return pool.model_copy(update={"queues": _with_priority([*pool.queues, queue], queue, priority, now)})

    return _edit_pool(repos, pool_name, add, now)


def ensure_queue(repos: Repositories, pool_name: str, name: str, now: datetime) -> StoredWorkPool:
    """The pool, with queue ``name`` created first if it is missing (a deployment naming a new
    queue); 404 for an unknown pool. Racing creators converge: the queue's id derives from names."""
    pool = repos.work_pools.get_named(pool_name)
    if pool.queue_named(name) is not None:
        return pool
    try:
        return _add_queue(repos, pool_name, schemas.WorkQueueCreate(name=name), now)
    except ConflictError:
        return repos.work_pools.get_named(pool_name)


def read_queue(repos: Repositories, settings: Settings, pool_name: str, name: str, now: datetime) -> WorkQueue:
    pool = repos.work_pools.get_named(pool_name)
    return present_queue(repos, settings, pool, _queue(pool, pool_name, name), now)


def filter_queues(
    repos: Repositories, settings: Settings, pool_name: str, body: schemas.WorkQueueFilterBody, now: datetime
) -> list[WorkQueue]:
    """The pool's queues passing ``body.work_queues``, by priority (one GetItem)."""
    pool = repos.work_pools.get_named(pool_name)
    shown = [present_queue(repos, settings, pool, q, now) for q in sorted(pool.queues, key=lambda q: q.priority)]
    group = body.work_queues
    shown = [q for q in shown if group is None or group.matches(q)]
    return shown[body.offset : body.offset + body.limit]


def update_queue(repos: Repositories, pool_name: str, name: str, body: schemas.WorkQueueUpdate, now: datetime) -> None:
    """PATCH a queue: the fields ``body`` sets. Names are identities here (runs carry the id
    derived from pool and queue name), so a rename is a 422."""
    changes = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None or k in _NULLABLE}
    if changes.get("name", name) != name:
        raise InvalidRequestError(("body", "name"), "Renaming a work queue is not supported by this server")
    changes.pop("name", None)
    priority = changes.pop("priority", None)

    def edit(pool: StoredWorkPool) -> StoredWorkPool:
        queue = _queue(pool, pool_name, name).model_copy(update={**changes, "updated": now})
        queues = [queue if q.id == queue.id else q for q in pool.queues]
        return pool.model_copy(update={"queues": _with_priority(queues, queue, priority or queue.priority, now)})

    _edit_pool(repos, pool_name, edit, now)
    if "is_paused" in changes:
        _status_changed(repos, pool_name, now)


_NULLABLE = {"concurrency_limit", "description", "last_polled"}


def delete_queue(repos: Repositories, pool_name: str, name: str, now: datetime) -> None:
    """Remove a queue from its pool; the pool's default queue cannot be deleted (409)."""

    def remove(pool: StoredWorkPool) -> StoredWorkPool:
        queue = _queue(pool, pool_name, name)
        if queue.id == pool.default_queue_id:
            raise ConflictError("Can't delete a pool's default queue.")
        polls = {k: v for k, v in pool.queue_polls.items() if k != str(queue.id)}
        return pool.model_copy(update={"queues": [q for q in pool.queues if q.id != queue.id], "queue_polls": polls})

    _edit_pool(repos, pool_name, remove, now)
