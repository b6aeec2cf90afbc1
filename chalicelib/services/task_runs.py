"""Task-run use cases: idempotent create, read, set_state under Prefect's task rules, delete,
filter/count, and :func:`record_task_run_from_event` for the events path."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from chalicelib.domain.orchestration import Decision
from chalicelib.domain.task_orchestration import FlowRunView, commit_task_state, orchestrate_task
from chalicelib.errors import FlowRunNotFoundError, InvalidRequestError
from chalicelib.schemas.states import SetStateBody, State, StateType
from chalicelib.schemas.task_runs import SORTS, TaskRun, TaskRunCountBody, TaskRunCreate, TaskRunFilterBody
from chalicelib.services.flow_runs import SetStateResult
from chalicelib.services.paging import apply_sort
from chalicelib.storage import Repositories

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
        incoming = incoming.model_copy(update={
            "state_id": incoming.state.id, "state_type": incoming.state.type, "state_name": incoming.state.name,
        })  # fmt: skip
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


def matching_task_runs(repos: Repositories, body: TaskRunFilterBody | TaskRunCountBody) -> list[TaskRun]:
    """Every task run the body's groups match (its paging ignored): one by-flow-run Query per flow
    run the body bounds it to (named, or the runs of named flows, up to ``MAX_FLOW_RUN_QUERIES``),
    else a Scan of ``task_runs`` (an operator's path)."""
    ids = _flow_run_ids(body)
    of_flows = _runs_of_flows(repos, body)
    if of_flows is not None:
        ids = sorted(of_flows if ids is None else of_flows & set(ids), key=str)
    if ids is None or len(ids) > MAX_FLOW_RUN_QUERIES:
        candidates = list(repos.task_runs.scan())
    else:
        candidates = [run for flow_run_id in ids for run in repos.task_runs.for_flow_run(flow_run_id)]
    group, runs = body.task_runs, body.flow_runs
    out = [r for r in candidates if group is None or group.matches(r)]
    if runs is not None:
        out = [r for r in out if r.flow_run_id is not None and runs.matches({"id": r.flow_run_id})]
    if of_flows is not None:
        out = [r for r in out if r.flow_run_id in of_flows]
    return out


_matching = matching_task_runs


def filter_task_runs(repos: Repositories, body: TaskRunFilterBody) -> list[TaskRun]:
    """Task runs matching the body: one index Query per named flow run, else a Scan."""
    runs = apply_sort(_matching(repos, body), SORTS, body.sort, DEFAULT_SORT)
    return runs[body.offset : body.offset + body.limit]


def count_task_runs(repos: Repositories, body: TaskRunCountBody) -> int:
    return len(_matching(repos, body))
