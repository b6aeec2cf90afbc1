"""Blocks: ``/block_types``, ``/block_schemas``, ``/block_documents``, ``/block_capabilities``
(every route of Prefect 3.9.1's block routers). Views parse, call one service, shape the reply.

``include_secrets`` (a query parameter on reads, a body field on ``/block_documents/filter``) is the
only way a secret field's value leaves the service; without it those fields read ``********``.
"""

from __future__ import annotations

from urllib.parse import unquote

from chalice import Blueprint

from chalicelib import schemas, services
from chalicelib.api.common import RequestInvalid, json_response, now, parse_body, path_uuid, repositories, route

bp = Blueprint(__name__)

_TRUE = {"true", "1", "yes", "on", "t", "y"}
_FALSE = {"false", "0", "no", "off", "f", "n"}


def _query_flag(name: str) -> bool:
    """A boolean query parameter (FastAPI's spellings); absent is false, anything else a 422."""
    raw = (bp.current_request.query_params or {}).get(name)
    if raw is None or raw.lower() in _FALSE:
        return False
    if raw.lower() in _TRUE:
        return True
    detail = [{"loc": ["query", name], "msg": "Input should be a valid boolean", "type": "bool_parsing"}]
    raise RequestInvalid(detail, None)


# ------------------------------------------------------------------------------ block types
@route(bp, "/block_types", methods=("POST",), status=201)
def create_block_type() -> object:
    return services.blocks.create_type(repositories(), parse_body(bp, schemas.blocks.BlockTypeCreate), now())


@route(bp, "/block_types/{id}")
def read_block_type(id: str) -> object:
    return services.blocks.read_type(repositories(), path_uuid(id), now())


@route(bp, "/block_types/slug/{slug}")
def read_block_type_by_slug(slug: str) -> object:
    return services.blocks.read_type_by_slug(repositories(), unquote(slug), now())


@route(bp, "/block_types/filter", methods=("POST",))
def filter_block_types() -> object:
    return services.blocks.filter_types(repositories(), parse_body(bp, schemas.blocks.BlockTypeFilterBody), now())


@route(bp, "/block_types/{id}", methods=("PATCH",), status=204)
def update_block_type(id: str) -> None:
    services.blocks.update_type(repositories(), path_uuid(id), parse_body(bp, schemas.blocks.BlockTypeUpdate), now())


@route(bp, "/block_types/{id}", methods=("DELETE",), status=204)
def delete_block_type(id: str) -> None:
    services.blocks.delete_type(repositories(), path_uuid(id), now())


@route(bp, "/block_types/slug/{slug}/block_documents")
def read_block_documents_of_type(slug: str) -> object:
    return services.blocks.documents_of_type(repositories(), unquote(slug), _query_flag("include_secrets"), now())


@route(bp, "/block_types/slug/{slug}/block_documents/name/{name}")
def read_block_document_by_name(slug: str, name: str) -> object:
    """``Block.load(name)``: 2 DynamoDB requests."""
    flag = _query_flag("include_secrets")
    return services.blocks.read_document_by_name(repositories(), unquote(slug), unquote(name), flag, now())


@route(bp, "/block_types/install_system_block_types", methods=("POST",))
def install_system_block_types() -> None:
    services.blocks.install_catalog(repositories(), now())


# ------------------------------------------------------------------------------ block schemas
@route(bp, "/block_schemas", methods=("POST",), status=201)
def create_block_schema() -> object:
    body = parse_body(bp, schemas.blocks.BlockSchemaCreate)
    schema, created = services.blocks.create_schema(repositories(), body, now())
    return json_response(schema.model_dump(mode="json"), 201 if created else 200)


@route(bp, "/block_schemas/{id}")
def read_block_schema(id: str) -> object:
    return services.blocks.read_schema(repositories(), path_uuid(id), now())


@route(bp, "/block_schemas/checksum/{checksum}")
def read_block_schema_by_checksum(checksum: str) -> object:
    version = (bp.current_request.query_params or {}).get("version")
    return services.blocks.read_schema_by_checksum(repositories(), unquote(checksum), version, now())


@route(bp, "/block_schemas/filter", methods=("POST",))
def filter_block_schemas() -> object:
    return services.blocks.filter_schemas(repositories(), parse_body(bp, schemas.blocks.BlockSchemaFilterBody), now())


@route(bp, "/block_schemas/{id}", methods=("DELETE",), status=204)
def delete_block_schema(id: str) -> None:
    services.blocks.delete_schema(repositories(), path_uuid(id), now())


@route(bp, "/block_capabilities")
def read_block_capabilities() -> object:
    return services.blocks.capabilities(repositories(), now())


# ------------------------------------------------------------------------------ block documents
@route(bp, "/block_documents", methods=("POST",), status=201)
def create_block_document() -> object:
    return services.blocks.create_document(repositories(), parse_body(bp, schemas.blocks.BlockDocumentCreate), now())


@route(bp, "/block_documents/filter", methods=("POST",))
def filter_block_documents() -> object:
    body = parse_body(bp, schemas.blocks.BlockDocumentFilterBody)
    return services.blocks.filter_documents(repositories(), body, now())


@route(bp, "/block_documents/count", methods=("POST",))
def count_block_documents() -> object:
    return services.blocks.count_documents(repositories(), parse_body(bp, schemas.blocks.BlockDocumentCountBody), now())


@route(bp, "/block_documents/{id}")
def read_block_document(id: str) -> object:
    return services.blocks.read_document(repositories(), path_uuid(id), _query_flag("include_secrets"), now())


@route(bp, "/block_documents/{id}", methods=("PATCH",), status=204)
def update_block_document(id: str) -> None:
    body = parse_body(bp, schemas.blocks.BlockDocumentUpdate)
    services.blocks.update_document(repositories(), path_uuid(id), body, now())


@route(bp, "/block_documents/{id}", methods=("DELETE",), status=204)
def delete_block_document(id: str) -> None:
    services.blocks.delete_document(repositories(), path_uuid(id), now())
