"""Routes Prefect's UI calls beyond the resource routes (``/ui/...``, ``/admin/settings``; the run
graph, lateness and task-run pages and histories are with their resources' routes),
and the empty answers of features Cirrus does not have, so their pages show the UI's empty state
(blocks, saved searches, collections) instead of an error banner."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice import Blueprint

from chalicelib.api.common import now, parse_body, repositories, route
from chalicelib.config import get_settings
from chalicelib.lazy import lazy_module

if TYPE_CHECKING:  # pragma: no cover - imported on first use (see chalicelib.lazy)
    import chalicelib.schemas.task_runs as task_run_schemas
    import chalicelib.schemas.ui as schemas
    from chalicelib.services import ui, ui_task_runs
else:
    schemas = lazy_module("chalicelib.schemas.ui")
    task_run_schemas = lazy_module("chalicelib.schemas.task_runs")
    ui_task_runs = lazy_module("chalicelib.services.ui_task_runs")
    ui = lazy_module("chalicelib.services.ui")

bp = Blueprint(__name__)


@route(bp, "/admin/settings")
def read_settings() -> object:
    return ui.admin_settings(get_settings())


@route(bp, "/ui/flows/count-deployments", methods=("POST",))
def count_deployments_by_flow() -> object:
    return ui.count_deployments_by_flow(repositories(), parse_body(bp, schemas.FlowIdsBody).flow_ids)


@route(bp, "/ui/flows/next-runs", methods=("POST",))
def next_runs_by_flow() -> object:
    runs = ui.next_runs_by_flow(repositories(), parse_body(bp, schemas.FlowIdsBody).flow_ids)
    return {k: v.model_dump(mode="json") if v is not None else None for k, v in runs.items()}


@route(bp, "/ui/flow_runs/history", methods=("POST",))
def flow_run_history() -> object:
    return ui.flow_run_history(repositories(), parse_body(bp, schemas.HistoryBody))


@route(bp, "/ui/flow_runs/count-task-runs", methods=("POST",))
def count_task_runs_by_flow_run() -> object:
    return ui_task_runs.count_by_flow_run(repositories(), parse_body(bp, schemas.FlowRunIdsBody).flow_run_ids)


@route(bp, "/ui/task_runs/count", methods=("POST",))
def count_task_runs_by_state() -> object:
    return ui_task_runs.counts_by_state(repositories(), parse_body(bp, task_run_schemas.TaskRunCountBody))


@route(bp, "/ui/task_runs/dashboard/counts", methods=("POST",))
def dashboard_task_run_counts() -> object:
    return ui_task_runs.dashboard_counts(repositories(), parse_body(bp, task_run_schemas.TaskRunCountBody), now())


@route(bp, "/ui/schemas/validate", methods=("POST",))
def validate_schema_values() -> object:
    return ui.validate_parameters(parse_body(bp, schemas.SchemaValidateBody))


# ------------------------------------------------------------------ features Cirrus does not have
# Blocks, saved searches, the integrations catalogue and stored events: always empty.
def _empty_list(name: str) -> object:
    def view() -> object:
        return []

    view.__name__ = name  # Chalice names views after their function
    return view


for _path in ("/block_types/filter", "/block_schemas/filter", "/block_documents/filter", "/saved_searches/filter"):
    route(bp, _path, methods=("POST",))(_empty_list(_path.strip("/").replace("/", "_")))


@route(bp, "/block_documents/count", methods=("POST",))
def count_block_documents() -> object:
    return 0


@route(bp, "/block_capabilities")
def read_block_capabilities() -> object:
    return []


@route(bp, "/collections/views/{view}")
def read_collection_view(view: str) -> object:
    return {}
