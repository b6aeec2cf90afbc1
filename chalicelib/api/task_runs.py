"""``/task_runs`` routes: create (idempotent on flow run, task key and dynamic key), read,
set_state under Prefect's task rules, delete, filter, count."""

from __future__ import annotations

from chalice import Blueprint

from chalicelib import schemas, services
from chalicelib.api.common import json_response, now, page_reply, parse_body, path_uuid, repositories, route

bp = Blueprint(__name__)


@route(bp, "/task_runs", methods=("POST",))
def create_task_run() -> object:
    run, created = services.task_runs.create_task_run(
        repositories(), parse_body(bp, schemas.task_runs.TaskRunCreate), now()
    )
    return json_response(run.to_json(), 201 if created else 200)


@route(bp, "/task_runs/{id}")
def read_task_run(id: str) -> object:
    return services.task_runs.read_task_run(repositories(), path_uuid(id))


@route(bp, "/task_runs/{id}", methods=("DELETE",), status=204)
def delete_task_run(id: str) -> None:
    services.task_runs.delete_task_run(repositories(), path_uuid(id))


@route(bp, "/task_runs/{id}/set_state", methods=("POST",))
def set_task_run_state(id: str) -> object:
    run_id = path_uuid(id)
    result = services.task_runs.set_task_run_state(
        repositories(), run_id, parse_body(bp, schemas.states.SetStateBody), now()
    )
    return json_response(result.to_json(), 201 if result.written else 200)


@route(bp, "/task_runs/filter", methods=("POST",))
def filter_task_runs() -> object:
    return services.task_runs.filter_task_runs(repositories(), parse_body(bp, schemas.task_runs.TaskRunFilterBody))


@route(bp, "/task_runs/count", methods=("POST",))
def count_task_runs() -> object:
    return services.task_runs.count_task_runs(repositories(), parse_body(bp, schemas.task_runs.TaskRunCountBody))


@route(bp, "/task_runs/history", methods=("POST",))
def task_run_history() -> object:
    return services.ui_task_runs.history(repositories(), parse_body(bp, schemas.ui.TaskRunHistoryBody))


@route(bp, "/task_runs/paginate", methods=("POST",))
def paginate_task_runs() -> object:
    page = services.ui_task_runs.paginate_task_runs(repositories(), parse_body(bp, schemas.ui.TaskRunPaginateBody))
    return page_reply(page)
