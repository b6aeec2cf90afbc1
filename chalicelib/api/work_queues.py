"""Prefect's legacy ``/work_queues`` routes (``prefect work-queue ...``), over the pools' queues."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import unquote

from chalice import Blueprint

from chalicelib.api.common import json_response, now, parse_body, path_uuid, repositories, route
from chalicelib.lazy import lazy_module

if TYPE_CHECKING:  # pragma: no cover - imported on first use (see chalicelib.lazy)
    import chalicelib.schemas.work_pools as schemas
    from chalicelib.services import work_queues
else:
    schemas = lazy_module("chalicelib.schemas.work_pools")
    work_queues = lazy_module("chalicelib.services.work_queues")

bp = Blueprint(__name__)


@route(bp, "/work_queues", methods=("POST",))
def create_legacy_work_queue() -> object:
    repos = repositories()
    queue = work_queues.create_queue(repos, repos.settings, parse_body(bp, schemas.WorkQueueCreate), now())
    return json_response(queue.to_json(), 201)


@route(bp, "/work_queues/name/{name}")
def read_legacy_work_queue_by_name(name: str) -> object:
    repos = repositories()
    return work_queues.read_queue_by_name(repos, repos.settings, unquote(name), now())


@route(bp, "/work_queues/{id}")
def read_legacy_work_queue(id: str) -> object:
    repos = repositories()
    return work_queues.read_queue(repos, repos.settings, path_uuid(id), now())


@route(bp, "/work_queues/{id}", methods=("PATCH",), status=204)
def update_legacy_work_queue(id: str) -> None:
    queue_id = path_uuid(id)
    work_queues.update_queue(repositories(), queue_id, parse_body(bp, schemas.WorkQueueUpdate), now())


@route(bp, "/work_queues/{id}", methods=("DELETE",), status=204)
def delete_legacy_work_queue(id: str) -> None:
    work_queues.delete_queue(repositories(), path_uuid(id), now())


@route(bp, "/work_queues/filter", methods=("POST",))
def filter_legacy_work_queues() -> object:
    repos = repositories()
    return work_queues.filter_queues(repos, repos.settings, parse_body(bp, schemas.WorkQueueFilterBody), now())


@route(bp, "/work_queues/{id}/status")
def read_legacy_work_queue_status(id: str) -> object:
    repos = repositories()
    return work_queues.queue_status(repos, repos.settings, path_uuid(id), now())


@route(bp, "/work_queues/{id}/get_runs", methods=("POST",))
def read_legacy_work_queue_runs(id: str) -> object:
    queue_id = path_uuid(id)
    body = parse_body(bp, schemas.GetRunsBody)
    from_ui = (bp.current_request.headers or {}).get("x-prefect-ui", "").lower() == "true"
    return work_queues.get_runs(repositories(), queue_id, body, now(), from_ui=from_ui)
