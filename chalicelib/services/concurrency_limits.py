"""Global concurrency limits (v2): the shared simple-resource use cases, plus slots taken and
given back with leases. A lease that expires frees its slots: the next increment that finds a
limit full first gives back the slots of every expired lease, then tries again, so a crashed task
never holds a slot for longer than its lease."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from chalicelib.domain import identity, slot_decay
from chalicelib.errors import ConflictError, GoneError, InvalidRequestError, SlotsUnavailableError
from chalicelib.schemas import concurrency_limits as schemas
from chalicelib.services import resources
from chalicelib.services.resources import SimpleResource
from chalicelib.storage import Lease, Repositories

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
#: Reads and conditional writes an increment tries before answering 423 (each lost one lost a race).
ACQUIRE_ATTEMPTS = 4


def _id_or_name(repos: Repositories, id_or_name: str) -> uuid.UUID:
    try:
        return uuid.UUID(id_or_name)
    except ValueError:
        return resources.read_by_name(RESOURCE, repos, id_or_name).id


def as_of(limit: schemas.ConcurrencyLimit, now: datetime) -> schemas.ConcurrencyLimit:
    """The limit as the API shows it at ``now`` (a decaying limit's ``active_slots`` decayed)."""
    if not limit.slot_decay_per_second:
        return limit
    held = slot_decay.held_slots(limit.drained_at, limit.slot_decay_per_second, now.timestamp())
    return limit.model_copy(update={"active_slots": held})


def _settled(limit: schemas.ConcurrencyLimit, changes: dict[str, Any], now: datetime) -> schemas.ConcurrencyLimit:
    """``limit`` with ``changes`` applied at ``now``; a decaying limit's held slots restated as
    its ``drained_at`` (a limit that stops decaying keeps the slots held at ``now``)."""
    changed = as_of(limit, now).model_copy(update=changes)
    decay = changed.slot_decay_per_second
    if not decay:
        return changed.model_copy(update={"drained_at": None})
    if "active_slots" in changes or decay != limit.slot_decay_per_second or changed.drained_at is None:
        drained_at = slot_decay.drained_at_holding(changed.active_slots, decay, now.timestamp())
        return changed.model_copy(update={"drained_at": drained_at})
    return changed


def create(repos: Repositories, body: schemas.ConcurrencyLimitCreate, now: datetime) -> schemas.ConcurrencyLimit:
    fresh = schemas.ConcurrencyLimit.model_validate({**body.model_dump(), "created": now, "updated": now})
    return repos.concurrency_limits.create(_settled(fresh, {}, now).model_copy(update={"holders": {}}))


def read(repos: Repositories, id_or_name: str, now: datetime) -> schemas.ConcurrencyLimit:
    return as_of(resources.read(RESOURCE, repos, _id_or_name(repos, id_or_name)), now)


def filter_limits(
    repos: Repositories, body: schemas.ConcurrencyLimitFilterBody, now: datetime
) -> list[schemas.ConcurrencyLimit]:
    return [as_of(limit, now) for limit in resources.filter_objects(RESOURCE, repos, body)]


def update(repos: Repositories, id_or_name: str, body: schemas.ConcurrencyLimitUpdate, now: datetime) -> None:
    changes = resources.changes(RESOURCE, body)
    repos.concurrency_limits.update(
        _id_or_name(repos, id_or_name), lambda current: _settled(current, changes, now), now
    )


def delete(repos: Repositories, id_or_name: str) -> None:
    resources.delete(RESOURCE, repos, _id_or_name(repos, id_or_name))


def reclaim_expired_leases(repos: Repositories, now: datetime) -> int:
    """Give back the slots of leases that expired by ``now``; the number released."""
    repo = repos.concurrency_limits
    expired = list(repo.expired_leases(now, RECLAIM_BATCH))
    return sum(1 for lease_id in expired if repo.release(lease_id, now, only_if_expired_by=now))


def _has_room(limit: schemas.ConcurrencyLimit, slots: int, now: datetime) -> bool:
    return as_of(limit, now).active_slots + slots <= limit.limit


def _retry_after(full: list[schemas.ConcurrencyLimit], slots: int, now: datetime) -> float:
    """Seconds to wait before asking again: until the slots have decayed (limits with decay), or
    the limit's average occupancy, within 1–30 s (as Prefect caps it)."""
    waits = [
        slot_decay.seconds_until_room(
            limit.drained_at, limit.limit, slots, limit.slot_decay_per_second, now.timestamp()
        )
        if limit.slot_decay_per_second
        else min(MAX_RETRY_AFTER_S, max(1.0, limit.avg_slot_occupancy_seconds))
        for limit in full
    ]
    return round(max(waits, default=1.0), 3) or 0.001


def _acquire(
    repos: Repositories, names: list[str], slots: int, mode: str, now: datetime, lease: Lease | None = None
) -> list[schemas.ConcurrencyLimit]:
    """Take ``slots`` on every active limit called ``names`` (under ``lease`` if given); the limits
    found. Names without a limit take nothing. Too few free slots: :class:`SlotsUnavailableError`.
    A read decides only whether to try: the write's conditions decide who gets the slots."""
    repo = repos.concurrency_limits
    reclaimed = False
    for _ in range(ACQUIRE_ATTEMPTS):
        limits = repo.by_names(names)
        active = [limit for limit in limits if limit.active]
        if any(limit.limit < slots for limit in active):
            raise InvalidRequestError(("body", "slots"), "Slots requested is greater than the limit")
        steady = [limit.name for limit in active if not limit.slot_decay_per_second]
        if mode == "rate_limit" and steady:
            raise InvalidRequestError(
                ("body", "mode"),
                "Only concurrency limits with slot decay can be used for rate limiting. The following "
                f"limits do not have a decay configured: {','.join(steady)!r}",
            )
        if not active:
            return limits
        full = [limit for limit in active if not _has_room(limit, slots, now)]
        if full:
            if not reclaimed and any(not limit.slot_decay_per_second for limit in full):
                reclaimed = True
                if reclaim_expired_leases(repos, now):
                    continue  # a crashed holder's slots came back: read again
            raise SlotsUnavailableError([limit.name for limit in full], _retry_after(full, slots, now))
        if lease is not None and lease.holder and any(limit.holders is None for limit in active):
            for limit in active:
                if limit.holders is None:
                    repo.keep_holders(limit)
            continue
        if repo.acquire(active, slots, now, lease):
            return limits
    # Every attempt lost a race to another writer: as busy as full, the client asks again soon.
    raise SlotsUnavailableError(list(names), 0.1)


def increment(repos: Repositories, body: schemas.Increment, now: datetime) -> list[dict[str, Any]]:
    """v2's ``/increment`` (``rate_limit()``, ``concurrency()`` without a lease)."""
    return [schemas.minimal(limit) for limit in _acquire(repos, body.names, body.slots, body.mode, now)]


def decrement(repos: Repositories, body: schemas.Decrement, now: datetime) -> list[dict[str, Any]]:
    """v2's ``/decrement``: ``slots`` given back on each active limit named (never below zero)."""
    return [schemas.minimal(limit) for limit in repos.concurrency_limits.give_back(body.names, body.slots, now)]


def increment_with_lease(repos: Repositories, body: schemas.IncrementWithLease, now: datetime) -> dict[str, Any]:
    """Take ``body.slots`` on every active limit named, under a new lease (Prefect's answer:
    ``{lease_id, limits}``). Names without a limit take nothing: ``limits`` is empty, as Prefect
    answers. Too few free slots: :class:`SlotsUnavailableError` (423 with Retry-After)."""
    lease = Lease(uuid.uuid4(), now + timedelta(seconds=body.lease_duration), body.holder)
    limits = _acquire(repos, body.names, body.slots, body.mode, now, lease)
    return {"lease_id": str(lease.id), "limits": [schemas.minimal(limit) for limit in limits]}


def decrement_with_lease(repos: Repositories, lease_id: uuid.UUID, now: datetime) -> None:
    """Give back the lease's slots (an unknown or released lease: nothing to do, as Prefect)."""
    repos.concurrency_limits.release(lease_id, now)


def renew_lease(repos: Repositories, lease_id: uuid.UUID, body: schemas.RenewLease, now: datetime) -> None:
    """Extend an unexpired lease; a lease that expired or was released is :class:`GoneError` (410)."""
    if not repos.concurrency_limits.renew(lease_id, now + timedelta(seconds=body.lease_duration), now):
        raise GoneError("Lease not found - it may have expired or been revoked")


#: Prefect 3 keeps a tag's concurrency limit (the v1 API) as the v2 limit named ``tag:<tag>``.
TAG_PREFIX = "tag:"
#: v1's slots are held until given back (Prefect's ``V1_LEASE_TTL``: ~100 years).
V1_LEASE = timedelta(days=100 * 365)


def _v1(limit: schemas.ConcurrencyLimit) -> dict[str, Any]:
    """A ``tag:`` limit in v1's shape: ``active_slots`` names the task runs holding its slots
    (up to ``MAX_HOLDERS`` of them; slots taken without a holder are counted, not named)."""
    return {
        "id": str(limit.id),
        "created": limit.created.isoformat().replace("+00:00", "Z"),
        "updated": limit.updated.isoformat().replace("+00:00", "Z"),
        "tag": limit.name.removeprefix(TAG_PREFIX),
        "concurrency_limit": limit.limit,
        "active_slots": sorted(set((limit.holders or {}).values())),
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
        return _v1(create(repos, schemas.ConcurrencyLimitCreate(name=name, limit=body.concurrency_limit), now)), True
    except ConflictError:
        update(repos, name, schemas.ConcurrencyLimitUpdate(limit=body.concurrency_limit), now)
        return _v1(read(repos, name, now)), False


def _tag_limit(repos: Repositories, id_or_tag: uuid.UUID | str) -> schemas.ConcurrencyLimit:
    """The ``tag:`` limit with this id (a v2 limit of another name is not one: 404) or tag."""
    if isinstance(id_or_tag, uuid.UUID):
        limit = resources.read(RESOURCE, repos, id_or_tag)
        if not limit.name.startswith(TAG_PREFIX):
            raise repos.concurrency_limits.not_found(id_or_tag)
        return limit
    return resources.read_by_name(RESOURCE, repos, TAG_PREFIX + id_or_tag)


def read_tag_limit(repos: Repositories, id_or_tag: uuid.UUID | str) -> dict[str, Any]:
    return _v1(_tag_limit(repos, id_or_tag))


def delete_tag_limit(repos: Repositories, id_or_tag: uuid.UUID | str) -> None:
    resources.delete(RESOURCE, repos, _tag_limit(repos, id_or_tag).id)


def reset_tag_limit(repos: Repositories, tag: str, body: schemas.TagLimitReset, now: datetime) -> None:
    """v1's reset: the tag's slots become those of ``slot_override`` (none by default); leases
    taken before give back nothing more than is held (a release never goes below zero)."""
    kept = {str(task_run_id) for task_run_id in body.slot_override or []}

    def reset(current: schemas.ConcurrencyLimit) -> schemas.ConcurrencyLimit:
        holders = {lease: holder for lease, holder in (current.holders or {}).items() if holder in kept}
        return _settled(current, {"active_slots": len(kept), "holders": holders}, now)

    repos.concurrency_limits.update(_tag_limit(repos, tag).id, reset, now)


def _v1_lease(body: schemas.TagSlots) -> uuid.UUID:
    """One lease per task run and set of tags: a repeated increment takes nothing more, and the
    decrement naming the same tags finds it without a read."""
    return identity.v1_tag_lease_id(body.task_run_id, sorted(set(body.names)))


def increment_tag_slots(repos: Repositories, body: schemas.TagSlots, now: datetime) -> list[dict[str, Any]]:
    """v1's ``/concurrency_limits/increment`` (``prefect.concurrency.v1``): one slot of each tag's
    limit for the task run, held until its decrement. A limit of 0 would deadlock: 423 without
    Retry-After (the client gives up); a full limit: 423 with Retry-After."""
    names = [TAG_PREFIX + tag for tag in dict.fromkeys(body.names)]
    zero = [limit for limit in repos.concurrency_limits.by_names(names) if limit.limit == 0]
    if zero:
        tag = zero[0].name.removeprefix(TAG_PREFIX)
        message = f'The concurrency limit on tag "{tag}" is 0 and will deadlock if the task tries to run again.'
        raise SlotsUnavailableError([zero[0].name], None, message)
    holder = {"type": "task_run", "id": str(body.task_run_id)}
    lease = Lease(_v1_lease(body), now + V1_LEASE, holder, idempotent=True)
    limits = _acquire(repos, names, 1, "concurrency", now, lease)
    return [{**schemas.minimal(limit), "name": limit.name.removeprefix(TAG_PREFIX)} for limit in limits if limit.active]


def decrement_tag_slots(repos: Repositories, body: schemas.TagSlotsRelease, now: datetime) -> list[dict[str, Any]]:
    """v1's ``/concurrency_limits/decrement``: the task run's slots on those tags given back (none
    held: nothing to do); the tags' limits, named as Prefect answers (``tag:<tag>``)."""
    repos.concurrency_limits.release(_v1_lease(body), now)
    return [schemas.minimal(limit) for limit in repos.concurrency_limits.by_names([TAG_PREFIX + t for t in body.names])]
