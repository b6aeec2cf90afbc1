"""``/flow_runs/filter|count|paginate``: every group of Prefect's filter body, applied exactly.

The groups narrow each other: the ``flows`` and ``deployments`` groups become sets of ids, the
``work_pool_queues`` group a set of queue ids, and the storage planner reads the fewest runs that
can match (keys or an index; a Scan only when no criterion is indexable). The whole filter is then
applied to what was read, so the answer never depends on the path chosen.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from chalicelib.domain.identity import flow_id
from chalicelib.errors import InvalidRequestError
from chalicelib.schemas.filters import (
    CountBody,
    DeploymentFilter,
    FilterBody,
    FlowFilter,
    PaginateBody,
    WorkQueueFilter,
)
from chalicelib.schemas.flow_runs import FlowRun
from chalicelib.services.paging import Page, apply_sort, paginate
from chalicelib.storage import Repositories
from chalicelib.storage.deployment_items import filter_view
from chalicelib.storage.flow_run_queries import is_conjunctive, plan


def _start(run: FlowRun) -> object:
    return run.start_time or run.expected_start_time


SORTS: dict[str, tuple[Callable[[FlowRun], object], bool]] = {
    "ID_DESC": (lambda r: r.id, True),
    "START_TIME_ASC": (_start, False),
    "START_TIME_DESC": (_start, True),
    "EXPECTED_START_TIME_ASC": (lambda r: r.expected_start_time, False),
    "EXPECTED_START_TIME_DESC": (lambda r: r.expected_start_time, True),
    "NAME_ASC": (lambda r: r.name, False),
    "NAME_DESC": (lambda r: r.name, True),
    "NEXT_SCHEDULED_START_TIME_ASC": (lambda r: r.next_scheduled_start_time, False),
    "END_TIME_DESC": (lambda r: r.end_time, True),
}
DEFAULT_SORT = "ID_DESC"
#: Above this many flows or deployments matched by other groups, their runs are not read one index
#: Query per id: the planner uses the flow-run criteria instead and the ids only filter.
MAX_INDEX_QUERIES = 50


def _given(group: dict[str, Any] | None) -> dict[str, Any]:
    """The criteria actually set in a loosely typed group (the Prefect client sends nulls)."""
    return {k: v for k, v in (group or {}).items() if k != "operator" and v is not None}


def _name_group(body: FilterBody, field: str) -> WorkQueueFilter | None:
    """``work_pools`` as a name and id filter (the criteria Cirrus can evaluate); others are a 422."""
    raw = getattr(body, field)
    criteria = _given(raw)
    if not criteria:
        return None
    if not set(criteria) <= {"name", "id"}:
        unsupported = sorted(set(criteria) - {"name", "id"})[0]
        raise InvalidRequestError(("body", field, unsupported), f"Filtering on {field}.{unsupported} is not supported")
    try:
        return WorkQueueFilter.model_validate({"operator": raw.get("operator") or "and_", **criteria})
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        raise InvalidRequestError(("body", field, *error["loc"]), error["msg"], error["type"]) from exc


def _check_task_runs(body: FilterBody) -> None:
    if _given(body.task_runs):
        raise InvalidRequestError(("body", "task_runs"), "Filtering flow runs on task runs is not supported")


def _listed(group: FlowFilter | DeploymentFilter) -> list[uuid.UUID] | None:
    """The ids every match of ``group`` must have, when its criteria say so directly."""
    if group.id is not None and group.id.any_ is not None and is_conjunctive(group):
        return list(group.id.any_)
    return None


def _flow_ids(repos: Repositories, group: FlowFilter | None) -> set[uuid.UUID] | None:
    """Ids of the flows matching the ``flows`` group (None: no constraint)."""
    if group is None:
        return None
    ids = _listed(group)
    if ids is None and group.name is not None and group.name.any_ is not None and is_conjunctive(group):
        ids = [flow_id(name) for name in group.name.any_]  # a flow's id derives from its name
    flows = repos.flows.get_many(ids).values() if ids is not None else repos.flows.scan()
    return {f.id for f in flows if group.matches(f)}


def _deployment_ids(repos: Repositories, group: DeploymentFilter | None) -> set[uuid.UUID] | None:
    """Ids of the deployments matching the ``deployments`` group (None: no constraint). Listed ids are
    read by key; otherwise the deployments table is scanned (an operator's query)."""
    if group is None:
        return None
    ids = _listed(group)
    deployments = list(repos.deployments.get_many(ids).values()) if ids is not None else list(repos.deployments.scan())
    names: dict[uuid.UUID, str] = {}
    if group.flow_or_deployment_name is not None and deployments:
        names = {f.id: f.name for f in repos.flows.get_many([d.flow_id for d in deployments]).values()}
    return {d.id for d in deployments if group.matches(filter_view(d, names.get(d.flow_id)))}


def _index_keys(ids: set[uuid.UUID] | None) -> set[uuid.UUID] | None:
    """Ids worth one index Query each; beyond that the planner picks another path and the ids filter."""
    return ids if ids is not None and len(ids) <= MAX_INDEX_QUERIES else None


def _matching(repos: Repositories, body: FilterBody) -> list[FlowRun]:
    _check_task_runs(body)
    pools = _name_group(body, "work_pools")
    queues = [q for q in (body.work_pool_queues, body.work_queues) if q is not None]
    flow_ids = _flow_ids(repos, body.flows)
    deployment_ids = _deployment_ids(repos, body.deployments)
    paths = plan(
        body.flow_runs,
        flow_ids=_index_keys(flow_ids),
        deployment_ids=_index_keys(deployment_ids),
    )
    runs = [r for r in repos.flow_runs.find(paths) if body.flow_runs is None or body.flow_runs.matches(r)]
    if flow_ids is not None:
        runs = [r for r in runs if r.flow_id in flow_ids]
    if deployment_ids is not None:
        runs = [r for r in runs if r.deployment_id in deployment_ids]
    for queue in queues:
        runs = [r for r in runs if queue.matches({"name": r.work_queue_name, "id": r.work_queue_id})]
    if pools is not None:
        runs = [r for r in runs if pools.matches({"name": r.work_pool_name, "id": r.work_pool_id})]
    return sorted(runs, key=lambda r: r.id)


def matching_flow_runs(repos: Repositories, body: FilterBody) -> list[FlowRun]:
    """Every run the body's groups match (its limit and sort ignored), by the same access paths."""
    return _matching(repos, body)


def filter_flow_runs(repos: Repositories, body: FilterBody) -> list[FlowRun]:
    runs = apply_sort(_matching(repos, body), SORTS, body.sort, DEFAULT_SORT)
    return runs[body.offset : body.offset + body.limit]


def count_flow_runs(repos: Repositories, body: CountBody) -> int:
    return len(_matching(repos, body))


def paginate_flow_runs(repos: Repositories, body: PaginateBody) -> Page[FlowRun]:
    return paginate(apply_sort(_matching(repos, body), SORTS, body.sort, DEFAULT_SORT), body.page, body.limit)
