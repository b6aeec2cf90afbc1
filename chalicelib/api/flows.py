"""``/flows`` routes (PREFECT_CONTRACT.md, "Flows")."""

from __future__ import annotations

from urllib.parse import unquote

from chalice import Blueprint

from chalicelib import schemas, services
from chalicelib.api.common import json_response, now, page_reply, parse_body, path_uuid, repositories, route

bp = Blueprint(__name__)


@route(bp, "/flows", methods=("POST",))
def create_flow() -> object:
    flow, created = services.flows.create_flow(repositories(), parse_body(bp, schemas.flows.FlowCreate), now())
    return json_response(flow.to_json(), 201 if created else 200)


@route(bp, "/flows/{id}")
def read_flow(id: str) -> object:
    return services.flows.read_flow(repositories(), path_uuid(id))


@route(bp, "/flows/name/{name}")
def read_flow_by_name(name: str) -> object:
    return services.flows.read_flow_by_name(repositories(), unquote(name))


@route(bp, "/flows/{id}", methods=("PATCH",), status=204)
def update_flow(id: str) -> None:
    flow_id = path_uuid(id)
    services.flows.update_flow(repositories(), flow_id, parse_body(bp, schemas.flows.FlowUpdate), now())


@route(bp, "/flows/{id}", methods=("DELETE",), status=204)
def delete_flow(id: str) -> None:
    services.flows.delete_flow(repositories(), path_uuid(id), now())


@route(bp, "/flows/filter", methods=("POST",))
def filter_flows() -> object:
    return services.flows.filter_flows(repositories(), parse_body(bp, schemas.filters.FilterBody))


@route(bp, "/flows/count", methods=("POST",))
def count_flows() -> object:
    return services.flows.count_flows(repositories(), parse_body(bp, schemas.filters.CountBody))


@route(bp, "/flows/paginate", methods=("POST",))
def paginate_flows() -> object:
    page = services.flows.paginate_flows(repositories(), parse_body(bp, schemas.filters.PaginateBody))
    return page_reply(page)
