"""The one create/read/update/delete/filter path of simple resources (variables, artifacts,
concurrency limits, work pools, …).

A simple resource is one item per object: ``id`` (hash key), ``rev`` (bumped by every write: the
optimistic lock), ``created``/``updated``, the fields its keys, indexes and conditions need as
top-level attributes, and the rest of its API document in ``doc`` (JSON). A resource module states
only what is its own — a :class:`DocumentRepository` subclass naming its model, response schema,
top-level fields and optional unique field — and inherits:

- :meth:`~DocumentRepository.create`: a put conditional on the id being new; with a unique field,
  in one transaction with a uniqueness claim (``uniques`` table, ``attribute_not_exists``), so two
  racing creators of one name get one object and one :class:`ConflictError`;
- :meth:`~DocumentRepository.get`, :meth:`~DocumentRepository.get_by_unique` (a consistent read of
  the claim, then of the item);
- :meth:`~DocumentRepository.update`: read, apply a pure change, put conditional on the ``rev``
  read (a rename moves the claim in the same transaction); a lost race is retried a few times;
- :meth:`~DocumentRepository.delete` (the claim goes in the same transaction);
- :meth:`~DocumentRepository.scan` (every object: the operator's filter path) and
  :meth:`~DocumentRepository.query` (one page of one partition of an index, with a limit).
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Generic, TypeVar

from pynamodb.exceptions import DeleteError, PutError

from chalicelib.errors import ConcurrentUpdateError, ConflictError, NotFoundError
from chalicelib.storage.errors import REASON_CONDITION_FAILED, is_condition_failure
from chalicelib.storage.labelled_transaction import LabelledTransaction
from chalicelib.storage.model_meta import DocumentModel
from chalicelib.storage.models import UniqueModel

R = TypeVar("R")  # a pydantic response model with id, created, updated

#: How many times an update re-reads and retries after losing its optimistic lock.
UPDATE_ATTEMPTS = 8
#: The pause before the second attempt (seconds), doubled before each next one, with full jitter:
#: writers that collided do not collide again in lockstep (the last pause is at most ~0.3 s).
_FIRST_PAUSE_S = 0.005


def attempts() -> Iterator[int]:
    """Attempt numbers 0 … UPDATE_ATTEMPTS - 1, pausing (jittered, growing) before each retry."""
    for attempt in range(UPDATE_ATTEMPTS):
        if attempt:
            time.sleep(random.uniform(0, _FIRST_PAUSE_S * 2**attempt))
        yield attempt


_BASE_FIELDS = ("id", "created", "updated")


@dataclass(frozen=True)
class Unique:
    """A value unique among a resource's objects, kept by a claim ``<namespace>/<value>``: the
    object's ``field``, or what ``compute`` derives from the object (a composite key)."""

    field: str
    namespace: str
    #: The conflict message for a taken value (Prefect's wording).
    taken: Callable[[str], str]
    compute: Callable[[Any], str] | None = None

    def claim_key(self, value: str) -> str:
        return f"{self.namespace}/{value}"

    def value(self, obj: Any) -> str:
        return self.compute(obj) if self.compute is not None else getattr(obj, self.field)


