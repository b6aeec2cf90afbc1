"""The blocks' tables: ``block_types``, ``block_schemas``, ``block_documents`` (one item per object,
:class:`DocumentModel` layout; docs/dynamodb.md has the item layout and access patterns).

Ids are derived, so the reads a client makes are by key: a type's id is uuid5 of its slug, a
schema's of its checksum and version, a document's of its type id and name.
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection

from chalicelib.storage.attributes import TimestampAttribute
from chalicelib.storage.model_meta import DocumentModel, TableMeta, index_meta


class BlockTypesBySlug(GlobalSecondaryIndex["BlockTypeModel"]):
    """Every block type (``ix`` = ``types``) by slug: the catalog in one Query page."""

    Meta = index_meta("by-slug", AllProjection())
    ix = UnicodeAttribute(hash_key=True)
    slug = UnicodeAttribute(range_key=True)


class BlockTypeModel(DocumentModel):
    """A block type; ``id`` = uuid5(slug). The catalog's install marker is the item ``catalog``
    (no ``ix``: in no index)."""

    class Meta(TableMeta):
        table_name = "block_types"

    slug = UnicodeAttribute(null=True)
    ix = UnicodeAttribute(null=True)

    by_slug = BlockTypesBySlug()


class BlockSchemasByType(GlobalSecondaryIndex["BlockSchemaModel"]):
    """A type's schemas, oldest first."""

    Meta = index_meta("by-type", AllProjection())
    block_type_id = UnicodeAttribute(hash_key=True)
    created = TimestampAttribute(range_key=True)


class BlockSchemasByChecksum(GlobalSecondaryIndex["BlockSchemaModel"]):
    """A checksum's schemas (one per version), for reads by checksum without a version."""

    Meta = index_meta("by-checksum", KeysOnlyProjection())
    checksum = UnicodeAttribute(hash_key=True)
    created = TimestampAttribute(range_key=True)


class BlockSchemasAll(GlobalSecondaryIndex["BlockSchemaModel"]):
    """Every schema (``ix`` = ``schemas``), oldest first: unfiltered listings, capabilities."""

    Meta = index_meta("by-all", AllProjection())
    ix = UnicodeAttribute(hash_key=True)
    created = TimestampAttribute(range_key=True)


class BlockSchemaModel(DocumentModel):
    """A block schema; ``id`` = uuid5(checksum, version): creating it again is idempotent."""

    class Meta(TableMeta):
        table_name = "block_schemas"

    block_type_id = UnicodeAttribute()
    checksum = UnicodeAttribute()
    ix = UnicodeAttribute(default="schemas")

    by_type = BlockSchemasByType()
    by_checksum = BlockSchemasByChecksum()
    by_all = BlockSchemasAll()


class BlockDocumentsByType(GlobalSecondaryIndex["BlockDocumentModel"]):
    """A type's documents by name."""

    Meta = index_meta("by-type", AllProjection())
    block_type_id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute(range_key=True)


class BlockDocumentsByListing(GlobalSecondaryIndex["BlockDocumentModel"]):
    """Every document by name, named ones (``ix`` = ``named``) apart from anonymous ones."""

    Meta = index_meta("by-listing", AllProjection())
    ix = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute(range_key=True)


class BlockDocumentModel(DocumentModel):
    """A block document (``id`` = uuid5(type id, name)); its data sealed (envelope-encrypted) in
    ``doc``. A type's document count is the item ``count/<type id>`` (``count``): every create and
    delete of a document changes it in the same transaction, so deleting a type deletes exactly its
    documents."""

    class Meta(TableMeta):
        table_name = "block_documents"

    block_type_id = UnicodeAttribute(null=True)
    name = UnicodeAttribute(null=True)
    ix = UnicodeAttribute(null=True)
    count = NumberAttribute(null=True)

    by_type = BlockDocumentsByType()
    by_listing = BlockDocumentsByListing()


BLOCK_MODELS = (BlockTypeModel, BlockSchemaModel, BlockDocumentModel)
