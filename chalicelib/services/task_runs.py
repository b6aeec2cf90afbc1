"""Task-run use cases: idempotent create, read, set_state under Prefect's task rules, delete,
filter/count, and :func:`record_task_run_from_event` for the events path."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from chalicelib.domain.orchestration import Decision
from chalicelib.domain.task_orchestration import FlowRunView, commit_task_state, orchestrate_task
from chalicelib.errors import FlowRunNotFoundError, InvalidRequestError
from chalicelib.schemas.common import utcnow
from chalicelib.schemas.states import SetStateBody, State, StateType
from chalicelib.schemas.task_runs import (
    SORTS,
    TaskRun,
    TaskRunCountBody,
    TaskRunCreate,
    TaskRunFilter,
    TaskRunFilterBody,
)
from chalicelib.services import flow_runs
from chalicelib.services.flow_runs import SetStateResult
from chalicelib.services.paging import apply_sort
from chalicelib.storage import EXPECTED, STARTED, TASK_RUNS, Repositories, Window

DEFAULT_SORT = "ID_DESC"


def _new_run(fields: dict[str, Any], state: State, now: datetime) -> TaskRun:
    blank = TaskRun.model_validate({**fields, "created": now, "updated": now, "state": None})
    return commit_task_state(blank, state, now=now)


def create_task_run(repos: Repositories, body: TaskRunCreate, now: datetime) -> tuple[TaskRun, bool]:
    """Create the task run, or return the one that already has its ``(flow_run_id, task_key,
    dynamic_key)`` (or its id); ``True`` when created. PENDING unless a state is given."""
    state = body.state.to_state(now) if body.state is not None else State(type=StateType.PENDING, timestamp=now)
    fields = body.model_dump(exclude={"state"})
    fields["id"] = body.id or uuid.uuid4()
    fields["name"] = body.name or f"task-run-{secrets.token_hex(3)}"
    return repos.task_runs.create_or_get(_new_run(fields, state, now))


def read_task_run(repos: Repositories, run_id: uuid.UUID) -> TaskRun:
    return repos.task_runs.get(run_id)


def delete_task_run(repos: Repositories, run_id: uuid.UUID) -> None:
    repos.task_runs.delete(run_id)


def _flow_run_view(repos: Repositories, run: TaskRun, proposed: State) -> FlowRunView | None:
    """The enclosing flow run, read only when the rules need it (a proposed RUNNING state)."""
    if run.flow_run_id is None or proposed.type is not StateType.RUNNING:
        return None
    try:
        flow_run = repos.flow_runs.get(run.flow_run_id)
    except FlowRunNotFoundError:
        return None
    return FlowRunView(state=flow_run.state, run_count=flow_run.run_count)


def set_task_run_state(repos: Repositories, run_id: uuid.UUID, body: SetStateBody, now: datetime) -> SetStateResult:
    """Propose ``body.state`` under Prefect's task rules; a written state replaces the state read
    only if the run did not change meanwhile (else the proposal is judged again)."""
    proposed = body.state.to_state(now)
    current = repos.task_runs.get(run_id)
    flow_run = _flow_run_view(repos, current, proposed)
    outcome: dict[str, Any] = {}

    def change(run: TaskRun) -> TaskRun:
        verdict = orchestrate_task(run, proposed, now=now, flow_run=flow_run, force=body.force)
        outcome["decision"], outcome["state"] = verdict.decision, run.state
        if verdict.decision.state is None:
            return run
        moved = commit_task_state(
            run, verdict.decision.state, now=now, flow_run=flow_run, reset_run_count=verdict.reset_run_count
        )
        outcome["state"] = moved.state
        return moved

    repos.task_runs.update(run_id, change, now)
    decision: Decision = outcome["decision"]
    return SetStateResult(decision, outcome["state"], written=decision.state is not None)


def record_task_run_from_event(
    repos: Repositories, *, task_run: Mapping[str, Any], state: Mapping[str, Any] | None, now: datetime
) -> TaskRun:
    """Create or advance a task run from a ``prefect.task-run.<State>`` event (the events path).

    ``task_run`` is the event payload's ``task_run`` (id, name, task_key, dynamic_key,
    flow_run_id, tags, empirical_policy, timings, …); ``state`` its ``validated_state`` (or
    ``None``). Idempotent and order-tolerant, like Prefect's task_run_recorder: the first event
    creates the run (a conditional write; the ``(flow_run_id, task_key, dynamic_key)`` claim
    makes a racing API create and event land on one run); a later event replaces the run's fields
    only if its state's timestamp is newer than the stored state's, so a late or replayed event
    never moves a task run backwards. Returns the stored run. A payload that is not a task run is
    an :class:`InvalidRequestError` naming the field.
    """
    data = {k: v for k, v in task_run.items() if k not in ("created", "updated")}
    data["state"] = dict(state) if state is not None else None
    data.setdefault("name", f"task-run-{secrets.token_hex(3)}")
    try:
        incoming = TaskRun.model_validate({**data, "created": now, "updated": now})
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        raise InvalidRequestError(("task_run", *error["loc"]), error["msg"], error["type"]) from exc
    if incoming.state is not None:
        _check_event_time(incoming.state.timestamp, now, repos.settings.retention_days)
        incoming = incoming.model_copy(update={
            "state_id": incoming.state.id, "state_type": incoming.state.type, "state_name": incoming.state.name,
        })  # fmt: skip
    if incoming.flow_run_id is not None:
        _check_flow_run(repos, incoming.flow_run_id)
    stored, created = repos.task_runs.create_or_get(incoming)
    if created or incoming.state is None:
        return stored

    def newer(run: TaskRun) -> TaskRun:
        if run.state is not None and run.state.timestamp >= incoming.state.timestamp:  # type: ignore[union-attr]
            return run  # an older or replayed event: the run never moves backwards
        keep = {"id": run.id, "created": run.created, "flow_run_id": run.flow_run_id,
                "task_key": run.task_key, "dynamic_key": run.dynamic_key}  # fmt: skip
        return incoming.model_copy(update=keep)

    return repos.task_runs.update(stored.id, newer, now)


#: How far ahead of the server's clock an event's state may be dated (clients' clocks drift).
EVENT_CLOCK_SKEW = timedelta(hours=1)
#: Flow runs known to exist, by id (per process, bounded): a task run's events check their flow run once.
_known_flow_runs: dict[uuid.UUID, None] = {}
_KNOWN_MAX = 10_000


def _check_event_time(when: datetime, now: datetime, retention_days: int) -> None:
    """An event's state time must be within the retention before now and the clock skew after it:
    a state dated years ahead would pin its task run (later real events would look older)."""
    if not now - timedelta(days=retention_days) <= when <= now + EVENT_CLOCK_SKEW:
        raise InvalidRequestError(
            ("task_run", "state", "timestamp"),
            f"the state's time must be within {retention_days} days before and an hour after the server's clock",
        )


def _check_flow_run(repos: Repositories, flow_run_id: uuid.UUID) -> None:
    """A task run's flow run must exist (one read per flow run and process)."""
    if flow_run_id in _known_flow_runs:
        return
    try:
        repos.flow_runs.get(flow_run_id)
    except FlowRunNotFoundError as exc:
        raise InvalidRequestError(("task_run", "flow_run_id"), "Flow run not found") from exc
    if len(_known_flow_runs) >= _KNOWN_MAX:
        _known_flow_runs.clear()
    _known_flow_runs[flow_run_id] = None


