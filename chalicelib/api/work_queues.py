"""Prefect's legacy ``/work_queues`` routes (``prefect work-queue ...``), over the pools' queues."""

from __future__ import annotations

from urllib.parse import unquote

from chalice import Blueprint

from chalicelib import schemas, services
from chalicelib.api.common import json_response, now, parse_body, path_uuid, repositories, route

bp = Blueprint(__name__)


@route(bp, "/work_queues", methods=("POST",))
def create_legacy_work_queue() -> object:
    repos = repositories()
    queue = services.work_pools.create_work_queue(
        repos, repos.settings, parse_body(bp, schemas.work_pools.WorkQueueCreate), now()
    )
    return json_response(queue.to_json(), 201)


@route(bp, "/work_queues/name/{name}")
def read_legacy_work_queue_by_name(name: str) -> object:
    repos = repositories()
    return services.work_pools.read_work_queue_by_name(repos, repos.settings, unquote(name), now())


@route(bp, "/work_queues/{id}")
def read_legacy_work_queue(id: str) -> object:
    repos = repositories()
    return services.work_pools.read_work_queue(repos, repos.settings, path_uuid(id), now())


@route(bp, "/work_queues/{id}", methods=("PATCH",), status=204)
def update_legacy_work_queue(id: str) -> None:
    queue_id = path_uuid(id)
    services.work_pools.update_work_queue(
        repositories(), queue_id, parse_body(bp, schemas.work_pools.WorkQueueUpdate), now()
    )


@route(bp, "/work_queues/{id}", methods=("DELETE",), status=204)
def delete_legacy_work_queue(id: str) -> None:
    services.work_pools.delete_work_queue(repositories(), path_uuid(id), now())


@route(bp, "/work_queues/filter", methods=("POST",))
def filter_legacy_work_queues() -> object:
    repos = repositories()
    return services.work_pools.filter_work_queues(
        repos, repos.settings, parse_body(bp, schemas.work_pools.WorkQueueFilterBody), now()
    )


@route(bp, "/work_queues/{id}/status")
def read_legacy_work_queue_status(id: str) -> object:
    repos = repositories()
    return services.work_pools.work_queue_status(repos, repos.settings, path_uuid(id), now())


@route(bp, "/work_queues/{id}/get_runs", methods=("POST",))
def read_legacy_work_queue_runs(id: str) -> object:
    queue_id = path_uuid(id)
    body = parse_body(bp, schemas.work_pools.GetRunsBody)
    from_ui = (bp.current_request.headers or {}).get("x-prefect-ui", "").lower() == "true"
    return services.work_pools.work_queue_runs(repositories(), queue_id, body, now(), from_ui=from_ui)
