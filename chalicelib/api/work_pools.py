"""``/work_pools`` routes: pools, their queues and workers, and the worker's poll (Prefect 3.9).

Pools and queues are addressed by name (URL-encoded in the path). Collection-level POST routes
(``filter``, ``count``) are literal paths, so they win over ``/work_pools/{name}``.
``GET /work_pools/{name}/workers/connect`` (Prefect's worker websocket) answers 404: the worker
then heartbeats and polls over REST.
"""

from __future__ import annotations

from urllib.parse import unquote

from chalice import Blueprint

from chalicelib import schemas, services
from chalicelib.api.common import PathNotFound, json_response, now, parse_body, repositories, route

bp = Blueprint(__name__)


# ------------------------------------------------------------------------------------ pools
@route(bp, "/work_pools", methods=("POST",))
def create_work_pool() -> object:
    repos = repositories()
    pool = services.work_pools.create_pool(
        repos, repos.settings, parse_body(bp, schemas.work_pools.WorkPoolCreate), now()
    )
    return json_response(pool.to_json(), 201)


@route(bp, "/work_pools/{name}")
def read_work_pool(name: str) -> object:
    repos = repositories()
    return services.work_pools.read_pool(repos, repos.settings, unquote(name), now())


@route(bp, "/work_pools/{name}", methods=("PATCH",), status=204)
def update_work_pool(name: str) -> None:
    services.work_pools.update_pool(
        repositories(), unquote(name), parse_body(bp, schemas.work_pools.WorkPoolUpdate), now()
    )


@route(bp, "/work_pools/{name}", methods=("DELETE",), status=204)
def delete_work_pool(name: str) -> None:
    services.work_pools.delete_pool(repositories(), unquote(name))


@route(bp, "/work_pools/filter", methods=("POST",))
def filter_work_pools() -> object:
    repos = repositories()
    return services.work_pools.filter_pools(
        repos, repos.settings, parse_body(bp, schemas.work_pools.WorkPoolFilterBody), now()
    )


@route(bp, "/work_pools/count", methods=("POST",))
def count_work_pools() -> object:
    return services.work_pools.count_pools(repositories(), parse_body(bp, schemas.work_pools.WorkPoolCountBody))


@route(bp, "/work_pools/{name}/get_scheduled_flow_runs", methods=("POST",))
def get_scheduled_flow_runs(name: str) -> object:
    body = parse_body(bp, schemas.work_pools.ScheduledRunsBody)
    return services.work_pools.get_scheduled_flow_runs(repositories(), unquote(name), body, now())


# ------------------------------------------------------------------------------------ queues
@route(bp, "/work_pools/{name}/queues", methods=("POST",))
def create_work_queue(name: str) -> object:
    repos = repositories()
    body = parse_body(bp, schemas.work_pools.WorkQueueCreate)
    queue = services.work_pools.create_queue(repos, repos.settings, unquote(name), body, now())
    return json_response(queue.to_json(), 201)


@route(bp, "/work_pools/{name}/queues/{queue}")
def read_work_queue(name: str, queue: str) -> object:
    repos = repositories()
    return services.work_pools.read_queue(repos, repos.settings, unquote(name), unquote(queue), now())


@route(bp, "/work_pools/{name}/queues/{queue}", methods=("PATCH",), status=204)
def update_work_queue(name: str, queue: str) -> None:
    body = parse_body(bp, schemas.work_pools.WorkQueueUpdate)
    services.work_pools.update_queue(repositories(), unquote(name), unquote(queue), body, now())


@route(bp, "/work_pools/{name}/queues/{queue}", methods=("DELETE",), status=204)
def delete_work_queue(name: str, queue: str) -> None:
    services.work_pools.delete_queue(repositories(), unquote(name), unquote(queue), now())


@route(bp, "/work_pools/{name}/queues/filter", methods=("POST",))
def filter_work_queues(name: str) -> object:
    repos = repositories()
    body = parse_body(bp, schemas.work_pools.WorkQueueFilterBody)
    return services.work_pools.filter_queues(repos, repos.settings, unquote(name), body, now())


# ------------------------------------------------------------------------------------ workers
@route(bp, "/work_pools/{name}/workers/heartbeat", methods=("POST",), status=204)
def worker_heartbeat(name: str) -> None:
    services.work_pools.record_heartbeat(
        repositories(), unquote(name), parse_body(bp, schemas.work_pools.WorkerHeartbeat), now()
    )


@route(bp, "/work_pools/{name}/workers/filter", methods=("POST",))
def filter_workers(name: str) -> object:
    repos = repositories()
    body = parse_body(bp, schemas.work_pools.WorkerFilterBody)
    return services.work_pools.filter_workers(repos, repos.settings, unquote(name), body, now())


@route(bp, "/work_pools/{name}/workers/{worker}", methods=("DELETE",), status=204)
def delete_worker(name: str, worker: str) -> None:
    services.work_pools.delete_worker(repositories(), unquote(name), unquote(worker))


@route(bp, "/work_pools/{name}/workers/connect")
def worker_channel(name: str) -> None:
    """Prefect's worker websocket is not served: 404 makes the worker use REST."""
    raise PathNotFound(name)