def _flow_run_ids(body: TaskRunFilterBody | TaskRunCountBody) -> list[uuid.UUID] | None:
    """Flow run ids that bound the answer (from ``task_runs.flow_run_id.any_`` or ``flow_runs.id.any_``
    in an ``and_`` group), or ``None`` when nothing bounds it (a scan)."""
    bounds: list[set[uuid.UUID]] = []
    group = body.task_runs
    if group is not None and group.operator == "and_" and group.flow_run_id is not None and group.flow_run_id.any_:
        bounds.append(set(group.flow_run_id.any_))
    runs = body.flow_runs
    if runs is not None and runs.operator == "and_" and runs.id is not None and runs.id.any_ is not None:
        bounds.append(set(runs.id.any_))
    if not bounds:
        return None
    return sorted(set.intersection(*bounds), key=str)


#: Above this many flow runs, their task runs are read by a Scan rather than one Query per flow run.
MAX_FLOW_RUN_QUERIES = 50


def _runs_of_flows(repos: Repositories, body: TaskRunFilterBody | TaskRunCountBody) -> set[uuid.UUID] | None:
    """Ids of the flow runs of the flows the ``flows`` group names (one by-flow Query per flow)."""
    flows = body.flows
    if flows is None or flows.id is None or flows.id.any_ is None or flows.operator != "and_":
        return None
    return {run.id for flow_id in dict.fromkeys(flows.id.any_) for run in repos.flow_runs.by_flow(flow_id)}