class DocumentRepository(Generic[R]):
    """Storage of one simple resource. Subclasses set the class attributes below."""

    model: ClassVar[type[DocumentModel]]
    #: The pydantic response model (has ``id``, ``created``, ``updated``).
    schema: ClassVar[type[Any]]
    #: The noun of :class:`NotFoundError` ("Variable").
    kind: ClassVar[str]
    #: Response fields stored as top-level attributes (keys, indexes, conditions), not in ``doc``.
    top_level: ClassVar[tuple[str, ...]] = ()
    unique: ClassVar[Unique | None] = None

    # ------------------------------------------------------------------ mapping
    def to_item(self, obj: R, rev: int = 0) -> DocumentModel:
        data = obj.model_dump(mode="json")  # type: ignore[attr-defined]
        item = self.model(str(obj.id), rev=rev, created=obj.created, updated=obj.updated)  # type: ignore[attr-defined]
        expires = self.expires_at(obj)
        if expires is not None:
            item.expires_at = expires  # type: ignore[attr-defined]
        for name in self.top_level:
            setattr(item, name, self.attribute_value(name, getattr(obj, name)))
        item.doc = {k: v for k, v in data.items() if k not in _BASE_FIELDS and k not in self.top_level}
        return item

    def attribute_value(self, name: str, value: Any) -> Any:
        """A response field's value as its top-level attribute stores it (ids become text)."""
        return str(value) if isinstance(value, uuid.UUID) else value

    def response_value(self, name: str, value: Any) -> Any:
        """A top-level attribute's stored value as the response field reads it (the inverse of
        :meth:`attribute_value`; e.g. a map attribute as a plain dict)."""
        return value.as_dict() if hasattr(value, "as_dict") else value

    def from_item(self, item: DocumentModel) -> R:
        data: dict[str, Any] = dict(item.doc or {})
        data.update(id=item.id, created=item.created, updated=item.updated)
        for name in self.top_level:
            data[name] = self.response_value(name, getattr(item, name))
        return self.schema.model_validate(data)  # type: ignore[no-any-return]

    def expires_at(self, obj: R) -> datetime | None:
        """When the object (and its claim) expire through the table's TTL; ``None``: never."""
        return None

    def not_found(self, key: object) -> NotFoundError:
        return NotFoundError(self.kind, key)

    # ------------------------------------------------------------------ reads
    def _item(self, id_: uuid.UUID | str) -> DocumentModel:
        try:
            return self.model.get(str(id_), consistent_read=True)
        except self.model.DoesNotExist as exc:
            raise self.not_found(id_) from exc

    def get(self, id_: uuid.UUID | str) -> R:
        return self.from_item(self._item(id_))

    def owner_of(self, value: str) -> str | None:
        """The id holding unique ``value`` (a consistent read of its claim), or ``None``."""
        assert self.unique is not None
        try:
            return UniqueModel.get(self.unique.claim_key(value), consistent_read=True).owner
        except UniqueModel.DoesNotExist:
            return None

    def get_by_unique(self, value: str) -> R:
        owner = self.owner_of(value)
        if owner is None:
            raise self.not_found(value)
        return self.get(owner)

    def scan(self) -> Iterator[R]:
        """Every object (filters on an operator's path; a worker's path uses a key or an index)."""
        for item in self.model.scan():
            yield self.from_item(item)

    def query(
        self,
        index: Any,
        hash_key: str,
        range_condition: Any = None,
        *,
        limit: int | None = None,
        descending: bool = False,
        filter_condition: Any = None,
    ) -> Iterator[R]:
        """Objects of one partition of ``index`` (or of the table when ``index`` is the model) in
        range-key order, reading pages lazily and stopping after ``limit`` objects."""
        results = index.query(
            hash_key,
            range_condition,
            filter_condition=filter_condition,
            scan_index_forward=not descending,
            limit=limit,
            page_size=min(limit, 1000) if limit else None,
        )
        for item in results:
            yield self.from_item(item)

    # ------------------------------------------------------------------ writes
    def create(self, obj: R) -> R:
        """Insert ``obj`` (a put conditional on its id being new, and with a unique field, on its
        value being unclaimed, in one transaction). A taken value is a :class:`ConflictError`."""
        item = self.to_item(obj)
        if self.unique is None:
            try:
                item.save(condition=self.model.id.does_not_exist())
            except PutError as exc:
                if is_condition_failure(exc):
                    raise ConflictError(f"{self.kind} {obj.id} already exists.") from exc  # type: ignore[attr-defined]
                raise
            return obj
        value = self.unique.value(obj)
        for _ in attempts():
            tx = LabelledTransaction(self.model)
            tx.put("new-item", item, condition=self.model.id.does_not_exist())
            claim = UniqueModel(self.unique.claim_key(value), owner=item.id, expires_at=self.expires_at(obj))
            tx.put("claim", claim, condition=UniqueModel.key.does_not_exist())
            try:
                self._commit(tx, value)
            except ConcurrentUpdateError:
                continue  # a racing transaction held the claim: retry, the claim's condition decides
            return obj
        raise ConcurrentUpdateError(self.kind, value)

    def create_or_get(self, obj: R) -> tuple[R, bool]:
        """Insert ``obj`` unless its id or its unique value is taken; then return the object that
        holds it. ``True`` when ``obj`` was inserted. Idempotent under races: one writer wins,
        every other gets the winner's object."""
        for _ in attempts():
            try:
                return self.create(obj), True
            except ConflictError:
                pass
            owner = self.owner_of(self.unique.value(obj)) if self.unique is not None else None
            try:
                return self.get(owner or obj.id), False  # type: ignore[attr-defined]
            except NotFoundError:
                continue  # the holder was deleted meanwhile: try again
        raise ConcurrentUpdateError(self.kind, obj.id)  # type: ignore[attr-defined]

    def update(self, id_: uuid.UUID | str, change: Callable[[R], R], now: datetime) -> R:
        """Replace the object with ``change(current)`` (``updated`` set to ``now``), conditional on
        the ``rev`` read; a concurrent writer makes it re-read and re-apply (``change`` is pure).
        A new unique value moves the claim in the same transaction. When ``change`` returns its
        argument itself, nothing is written."""
        for _ in attempts():
            current_item = self._item(id_)
            current = self.from_item(current_item)
            changed = change(current)
            if changed is current:
                return current  # nothing to write
            new = changed.model_copy(update={"updated": now})  # type: ignore[attr-defined]
            item = self.to_item(new, rev=current_item.rev + 1)
            locked = self.model.rev == current_item.rev
            tx = LabelledTransaction(self.model)
            tx.put("item", item, condition=locked)
            value = None
            if self.unique is not None:
                old, value = self.unique.value(current), self.unique.value(new)
                if old != value:
                    tx.delete(
                        "old-claim", UniqueModel(self.unique.claim_key(old)), condition=UniqueModel.owner == item.id
                    )
                    claim = UniqueModel(self.unique.claim_key(value), owner=item.id, expires_at=self.expires_at(new))
                    tx.put("claim", claim, condition=UniqueModel.key.does_not_exist())
            try:
                self._commit(tx, value)
            except ConcurrentUpdateError:
                continue
            return new
        raise ConcurrentUpdateError(self.kind, id_)

    def delete(self, id_: uuid.UUID | str) -> R:
        """Delete the object (and its claim, in the same transaction); return what was deleted."""
        for _ in attempts():
            item = self._item(id_)
            if self.unique is None:
                try:
                    item.delete(condition=self.model.rev == item.rev)
                except DeleteError as exc:
                    if is_condition_failure(exc):
                        continue
                    raise
                return self.from_item(item)
            tx = LabelledTransaction(self.model)
            tx.delete("item", item, condition=self.model.rev == item.rev)
            value = self.unique.value(self.from_item(item))
            tx.delete("old-claim", UniqueModel(self.unique.claim_key(value)), condition=UniqueModel.owner == item.id)
            try:
                self._commit(tx, value)
            except ConcurrentUpdateError:
                continue
            return self.from_item(item)
        raise ConcurrentUpdateError(self.kind, id_)

    def _commit(self, tx: LabelledTransaction, value: str | None) -> None:
        """Send ``tx``: a taken claim is a :class:`ConflictError`; a lost lock or a claim moved
        concurrently is a :class:`ConcurrentUpdateError` (the caller re-reads)."""
        failures = tx.commit_or_failures()
        if not failures:
            return
        if failures.get("claim") == REASON_CONDITION_FAILED and self.unique is not None and value is not None:
            raise ConflictError(self.unique.taken(value))
        if failures.get("new-item") == REASON_CONDITION_FAILED:
            raise ConflictError(f"{self.kind} already exists.")
        raise ConcurrentUpdateError(self.kind, value)
