"""The blocks storage services receive: three repositories, the sealer, the catalog memo."""

from __future__ import annotations

from functools import cached_property

from chalicelib.config import Settings
from chalicelib.storage.blocks._models import BlockDocumentModel, BlockSchemaModel, BlockTypeModel
from chalicelib.storage.blocks._repositories import (
    BlockDocumentRepository,
    BlockSchemaRepository,
    BlockTypeRepository,
    StoredBlockDocument,
    get_across,
)
from chalicelib.storage.blocks.sealing import Sealer, sealer_for

__all__ = ["BlockStore", "StoredBlockDocument"]


class BlockStore:
    """The three repositories, the sealer, and a per-process memo of the installed catalog."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.types = BlockTypeRepository()
        self.schemas = BlockSchemaRepository()
        self.documents = BlockDocumentRepository()
        #: The catalog version known to be installed in these tables (set by the catalog service).
        self.catalog_installed: str | None = None

    @cached_property
    def sealer(self) -> Sealer:
        return sealer_for(self.settings)

    def schemas_and_types(self, schema_ids: set, type_ids: set) -> tuple[dict, dict]:
        """Schemas and types by id, in one BatchGetItem (up to 100 keys)."""
        found = get_across({BlockSchemaModel: [str(i) for i in schema_ids], BlockTypeModel: [str(i) for i in type_ids]})
        schemas = {s.id: s for s in map(self.schemas.from_item, found[BlockSchemaModel].values())}
        types = {t.id: t for t in map(self.types.from_item, found[BlockTypeModel].values())}
        return schemas, types

    def documents_by_id(self, ids: set) -> dict:
        found = get_across({BlockDocumentModel: [str(i) for i in ids]})[BlockDocumentModel]
        return {d.id: d for d in map(self.documents.from_item, found.values())}