#: How a task-run sort reads by-time (task runs have no id index: ID_DESC reads the window).
TASK_SORT_PLANS: dict[str, flow_runs.SortPlan] = {
    "ID_DESC": flow_runs.SortPlan("time", True, None, lambda r: r.id),
    "EXPECTED_START_TIME_DESC": flow_runs.SortPlan("time", True, "le", lambda r: r.expected_start_time),
    "EXPECTED_START_TIME_ASC": flow_runs.SortPlan("time", True, None, lambda r: r.expected_start_time, reverse=False),
    "NAME_ASC": flow_runs.SortPlan("time", True, None, lambda r: r.name, reverse=False),
    "NAME_DESC": flow_runs.SortPlan("time", True, None, lambda r: r.name),
    "NEXT_SCHEDULED_START_TIME_ASC": flow_runs.SortPlan(
        "time", True, None, lambda r: r.next_scheduled_start_time, reverse=False
    ),
    "END_TIME_DESC": flow_runs.SortPlan("time", True, None, lambda r: r.end_time),
    "DURATION_DESC": flow_runs.SortPlan("time", True, None, lambda r: r.total_run_time),
    "DURATION_ASC": flow_runs.SortPlan("time", True, None, lambda r: r.total_run_time, reverse=False),
}


def _time_range(group: TaskRunFilter | None, now: datetime) -> tuple[datetime | None, datetime | None]:
    """The range of by-time's time (start, else expected start, else creation) the filter implies."""
    low: datetime | None = None
    high: datetime | None = None
    if group is None or group.operator != "and_":
        return None, None
    windows = []
    if group.start_time is not None and not group.start_time.is_null_:
        windows.append((group.start_time.after_, group.start_time.before_))
    if group.expected_start_time is not None:
        window = group.expected_start_time
        before = max(window.before_, now + flow_runs.CLOCK_SKEW) if window.before_ is not None else None
        windows.append((window.after_, before))
    for after, before in windows:
        if after is not None:
            low = after if low is None else max(low, after)
        if before is not None:
            high = before if high is None else min(high, before)
    return low, high


def _task_run_matcher(
    body: TaskRunFilterBody | TaskRunCountBody, of_flows: set[uuid.UUID] | None
) -> Callable[[TaskRun], bool]:
    group, runs = body.task_runs, body.flow_runs

    def matches(run: TaskRun) -> bool:
        if group is not None and not group.matches(run):
            return False
        if runs is not None and not (run.flow_run_id is not None and runs.matches({"id": run.flow_run_id})):
            return False
        return of_flows is None or run.flow_run_id in of_flows

    return matches


