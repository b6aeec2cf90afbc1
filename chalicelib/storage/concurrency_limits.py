"""Global concurrency limits (v2) and their leases.

A limit is a simple resource (unique name). Its held slots change only through conditional writes
that carry the arithmetic themselves (no value read decides what is written):

- without decay, taking ``n`` slots is an UpdateItem ``ADD active_slots n`` conditional on
  ``active_slots <= limit - n``; giving them back subtracts, never below zero;
- with decay (``slot_decay_per_second`` = ``r``), ``drained_at`` moves: ``SET drained_at =
  drained_at + n/r`` conditional on ``drained_at BETWEEN now AND now + (limit - n)/r``, or, when
  every slot has decayed, ``SET drained_at = now + n/r`` conditional on ``drained_at < now``
  (``chalicelib.domain.slot_decay``). Which of the two is sent follows the value read; its condition
  re-states that value, so a racing writer makes it fail and the caller reads again.

Every condition also re-states the ``limit``, ``active`` and decay read, so a PATCH in between is
never overridden. Slots taken with a lease are taken in one transaction with the lease item (and the
lease's holder recorded in the limit's ``holders`` map); giving them back deletes the lease in one
transaction with the limits' updates, so slots are never counted twice nor lost. Every slot write
bumps ``rev``, so a concurrent PATCH re-reads instead of overwriting the count.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pynamodb.exceptions import TransactWriteError, UpdateError

from chalicelib.domain import slot_decay
from chalicelib.errors import ConcurrentUpdateError, NotFoundError
from chalicelib.schemas.concurrency_limits import ConcurrencyLimit
from chalicelib.storage.documents import DocumentRepository, Unique, attempts
from chalicelib.storage.errors import REASON_CONDITION_FAILED, is_condition_failure
from chalicelib.storage.labelled_transaction import LabelledTransaction
from chalicelib.storage.resource_models import ConcurrencyLeaseModel, ConcurrencyLimitModel

_M = ConcurrencyLimitModel
_L = ConcurrencyLeaseModel
#: Forgotten lease items (never released, never reclaimed) are removed this long after expiry.
LEASE_ITEM_GRACE = timedelta(days=1)
#: Holders named per limit (v1's ``active_slots``): beyond, slots are counted but their holders not
#: named, so a limit item stays small (each holder is ~80 bytes on every write of the item).
MAX_HOLDERS = 50


@dataclass(frozen=True)
class Lease:
    """Slots held under ``id`` until released or until ``expires``."""

    id: uuid.UUID
    expires: datetime
    holder: dict[str, Any] | None = None
    #: ``True``: a lease of this id held already means these slots are taken (v1's increment is
    #: idempotent per task run); ``False``: ids are fresh.
    idempotent: bool = False


def _epoch(now: datetime) -> float:
    return now.timestamp()


def _same_decay(limit: ConcurrencyLimit) -> Any:
    same = _M.slot_decay_per_second == limit.slot_decay_per_second
    return same if limit.slot_decay_per_second else same | _M.slot_decay_per_second.does_not_exist()


def _unchanged(limit: ConcurrencyLimit) -> Any:
    """The active limit's settings as read (a PATCH in between fails the write)."""
    return (_M.limit == limit.limit) & (_M.active == True) & _same_decay(limit)  # noqa: E712


def _take(limit: ConcurrencyLimit, slots: int, now: float) -> tuple[list[Any], Any]:
    """The actions and condition that take ``slots`` of ``limit`` (see the module's docstring)."""
    decay = limit.slot_decay_per_second
    if not decay:
        return [_M.active_slots.add(slots)], _M.active_slots <= limit.limit - slots
    cost = slots / decay
    if limit.drained_at is None or limit.drained_at < now:
        return [_M.drained_at.set(now + cost)], _M.drained_at.does_not_exist() | (_M.drained_at < now)
    bound = slot_decay.room_bound(limit.limit, slots, decay, now)
    return [_M.drained_at.set(_M.drained_at + cost)], _M.drained_at.between(now, bound)


def _give_back(limit: ConcurrencyLimit, slots: int, now: float) -> tuple[list[Any], Any]:
    """The actions and condition that give back ``slots`` of ``limit``, never below zero."""
    decay = limit.slot_decay_per_second
    if not decay:
        if limit.active_slots >= slots:
            return [_M.active_slots.add(-slots)], _M.active_slots >= slots
        return [_M.active_slots.set(0)], _M.active_slots < slots  # a PATCH lowered the count meanwhile
    cost = slots / decay
    if limit.drained_at is not None and limit.drained_at >= now + cost:
        return [_M.drained_at.set(_M.drained_at - cost)], _M.drained_at >= now + cost
    return [_M.drained_at.set(now)], _M.drained_at.does_not_exist() | (_M.drained_at < now + cost)


