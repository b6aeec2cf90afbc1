"""Blocks (Prefect's ``BlockType``, ``BlockSchema``, ``BlockDocument``, their actions and filters).

A block type is a kind of configuration (``secret``, ``aws-credentials``); a block schema is one
version of a type's fields (JSON schema, named by its checksum); a block document is a named value of
a schema (``data``), whose fields listed in the schema's ``secret_fields`` are secret.
"""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, model_validator

from chalicelib.schemas.common import ActionModel, Document, Flag, KeyText, Name, NonNegativeInt, ResponseModel, Text
from chalicelib.schemas.filters import IdFilter, PagedBody, _any, _crit, _Criterion, _Group, _like

#: Prefect's ``DEFAULT_BLOCK_SCHEMA_VERSION``.
DEFAULT_SCHEMA_VERSION = "non-versioned"
_SLUG = re.compile(r"^[a-z0-9-]+$")


def _check_document_name(value: str) -> str:
    if not _SLUG.match(value):
        raise ValueError("name must only contain lowercase letters, numbers, and dashes.")
    return value


def _check_slug(value: str) -> str:
    if not _SLUG.match(value):
        raise ValueError("slug must only contain lowercase letters, numbers, and dashes.")
    return value


DocumentName = Annotated[KeyText, AfterValidator(_check_document_name)]
Slug = Annotated[KeyText, AfterValidator(_check_slug)]


# ------------------------------------------------------------------------------ block types
class BlockTypeCreate(ActionModel):
    name: Name
    slug: Slug
    logo_url: Text | None = None
    documentation_url: Text | None = None
    description: Text | None = None
    code_example: Text | None = None


class BlockTypeUpdate(ActionModel):
    logo_url: Text | None = None
    documentation_url: Text | None = None
    description: Text | None = None
    code_example: Text | None = None


class BlockType(ResponseModel):
    name: str
    slug: str
    logo_url: str | None = None
    documentation_url: str | None = None
    description: str | None = None
    code_example: str | None = None
    is_protected: bool = False


# ------------------------------------------------------------------------------ block schemas
class BlockSchemaCreate(ActionModel):
    fields: Document = Field(default_factory=dict)
    block_type_id: uuid.UUID
    capabilities: list[KeyText] = Field(default_factory=list)
    version: KeyText = DEFAULT_SCHEMA_VERSION


class BlockSchema(ResponseModel):
    checksum: str
    fields: dict[str, Any] = Field(default_factory=dict)
    block_type_id: uuid.UUID | None
    block_type: BlockType | None = None
    capabilities: list[str] = Field(default_factory=list)
    version: str = DEFAULT_SCHEMA_VERSION


# ------------------------------------------------------------------------------ block documents
class BlockDocumentCreate(ActionModel):
    name: DocumentName | None = None
    data: Document = Field(default_factory=dict)
    block_schema_id: uuid.UUID
    block_type_id: uuid.UUID
    is_anonymous: Flag = False

    @model_validator(mode="after")
    def _named_unless_anonymous(self) -> BlockDocumentCreate:
        if not self.is_anonymous and not self.name:
            raise ValueError("Names must be provided for block documents.")
        return self


class BlockDocumentUpdate(ActionModel):
    block_schema_id: uuid.UUID | None = None
    data: Document = Field(default_factory=dict)
    merge_existing_data: Flag = True


class BlockDocument(ResponseModel):
    name: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    block_schema_id: uuid.UUID
    block_schema: BlockSchema | None = None
    block_type_id: uuid.UUID
    block_type_name: str | None = None
    block_type: BlockType | None = None
    block_document_references: dict[str, dict[str, Any]] = Field(default_factory=dict)
    is_anonymous: bool = False


# ------------------------------------------------------------------------------ filters
def _all_in(actual: Any, wanted: list[str]) -> bool:
    return set(wanted) <= set(actual or [])


class _TypeName(_Criterion):
    like_: Text | None = None
    checks = _crit("name", like_=_like)


class _TypeSlug(_Criterion):
    any_: list[Text] | None = None
    checks = _crit("slug", any_=_any)


class BlockTypeFilter(_Group):
    name: _TypeName | None = None
    slug: _TypeSlug | None = None


class _SchemaTypeId(_Criterion):
    any_: list[uuid.UUID] | None = None
    checks = _crit("block_type_id", any_=_any)


class _Capabilities(_Criterion):
    all_: list[Text] | None = None
    checks = _crit("capabilities", all_=_all_in)


class _Version(_Criterion):
    any_: list[Text] | None = None
    checks = _crit("version", any_=_any)


class BlockSchemaFilter(_Group):
    block_type_id: _SchemaTypeId | None = None
    block_capabilities: _Capabilities | None = None
    id: IdFilter | None = None
    version: _Version | None = None


class _IsAnonymous(_Criterion):
    eq_: Flag | None = None
    checks = _crit("is_anonymous", eq_=lambda actual, wanted: bool(actual) is wanted)


class _DocumentTypeId(_Criterion):
    any_: list[uuid.UUID] | None = None
    checks = _crit("block_type_id", any_=_any)


class _DocumentName(_Criterion):
    any_: list[Text] | None = None
    like_: Text | None = None
    checks = _crit("name", any_=_any, like_=_like)


class BlockDocumentFilter(_Group):
    id: IdFilter | None = None
    is_anonymous: _IsAnonymous | None = Field(default_factory=lambda: _IsAnonymous(eq_=False))
    block_type_id: _DocumentTypeId | None = None
    name: _DocumentName | None = None


DocumentSort = Literal["NAME_ASC", "NAME_DESC", "BLOCK_TYPE_AND_NAME_ASC"]


class BlockTypeFilterBody(PagedBody):
    block_types: BlockTypeFilter | None = None
    block_schemas: BlockSchemaFilter | None = None


class BlockSchemaFilterBody(PagedBody):
    block_schemas: BlockSchemaFilter | None = None


class BlockDocumentFilterBody(PagedBody):
    block_documents: BlockDocumentFilter | None = None
    block_types: BlockTypeFilter | None = None
    block_schemas: BlockSchemaFilter | None = None
    include_secrets: Flag = False
    sort: DocumentSort | None = "NAME_ASC"  # type: ignore[assignment]
    #: Sent by Prefect's client (``read_block_documents``); Prefect's server ignores it, as here.
    block_schema_type: Text | None = None


class BlockDocumentCountBody(ActionModel):
    block_documents: BlockDocumentFilter | None = None
    block_types: BlockTypeFilter | None = None
    block_schemas: BlockSchemaFilter | None = None
    # Prefect's UI sends its list's paging with the count; Prefect's server ignores them, as here.
    sort: DocumentSort | None = None
    offset: NonNegativeInt | None = None
    limit: NonNegativeInt | None = None
    include_secrets: Flag | None = None
