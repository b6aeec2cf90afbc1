"""Block documents: create, read (by id, by type slug and name), filter, count, update, delete.

A document's data is sealed (envelope-encrypted) at rest. Fields its schema lists in
``secret_fields`` are returned as ``********`` unless ``include_secrets`` is asked for, and a masked
value sent back in an update keeps the stored secret. A top-level value ``{"$ref":
{"block_document_id": …}}`` references another document: it is stored as a reference, and reads
put the referenced document's data (and ``block_document_references``) in its place, as Prefect does.
``Block.load`` (by slug and name) costs 2 requests: GetItem of the document (its id derives from
the slug and name), BatchGetItem of its schema and type (+1 BatchGetItem per level of references).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from chalicelib.domain.blocks import block_document_id, block_type_id, keep_masked_secrets, mask_secrets
from chalicelib.errors import InvalidRequestError, NotFoundError
from chalicelib.schemas import blocks as wire
from chalicelib.services.blocks.types import store_of
from chalicelib.storage import BlockStore, Repositories, StoredBlockDocument

#: Prefect's bound on the depth of references.
MAX_REFERENCE_DEPTH = 50


def _split_references(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, uuid.UUID]]:
    """``data`` without its top-level references, and the references (name → document id)."""
    plain: dict[str, Any] = {}
    refs: dict[str, uuid.UUID] = {}
    for key, value in data.items():
        if isinstance(value, dict) and "$ref" in value:
            target = value["$ref"].get("block_document_id") if isinstance(value["$ref"], dict) else None
            try:
                refs[key] = uuid.UUID(str(target))
            except ValueError as exc:
                raise InvalidRequestError(
                    ("body", "data", key), f"Received block reference without a block_document_id in key {key}"
                ) from exc
        else:
            plain[key] = value
    return plain, refs


def _check_references(store: BlockStore, doc_id: uuid.UUID, refs: dict[str, uuid.UUID]) -> None:
    """Every referenced document exists, and none leads back to ``doc_id`` (no cycles)."""
    frontier = set(refs.values())
    found = store.documents_by_id(frontier)
    for key, target in refs.items():
        if target not in found:
            raise InvalidRequestError(("body", "data", key), f"Block document {target} not found.")
    seen: set[uuid.UUID] = set()
    for _ in range(MAX_REFERENCE_DEPTH + 1):
        if doc_id in frontier:
            raise InvalidRequestError(("body", "data"), "A block document reference would form a cycle.")
        seen |= frontier
        frontier = {t for d in found.values() for t in d.references.values()} - seen
        if not frontier:
            return
        found = store.documents_by_id(frontier)
    raise InvalidRequestError(("body", "data"), f"Block document references exceed depth {MAX_REFERENCE_DEPTH}.")


# ------------------------------------------------------------------------------ reading
def _hydrate(store: BlockStore, docs: list[StoredBlockDocument], include_secrets: bool) -> list[wire.BlockDocument]:
    """The response of each document, its references resolved; documents whose type was deleted
    are left out (their deletion is under way)."""
    every: dict[uuid.UUID, StoredBlockDocument] = {d.id: d for d in docs}
    frontier = {t for d in docs for t in d.references.values()} - every.keys()
    for _ in range(MAX_REFERENCE_DEPTH):
        if not frontier:
            break
        found = store.documents_by_id(frontier)
        every.update(found)
        frontier = {t for d in found.values() for t in d.references.values()} - every.keys()
    schemas, types = store.schemas_and_types(
        {d.block_schema_id for d in every.values()}, {d.block_type_id for d in every.values()}
    )

    def build(doc: StoredBlockDocument, depth: int) -> wire.BlockDocument:
        data = store.sealer.open(doc.sealed, str(doc.id))
        schema = schemas.get(doc.block_schema_id)
        block_type = types.get(doc.block_type_id)
        if not include_secrets and schema is not None:
            data = mask_secrets(data, schema.fields.get("secret_fields") or [])
        references: dict[str, dict[str, Any]] = {}
        for name, target in doc.references.items():
            child = every.get(target)
            if child is None or child.block_type_id not in types or depth >= MAX_REFERENCE_DEPTH:
                continue  # a deleted document: the reference went with it
            built = build(child, depth + 1)
            data[name] = built.data
            references[name] = {
                "block_document": {
                    "id": str(built.id),
                    "name": built.name,
                    "block_type": built.block_type.model_dump(mode="json") if built.block_type else None,
                    "is_anonymous": built.is_anonymous,
                    "block_document_references": built.block_document_references,
                }
            }
        return wire.BlockDocument(
            id=doc.id,
            created=doc.created,
            updated=doc.updated,
            name=doc.name,
            data=data,
            block_schema_id=doc.block_schema_id,
            block_schema=schema.model_copy(update={"block_type": block_type}) if schema else None,
            block_type_id=doc.block_type_id,
            block_type_name=doc.block_type_name,
            block_type=block_type,
            block_document_references=references,
            is_anonymous=doc.is_anonymous,
        )

    return [build(d, 0) for d in docs if d.block_type_id in types]


def read_document(repos: Repositories, id_: uuid.UUID, include_secrets: bool, now: datetime) -> wire.BlockDocument:
    store = store_of(repos, now)
    built = _hydrate(store, [store.documents.get(id_)], include_secrets)
    if not built:
        raise NotFoundError("Block document", id_)  # its type was deleted
    return built[0]


def read_document_by_name(
    repos: Repositories, slug: str, name: str, include_secrets: bool, now: datetime
) -> wire.BlockDocument:
    """``Block.load``: the document ``name`` of type ``slug`` (2 requests)."""
    return read_document(repos, block_document_id(block_type_id(slug), name), include_secrets, now)


def _candidates(
    store: BlockStore, group: wire.BlockDocumentFilter, types: wire.BlockTypeFilter | None
) -> list[StoredBlockDocument]:
    """Documents that may match, read through the narrowest index the filters allow."""
    if types is not None and types.slug is not None and types.slug.any_ is not None:
        return [d for slug in types.slug.any_ for d in store.documents.of_type(block_type_id(slug))]
    if group.block_type_id is not None and group.block_type_id.any_ is not None:
        return [d for t in group.block_type_id.any_ for d in store.documents.of_type(t)]
    if group.id is not None and group.id.any_ is not None:
        return list(store.documents_by_id(set(group.id.any_)).values())
    anonymous = group.is_anonymous.eq_ if group.is_anonymous is not None else None
    found: list[StoredBlockDocument] = []
    if anonymous is not True:
        found += store.documents.listing(anonymous=False)
    if anonymous is not False:
        found += store.documents.listing(anonymous=True)
    return found


def _matching(
    store: BlockStore, body: wire.BlockDocumentFilterBody | wire.BlockDocumentCountBody
) -> list[StoredBlockDocument]:
    # No filter is Prefect's default filter: named documents only.
    group = body.block_documents if body.block_documents is not None else wire.BlockDocumentFilter()
    docs = [d for d in _candidates(store, group, body.block_types) if group.matches(d)]
    if not docs:
        return []
    schemas, types = store.schemas_and_types({d.block_schema_id for d in docs}, {d.block_type_id for d in docs})
    kept: list[StoredBlockDocument] = []
    for d in docs:
        block_type, schema = types.get(d.block_type_id), schemas.get(d.block_schema_id)
        if block_type is None:
            continue
        if body.block_types is not None and not body.block_types.matches(block_type):
            continue
        if body.block_schemas is not None and (schema is None or not body.block_schemas.matches(schema)):
            continue
        kept.append(d)
    return kept


def filter_documents(
    repos: Repositories, body: wire.BlockDocumentFilterBody, now: datetime
) -> list[wire.BlockDocument]:
    store = store_of(repos, now)
    found = _matching(store, body)
    sort = body.sort or "NAME_ASC"
    if sort == "BLOCK_TYPE_AND_NAME_ASC":
        found.sort(key=lambda d: (d.block_type_name or "", d.name))
    else:
        found.sort(key=lambda d: d.name, reverse=sort == "NAME_DESC")
    return _hydrate(store, found[body.offset : body.offset + body.limit], body.include_secrets)


def count_documents(repos: Repositories, body: wire.BlockDocumentCountBody, now: datetime) -> int:
    return len(_matching(store_of(repos, now), body))


def documents_of_type(repos: Repositories, slug: str, include_secrets: bool, now: datetime) -> list[wire.BlockDocument]:
    store = store_of(repos, now)
    type_id = block_type_id(slug)
    store.types.get(type_id)  # 404 for an unknown type
    docs = sorted((d for d in store.documents.of_type(type_id) if not d.is_anonymous), key=lambda d: d.name)
    return _hydrate(store, docs, include_secrets)


# ------------------------------------------------------------------------------ writing
def create_document(repos: Repositories, body: wire.BlockDocumentCreate, now: datetime) -> wire.BlockDocument:
    """Insert a document (a taken name for its type: 409; an unknown type or schema: 404)."""
    store = store_of(repos, now)
    schemas, types = store.schemas_and_types({body.block_schema_id}, {body.block_type_id})
    block_type = types.get(body.block_type_id)
    if block_type is None:
        raise NotFoundError("Block type", body.block_type_id)
    if body.block_schema_id not in schemas:
        raise NotFoundError("Block schema", body.block_schema_id)
    name = body.name if body.name else f"anonymous-{uuid.uuid4()}"
    id_ = block_document_id(body.block_type_id, name)
    plain, refs = _split_references(body.data)
    _check_references(store, id_, refs)
    stored = StoredBlockDocument(
        id=id_,
        created=now,
        updated=now,
        name=name,
        block_schema_id=body.block_schema_id,
        block_type_id=body.block_type_id,
        block_type_name=block_type.name,
        is_anonymous=body.is_anonymous,
        references=refs,
        sealed=store.sealer.seal(plain, str(id_)),
    )
    store.documents.create(stored)
    return _hydrate(store, [stored], include_secrets=False)[0]


def update_document(repos: Repositories, id_: uuid.UUID, body: wire.BlockDocumentUpdate, now: datetime) -> None:
    """Prefect's update: with ``merge_existing_data`` (the default) the sent fields are merged into
    the stored data, else the data is replaced; masked secrets sent back keep their values; the
    references are those of the data written. A new schema must be of the document's type."""
    store = store_of(repos, now)
    replaces = "data" in body.model_fields_set or not body.merge_existing_data
    new_schema = None
    if body.block_schema_id is not None:
        try:
            new_schema = store.schemas.get(body.block_schema_id)
        except NotFoundError as exc:
            raise InvalidRequestError(("body", "block_schema_id"), "Block schema not found.") from exc

    def change(current: StoredBlockDocument) -> StoredBlockDocument:
        updates: dict[str, Any] = {}
        if new_schema is not None and new_schema.id != current.block_schema_id:
            if new_schema.block_type_id != current.block_type_id:
                raise InvalidRequestError(
                    ("body", "block_schema_id"),
                    "Must migrate block document to a block schema of the same block type.",
                )
            updates["block_schema_id"] = new_schema.id
        if replaces:
            current_data = store.sealer.open(current.sealed, str(current.id))
            schema = store.schemas.get(current.block_schema_id)
            data = keep_masked_secrets(body.data, current_data, schema.fields.get("secret_fields") or [])
            if body.merge_existing_data:
                data = {**current_data, **data}
            plain, refs = _split_references(data)
            _check_references(store, current.id, refs)
            updates.update(references=refs, sealed=store.sealer.seal(plain, str(current.id)))
        return current.model_copy(update=updates) if updates else current

    store.documents.update(id_, change, now)


def delete_document(repos: Repositories, id_: uuid.UUID, now: datetime) -> None:
    store_of(repos, now).documents.delete(id_)
