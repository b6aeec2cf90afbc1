"""``/flow_runs`` and ``/flow_run_states`` routes (PREFECT_CONTRACT.md, "Flow runs", "States and set_state").

Ours on top of Prefect's: ``POST /flow_runs/{id}/heartbeat`` (204 while the run is not terminal;
409 with the run's state once it is, so its worker learns that the run was crashed).
"""

from __future__ import annotations

import uuid

from chalice import Blueprint

from chalicelib import schemas, services
from chalicelib.api.common import (
    RequestInvalid,
    json_response,
    now,
    page_reply,
    parse_body,
    path_uuid,
    query_datetime,
    repositories,
    route,
)

bp = Blueprint(__name__)


@route(bp, "/flow_runs", methods=("POST",))
def create_flow_run() -> object:
    run, created = services.flow_runs.create_flow_run(
        repositories(), parse_body(bp, schemas.flow_runs.FlowRunCreate), now()
    )
    return json_response(run.to_json(), 201 if created else 200)


@route(bp, "/flow_runs/{id}")
def read_flow_run(id: str) -> object:
    return services.flow_runs.read_flow_run(repositories(), path_uuid(id))


@route(bp, "/flow_runs/{id}", methods=("PATCH",), status=204)
def update_flow_run(id: str) -> None:
    run_id = path_uuid(id)
    services.flow_runs.update_flow_run(repositories(), run_id, parse_body(bp, schemas.flow_runs.FlowRunUpdate), now())


@route(bp, "/flow_runs/{id}/labels", methods=("PATCH",), status=204)
def update_flow_run_labels(id: str) -> None:
    run_id = path_uuid(id)
    labels = parse_body(bp, schemas.flow_runs.FlowRunLabels)
    services.flow_runs.update_flow_run_labels(repositories(), run_id, labels.root, now())


@route(bp, "/flow_runs/{id}", methods=("DELETE",), status=204)
def delete_flow_run(id: str) -> None:
    services.flow_runs.delete_flow_run(repositories(), path_uuid(id))


@route(bp, "/flow_runs/{id}/set_state", methods=("POST",))
def set_flow_run_state(id: str) -> object:
    run_id = path_uuid(id)
    result = services.flow_runs.set_flow_run_state(
        repositories(), run_id, parse_body(bp, schemas.states.SetStateBody), now()
    )
    return json_response(result.to_json(), 201 if result.written else 200)


@route(bp, "/flow_runs/{id}/heartbeat", methods=("POST",), status=204)
def heartbeat(id: str) -> None:
    services.flow_runs.record_heartbeat(repositories(), path_uuid(id), now())


@route(bp, "/flow_runs/filter", methods=("POST",))
def filter_flow_runs() -> object:
    return services.flow_runs.filter_flow_runs(repositories(), parse_body(bp, schemas.filters.FilterBody))


@route(bp, "/flow_runs/count", methods=("POST",))
def count_flow_runs() -> object:
    return services.flow_runs.count_flow_runs(repositories(), parse_body(bp, schemas.filters.CountBody))


@route(bp, "/flow_runs/paginate", methods=("POST",))
def paginate_flow_runs() -> object:
    page = services.flow_runs.paginate_flow_runs(repositories(), parse_body(bp, schemas.filters.PaginateBody))
    return page_reply(page)


@route(bp, "/flow_run_states")
def read_flow_run_states() -> object:
    """``?flow_run_id=<uuid>``: the run's states, oldest first (a missing or malformed id is a 422)."""
    params = bp.current_request.query_params or {}
    raw = params.get("flow_run_id")
    if raw is None:
        detail = [{"loc": ["query", "flow_run_id"], "msg": "Field required", "type": "missing"}]
        raise RequestInvalid(detail, None)
    try:
        run_id = uuid.UUID(raw)
    except ValueError as exc:
        detail = [{"loc": ["query", "flow_run_id"], "msg": "Input should be a valid UUID", "type": "uuid_parsing"}]
        raise RequestInvalid(detail, None) from exc
    return services.flow_runs.read_flow_run_states(repositories(), run_id)


@route(bp, "/flow_runs/lateness", methods=("POST",))
def average_flow_run_lateness() -> object:
    return services.ui.average_lateness(repositories(), parse_body(bp, schemas.filters.CountBody), now())


@route(bp, "/flow_runs/{id}/graph-v2")
def flow_run_graph(id: str) -> object:
    """``?since=<datetime>``: only the nodes still running or ended since then."""
    return services.run_graph.flow_run_graph(repositories(), path_uuid(id), query_datetime(bp, "since"))
