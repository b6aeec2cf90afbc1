"""Global concurrency limits (v2): the shared simple-resource use cases, plus slots taken and
given back with leases. A lease that expires frees its slots: the next increment that finds a
limit full first gives back the slots of every expired lease, then tries again, so a crashed task
never holds a slot for longer than its lease."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from chalicelib.errors import ConflictError, GoneError, InvalidRequestError, SlotsUnavailableError
from chalicelib.schemas import concurrency_limits as schemas
from chalicelib.services import resources
from chalicelib.services.resources import SimpleResource
from chalicelib.storage import Repositories

RESOURCE = SimpleResource(
    repository=lambda repos: repos.concurrency_limits,
    create_schema=schemas.ConcurrencyLimitCreate,
    update_schema=schemas.ConcurrencyLimitUpdate,
    filter_schema=schemas.ConcurrencyLimitFilterBody,
    count_schema=schemas.ConcurrencyLimitFilterBody,
    filter_group="concurrency_limits",
    sorts=schemas.SORTS,
    default_sort="NAME_ASC",
)
#: Prefect's cap on the wait a refused increment suggests (tag_concurrency_slot_wait_seconds).
MAX_RETRY_AFTER_S = 30.0
#: Expired leases given back per refused increment (one Query, then one transaction each).
RECLAIM_BATCH = 25


def _id_or_name(repos: Repositories, id_or_name: str) -> uuid.UUID:
    try:
        return uuid.UUID(id_or_name)
    except ValueError:
        return resources.read_by_name(RESOURCE, repos, id_or_name).id


def read(repos: Repositories, id_or_name: str) -> schemas.ConcurrencyLimit:
    return resources.read(RESOURCE, repos, _id_or_name(repos, id_or_name))


def update(repos: Repositories, id_or_name: str, body: schemas.ConcurrencyLimitUpdate, now: datetime) -> None:
    resources.update(RESOURCE, repos, _id_or_name(repos, id_or_name), body, now)


def delete(repos: Repositories, id_or_name: str) -> None:
    resources.delete(RESOURCE, repos, _id_or_name(repos, id_or_name))


def reclaim_expired_leases(repos: Repositories, now: datetime) -> int:
    """Give back the slots of leases that expired by ``now``; the number released."""
    repo = repos.concurrency_limits
    expired = list(repo.expired_leases(now, RECLAIM_BATCH))
    return sum(1 for lease_id in expired if repo.release(lease_id, only_if_expired_by=now))


def increment_with_lease(repos: Repositories, body: schemas.IncrementWithLease, now: datetime) -> dict[str, Any]:
    """Take ``body.slots`` on every active limit named, under a new lease (Prefect's answer:
    ``{lease_id, limits}``). Names without a limit take nothing: ``limits`` is empty, as Prefect
    answers. Too few free slots: :class:`SlotsUnavailableError` (423 with Retry-After)."""
    repo = repos.concurrency_limits
    lease_id = uuid.uuid4()
    for attempt in range(3):
        limits = repo.by_names(body.names)
        active = [limit for limit in limits if limit.active]
        if any(limit.limit < body.slots for limit in active):
            raise InvalidRequestError(("body", "slots"), "Slots requested is greater than the limit")
        if body.mode == "rate_limit" and active:
            raise InvalidRequestError(("body", "mode"), "Rate limits (slot decay) are not supported by Cirrus")
        if not active:
            return {"lease_id": str(lease_id), "limits": [schemas.minimal(limit) for limit in limits]}
        expires = now + timedelta(seconds=body.lease_duration)
        if repo.acquire(active, body.slots, lease_id, expires, body.holder, now):
            return {"lease_id": str(lease_id), "limits": [schemas.minimal(limit) for limit in limits]}
        if attempt == 0 and reclaim_expired_leases(repos, now) == 0:
            break  # nothing to give back: the limits are really full
    full = [limit for limit in repo.by_names(body.names) if limit.active]
    occupancy = max((limit.avg_slot_occupancy_seconds for limit in full), default=1.0)
    wait = min(MAX_RETRY_AFTER_S, max(1.0, occupancy))
    raise SlotsUnavailableError([limit.name for limit in full], wait)


def decrement_with_lease(repos: Repositories, lease_id: uuid.UUID) -> None:
    """Give back the lease's slots (an unknown or released lease: nothing to do, as Prefect)."""
    repos.concurrency_limits.release(lease_id)


