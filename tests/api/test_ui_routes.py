"""Routes Prefect's UI calls: /ui aggregations, /admin/settings, the graph, empty features."""

import uuid

from tests.api.deployments_support import HOURLY, deploy, make_flow
from tests.helpers import call


def _finished_run(client, deployment_id):
    _, run = call(client, "POST", f"/deployments/{deployment_id}/create_flow_run", {})
    for state in ("PENDING", "RUNNING", "COMPLETED"):
        assert call(client, "POST", f"/flow_runs/{run['id']}/set_state", {"state": {"type": state}})[0] in (200, 201)
    return run


def test_admin_settings_is_prefects_nested_shape_without_secrets(client):
    status, body = call(client, "GET", "/admin/settings")
    assert status == 200
    assert body["server"]["ui"]["enabled"] is True
    assert body["cirrus"]["stage"] and "table_prefix" not in body["cirrus"]


def test_count_deployments_and_next_runs_by_flow(client):
    etl, idle = make_flow(client, "etl"), make_flow(client, "idle")
    deploy(client, etl, "hourly", schedules=[{"schedule": HOURLY, "active": True}])
    deploy(client, etl, "manual")
    unknown = str(uuid.uuid4())
    body = {"flow_ids": [etl, idle, unknown]}
    assert call(client, "POST", "/ui/flows/count-deployments", body) == (200, {etl: 2, idle: 0, unknown: 0})
    status, nexts = call(client, "POST", "/ui/flows/next-runs", body)
    assert status == 200 and nexts[idle] is None and nexts[unknown] is None
    _, scheduled = call(
        client, "POST", "/flow_runs/filter", {"flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}}}
    )
    earliest = min(scheduled, key=lambda r: r["next_scheduled_start_time"])
    assert nexts[etl]["id"] == earliest["id"] and nexts[etl]["state_type"] == "SCHEDULED"
    assert nexts[etl]["next_scheduled_start_time"] == earliest["next_scheduled_start_time"]


def test_id_lists_are_bounded_and_typed(client):
    status, body = call(client, "POST", "/ui/flows/count-deployments", {"flow_ids": [str(uuid.uuid4())] * 201})
    assert status == 422 and body["exception_detail"][0]["loc"] == ["body", "flow_ids"]
    status, body = call(client, "POST", "/ui/flows/next-runs", {"flow_ids": ["nope"]})
    assert status == 422 and body["exception_detail"][0]["loc"] == ["body", "flow_ids", 0]
    assert call(client, "POST", "/ui/flows/next-runs", {})[0] == 422


def test_flow_run_history_shapes(client):
    flow = make_flow(client)
    deployment = deploy(client, flow, "d")
    run = _finished_run(client, deployment["id"])
    status, history = call(client, "POST", "/ui/flow_runs/history", {"flows": {"id": {"any_": [flow]}}})
    assert status == 200
    assert [h["id"] for h in history] == [run["id"]]
    entry = history[0]
    assert entry["state_type"] == "COMPLETED" and entry["timestamp"].endswith("Z")
    assert isinstance(entry["duration"], float) and isinstance(entry["lateness"], float)
    assert call(client, "POST", "/ui/flow_runs/history", {"limit": 1001})[0] == 422
    assert call(client, "POST", "/ui/flow_runs/history", {"sort": "NOPE"})[0] == 422


def test_graph_v2_has_the_runs_states(client):
    flow = make_flow(client)
    run = _finished_run(client, deploy(client, flow, "d")["id"])
    status, graph = call(client, "GET", f"/flow_runs/{run['id']}/graph-v2")
    assert status == 200
    assert [s["type"] for s in graph["states"]] == ["SCHEDULED", "PENDING", "RUNNING", "COMPLETED"]
    assert graph["nodes"] == [] and graph["root_node_ids"] == [] and graph["artifacts"] == []
    assert graph["start_time"] and graph["end_time"]
    assert call(client, "GET", f"/flow_runs/{uuid.uuid4()}/graph-v2")[0] == 404
    assert call(client, "GET", "/flow_runs/nope/graph-v2")[0] == 404


def test_schema_validation_reply(client):
    schema = {
        "type": "object",
        "properties": {"n": {"type": "integer"}, "names": {"type": "array", "items": {"type": "string"}}},
        "required": ["n"],
    }
    ok = call(client, "POST", "/ui/schemas/validate", {"schema": schema, "values": {"n": 3, "names": ["a"]}})
    assert ok == (200, {"errors": [], "valid": True})
    status, bad = call(client, "POST", "/ui/schemas/validate", {"schema": schema, "values": {"names": ["a", 2]}})
    assert status == 200 and bad["valid"] is False
    assert {"property": "n", "errors": ["'n' is a required property"]} in bad["errors"]
    assert {"property": "names", "errors": [{"index": 1, "errors": ["2 is not of type 'string'"]}]} in bad["errors"]
    placeholder = {"n": {"__prefect_kind": "json", "value": "3"}}
    assert call(client, "POST", "/ui/schemas/validate", {"schema": schema, "values": placeholder})[1]["valid"]
    assert call(client, "POST", "/ui/schemas/validate", {"values": {}})[0] == 422


def test_features_cirrus_does_not_have_answer_empty(client):
    for path in ("/saved_searches/filter",):  # blocks are served: tests/api/test_blocks.py
        assert call(client, "POST", path, {}) == (200, []), path
    assert call(client, "GET", "/collections/views/aggregate-worker-metadata") == (200, {})
    assert call(client, "POST", "/events/filter", {"limit": 1}) == (200, {"events": [], "total": 0, "next_page": None})
    assert call(client, "POST", "/events/count-by/event", {"filter": {}}) == (200, [])


def test_average_lateness_of_matching_runs(client):
    flow = make_flow(client)
    deployment = deploy(client, flow, "d")
    body = {"deployments": {"id": {"any_": [deployment["id"]]}}}
    assert call(client, "POST", "/flow_runs/lateness", body) == (200, None)
    _finished_run(client, deployment["id"])
    status, lateness = call(client, "POST", "/flow_runs/lateness", body)
    assert status == 200 and isinstance(lateness, float) and lateness >= 0
    assert call(client, "POST", "/flow_runs/lateness", {"flows": {"id": {"any_": ["x"]}}})[0] == 422


def test_flow_runs_filter_by_work_pool_id(client):
    assert call(client, "POST", "/work_pools/", {"name": "pool", "type": "process"})[0] == 201
    _, pool = call(client, "GET", "/work_pools/pool")
    flow = make_flow(client)
    deployment = deploy(client, flow, "d", work_pool_name="pool")
    run = _finished_run(client, deployment["id"])
    _, runs = call(client, "POST", "/flow_runs/filter", {"work_pools": {"id": {"any_": [pool["id"]]}}})
    assert [r["id"] for r in runs] == [run["id"]]
    other = {"work_pools": {"id": {"any_": [str(uuid.uuid4())]}, "name": {"any_": ["pool"]}}}
    assert call(client, "POST", "/flow_runs/count", other) == (200, 0)


def test_work_queues_of_every_pool(client):
    for pool in ("b-pool", "a-pool"):
        assert call(client, "POST", "/work_pools/", {"name": pool, "type": "process"})[0] == 201
    assert call(client, "POST", "/work_pools/a-pool/queues", {"name": "high", "priority": 2})[0] == 201
    status, queues = call(client, "POST", "/work_queues/filter", {})
    assert status == 200
    assert [(q["work_pool_name"], q["name"]) for q in queues] == [
        ("a-pool", "default"),
        ("a-pool", "high"),
        ("b-pool", "default"),
    ]
    _, named = call(client, "POST", "/work_queues/filter", {"work_queues": {"name": {"any_": ["high"]}}})
    assert [q["name"] for q in named] == ["high"]
    assert call(client, "POST", "/work_queues/filter", {"limit": 1})[1][0]["name"] == "default"


def test_subflow_runs_of_a_run_without_any_cost_one_query(client, repos):
    from chalicelib.storage.instrumentation import count_requests

    flow = make_flow(client)
    run = _finished_run(client, deploy(client, flow, "d")["id"])
    body = {
        "flow_runs": {
            "state": {"type": {"any_": ["RUNNING", "SCHEDULED", "PENDING", "PAUSED"]}},
            "parent_flow_run_id": {"any_": [run["id"]]},
        }
    }
    with count_requests() as counter:
        assert call(client, "POST", "/flow_runs/filter", body) == (200, [])
    assert counter.total == 1  # the run's task runs: none stands for a subflow
    either = {
        "flow_runs": {"operator": "or_", "id": {"any_": [run["id"]]}, "parent_flow_run_id": {"any_": [run["id"]]}}
    }
    assert [r["id"] for r in call(client, "POST", "/flow_runs/filter", either)[1]] == [run["id"]]


def test_variable_count_ignores_the_paging_the_ui_sends(client):
    assert call(client, "POST", "/variables/", {"name": "region", "value": "eu"})[0] == 201
    body = {"variables": {"name": {}, "tags": {}}, "sort": "NAME_ASC", "offset": 0}
    assert call(client, "POST", "/variables/count", body) == (200, 1)


def test_graph_v2_draws_task_runs_their_dependencies_and_subflows(client):
    """Prefect's graph from task_inputs: arguments are parent edges, ``__parents__`` encapsulates,
    and a task run standing for a subflow is drawn as the subflow run."""
    flow_id = make_flow(client)
    _, run = call(client, "POST", "/flow_runs/", {"flow_id": flow_id, "state": {"type": "RUNNING"}})

    def task(key, inputs=None, state="COMPLETED"):
        body = {"task_key": key, "dynamic_key": "0", "flow_run_id": run["id"], "name": key,
                "task_inputs": inputs or {}, "state": {"type": "RUNNING"}}  # fmt: skip
        status, created = call(client, "POST", "/task_runs/", body)
        assert status == 201, created
        call(client, "POST", f"/task_runs/{created['id']}/set_state", {"state": {"type": state}})
        return created["id"]

    extract = task("extract")
    load = task("load", {"rows": [{"input_type": "task_run", "id": extract}]})
    inner = task("inner", {"__parents__": [{"input_type": "task_run", "id": load}]})
    sub_task = task("child", state="RUNNING")
    _, child_flow = call(client, "POST", "/flows/", {"name": "child-flow"})
    _, sub = call(
        client, "POST", "/flow_runs/", {"flow_id": child_flow["id"], "name": "sub", "parent_task_run_id": sub_task}
    )
    call(client, "POST", f"/flow_runs/{sub['id']}/set_state", {"state": {"type": "RUNNING"}})

    status, graph = call(client, "GET", f"/flow_runs/{run['id']}/graph-v2")
    assert status == 200, graph
    nodes = dict((node_id, node) for node_id, node in graph["nodes"])
    assert set(nodes) == {extract, load, inner, sub["id"]}
    assert nodes[load]["parents"] == [{"id": extract}] and nodes[extract]["children"] == [{"id": load}]
    assert nodes[inner]["encapsulating"] == [{"id": load}] and nodes[inner]["parents"] == []
    assert nodes[sub["id"]]["kind"] == "flow-run" and nodes[sub["id"]]["label"] == "child-flow / sub"
    assert nodes[sub["id"]]["state_type"] == "RUNNING" and nodes[extract]["kind"] == "task-run"
    assert set(graph["root_node_ids"]) == {extract, inner, sub["id"]}
    later = call(client, "GET", f"/flow_runs/{run['id']}/graph-v2?since=2999-01-01T00:00:00Z")[1]
    assert [node_id for node_id, _ in later["nodes"]] == [sub["id"]]  # only what is still running
    assert call(client, "GET", f"/flow_runs/{run['id']}/graph-v2?since=yesterday")[0] == 422
