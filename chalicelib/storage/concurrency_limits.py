"""Global concurrency limits (v2) and their leases.

A limit is a simple resource (unique name). Its ``active_slots`` change only through conditional
writes: taking ``n`` slots is an UpdateItem ADD conditional on ``active_slots <= limit - n`` (and on
the limit and ``active`` read), in one transaction with the lease that holds them; giving them back
deletes the lease and subtracts in one transaction, so slots are never counted twice nor lost.
Every slot write bumps ``rev``, so a concurrent PATCH re-reads instead of overwriting the count.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from pynamodb.exceptions import TransactWriteError, UpdateError

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


class ConcurrencyLimitRepository(DocumentRepository[ConcurrencyLimit]):
    model = ConcurrencyLimitModel
    schema = ConcurrencyLimit
    kind = "Concurrency Limit"
    top_level = ("name", "limit", "active", "active_slots")
    unique = Unique("name", "concurrency-limit", lambda name: f'Concurrency limit "{name}" already exists.')

    def response_value(self, name: str, value: Any) -> Any:
        return int(value) if name in ("limit", "active_slots") else value

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
    def acquire(
        self,
        limits: list[ConcurrencyLimit],
        slots: int,
        lease_id: uuid.UUID,
        expires: datetime,
        holder: dict[str, Any] | None,
        now: datetime,
    ) -> bool:
        """Take ``slots`` on every limit and record the lease, all or nothing. ``False`` when a
        limit has too few free slots (or changed since it was read: the caller re-reads)."""
        tx = LabelledTransaction(_M)
        for limit in limits:
            room = (_M.active_slots <= limit.limit - slots) & (_M.limit == limit.limit) & (_M.active == True)  # noqa: E712
            take = [_M.active_slots.add(slots), _M.rev.add(1)]
            tx.update(f"limit {limit.id}", _M(str(limit.id)), take, condition=room)
        lease = _L(
            str(lease_id), limit_ids=[str(limit.id) for limit in limits], slots=slots, holder=holder,
            expires=expires, created=now, expires_at=expires + LEASE_ITEM_GRACE,
        )  # fmt: skip
        tx.put("lease", lease, condition=_L.id.does_not_exist())
        try:
            tx.commit()
        except TransactWriteError as exc:
            failures = tx.failures(exc)
            if failures and all(code == REASON_CONDITION_FAILED for code in failures.values()):
                return False
            if failures:
                raise ConcurrentUpdateError("Concurrency Limit", lease_id) from exc
            raise
        return True

    def release(self, lease_id: uuid.UUID | str, *, only_if_expired_by: datetime | None = None) -> bool:
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
                key = _M(str(limit.id))
                if limit.active_slots >= slots:
                    tx.update(
                        f"limit {limit.id}",
                        key,
                        [_M.active_slots.add(-slots), _M.rev.add(1)],
                        condition=_M.active_slots >= slots,
                    )
                else:  # a PATCH lowered the count meanwhile: never below zero
                    tx.update(
                        f"limit {limit.id}",
                        key,
                        [_M.active_slots.set(0), _M.rev.add(1)],
                        condition=_M.active_slots < slots,
                    )
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
