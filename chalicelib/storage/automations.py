"""Automations and their trigger state: one table, ``automations`` (``pk``, ``sk``; no index).

| item | ``pk`` | ``sk`` | holds |
|---|---|---|---|
| an automation | ``a`` | its id | the Automation (``doc``), ``rev``, ``refs`` (related resource → owned) |
| the catalog's version | ``v`` | ``-`` | a token replaced in the transaction of every automation write |
| a related resource's pointer | ``r#<resource id>`` | the automation id | ``owned`` |
| an event trigger's bucket | ``b#<trigger id>`` | the bucketing key | the window (``doc``), ``rev`` |
| a composite trigger's child firings | ``c#<trigger id>`` | ``-`` | the children fired so far, ``rev`` |
| a firing whose actions are not all done | ``f`` | the firing id | the firing, ``lease``, ``done`` |
| a firing's claim (kept a day after its actions) | ``x#<firing id>`` | ``-`` | nothing: it exists |

Evaluators read the catalog once per version (one GetItem of ``v`` per batch, a Query of ``a``
when it changed), so an event costs no read of the automations. Every trigger-state change is one
transaction conditioned on the ``rev`` of each state item it read, with the firing it causes put in
the same transaction with its claim (both ``attribute_not_exists``): concurrent evaluations,
retries and redeliveries write each firing once, also after its actions were done. Buckets,
composite state, firings and claims expire (TTL) a day after their window.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.attributes import JSONAttribute, NumberAttribute, NumberSetAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.exceptions import DeleteError, GetError, PutError, TransactWriteError, UpdateError
from pynamodb.models import Model

from chalicelib.domain.automation_buckets import Bucket
from chalicelib.errors import AutomationNotFoundError, ConcurrentUpdateError
from chalicelib.schemas.automations import Automation
from chalicelib.storage.errors import is_cancelled_by_condition, is_condition_failure
from chalicelib.storage.labelled_transaction import LabelledTransaction
from chalicelib.storage.model_meta import TableMeta

AUTOMATION, VERSION, FIRING, FIRED = "a", "v", "f", "x#"
#: How long trigger state and unfinished firings are kept after their window.
STATE_TTL = timedelta(days=1)


class AutomationModel(Model):
    class Meta(TableMeta):
        table_name = "automations"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    doc = UnicodeAttribute(null=True)
    rev = NumberAttribute(null=True)
    refs = JSONAttribute(null=True)
    owned = NumberAttribute(null=True)
    lease = NumberAttribute(null=True)
    done = NumberSetAttribute(null=True)
    expires_at = TTLAttribute(null=True)


AUTOMATION_MODELS: tuple[type[Model], ...] = (AutomationModel,)


@dataclass(frozen=True)
class StateWrite:
    """One trigger-state item to write: ``value`` (None: delete) in place of revision ``rev``
    (None: the item must not exist)."""

    pk: str
    sk: str
    rev: int | None
    value: dict[str, Any] | None
    expires: datetime


def bucket_doc(bucket: Bucket) -> dict[str, Any]:
    return {
        "key": list(bucket.key),
        "start": bucket.start.timestamp(),
        "end": bucket.end.timestamp(),
        "count": bucket.count,
        "last_event": bucket.last_event,
        "seen": bucket.seen,
        "open": bucket.open,
    }


def bucket_from(doc: dict[str, Any]) -> Bucket:
    return Bucket(
        key=tuple(doc["key"]),
        start=datetime.fromtimestamp(doc["start"], UTC),
        end=datetime.fromtimestamp(doc["end"], UTC),
        count=int(doc["count"]),
        last_event=doc.get("last_event"),
        seen=dict(doc.get("seen") or {}),
        open=bool(doc.get("open", True)),
    )


def bucket_sk(key: tuple[str, ...]) -> str:
    return json.dumps(list(key)) if key else "-"


class AutomationStore:
    """The automations, the catalog version, and the trigger state."""

    # ------------------------------------------------------------------ the catalog
    def version(self) -> str:
        """The catalog's version: a token replaced by every automation write (never reused, so a
        cache keyed by it is never stale, even across recreated tables)."""
        try:
            item = AutomationModel.get(VERSION, "-", consistent_read=True)
        except AutomationModel.DoesNotExist:
            return ""
        return item.doc or ""

    def all(self) -> list[Automation]:
        """Every automation (one Query of their partition, paged)."""
        return [self._automation(item) for item in AutomationModel.query(AUTOMATION, consistent_read=True)]

    def get(self, automation_id: str) -> Automation:
        return self._automation(self._item(automation_id))

    def _item(self, automation_id: str) -> AutomationModel:
        try:
            return AutomationModel.get(AUTOMATION, automation_id, consistent_read=True)
        except (AutomationModel.DoesNotExist, GetError) as exc:
            raise AutomationNotFoundError(automation_id) from exc

    @staticmethod
    def _automation(item: AutomationModel) -> Automation:
        return Automation.model_validate_json(item.doc or "{}")

    def related_to(self, resource_id: str, *, owned_only: bool = False) -> list[Automation]:
        """The automations related to (or owned by) ``resource_id``: a Query of its pointers and a
        BatchGetItem of those automations."""
        ids = [p.sk for p in AutomationModel.query(f"r#{resource_id}") if not owned_only or p.owned]
        found = {item.sk: item for item in AutomationModel.batch_get([(AUTOMATION, i) for i in ids])}
        return [self._automation(found[i]) for i in ids if i in found]

    def create(self, automation: Automation, refs: dict[str, bool]) -> None:
        tx = LabelledTransaction(AutomationModel)
        item = AutomationModel(AUTOMATION, str(automation.id), doc=automation.model_dump_json(), rev=1, refs=refs)
        tx.put("automation", item, AutomationModel.pk.does_not_exist())
        self._pointers(tx, str(automation.id), {}, refs)
        self._bump(tx)
        tx.commit()

    def replace(
        self, automation: Automation, refs: dict[str, bool], expected_rev: int, old_refs: dict[str, bool]
    ) -> None:
        """Write ``automation`` over revision ``expected_rev``; a lost race is a ConcurrentUpdateError."""
        tx = LabelledTransaction(AutomationModel)
        item = AutomationModel(
            AUTOMATION, str(automation.id), doc=automation.model_dump_json(), rev=expected_rev + 1, refs=refs
        )
        tx.put("automation", item, AutomationModel.rev == expected_rev)
        self._pointers(tx, str(automation.id), old_refs, refs)
        self._bump(tx)
        try:
            tx.commit()
        except TransactWriteError as exc:
            if is_cancelled_by_condition(exc):
                raise ConcurrentUpdateError("Automation", automation.id) from exc
            raise

    def read_for_update(self, automation_id: str) -> tuple[Automation, int, dict[str, bool]]:
        item = self._item(automation_id)
        return self._automation(item), int(item.rev or 0), dict(item.refs or {})

    def delete(self, automation_id: str) -> None:
        item = self._item(automation_id)
        tx = LabelledTransaction(AutomationModel)
        tx.delete("automation", item, AutomationModel.rev == item.rev)
        self._pointers(tx, automation_id, dict(item.refs or {}), {})
        self._bump(tx)
        try:
            tx.commit()
        except TransactWriteError as exc:
            if is_cancelled_by_condition(exc):
                raise ConcurrentUpdateError("Automation", automation_id) from exc
            raise

    @staticmethod
    def _pointers(tx: LabelledTransaction, automation_id: str, old: dict[str, bool], new: dict[str, bool]) -> None:
        for resource in old.keys() - new.keys():
            tx.delete(f"pointer {resource}", AutomationModel(f"r#{resource}", automation_id))
        for resource, owned in new.items():
            if old.get(resource) != owned:
                tx.put(f"pointer {resource}", AutomationModel(f"r#{resource}", automation_id, owned=int(owned)))

    @staticmethod
    def _bump(tx: LabelledTransaction) -> None:
        tx.update("version", AutomationModel(VERSION, "-"), [AutomationModel.doc.set(str(uuid.uuid4()))])

    # ------------------------------------------------------------------ trigger state
    def state(self, pk: str, sk: str) -> tuple[dict[str, Any] | None, int | None]:
        """A state item's value and revision (``(None, None)`` when there is none)."""
        try:
            item = AutomationModel.get(pk, sk, consistent_read=True)
        except AutomationModel.DoesNotExist:
            return None, None
        return json.loads(item.doc or "{}"), int(item.rev or 0)

    def states(self, pk: str) -> list[tuple[str, dict[str, Any], int]]:
        """Every state item of a partition (a trigger's buckets): (sk, value, rev)."""
        return [
            (item.sk, json.loads(item.doc or "{}"), int(item.rev or 0))
            for item in AutomationModel.query(pk, consistent_read=True)
        ]

    def commit(
        self, writes: Iterable[StateWrite], firings: Iterable[tuple[str, dict[str, Any]]], now: datetime
    ) -> bool:
        """Write the state changes and put the new firings (each once: ``attribute_not_exists``), in
        one transaction; ``False`` when a state item changed since it was read, or a firing exists
        (nothing is written: the caller reads again)."""
        writes = list(writes)
        firings = list(firings)
        if len(writes) == 1 and not firings:  # the common case (an event counted): one plain write, half the units
            return self._write_one(writes[0])
        tx = LabelledTransaction(AutomationModel)
        for write in writes:
            condition = AutomationModel.pk.does_not_exist() if write.rev is None else AutomationModel.rev == write.rev
            if write.value is None:
                if write.rev is not None:
                    tx.delete(f"state {write.pk}", AutomationModel(write.pk, write.sk), condition)
                continue
            item = AutomationModel(
                write.pk,
                write.sk,
                doc=json.dumps(write.value, separators=(",", ":")),
                rev=(write.rev or 0) + 1,
                expires_at=write.expires + STATE_TTL,
            )
            tx.put(f"state {write.pk}", item, condition)
        for firing_id, firing in firings:
            item = AutomationModel(
                FIRING,
                firing_id,
                doc=json.dumps(firing, separators=(",", ":"), default=str),
                lease=_epoch(now) + LEASE_S,
                expires_at=now + STATE_TTL,
            )
            tx.put(f"firing {firing_id}", item, AutomationModel.pk.does_not_exist())
            # The claim outlives the firing's actions (a day): a redelivered event cannot fire again.
            claim = AutomationModel(f"{FIRED}{firing_id}", "-", expires_at=now + STATE_TTL)
            tx.put(f"claim {firing_id}", claim, AutomationModel.pk.does_not_exist())
        if not len(tx):
            return True
        try:
            tx.commit()
        except TransactWriteError as exc:
            if is_cancelled_by_condition(exc):
                return False
            raise
        return True

    @staticmethod
    def _write_one(write: StateWrite) -> bool:
        condition = AutomationModel.pk.does_not_exist() if write.rev is None else AutomationModel.rev == write.rev
        try:
            if write.value is None:
                if write.rev is not None:
                    AutomationModel(write.pk, write.sk).delete(condition=condition)
                return True
            AutomationModel(
                write.pk,
                write.sk,
                doc=json.dumps(write.value, separators=(",", ":")),
                rev=(write.rev or 0) + 1,
                expires_at=write.expires + STATE_TTL,
            ).save(condition=condition)
        except (PutError, DeleteError) as exc:
            if is_condition_failure(exc):
                return False
            raise
        return True

    # ------------------------------------------------------------------ firings
    def pending_firings(self) -> Iterator[tuple[str, dict[str, Any], float, list[int]]]:
        """Firings whose actions are not all done: (id, firing, lease expiry, done action indexes)."""
        for item in AutomationModel.query(FIRING, consistent_read=True):
            yield item.sk, json.loads(item.doc or "{}"), float(item.lease or 0), sorted(int(i) for i in item.done or ())

    def take_lease(self, firing_id: str, now: datetime) -> list[int] | None:
        """Lease the firing for :data:`LEASE_S` if no one holds it; its done action indexes, or
        ``None`` when another evaluator holds it or it is finished."""
        item = AutomationModel(FIRING, firing_id)
        try:
            item.update(
                [AutomationModel.lease.set(_epoch(now) + LEASE_S)],
                condition=AutomationModel.pk.exists() & (AutomationModel.lease < _epoch(now)),
            )
        except UpdateError as exc:
            if is_condition_failure(exc):
                return None
            raise
        return sorted(int(i) for i in item.done or ())

    def mark_done(self, firing_id: str, index: int) -> None:
        AutomationModel(FIRING, firing_id).update(
            [AutomationModel.done.add({index})], condition=AutomationModel.pk.exists()
        )

    def finish(self, firing_id: str) -> None:
        try:
            AutomationModel(FIRING, firing_id).delete()
        except DeleteError:  # pragma: no cover - gone already
            pass


#: How long an evaluator holds a firing while it performs its actions; after that another may.
LEASE_S = 60.0


def _epoch(at: datetime) -> float:
    return at.timestamp()
