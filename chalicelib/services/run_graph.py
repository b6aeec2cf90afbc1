"""``GET /flow_runs/{id}/graph-v2``: Prefect's run graph, from the stored task runs and subflows.

Nodes are the run's task runs that have a time (start, else expected start), each replaced by the
subflow run it stands for when there is one (``kind`` "flow-run", labelled "<flow> / <run>"). Edges
come from each task run's ``task_inputs``, as Prefect's server draws them: an argument naming
another node is a parent → child edge, except under ``__parents__``, where it names the node that
*encapsulates* this one (a task called inside another). Nodes without parents are the roots. With
``since``, only nodes still running or ended at or after it are returned (the UI polls this way).

Reads: the run and its history (one GetItem + one Query), its task runs (one Query per page of
the ``by-flow-run`` index), the subflow runs and their flows (one BatchGetItem each per 100). A
subflow is found from its parent task run's state (``child_flow_run_id``, set when the subflow's
states are copied onto it: :func:`chalicelib.services.flow_runs.set_flow_run_state`).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime

from chalicelib.errors import InvalidRequestError
from chalicelib.schemas.states import StateType
from chalicelib.schemas.task_runs import TaskRun
from chalicelib.schemas.ui import FlowRunGraph, GraphEdge, GraphNode, GraphState
from chalicelib.storage import Repositories

#: Prefect's ``PREFECT_API_MAX_FLOW_RUN_GRAPH_NODES`` default: a larger graph is refused (400 there).
MAX_NODES = 10_000
ENCAPSULATING = "__parents__"


def flow_run_graph(repos: Repositories, run_id: uuid.UUID, since: datetime | None = None) -> FlowRunGraph:
    run, history = repos.flow_runs.get_with_history(run_id)
    task_runs = list(repos.task_runs.for_flow_run(run_id))
    nodes = _nodes(repos, task_runs)
    if len(nodes) > MAX_NODES:
        raise InvalidRequestError(("path", "id"), f"The graph of flow run {run_id} has more than {MAX_NODES} nodes.")
    node_of = {task_run_id: node.id for task_run_id, node in nodes.items()}  # a task run's node id
    parents: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    children: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    encapsulating: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    for task_run in task_runs:
        node = nodes.get(task_run.id)
        if node is None:
            continue
        for key, arguments in task_run.task_inputs.items():
            for argument in arguments:
                other = node_of.get(_argument_id(argument))
                if other is None:
                    continue
                if key == ENCAPSULATING:
                    encapsulating[node.id].append(other)
                else:
                    parents[node.id].append(other)
                    children[other].append(node.id)
    start = {node.id: node.start_time for node in nodes.values()}
    shown: list[tuple[uuid.UUID, GraphNode]] = []
    for node in sorted(nodes.values(), key=lambda n: str(n.id)):
        if since is not None and node.end_time is not None and node.end_time < since:
            continue
        node.parents = _edges(parents[node.id], start)
        node.children = _edges(children[node.id], start)
        node.encapsulating = _edges(encapsulating[node.id], start)
        shown.append((node.id, node))
    return FlowRunGraph(
        start_time=run.start_time or run.expected_start_time,
        end_time=run.end_time,
        root_node_ids=[node_id for node_id, node in shown if not node.parents],
        nodes=shown,
        states=[GraphState(id=s.id, timestamp=s.timestamp, type=s.type, name=s.name) for s in history],
    )


def _nodes(repos: Repositories, task_runs: list[TaskRun]) -> dict[uuid.UUID, GraphNode]:
    """Task run id → its node (the subflow's, when the task run stands for one)."""
    child_of = {
        t.id: t.state.state_details.child_flow_run_id
        for t in task_runs
        if t.state is not None and t.state.state_details.child_flow_run_id is not None
    }
    subflows = repos.flow_runs.get_many(set(child_of.values())) if child_of else {}
    flows = repos.flows.get_many(sorted({s.flow_id for s in subflows.values()}, key=str)) if subflows else {}
    nodes: dict[uuid.UUID, GraphNode] = {}
    for task_run in task_runs:
        subflow = subflows.get(child_of.get(task_run.id))  # type: ignore[arg-type]
        if subflow is not None and subflow.parent_task_run_id == task_run.id:
            start = (
                subflow.start_time or subflow.expected_start_time or task_run.start_time or task_run.expected_start_time
            )
            if start is None:
                continue
            flow = flows.get(subflow.flow_id)
            label = f"{flow.name} / {subflow.name}" if flow is not None else subflow.name
            state = subflow.state.type if subflow.state is not None else StateType.PENDING
            nodes[task_run.id] = GraphNode(
                kind="flow-run", id=subflow.id, label=label, state_type=state, start_time=start,
                end_time=subflow.end_time or task_run.end_time,
            )  # fmt: skip
            continue
        start = task_run.start_time or task_run.expected_start_time
        if start is None:
            continue
        state = task_run.state.type if task_run.state is not None else StateType.PENDING
        end = task_run.end_time or (task_run.expected_start_time if state is StateType.COMPLETED else None)
        nodes[task_run.id] = GraphNode(
            kind="task-run", id=task_run.id, label=task_run.name, state_type=state, start_time=start, end_time=end
        )
    return nodes


def _argument_id(argument: dict[str, object]) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(argument.get("id")))
    except ValueError:
        return None


def _edges(ids: list[uuid.UUID], start: dict[uuid.UUID, datetime]) -> list[GraphEdge]:
    """Edges to ``ids``, deduplicated, in the order of the nodes' start times (as Prefect orders them)."""
    return [GraphEdge(id=i) for i in sorted(dict.fromkeys(ids), key=lambda i: (start[i], str(i)))]
