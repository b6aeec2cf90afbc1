"""Flow use cases: upsert by name, read, update tags, delete (with its deployments), query."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

from chalicelib.errors import DeploymentNotFoundError
from chalicelib.schemas.filters import CountBody, FilterBody, PaginateBody
from chalicelib.schemas.flows import Flow, FlowCreate, FlowUpdate
from chalicelib.services import deployments, flow_runs
from chalicelib.services.paging import Page, apply_sort, paginate
from chalicelib.storage import Repositories

_SORTS: dict[str, tuple[Callable[[Flow], object], bool]] = {
    "NAME_ASC": (lambda f: f.name, False),
    "NAME_DESC": (lambda f: f.name, True),
    "CREATED_DESC": (lambda f: f.created, True),
    "UPDATED_DESC": (lambda f: f.updated, True),
}


def create_flow(repos: Repositories, body: FlowCreate, now: datetime) -> tuple[Flow, bool]:
    """Upsert by name: the existing flow (unchanged) or a new one; ``True`` when created."""
    return repos.flows.create_if_absent(body.name, body.tags, body.labels, now)


def read_flow(repos: Repositories, id_: uuid.UUID) -> Flow:
    return repos.flows.get(id_)


def read_flow_by_name(repos: Repositories, name: str) -> Flow:
    return repos.flows.get_by_name(name)


def update_flow(repos: Repositories, id_: uuid.UUID, body: FlowUpdate, now: datetime) -> None:
    repos.flows.update(id_, body.tags, body.labels, now)


def delete_flow(repos: Repositories, id_: uuid.UUID, now: datetime) -> None:
    """Delete a flow and its deployments (Prefect's cascade, each as ``DELETE /deployments/{id}``
    does: schedules, claims and never-run scheduled runs go); other runs keep their flow_id."""
    repos.flows.get(id_)  # 404 before touching anything
    for deployment_id in repos.deployments.ids_for_flow(id_):
        try:
            deployments.delete_deployment(repos, deployment_id)
        except DeploymentNotFoundError:
            pass  # deleted concurrently: the cascade's goal holds
    repos.flows.delete(id_)


def _matching(repos: Repositories, body: FilterBody) -> list[Flow]:
    flows = [f for f in repos.flows.scan() if body.flows is None or body.flows.matches(f)]
    if body.deployments is not None:
        flow_ids = repos.deployments.flow_ids_matching(body.deployments)
        flows = [f for f in flows if f.id in flow_ids]
    if body.flow_runs is not None:
        flow_ids = flow_runs.flow_ids_with_runs(repos, body.flow_runs)
        flows = [f for f in flows if f.id in flow_ids]
    return flows


def filter_flows(repos: Repositories, body: FilterBody) -> list[Flow]:
    flows = apply_sort(_matching(repos, body), _SORTS, body.sort, "NAME_ASC")
    return flows[body.offset : body.offset + body.limit]


def count_flows(repos: Repositories, body: CountBody) -> int:
    return len(_matching(repos, body))


def paginate_flows(repos: Repositories, body: PaginateBody) -> Page[Flow]:
    return paginate(apply_sort(_matching(repos, body), _SORTS, body.sort, "NAME_ASC"), body.page, body.limit)