def renew_lease(repos: Repositories, lease_id: uuid.UUID, body: schemas.RenewLease, now: datetime) -> None:
    """Extend an unexpired lease; a lease that expired or was released is :class:`GoneError` (410)."""
    if not repos.concurrency_limits.renew(lease_id, now + timedelta(seconds=body.lease_duration), now):
        raise GoneError("Lease not found - it may have expired or been revoked")


#: Prefect 3 keeps a tag's concurrency limit (the v1 API) as the v2 limit named ``tag:<tag>``.
TAG_PREFIX = "tag:"


def _v1(limit: schemas.ConcurrencyLimit) -> dict[str, Any]:
    """A ``tag:`` limit in v1's shape (``active_slots`` lists holders: Cirrus counts slots without
    naming them, so the list is empty)."""
    return {
        "id": str(limit.id),
        "created": limit.created.isoformat().replace("+00:00", "Z"),
        "updated": limit.updated.isoformat().replace("+00:00", "Z"),
        "tag": limit.name.removeprefix(TAG_PREFIX),
        "concurrency_limit": limit.limit,
        "active_slots": [],
    }


def tag_limits(repos: Repositories, body: schemas.ConcurrencyLimitFilterBody) -> list[dict[str, Any]]:
    """``POST /concurrency_limits/filter`` (v1: the UI's Concurrency → Task Run tab): the ``tag:``
    limits in v1's shape, by tag, paged like v2's."""
    tagged = [
        limit
        for limit in resources.filter_objects(RESOURCE, repos, schemas.ConcurrencyLimitFilterBody())
        if limit.name.startswith(TAG_PREFIX)
    ]
    tagged.sort(key=lambda limit: limit.name)
    return [_v1(limit) for limit in tagged[body.offset : body.offset + body.limit]]


def upsert_tag_limit(repos: Repositories, body: schemas.TagLimitCreate, now: datetime) -> tuple[dict[str, Any], bool]:
    """v1's create: the tag's limit is created (``True``), or its ``limit`` changed if it exists."""
    name = TAG_PREFIX + body.tag
    try:
        create = schemas.ConcurrencyLimitCreate(name=name, limit=body.concurrency_limit)
        return _v1(resources.create(RESOURCE, repos, create, now)), True
    except ConflictError:
        update(repos, name, schemas.ConcurrencyLimitUpdate(limit=body.concurrency_limit), now)
        return _v1(read(repos, name)), False


def _tag_limit(repos: Repositories, id_or_tag: uuid.UUID | str) -> schemas.ConcurrencyLimit:
    """The ``tag:`` limit with this id (a v2 limit of another name is not one: 404) or tag."""
    if isinstance(id_or_tag, uuid.UUID):
        limit = resources.read(RESOURCE, repos, id_or_tag)
        if not limit.name.startswith(TAG_PREFIX):
            raise repos.concurrency_limits.not_found(id_or_tag)
        return limit
    return read(repos, TAG_PREFIX + id_or_tag)


def read_tag_limit(repos: Repositories, id_or_tag: uuid.UUID | str) -> dict[str, Any]:
    return _v1(_tag_limit(repos, id_or_tag))


def delete_tag_limit(repos: Repositories, id_or_tag: uuid.UUID | str) -> None:
    resources.delete(RESOURCE, repos, _tag_limit(repos, id_or_tag).id)


def reset_tag_limit(repos: Repositories, tag: str, body: schemas.TagLimitReset, now: datetime) -> None:
    """v1's reset: the tag's slots become those of ``slot_override`` (none by default); leases
    taken before give back nothing more than is held (a release never goes below zero)."""
    held = len(set(body.slot_override or []))
    resources.update(RESOURCE, repos, _tag_limit(repos, tag).id, schemas.ConcurrencyLimitUpdate(active_slots=held), now)
