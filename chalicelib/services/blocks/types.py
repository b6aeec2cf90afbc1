"""Block types and block schemas (Prefect's ``/block_types`` and ``/block_schemas`` semantics).

Names starting with "prefect" are reserved (403); a slug is unique (409); protected types (the
catalog's ``secret``, ``webhook``, ``local-file-system``) and their schemas cannot be deleted (403).
Deleting a type deletes its documents and schemas with it, in one transaction. Creating a schema is
idempotent on its checksum and version (200 with the stored one).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from chalicelib.domain.blocks import block_schema_id, block_type_id, schema_checksum
from chalicelib.errors import ForbiddenError, NotFoundError
from chalicelib.schemas import blocks as wire
from chalicelib.services.blocks.catalog import ensure_installed, install
from chalicelib.storage import BlockStore, Repositories


class BlockTypeNotFoundError(NotFoundError):
    """A block type named by a body (Prefect's wording names it)."""

    def __init__(self, key: object) -> None:
        super().__init__("Block type", key)

    def __str__(self) -> str:
        return f"Block type {self.key} not found."


def store_of(repos: Repositories, now: datetime) -> BlockStore:
    """The blocks store, its catalog installed."""
    store = repos.blocks
    ensure_installed(store, now)
    return store


# ------------------------------------------------------------------------------ block types
def create_type(repos: Repositories, body: wire.BlockTypeCreate, now: datetime) -> wire.BlockType:
    if body.name.lower().startswith("prefect"):
        raise ForbiddenError("Block type names beginning with 'Prefect' are reserved.")
    store = store_of(repos, now)
    fresh = wire.BlockType(id=block_type_id(body.slug), created=now, updated=now, **body.model_dump())
    return store.types.create_new(fresh)


def read_type(repos: Repositories, id_: uuid.UUID, now: datetime) -> wire.BlockType:
    return store_of(repos, now).types.get(id_)


def read_type_by_slug(repos: Repositories, slug: str, now: datetime) -> wire.BlockType:
    return store_of(repos, now).types.get(block_type_id(slug))


def filter_types(repos: Repositories, body: wire.BlockTypeFilterBody, now: datetime) -> list[wire.BlockType]:
    """Types the filters accept, by name (Prefect's order); with a schema filter, the types that
    have a matching schema."""
    store = store_of(repos, now)
    found = [t for t in store.types.all() if body.block_types is None or body.block_types.matches(t)]
    if body.block_schemas is not None:
        having = {s.block_type_id for s in store.schemas.all() if body.block_schemas.matches(s)}
        found = [t for t in found if t.id in having]
    found.sort(key=lambda t: t.name)
    return found[body.offset : body.offset + body.limit]


def update_type(repos: Repositories, id_: uuid.UUID, body: wire.BlockTypeUpdate, now: datetime) -> None:
    """Set the fields the body sets; nothing is written when nothing changes."""
    changes = body.model_dump(exclude_unset=True)

    def change(current: wire.BlockType) -> wire.BlockType:
        if all(getattr(current, k) == v for k, v in changes.items()):
            return current
        return current.model_copy(update=changes)

    store_of(repos, now).types.update(id_, change, now)


def delete_type(repos: Repositories, id_: uuid.UUID, now: datetime) -> None:
    store = store_of(repos, now)
    if store.types.get(id_).is_protected:
        raise ForbiddenError("protected block types cannot be deleted.")
    store.documents.delete_type(id_)


# ------------------------------------------------------------------------------ block schemas
def _type_or_none(store: BlockStore, id_: uuid.UUID | None) -> wire.BlockType | None:
    try:
        return store.types.get(id_) if id_ is not None else None
    except NotFoundError:
        return None


def _with_types(store: BlockStore, schemas: list[wire.BlockSchema]) -> list[wire.BlockSchema]:
    """The schemas with their ``block_type`` (one GetItem for one schema, else one Query)."""
    if len(schemas) == 1:
        return [schemas[0].model_copy(update={"block_type": _type_or_none(store, schemas[0].block_type_id)})]
    types = {t.id: t for t in store.types.all()} if schemas else {}
    return [s.model_copy(update={"block_type": types.get(s.block_type_id)}) for s in schemas]


def create_schema(repos: Repositories, body: wire.BlockSchemaCreate, now: datetime) -> tuple[wire.BlockSchema, bool]:
    """The schema of ``body`` and whether it was created (an equal checksum and version: the stored one)."""
    store = store_of(repos, now)
    checksum = schema_checksum(body.fields)
    fresh = wire.BlockSchema(
        id=block_schema_id(checksum, body.version), created=now, updated=now, checksum=checksum, **body.model_dump()
    )
    try:
        schema, created = store.schemas.create_or_existing(fresh)
    except NotFoundError as exc:
        raise BlockTypeNotFoundError(body.block_type_id) from exc
    return _with_types(store, [schema])[0], created


def read_schema(repos: Repositories, id_: uuid.UUID, now: datetime) -> wire.BlockSchema:
    store = store_of(repos, now)
    return _with_types(store, [store.schemas.get(id_)])[0]


def read_schema_by_checksum(repos: Repositories, checksum: str, version: str | None, now: datetime) -> wire.BlockSchema:
    """The schema of ``checksum`` and ``version``; without a version, the newest of the checksum."""
    store = store_of(repos, now)
    if version is None:
        schema = store.schemas.newest_with_checksum(checksum)
    else:
        schema = store.schemas.get(block_schema_id(checksum, version))
    return _with_types(store, [schema])[0]


def filter_schemas(repos: Repositories, body: wire.BlockSchemaFilterBody, now: datetime) -> list[wire.BlockSchema]:
    """Schemas the filter accepts, newest first (Prefect's order)."""
    store = store_of(repos, now)
    group = body.block_schemas
    if group is not None and group.block_type_id is not None and group.block_type_id.any_ is not None:
        candidates = store.schemas.of_types(group.block_type_id.any_)
    else:
        candidates = store.schemas.all()
    found = [s for s in candidates if group is None or group.matches(s)]
    found.sort(key=lambda s: s.created, reverse=True)
    return _with_types(store, found[body.offset : body.offset + body.limit])


def delete_schema(repos: Repositories, id_: uuid.UUID, now: datetime) -> None:
    store = store_of(repos, now)
    schema = store.schemas.get(id_)
    owner = _type_or_none(store, schema.block_type_id)
    if owner is not None and owner.is_protected:
        raise ForbiddenError("Block schemas for protected block types cannot be deleted.")
    store.schemas.delete(id_)


def capabilities(repos: Repositories, now: datetime) -> list[str]:
    """Every capability some schema has, sorted."""
    return sorted({c for s in store_of(repos, now).schemas.all() for c in s.capabilities})


def install_catalog(repos: Repositories, now: datetime) -> dict[str, int]:
    """``install_system_block_types``: write Prefect's catalog again (idempotent); the counts written."""
    return install(repos.blocks, now)
