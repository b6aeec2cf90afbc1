"""``/deployments`` routes (PREFECT_CONTRACT.md, "Deployments"), the schedules sub-resource included.

Each view parses, calls one service function, shapes the reply. Collection-level POST routes
(``filter``, ``count``, ``paginate``, ``get_scheduled_flow_runs``) are literal paths, so API
Gateway prefers them over ``/deployments/{id}``.
"""

from __future__ import annotations

from urllib.parse import unquote

from chalice import Blueprint

from chalicelib import schemas, services
from chalicelib.api.common import json_response, now, page_reply, parse_body, path_uuid, repositories, route

bp = Blueprint(__name__)


@route(bp, "/deployments", methods=("POST",))
def create_deployment() -> object:
    repos = repositories()
    saved = services.deployments.upsert_deployment(
        repos, repos.settings, parse_body(bp, schemas.deployments.DeploymentCreate), now()
    )
    return json_response(saved.deployment.to_json(), 201 if saved.created else 200)


@route(bp, "/deployments/{id}")
def read_deployment(id: str) -> object:
    return services.deployments.read_deployment(repositories(), path_uuid(id), now())


@route(bp, "/deployments/name/{flow_name}/{deployment_name}")
def read_deployment_by_name(flow_name: str, deployment_name: str) -> object:
    return services.deployments.read_deployment_by_name(
        repositories(), unquote(flow_name), unquote(deployment_name), now()
    )


@route(bp, "/deployments/{id}", methods=("PATCH",), status=204)
def update_deployment(id: str) -> None:
    deployment_id = path_uuid(id)
    repos = repositories()
    services.deployments.update_deployment(
        repos, repos.settings, deployment_id, parse_body(bp, schemas.deployments.DeploymentUpdate), now()
    )


@route(bp, "/deployments/{id}", methods=("DELETE",), status=204)
def delete_deployment(id: str) -> None:
    services.deployments.delete_deployment(repositories(), path_uuid(id))


@route(bp, "/deployments/filter", methods=("POST",))
def filter_deployments() -> object:
    return services.deployments.filter_deployments(repositories(), parse_body(bp, schemas.filters.FilterBody), now())


@route(bp, "/deployments/count", methods=("POST",))
def count_deployments() -> object:
    return services.deployments.count_deployments(repositories(), parse_body(bp, schemas.filters.CountBody))


@route(bp, "/deployments/paginate", methods=("POST",))
def paginate_deployments() -> object:
    page = services.deployments.paginate_deployments(
        repositories(), parse_body(bp, schemas.filters.PaginateBody), now()
    )
    return page_reply(page)


@route(bp, "/deployments/{id}/pause_deployment", methods=("POST",))
def pause_deployment(id: str) -> None:
    services.deployments.pause_deployment(repositories(), path_uuid(id), now())


@route(bp, "/deployments/{id}/resume_deployment", methods=("POST",))
def resume_deployment(id: str) -> None:
    deployment_id = path_uuid(id)
    repos = repositories()
    services.deployments.resume_deployment(repos, repos.settings, deployment_id, now())


@route(bp, "/deployments/{id}/schedule", methods=("POST",))
def schedule_deployment(id: str) -> None:
    deployment_id = path_uuid(id)
    repos = repositories()
    services.deployments.backfill(
        repos, repos.settings, deployment_id, parse_body(bp, schemas.deployments.BackfillBody), now()
    )


@route(bp, "/deployments/{id}/create_flow_run", methods=("POST",))
def create_flow_run(id: str) -> object:
    deployment_id = path_uuid(id)
    body = parse_body(bp, schemas.deployments.DeploymentFlowRunCreate)
    run, created = services.deployments.create_flow_run(repositories(), deployment_id, body, now())
    return json_response(run.to_json(), 201 if created else 200)


@route(bp, "/deployments/get_scheduled_flow_runs", methods=("POST",))
def get_scheduled_flow_runs() -> object:
    body = parse_body(bp, schemas.deployments.GetScheduledFlowRunsBody)
    return services.deployments.get_scheduled_flow_runs(repositories(), body, now())


@route(bp, "/deployments/{id}/work_queue_check")
def work_queue_check(id: str) -> object:
    return services.deployments.work_queue_check(repositories(), path_uuid(id), now())


# ------------------------------------------------------------------- schedules sub-resource
# POST answers 201 (409 for a slug in use); PATCH and DELETE 204, or 404 "Schedule not found."
@route(bp, "/deployments/{id}/schedules")
def read_schedules(id: str) -> object:
    return services.deployments.list_schedules(repositories(), path_uuid(id))


@route(bp, "/deployments/{id}/schedules", methods=("POST",))
def create_schedules(id: str) -> object:
    deployment_id = path_uuid(id)
    body = parse_body(bp, schemas.deployments.DeploymentScheduleCreateList, default=[])
    repos = repositories()
    created = services.deployments.create_schedules(repos, repos.settings, deployment_id, body.root, now())
    return json_response([s.to_json() for s in created], 201)


@route(bp, "/deployments/{id}/schedules/{schedule_id}", methods=("PATCH",), status=204)
def update_schedule(id: str, schedule_id: str) -> None:
    deployment_id, schedule = path_uuid(id), path_uuid(schedule_id)
    body = parse_body(bp, schemas.deployments.DeploymentScheduleUpdate)
    repos = repositories()
    services.deployments.update_schedule(repos, repos.settings, deployment_id, schedule, body, now())


@route(bp, "/deployments/{id}/schedules/{schedule_id}", methods=("DELETE",), status=204)
def delete_schedule(id: str, schedule_id: str) -> None:
    deployment_id, schedule = path_uuid(id), path_uuid(schedule_id)
    repos = repositories()
    services.deployments.delete_schedule(repos, repos.settings, deployment_id, schedule, now())
