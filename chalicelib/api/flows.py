"""``/flows`` routes (PREFECT_CONTRACT.md, "Flows")."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import unquote

from chalice import Blueprint

from chalicelib.api.common import json_response, now, page_reply, parse_body, path_uuid, repositories, route
from chalicelib.lazy import lazy_module

if TYPE_CHECKING:  # pragma: no cover - imported on first use (see chalicelib.lazy)
    import chalicelib.schemas.filters as filters
    import chalicelib.schemas.flows as schemas
    from chalicelib.services import flows
else:
    filters = lazy_module("chalicelib.schemas.filters")
    schemas = lazy_module("chalicelib.schemas.flows")
    flows = lazy_module("chalicelib.services.flows")

bp = Blueprint(__name__)


@route(bp, "/flows", methods=("POST",))
def create_flow() -> object:
    flow, created = flows.create_flow(repositories(), parse_body(bp, schemas.FlowCreate), now())
    return json_response(flow.to_json(), 201 if created else 200)


@route(bp, "/flows/{id}")
def read_flow(id: str) -> object:
    return flows.read_flow(repositories(), path_uuid(id))


@route(bp, "/flows/name/{name}")
def read_flow_by_name(name: str) -> object:
    return flows.read_flow_by_name(repositories(), unquote(name))


@route(bp, "/flows/{id}", methods=("PATCH",), status=204)
def update_flow(id: str) -> None:
    flow_id = path_uuid(id)
    flows.update_flow(repositories(), flow_id, parse_body(bp, schemas.FlowUpdate), now())


@route(bp, "/flows/{id}", methods=("DELETE",), status=204)
def delete_flow(id: str) -> None:
    flows.delete_flow(repositories(), path_uuid(id), now())


@route(bp, "/flows/filter", methods=("POST",))
def filter_flows() -> object:
    return flows.filter_flows(repositories(), parse_body(bp, filters.FilterBody))


@route(bp, "/flows/count", methods=("POST",))
def count_flows() -> object:
    return flows.count_flows(repositories(), parse_body(bp, filters.CountBody))


@route(bp, "/flows/paginate", methods=("POST",))
def paginate_flows() -> object:
    page = flows.paginate_flows(repositories(), parse_body(bp, filters.PaginateBody))
    return page_reply(page)