def select_task_runs(
    repos: Repositories,
    body: TaskRunFilterBody | TaskRunCountBody,
    sort_name: str | None = None,
    need: int | None = None,
    now: datetime | None = None,
) -> list[TaskRun]:
    """The task runs the body's groups match in ``sort_name``'s order, at most ``need`` (None: all):
    one by-flow-run Query per flow run the body bounds it to (named, or the runs of named flows, up
    to ``MAX_FLOW_RUN_QUERIES``), else by-time over the filter's window, a page at a time (reading
    at most ``flow_runs.READ_BUDGET`` task runs)."""
    sort_name = sort_name or DEFAULT_SORT
    if sort_name not in SORTS:
        raise InvalidRequestError(("body", "sort"), f"Input should be one of {', '.join(SORTS)}", "enum")
    ids = _flow_run_ids(body)
    of_flows = _runs_of_flows(repos, body)
    if of_flows is not None:
        ids = sorted(of_flows if ids is None else of_flows & set(ids), key=str)
    matches = _task_run_matcher(body, of_flows)
    if ids is not None and len(ids) <= MAX_FLOW_RUN_QUERIES:
        found = [run for flow_run_id in ids for run in repos.task_runs.for_flow_run(flow_run_id) if matches(run)]
        ordered = apply_sort(sorted(found, key=lambda r: r.id), SORTS, sort_name, DEFAULT_SORT)
        return ordered if need is None else ordered[:need]
    sort = TASK_SORT_PLANS[sort_name]
    low, high = _time_range(body.task_runs, now or utcnow())
    days = repos.run_counts.days(TASK_RUNS)
    pairs = repos.task_runs.by_time(days, low, high, descending=sort.descending, first_page=need or 100)
    return flow_runs.top_of(pairs, sort, matches, need, "task runs", "task_runs")


def matching_task_runs(repos: Repositories, body: TaskRunFilterBody | TaskRunCountBody) -> list[TaskRun]:
    """Every task run the body's groups match (its paging ignored): :func:`select_task_runs`."""
    return select_task_runs(repos, body)


_matching = matching_task_runs


def filter_task_runs(repos: Repositories, body: TaskRunFilterBody) -> list[TaskRun]:
    """Task runs matching the body (:func:`select_task_runs`), one page of them."""
    runs = select_task_runs(repos, body, body.sort, body.offset + body.limit)
    return runs[body.offset : body.offset + body.limit]


_COUNTED = {"state.type", "start_time.after_", "start_time.before_", "expected_start_time.after_",
            "expected_start_time.before_", "subflow_runs.exists_"}  # fmt: skip


def counted_window(body: TaskRunFilterBody | TaskRunCountBody) -> tuple[str | None, Window, set[str] | None] | None:
    """(dimension, window, state types) when the run counts answer the body, else ``None``: no flow
    or flow-run bound, one window on start or expected start time, state types, and ``subflow_runs``
    ``exists_: false`` (counted with the task runs standing for subflows: the counts do not tell)."""
    group = body.task_runs
    if any(_given(getattr(body, g, None)) for g in ("flow_runs", "flows")):
        return None
    if group is None:
        return None, Window(), None
    if group.operator != "and_" or not flow_runs.only(group, _COUNTED):
        return None
    if group.subflow_runs is not None and group.subflow_runs.exists_:
        return None
    state = group.state
    if state is not None and (state.operator != "and_" or state.type is None or state.type.not_any_ is not None):
        return None
    types = set(state.type.any_) if state is not None and state.type is not None and state.type.any_ else None
    if group.start_time is not None and group.expected_start_time is not None:
        return None
    if group.start_time is not None:
        return STARTED, Window(group.start_time.after_, group.start_time.before_), types
    if group.expected_start_time is not None:
        window = group.expected_start_time
        return EXPECTED, Window(window.after_, window.before_), types
    return None, Window(), types


def _given(group: Any) -> bool:
    return group is not None and any(getattr(group, f) is not None for f in type(group).model_fields if f != "operator")


def count_task_runs(repos: Repositories, body: TaskRunCountBody) -> int:
    """From the run counts when they answer the body (:func:`counted_window`), else by reading."""
    counted = counted_window(body)
    if counted is not None:
        dim, window, types = counted
        return repos.run_counts.count(TASK_RUNS, dim, window, types)
    return len(select_task_runs(repos, body))
