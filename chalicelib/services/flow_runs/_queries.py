"""``/flow_runs/filter|count|paginate``: every group of Prefect's filter body, applied exactly.

The groups narrow each other: the ``flows`` and ``deployments`` groups become sets of ids, the
``work_pool_queues`` group a set of queue ids, and the storage planner reads the fewest runs that
can match (keys or an index; a Scan only when no criterion is indexable). The whole filter is then
applied to what was read, so the answer never depends on the path chosen.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from chalicelib.domain.identity import flow_id
from chalicelib.errors import InvalidRequestError, NotFoundError
from chalicelib.schemas.common import utcnow
from chalicelib.schemas.filters import (
    CountBody,
    DeploymentFilter,
    FilterBody,
    FlowFilter,
    FlowRunFilter,
    IdFilter,
    PaginateBody,
    WorkQueueFilter,
)
from chalicelib.schemas.flow_runs import FlowRun
from chalicelib.services import flow_runs
from chalicelib.services.paging import Page, apply_sort
from chalicelib.storage import (
    BY_DEPLOYMENT,
    BY_SWEEP,
    EXPECTED,
    FLOW_RUNS,
    KEYS,
    STARTED,
    Repositories,
    Window,
    filter_view,
    is_conjunctive,
    plan,
)


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


#: At most this many task runs named by ``task_runs.id.any_`` (each is one read).
MAX_TASK_RUN_IDS = 100


def _with_task_runs(repos: Repositories, body: FilterBody) -> FilterBody:
    """``body`` with its ``task_runs`` group turned into flow-run ids: the UI finds a subflow's parent
    run as the flow run of the subflow's parent task run (``task_runs: {id: {any_: [...]}}``). Only
    ``id.any_`` is supported: each named task run is one GetItem."""
    criteria = _given(body.task_runs)
    if not criteria:
        return body
    if set(criteria) - {"id"} or set(_given(criteria["id"]) if isinstance(criteria["id"], dict) else {"x"}) - {"any_"}:
        raise InvalidRequestError(("body", "task_runs"), "Filtering flow runs on task runs supports only id.any_")
    try:
        ids = IdFilter.model_validate(criteria["id"]).any_ or []
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        raise InvalidRequestError(("body", "task_runs", "id", *error["loc"]), error["msg"], error["type"]) from exc
    if len(ids) > MAX_TASK_RUN_IDS:
        raise InvalidRequestError(("body", "task_runs", "id", "any_"), f"At most {MAX_TASK_RUN_IDS} task run ids")
    owners: set[uuid.UUID] = set()
    for task_run_id in dict.fromkeys(ids):
        try:
            task_run = repos.task_runs.get(task_run_id)
        except NotFoundError:
            continue
        if task_run.flow_run_id is not None:
            owners.add(task_run.flow_run_id)
    flt = body.flow_runs or FlowRunFilter()
    if not is_conjunctive(flt):
        raise InvalidRequestError(("body", "task_runs"), "Filtering on task runs needs an and_ flow_runs group")
    if flt.id is not None and flt.id.any_ is not None:
        owners &= set(flt.id.any_)
    id_filter = (flt.id or IdFilter()).model_copy(update={"any_": sorted(owners, key=str)})
    return body.model_copy(update={"task_runs": None, "flow_runs": flt.model_copy(update={"id": id_filter})})


def _with_subflows_of(repos: Repositories, body: FilterBody) -> FilterBody:
    """``body`` with ``flow_runs.parent_flow_run_id.any_`` (the UI's Subflow Runs tab) turned into
    run ids: the subflows of those runs are named by their task runs that stand for subflows
    (``child_flow_run_id``); one Query of each parent's task runs (at most MAX_TASK_RUN_IDS parents)."""
    flt = body.flow_runs
    wanted = flt.parent_flow_run_id.any_ if flt is not None and flt.parent_flow_run_id is not None else None
    if flt is None or wanted is None:
        return body
    if not is_conjunctive(flt):
        raise InvalidRequestError(("body", "flow_runs", "parent_flow_run_id"), "parent_flow_run_id needs an and_ group")
    if len(wanted) > MAX_TASK_RUN_IDS:
        raise InvalidRequestError(
            ("body", "flow_runs", "parent_flow_run_id", "any_"), f"At most {MAX_TASK_RUN_IDS} ids"
        )
    children = {
        task_run.state.state_details.child_flow_run_id
        for parent in dict.fromkeys(wanted)
        for task_run in repos.task_runs.for_flow_run(parent)
        if task_run.state is not None and task_run.state.state_details.child_flow_run_id is not None
    }
    if flt.id is not None and flt.id.any_ is not None:
        children &= set(flt.id.any_)
    id_filter = (flt.id or IdFilter()).model_copy(update={"any_": sorted(children, key=str)})  # type: ignore[arg-type]
    return body.model_copy(update={"flow_runs": flt.model_copy(update={"id": id_filter, "parent_flow_run_id": None})})


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


def _predicate(
    body: FilterBody,
    flow_ids: set[uuid.UUID] | None,
    deployment_ids: set[uuid.UUID] | None,
) -> Callable[[FlowRun], bool]:
    """The whole body as a test of one run (the storage only narrows)."""
    pools = _name_group(body, "work_pools")
    queues = [q for q in (body.work_pool_queues, body.work_queues) if q is not None]
    runs = body.flow_runs

    def matches(run: FlowRun) -> bool:
        if runs is not None and not runs.matches(run):
            return False
        if flow_ids is not None and run.flow_id not in flow_ids:
            return False
        if deployment_ids is not None and run.deployment_id not in deployment_ids:
            return False
        if any(not q.matches({"name": run.work_queue_name, "id": run.work_queue_id}) for q in queues):
            return False
        return pools is None or pools.matches({"name": run.work_pool_name, "id": run.work_pool_id})

    return matches


#: Paths of ``storage.flow_runs.plan`` that read a few runs by key (ids, a deployment's polled
#: range, the cancelling list): their runs are read whole and sorted here.
_SMALL_PATHS = (KEYS, BY_DEPLOYMENT, BY_SWEEP)


def _runs(
    repos: Repositories, body: FilterBody, sort_name: str | None, need: int | None, now: datetime
) -> list[FlowRun]:
    """The matching runs in the body's sort, at most ``need`` (None: all, for a count)."""
    body = _with_subflows_of(repos, _with_task_runs(repos, body))
    sort = flow_runs.SORT_PLANS.get(sort_name or DEFAULT_SORT)
    if sort is None:
        raise InvalidRequestError(("body", "sort"), f"Input should be one of {', '.join(SORTS)}", "enum")
    flow_ids = _flow_ids(repos, body.flows)
    deployment_ids = _deployment_ids(repos, body.deployments)
    matches = _predicate(body, flow_ids, deployment_ids)
    if flow_ids == set() or deployment_ids == set():
        return []
    paths = plan(body.flow_runs, flow_ids=_index_keys(flow_ids), deployment_ids=_index_keys(deployment_ids))
    if not paths:
        return []
    if paths[0].index in _SMALL_PATHS:
        found = sorted((r for r in repos.flow_runs.find(paths) if matches(r)), key=lambda r: r.id)
        ordered = apply_sort(found, SORTS, sort_name, DEFAULT_SORT)
        return ordered if need is None else ordered[:need]
    owners: list[str] | None = None
    owners_are_flows = False
    named = _named_deployments(body.flow_runs, deployment_ids)
    if named is not None:
        owners = sorted(str(d) for d in named)
    elif _index_keys(flow_ids) is not None:
        owners, owners_are_flows = sorted(str(f) for f in flow_ids or ()), True
    listing = flow_runs.plan_listing(
        repos, body.flow_runs, sort, owners=owners, owners_are_flows=owners_are_flows, need=need or 100, now=now
    )
    return flow_runs.top(repos, listing, sort, matches, need)


def _named_deployments(flt: FlowRunFilter | None, from_groups: set[uuid.UUID] | None) -> set[uuid.UUID] | None:
    """The deployments every match belongs to (the ``deployments`` group's, narrowed by the run
    filter's ``deployment_id.any_``), when few enough to read by owner."""
    named = from_groups
    if flt is not None and is_conjunctive(flt) and flt.deployment_id is not None and flt.deployment_id.any_ is not None:
        listed = set(flt.deployment_id.any_)
        named = listed if named is None else named & listed
    return named if named is not None and len(named) <= MAX_INDEX_QUERIES else None


def matching_flow_runs(repos: Repositories, body: FilterBody, now: datetime | None = None) -> list[FlowRun]:
    """Every run the body's groups match (its limit and sort ignored), by the same access paths."""
    return _runs(repos, body, None, None, now or utcnow())


def filter_flow_runs(repos: Repositories, body: FilterBody, now: datetime | None = None) -> list[FlowRun]:
    runs = _runs(repos, body, body.sort, body.offset + body.limit, now or utcnow())
    return runs[body.offset : body.offset + body.limit]


def count_flow_runs(repos: Repositories, body: CountBody, now: datetime | None = None) -> int:
    counted = aggregate_count(repos, body)
    if counted is not None:
        return counted
    return len(_runs(repos, body, None, None, now or utcnow()))


def paginate_flow_runs(repos: Repositories, body: PaginateBody, now: datetime | None = None) -> Page[FlowRun]:
    now = now or utcnow()
    runs = _runs(repos, body, body.sort, body.page * body.limit, now)
    start = (body.page - 1) * body.limit
    count = count_flow_runs(repos, body, now)
    pages = math.ceil(count / body.limit) if body.limit else 0
    return Page(results=runs[start : start + body.limit], count=count, limit=body.limit, pages=pages, page=body.page)


# ---------------------------------------------------------------------------------- counts
def only(group: Any, allowed: set[str]) -> bool:
    """Whether ``group`` sets no criterion but those of ``allowed`` (``name.sub`` for sub-fields)."""
    if group is None:
        return True
    for name in type(group).model_fields:
        value = getattr(group, name)
        if name == "operator" or value is None:
            continue
        subs = [
            f"{name}.{sub}" for sub in type(value).model_fields if sub != "operator" and getattr(value, sub) is not None
        ]
        if any(sub not in allowed for sub in subs):
            return False
    return True


_COUNTED = {
    "state.type",
    "expected_start_time.after_",
    "expected_start_time.before_",
    "start_time.after_",
    "start_time.before_",
}


def aggregate_count(repos: Repositories, body: CountBody) -> int | None:
    """The count from the run counts, when the body asks only what they keep: a window on expected
    start or start time (not both), state types; or a deployment's runs by state type or name.
    ``None``: the body needs the runs read."""
    flt = body.flow_runs
    others = [
        g for g in ("flows", "work_pools", "work_pool_queues", "work_queues", "task_runs") if _given_group(body, g)
    ]
    if others:
        return None
    if flt is not None and not is_conjunctive(flt):
        return None
    state = flt.state if flt is not None else None
    if state is not None and not is_conjunctive(state):
        return None
    if _given_group(body, "deployments"):
        return _deployment_count(repos, body)
    if not only(flt, _COUNTED) or (state is not None and (state.type is None or state.type.not_any_ is not None)):
        return None
    types = (
        set(state.type.any_) if state is not None and state.type is not None and state.type.any_ is not None else None
    )
    expected = flt.expected_start_time if flt is not None else None
    started = flt.start_time if flt is not None else None
    if expected is not None and started is not None:
        return None
    window, dim = (
        (expected, EXPECTED) if expected is not None else (started, STARTED) if started is not None else (None, None)
    )
    span = Window(window.after_, window.before_) if window is not None else Window()
    return repos.run_counts.count(FLOW_RUNS, dim, span, types)


def _given_group(body: Any, name: str) -> bool:
    value = getattr(body, name, None)
    if value is None:
        return False
    if isinstance(value, dict):
        return bool(_given(value))
    return any(getattr(value, f) is not None for f in type(value).model_fields if f != "operator")


def _deployment_count(repos: Repositories, body: CountBody) -> int | None:
    """A deployment's runs by state type or name: its counts item."""
    group = body.deployments
    if group is None or not only(group, {"id.any_"}) or group.id is None or not is_conjunctive(group):
        return None
    flt = body.flow_runs
    if not only(flt, {"state.type", "state.name"}):
        return None
    state = flt.state if flt is not None else None
    types = state.type if state is not None else None
    names = state.name if state is not None else None
    if (types is not None and types.not_any_ is not None) or (names is not None and names.not_any_ is not None):
        return None
    counts = repos.run_counts.deployment_counts([str(d) for d in dict.fromkeys(group.id.any_ or [])])
    total = 0
    for per_state in counts.values():
        for (state_type, state_name), n in per_state.items():
            if types is not None and types.any_ is not None and state_type not in types.any_:
                continue
            if names is not None and names.any_ is not None and state_name not in names.any_:
                continue
            total += n
    return total


def flow_ids_with_runs(repos: Repositories, flt: FlowRunFilter, now: datetime | None = None) -> set[uuid.UUID]:
    """Ids of the flows that have a run matching ``flt`` (the ``flow_runs`` group of the flows and
    deployments filters): from the run counts for a window on expected start and state types (the
    dashboard's "failed runs" list), else from the runs the filter reads."""
    state = flt.state
    counted = (
        is_conjunctive(flt)
        and only(flt, {"state.type", "expected_start_time.after_", "expected_start_time.before_"})
        and (state is None or (is_conjunctive(state) and state.type is not None and state.type.not_any_ is None))
    )
    if counted:
        window = flt.expected_start_time
        span = Window(window.after_, window.before_) if window is not None else Window()
        types = set(state.type.any_) if state is not None and state.type is not None and state.type.any_ else None
        if window is not None:
            return {uuid.UUID(f) for f in repos.run_counts.flows_with_runs(span, types)}
    body = FilterBody.model_validate({"flow_runs": flt})
    return {run.flow_id for run in matching_flow_runs(repos, body, now)}


def deployment_ids_with_runs(
    repos: Repositories, flt: FlowRunFilter, deployment_ids: list[uuid.UUID], now: datetime | None = None
) -> set[uuid.UUID]:
    """Which of ``deployment_ids`` have a run matching ``flt`` (the ``flow_runs`` group of the
    deployments filter): their runs as the flow-runs filter reads them, by deployment when few."""
    body = FilterBody.model_validate({"flow_runs": flt, "deployments": {"id": {"any_": deployment_ids}}})
    return {run.deployment_id for run in matching_flow_runs(repos, body, now) if run.deployment_id is not None}
