"""Routes Prefect's UI calls beyond the resource routes (``/ui/...``, ``/admin/settings``; the run
graph, lateness and task-run pages and histories are with their resources' routes),
and the empty answers of features Cirrus does not have, so their pages show the UI's empty state
(blocks, saved searches, collections) instead of an error banner."""

from __future__ import annotations

from chalice import Blueprint

from chalicelib import schemas, services
from chalicelib.api.common import now, parse_body, repositories, route
from chalicelib.config import get_settings

bp = Blueprint(__name__)


@route(bp, "/admin/settings")
def read_settings() -> object:
    return services.ui.admin_settings(get_settings())


@route(bp, "/ui/flows/count-deployments", methods=("POST",))
def count_deployments_by_flow() -> object:
    return services.ui.count_deployments_by_flow(repositories(), parse_body(bp, schemas.ui.FlowIdsBody).flow_ids)


@route(bp, "/ui/flows/next-runs", methods=("POST",))
def next_runs_by_flow() -> object:
    runs = services.ui.next_runs_by_flow(repositories(), parse_body(bp, schemas.ui.FlowIdsBody).flow_ids)
    return {k: v.model_dump(mode="json") if v is not None else None for k, v in runs.items()}


@route(bp, "/ui/flow_runs/history", methods=("POST",))
def flow_run_history() -> object:
    return services.ui.flow_run_history(repositories(), parse_body(bp, schemas.ui.HistoryBody))


@route(bp, "/ui/flow_runs/count-task-runs", methods=("POST",))
def count_task_runs_by_flow_run() -> object:
    return services.ui_task_runs.count_by_flow_run(
        repositories(), parse_body(bp, schemas.ui.FlowRunIdsBody).flow_run_ids
    )


@route(bp, "/ui/task_runs/count", methods=("POST",))
def count_task_runs_by_state() -> object:
    return services.ui_task_runs.counts_by_state(repositories(), parse_body(bp, schemas.task_runs.TaskRunCountBody))


@route(bp, "/ui/task_runs/dashboard/counts", methods=("POST",))
def dashboard_task_run_counts() -> object:
    return services.ui_task_runs.dashboard_counts(
        repositories(), parse_body(bp, schemas.task_runs.TaskRunCountBody), now()
    )


@route(bp, "/ui/schemas/validate", methods=("POST",))
def validate_schema_values() -> object:
    return services.ui.validate_parameters(parse_body(bp, schemas.ui.SchemaValidateBody))


# ------------------------------------------------------------------ features Cirrus does not have
# Saved searches, the integrations catalogue and stored events: always empty.
def _empty_list(name: str) -> object:
    def view() -> object:
        return []

    view.__name__ = name  # Chalice names views after their function
    return view


for _path in ("/saved_searches/filter",):
    route(bp, _path, methods=("POST",), stub=True)(_empty_list(_path.strip("/").replace("/", "_")))


@route(bp, "/collections/views/{view}", stub=True)
def read_collection_view(view: str) -> object:
    return {}