class ConcurrencyLimitRepository(DocumentRepository[ConcurrencyLimit]):
    model = ConcurrencyLimitModel
    schema = ConcurrencyLimit
    kind = "Concurrency Limit"
    top_level = ("name", "limit", "active", "active_slots", "slot_decay_per_second", "drained_at", "holders")
    unique = Unique("name", "concurrency-limit", lambda name: f'Concurrency limit "{name}" already exists.')

    def attribute_value(self, name: str, value: Any) -> Any:
        if name == "holders":
            return dict(value or {})  # every write leaves the map in place for holders to be added to
        return super().attribute_value(name, value)

    def response_value(self, name: str, value: Any) -> Any:
        if name in ("limit", "active_slots"):
            return int(value)
        if name in ("slot_decay_per_second", "drained_at"):
            return None if value is None else float(value)
        return super().response_value(name, value)

    def by_names(self, names: list[str]) -> list[ConcurrencyLimit]:
        """The limits called ``names`` that exist (consistent reads)."""
        found = []
        for name in dict.fromkeys(names):
            owner = self.owner_of(name)
            if owner is None:
                continue
            try:
                found.append(self.get(owner))
            except NotFoundError:
                continue  # deleted between the two reads
        return found

    # ------------------------------------------------------------------ slots and leases
    def acquire(self, limits: list[ConcurrencyLimit], slots: int, now: datetime, lease: Lease | None = None) -> bool:
        """Take ``slots`` on every limit (as read), and record ``lease`` if given, all or nothing.
        ``False`` when a limit has too few free slots or changed since it was read (the caller
        re-reads). An idempotent lease already held: ``True``, nothing more is taken."""
        at = _epoch(now)
        tx = LabelledTransaction(_M)
        for limit in limits:
            actions, room = _take(limit, slots, at)
            actions.append(_M.rev.add(1))
            holder_id = (lease.holder or {}).get("id") if lease is not None else None
            if holder_id and limit.holders is not None and len(limit.holders) < MAX_HOLDERS:
                actions.append(_M.holders[str(lease.id)].set(str(holder_id)))  # type: ignore[union-attr]
                room = room & _M.holders.exists()
            tx.update(f"limit {limit.id}", _M(str(limit.id)), actions, condition=room & _unchanged(limit))
        if lease is not None:
            item = _L(
                str(lease.id), limit_ids=[str(limit.id) for limit in limits], slots=slots, holder=lease.holder,
                expires=lease.expires, created=now, expires_at=lease.expires + LEASE_ITEM_GRACE,
            )  # fmt: skip
            tx.put("lease", item, condition=_L.id.does_not_exist())
        try:
            tx.commit()
        except TransactWriteError as exc:
            failures = tx.failures(exc)
            if lease is not None and lease.idempotent and failures.get("lease") == REASON_CONDITION_FAILED:
                return True
            if failures and all(code == REASON_CONDITION_FAILED for code in failures.values()):
                return False
            if failures:
                raise ConcurrentUpdateError("Concurrency Limit", lease.id if lease else None) from exc
            raise
        return True

    def keep_holders(self, limit: ConcurrencyLimit) -> None:
        """Give an item written before holders were kept its empty ``holders`` map (idempotent)."""
        _M(str(limit.id)).update(actions=[_M.holders.set(_M.holders | {})])

    def give_back(self, names: list[str], slots: int, now: datetime) -> list[ConcurrencyLimit]:
        """Give back ``slots`` on each active limit called ``names`` (without a lease: v2's
        ``/decrement``), never below zero; the limits found."""
        for _ in attempts():
            limits = self.by_names(names)
            tx = LabelledTransaction(_M)
            for limit in limits:
                if limit.active:
                    actions, condition = _give_back(limit, slots, _epoch(now))
                    tx.update(
                        f"limit {limit.id}", _M(str(limit.id)), [*actions, _M.rev.add(1)],
                        condition=condition & _unchanged(limit),
                    )  # fmt: skip
            if not len(tx):
                return limits
            try:
                tx.commit()
            except TransactWriteError as exc:
                if not tx.failures(exc):
                    raise
                continue  # a limit changed or vanished meanwhile: read again
            return limits
        raise ConcurrentUpdateError("Concurrency Limit", ", ".join(names))

    def release(self, lease_id: uuid.UUID | str, now: datetime, *, only_if_expired_by: datetime | None = None) -> bool:
        """Give back the lease's slots and delete it, in one transaction; ``False`` when there is
        no such lease (released already). With ``only_if_expired_by``, only a lease that expired
        by then is released (a renewal that lands first wins)."""
        for _ in attempts():
            try:
                lease = _L.get(str(lease_id), consistent_read=True)
            except _L.DoesNotExist:
                return False
            if only_if_expired_by is not None and lease.expires > only_if_expired_by:
                return False
            slots = int(lease.slots)
            tx = LabelledTransaction(_L)
            tx.delete("lease", lease, condition=_L.expires == lease.expires)
            for limit in self._existing(lease.limit_ids):
                actions, condition = _give_back(limit, slots, _epoch(now))
                actions.append(_M.rev.add(1))
                if limit.holders and lease.id in limit.holders:
                    actions.append(_M.holders[lease.id].remove())
                tx.update(f"limit {limit.id}", _M(str(limit.id)), actions, condition=condition & _same_decay(limit))
            try:
                tx.commit()
            except TransactWriteError as exc:
                if not tx.failures(exc):
                    raise
                continue  # the lease was renewed or a limit changed or vanished: read again
            return True
        raise ConcurrentUpdateError("Concurrency lease", lease_id)

    def _existing(self, limit_ids: list[str]) -> list[ConcurrencyLimit]:
        return [self.from_item(item) for item in _M.batch_get(list(dict.fromkeys(limit_ids)))]

    def renew(self, lease_id: uuid.UUID, expires: datetime, now: datetime) -> bool:
        """Move an unexpired lease's expiry to ``expires``; ``False`` when it is gone or expired."""
        actions = [_L.expires.set(expires), _L.expires_at.set(expires + LEASE_ITEM_GRACE)]
        try:
            _L(str(lease_id)).update(actions=actions, condition=_L.id.exists() & (_L.expires >= now))
        except UpdateError as exc:
            if is_condition_failure(exc):
                return False
            raise
        return True

    def expired_leases(self, now: datetime, limit: int = 50) -> Iterator[str]:
        """Ids of leases that expired by ``now``, oldest first (one Query of the expiry index)."""
        for item in _L.by_expiry.query("lease", _L.expires <= now, limit=limit):
            yield item.id
