"""Repositories of block types, schemas and documents, on the shared document path
(:class:`~chalicelib.storage.documents.DocumentRepository`); what is their own is here."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from pynamodb.exceptions import TransactWriteError

from chalicelib.errors import ConcurrentUpdateError, ConflictError, NotFoundError
from chalicelib.schemas.blocks import BlockSchema, BlockType
from chalicelib.schemas.common import ResponseModel
from chalicelib.storage.blocks._models import BlockDocumentModel, BlockSchemaModel, BlockTypeModel
from chalicelib.storage.documents import DocumentRepository, attempts
from chalicelib.storage.errors import REASON_CONDITION_FAILED
from chalicelib.storage.labelled_transaction import LabelledTransaction
from chalicelib.storage.model_meta import DocumentModel

#: Documents deleted with their type in one transaction (DynamoDB's limit is 100 items).
MAX_DOCUMENTS_PER_TYPE_DELETE = 90


class StoredBlockDocument(ResponseModel):
    """A block document as stored: its data sealed, its references as ids."""

    name: str
    block_schema_id: uuid.UUID
    block_type_id: uuid.UUID
    block_type_name: str | None = None
    is_anonymous: bool = False
    references: dict[str, uuid.UUID] = {}
    sealed: str


def get_across(wanted: dict[type[DocumentModel], Iterable[str]]) -> dict[type[DocumentModel], dict[str, Any]]:
    """Items of several tables by id, strongly consistent, in as few BatchGetItem requests as
    possible (one for up to 100 keys): ``{model: {id: item}}``, missing ids left out."""
    ids = {model: sorted({str(i) for i in keys}) for model, keys in wanted.items()}
    found: dict[type[DocumentModel], dict[str, Any]] = {model: {} for model in ids}
    by_table = {model.Meta.table_name: model for model in ids}
    pending = [(model, i) for model, keys in ids.items() for i in keys]
    client = next(iter(ids))._get_connection().connection.client if pending else None
    while pending:
        chunk, pending = pending[:100], pending[100:]
        request: dict[str, Any] = {}
        for model, i in chunk:
            entry = request.setdefault(model.Meta.table_name, {"Keys": [], "ConsistentRead": True})
            entry["Keys"].append({"id": {"S": i}})
        for _ in range(10):
            reply = client.batch_get_item(RequestItems=request)  # type: ignore[union-attr]
            for table, items in reply.get("Responses", {}).items():
                model = by_table[table]
                for raw in items:
                    item = model.from_raw_data(raw)
                    found[model][item.id] = item
            request = reply.get("UnprocessedKeys") or {}
            if not request:
                break
    return found


class BlockTypeRepository(DocumentRepository[BlockType]):
    model = BlockTypeModel
    schema = BlockType
    kind = "Block type"
    top_level = ("slug",)

    def to_item(self, obj: BlockType, rev: int = 0) -> DocumentModel:
        item = super().to_item(obj, rev)
        item.ix = "types"  # type: ignore[attr-defined]
        return item

    def create_new(self, obj: BlockType) -> BlockType:
        try:
            return self.create(obj)
        except ConflictError as exc:
            raise ConflictError(f'Block type with name "{obj.name}" already exists') from exc

    def all(self) -> list[BlockType]:
        """Every block type, by slug (one Query page for the catalog)."""
        return [self.from_item(item) for item in BlockTypeModel.by_slug.query("types")]

    def install(self, obj: BlockType, now: datetime) -> None:
        """Put a catalog type: its fields as the catalog says, ``created`` kept when it existed."""
        item = self.to_item(obj)
        actions = [
            BlockTypeModel.slug.set(item.slug),
            BlockTypeModel.ix.set("types"),
            BlockTypeModel.doc.set(item.doc),
            BlockTypeModel.created.set(BlockTypeModel.created | now),
            BlockTypeModel.updated.set(now),
            BlockTypeModel.rev.set((BlockTypeModel.rev | 0) + 1),
        ]
        BlockTypeModel(item.id).update(actions=actions)

    def marker(self) -> str | None:
        """The catalog version installed in these tables (the ``catalog`` item), if any."""
        try:
            return BlockTypeModel.get("catalog", consistent_read=True).doc.get("version")
        except BlockTypeModel.DoesNotExist:
            return None

    def mark(self, version: str, now: datetime) -> None:
        BlockTypeModel("catalog", created=now, updated=now, doc={"version": version}).save()


class BlockSchemaRepository(DocumentRepository[BlockSchema]):
    model = BlockSchemaModel
    schema = BlockSchema
    kind = "Block schema"
    top_level = ("block_type_id", "checksum")

    def to_item(self, obj: BlockSchema, rev: int = 0) -> DocumentModel:
        item = super().to_item(obj, rev)
        item.doc.pop("block_type", None)
        return item

    def newest_with_checksum(self, checksum: str) -> BlockSchema:
        for key in BlockSchemaModel.by_checksum.query(checksum, scan_index_forward=False, limit=1):
            return self.get(key.id)
        raise self.not_found(checksum)

    def of_types(self, type_ids: Iterable[uuid.UUID]) -> list[BlockSchema]:
        found: list[BlockSchema] = []
        for type_id in sorted(set(type_ids), key=str):
            found.extend(self.query(BlockSchemaModel.by_type, str(type_id)))
        return found

    def all(self) -> list[BlockSchema]:
        return list(self.query(BlockSchemaModel.by_all, "schemas"))

    def create_or_existing(self, obj: BlockSchema) -> tuple[BlockSchema, bool]:
        """Insert the schema unless its id (checksum and version) exists, conditional on its type
        existing; ``(schema, True)`` when inserted, ``(the stored one, False)`` when it existed."""
        for _ in attempts():
            tx = LabelledTransaction(self.model)
            tx.put("new-item", self.to_item(obj), condition=BlockSchemaModel.id.does_not_exist())
            tx.check("type", BlockTypeModel, str(obj.block_type_id), BlockTypeModel.id.exists())
            try:
                tx.commit()
            except TransactWriteError as exc:
                failures = tx.failures(exc)
                if failures.get("type") == REASON_CONDITION_FAILED:
                    raise NotFoundError("Block type", obj.block_type_id) from exc
                if failures.get("new-item") == REASON_CONDITION_FAILED:
                    try:
                        return self.get(obj.id), False
                    except NotFoundError:
                        continue  # deleted meanwhile
                if failures:
                    continue
                raise
            return obj, True
        raise ConcurrentUpdateError(self.kind, obj.id)

    def install(self, schemas: list[BlockSchema]) -> None:
        """Put catalog schemas (their ids are derived from their content: a re-put is a no-op)."""
        with BlockSchemaModel.batch_write() as batch:
            for schema in schemas:
                batch.save(self.to_item(schema))


def _count_key(type_id: uuid.UUID | str) -> str:
    return f"count/{type_id}"


class BlockDocumentRepository(DocumentRepository[StoredBlockDocument]):
    model = BlockDocumentModel
    schema = StoredBlockDocument
    kind = "Block document"
    top_level = ("block_type_id", "name")

    def to_item(self, obj: StoredBlockDocument, rev: int = 0) -> DocumentModel:
        item = super().to_item(obj, rev)
        item.ix = "anonymous" if obj.is_anonymous else "named"  # type: ignore[attr-defined]
        return item

    def of_type(self, type_id: uuid.UUID) -> Iterator[StoredBlockDocument]:
        return self.query(BlockDocumentModel.by_type, str(type_id))

    def listing(self, anonymous: bool) -> Iterator[StoredBlockDocument]:
        return self.query(BlockDocumentModel.by_listing, "anonymous" if anonymous else "named")

    def create(self, obj: StoredBlockDocument) -> StoredBlockDocument:
        """Insert the document, counting it on its type, conditional on the type existing and the
        name (the id) being free: a taken name is a :class:`ConflictError`, a missing type a
        :class:`NotFoundError`."""
        for _ in attempts():
            tx = LabelledTransaction(self.model)
            tx.put("new-item", self.to_item(obj), condition=BlockDocumentModel.id.does_not_exist())
            tx.check("type", BlockTypeModel, str(obj.block_type_id), BlockTypeModel.id.exists())
            tx.update("count", BlockDocumentModel(_count_key(obj.block_type_id)), [BlockDocumentModel.count.add(1)])
            try:
                tx.commit()
            except TransactWriteError as exc:
                failures = tx.failures(exc)
                if failures.get("new-item") == REASON_CONDITION_FAILED:
                    raise ConflictError("Block already exists") from exc
                if failures.get("type") == REASON_CONDITION_FAILED:
                    raise NotFoundError("Block type", obj.block_type_id) from exc
                if failures:
                    continue  # a transaction conflict on the count: retry
                raise
            return obj
        raise ConcurrentUpdateError(self.kind, obj.id)

    def delete(self, id_: uuid.UUID | str) -> StoredBlockDocument:
        for _ in attempts():
            item = self._item(id_)
            if not item.block_type_id:
                raise self.not_found(id_)
            tx = LabelledTransaction(self.model)
            tx.delete("item", item, condition=BlockDocumentModel.rev == item.rev)
            tx.update("count", BlockDocumentModel(_count_key(item.block_type_id)), [BlockDocumentModel.count.add(-1)])
            try:
                tx.commit()
            except TransactWriteError as exc:
                if tx.failures(exc):
                    continue
                raise
            return self.from_item(item)
        raise ConcurrentUpdateError(self.kind, id_)

    def delete_type(self, type_id: uuid.UUID) -> None:
        """Delete block type ``type_id`` with its documents and schemas in one transaction,
        conditional on the documents deleted being all of them (the type's count)."""
        for _ in attempts():
            try:
                type_item = BlockTypeModel.get(str(type_id), consistent_read=True)
            except BlockTypeModel.DoesNotExist as exc:
                raise NotFoundError("Block type", type_id) from exc
            try:
                counted = int(BlockDocumentModel.get(_count_key(type_id), consistent_read=True).count or 0)
            except BlockDocumentModel.DoesNotExist:
                counted = 0
            docs = list(BlockDocumentModel.by_type.query(str(type_id)))
            if len(docs) != counted:
                continue  # the index lags a write: read again
            if counted > MAX_DOCUMENTS_PER_TYPE_DELETE:
                raise ConflictError(
                    f"Block type {type_id} has {counted} block documents; delete some first "
                    f"(at most {MAX_DOCUMENTS_PER_TYPE_DELETE} go with their type)."
                )
            schemas = list(BlockSchemaModel.by_type.query(str(type_id)))[: 99 - counted - 1]
            tx = LabelledTransaction(self.model)
            tx.delete("type", type_item, condition=BlockTypeModel.rev == type_item.rev)
            count_item = BlockDocumentModel(_count_key(type_id))
            unchanged = BlockDocumentModel.count.does_not_exist() | (BlockDocumentModel.count == counted)
            tx.delete("count", count_item, condition=unchanged)
            for doc in docs:
                tx.delete(f"doc-{doc.id}", doc)
            for schema in schemas:
                tx.delete(f"schema-{schema.id}", schema)
            try:
                tx.commit()
            except TransactWriteError as exc:
                if tx.failures(exc):
                    continue
                raise
            return
        raise ConcurrentUpdateError("Block type", type_id)
