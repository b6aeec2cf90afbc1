"""``/deployments/filter``, ``/count`` and ``/paginate``: an operator's (and the UI's) path.

Access pattern: a Scan of the deployments table (each item carries its schedule list, so no
further read per deployment), narrowed to a BatchGetItem when the deployments filter names ids
(``id.any_``). Flows are read with one BatchGetItem when a flows filter or
``flow_or_deployment_name`` needs them; a flow-runs filter costs one by-owner-state index Query per
remaining deployment (stopping at its first matching run). Sorting and paging happen in memory.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from chalicelib.errors import InvalidRequestError
from chalicelib.schemas.deployments import Deployment
from chalicelib.schemas.filters import (
    CountBody,
    DeploymentFilter,
    FilterBody,
    Operator,
    PaginateBody,
    WorkQueueFilter,
)
from chalicelib.services import flow_runs
from chalicelib.services.deployments._upsert import present_all
from chalicelib.services.paging import Page, apply_sort, paginate
from chalicelib.storage import Repositories, filter_view

_SORTS: dict[str, tuple[Callable[[Deployment], object], bool]] = {
    "NAME_ASC": (lambda d: d.name, False),
    "NAME_DESC": (lambda d: d.name, True),
    "CREATED_DESC": (lambda d: d.created, True),
    "UPDATED_DESC": (lambda d: d.updated, True),
}
_DEFAULT_SORT = "NAME_ASC"


def filter_deployments(repos: Repositories, body: FilterBody, now: datetime) -> list[Deployment]:
    rows = apply_sort(_matching(repos, body), _SORTS, body.sort, _DEFAULT_SORT)
    return present_all(repos, rows[body.offset : body.offset + body.limit], now)


def count_deployments(repos: Repositories, body: CountBody) -> int:
    return len(_matching(repos, body))


def paginate_deployments(repos: Repositories, body: PaginateBody, now: datetime) -> Page[Deployment]:
    page = paginate(apply_sort(_matching(repos, body), _SORTS, body.sort, _DEFAULT_SORT), body.page, body.limit)
    return Page(
        results=present_all(repos, page.results, now),
        count=page.count,
        limit=page.limit,
        pages=page.pages,
        page=page.page,
    )


def _matching(repos: Repositories, body: FilterBody) -> list[Deployment]:
    """Deployments passing every filter group of ``body`` (unsupported groups are a 422)."""
    if body.task_runs is not None:
        raise InvalidRequestError(("body", "task_runs"), "Task run filters are not supported by this server")
    pools = _work_pool_filter(body.work_pools)
    queues = body.work_pool_queues or body.work_queues
    flt = body.deployments
    candidates = _candidates(repos, flt)
    needs_flows = body.flows is not None or (flt is not None and flt.flow_or_deployment_name is not None)
    flows = repos.flows.get_many([d.flow_id for d in candidates]) if needs_flows and candidates else {}
    out = []
    for deployment in candidates:
        flow = flows.get(deployment.flow_id)
        checks = (
            flt is None or flt.matches(filter_view(deployment, flow.name if flow else None)),
            body.flows is None or (flow is not None and body.flows.matches(flow)),
            queues is None or queues.matches({"name": deployment.work_queue_name, "id": deployment.work_queue_id}),
            pools is None or pools.matches({"name": deployment.work_pool_name}),
        )
        if all(checks):
            out.append(deployment)
    if body.flow_runs is not None and out:
        with_runs = flow_runs.deployment_ids_with_runs(repos, body.flow_runs, [d.id for d in out])
        out = [d for d in out if d.id in with_runs]
    return out


def _candidates(repos: Repositories, flt: DeploymentFilter | None) -> list[Deployment]:
    """A BatchGetItem when an and-filter names the ids, else a Scan."""
    conjunctive = flt is not None and flt.operator is Operator.and_
    if conjunctive and flt.id is not None and flt.id.any_ is not None:
        return list(repos.deployments.get_many(flt.id.any_).values())
    return list(repos.deployments.scan())


def _work_pool_filter(raw: dict[str, Any] | None) -> WorkQueueFilter | None:
    """Work pools are known by name only: a ``work_pools`` filter may test ``name`` (any_/like_)."""
    if raw is None:
        return None
    try:
        return WorkQueueFilter.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        raise InvalidRequestError(("body", "work_pools", *error["loc"]), error["msg"], error["type"]) from exc
