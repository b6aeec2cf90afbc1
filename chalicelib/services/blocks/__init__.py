"""Blocks' use cases: Prefect's catalog (``catalog``), block types and schemas (``types``), block
documents with their secrets and references (``documents``)."""

from chalicelib.services.blocks.catalog import ensure_installed
from chalicelib.services.blocks.documents import (
    count_documents,
    create_document,
    delete_document,
    documents_of_type,
    filter_documents,
    read_document,
    read_document_by_name,
    update_document,
)
from chalicelib.services.blocks.types import (
    capabilities,
    create_schema,
    create_type,
    delete_schema,
    delete_type,
    filter_schemas,
    filter_types,
    install_catalog,
    read_schema,
    read_schema_by_checksum,
    read_type,
    read_type_by_slug,
    update_type,
)

__all__ = [
    "capabilities",
    "count_documents",
    "create_document",
    "create_schema",
    "create_type",
    "delete_document",
    "delete_schema",
    "delete_type",
    "documents_of_type",
    "ensure_installed",
    "filter_documents",
    "filter_schemas",
    "filter_types",
    "install_catalog",
    "read_document",
    "read_document_by_name",
    "read_schema",
    "read_schema_by_checksum",
    "read_type",
    "read_type_by_slug",
    "update_document",
    "update_type",
]
