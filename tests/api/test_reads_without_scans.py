"""No Scan of a runs table on any path the UI, the client, the CLI, a runner or a worker calls.

Replays every call the Prefect UI made on its pages (``bench/ui_page_calls.json``, recorded from the
real UI) and the reads Prefect's client, CLI, ``serve()`` runner and process worker make, over a
seeded store, counting the DynamoDB requests: a Scan of ``flow_runs``, ``task_runs``,
``flow_run_states``, ``logs`` or ``events`` fails the test (those grow with the work done; the other tables
hold what users configured).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from chalicelib.storage.flow_runs._queries import SCAN, AccessPath
from chalicelib.storage.instrumentation import count_requests
from tests.api.deployments_support import HOURLY, deploy, make_flow, make_pool
from tests.helpers import call

pytestmark = pytest.mark.both_backends  # races and storage semantics: on DynamoDB Local too

UI_CALLS = json.loads((Path(__file__).resolve().parents[2] / "bench" / "ui_page_calls.json").read_text())
RUNS_TABLES = ("flow_runs_v2", "task_runs", "flow_run_states", "logs", "events")


def _run_through(client: Any, deployment_id: str, states: list[str]) -> str:
    _, run = call(client, "POST", f"/deployments/{deployment_id}/create_flow_run", {})
    for state in states:
        status, _ = call(client, "POST", f"/flow_runs/{run['id']}/set_state", {"state": {"type": state}, "force": True})
        assert status in (200, 201)
    return run["id"]


@pytest.fixture
def world(client: Any) -> dict[str, str]:
    etl = make_flow(client, "etl")
    other = make_flow(client, "other")
    hourly = deploy(client, etl, "hourly", schedules=[{"schedule": HOURLY, "active": True}])
    make_pool(client, "pool")
    pooled = deploy(client, other, "pooled", work_pool_name="pool")
    done = _run_through(client, hourly["id"], ["PENDING", "RUNNING", "COMPLETED"])
    _run_through(client, hourly["id"], ["PENDING", "RUNNING", "FAILED"])
    running = _run_through(client, pooled["id"], ["PENDING", "RUNNING"])
    _run_through(client, pooled["id"], [])
    status, task = call(
        client,
        "POST",
        "/task_runs/",
        {"flow_run_id": done, "task_key": "t", "dynamic_key": "0", "name": "t-0", "state": {"type": "RUNNING"}},
    )
    assert status in (200, 201), task
    call(client, "POST", f"/task_runs/{task['id']}/set_state", {"state": {"type": "COMPLETED"}, "force": True})
    now = datetime.now(UTC).isoformat()
    call(client, "POST", "/logs/", [{"name": "x", "level": 20, "message": "hi", "timestamp": now, "flow_run_id": done}])
    return {"flow": etl, "deployment": hourly["id"], "run": done, "running": running, "pooled": pooled["id"]}


def _fill(value: Any, world: dict[str, str]) -> Any:
    text = json.dumps(value)
    for name in ("run", "flow", "deployment"):
        text = text.replace("{" + name + "}", world[name])
    return json.loads(text)


def _client_calls(world: dict[str, str]) -> list[tuple[str, str, Any]]:
    soon = (datetime.now(UTC) + timedelta(seconds=10)).isoformat()
    week = (datetime.now(UTC) - timedelta(days=7)).isoformat()
    return [
        ("POST", "/flow_runs/filter", {"flow_runs": {"state": {"type": {"any_": ["RUNNING"]}}}}),
        ("POST", "/flow_runs/count", {}),
        ("POST", "/flow_runs/count", {"flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}}}),
        ("POST", "/flow_runs/filter", {"flow_runs": {"deployment_id": {"any_": [world["deployment"]]}}, "limit": 10}),
        ("POST", "/flow_runs/filter", {"deployments": {"id": {"any_": [world["deployment"]]}}, "limit": 10}),
        ("POST", "/flow_runs/filter", {"flows": {"id": {"any_": [world["flow"]]}}, "limit": 10}),
        ("POST", "/flow_runs/filter", {"sort": "EXPECTED_START_TIME_DESC", "limit": 15}),
        ("POST", "/flow_runs/filter", {"flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}}, "limit": 15}),
        ("POST", "/flow_runs/filter", {"flow_runs": {"start_time": {"after_": week}}, "sort": "START_TIME_DESC"}),
        ("POST", "/flow_runs/filter", {"flow_runs": {"id": {"any_": [world["running"]]}}}),
        ("POST", "/flow_runs/filter", {"flow_runs": {"state": {"type": {"any_": ["CANCELLING"]}}}}),
        (
            "POST",
            "/deployments/get_scheduled_flow_runs",
            {"deployment_ids": [world["deployment"]], "scheduled_before": soon},
        ),
        ("POST", "/work_pools/pool/get_scheduled_flow_runs", {"scheduled_before": soon}),
        ("GET", f"/flow_runs/{world['run']}", None),
        ("POST", "/logs/filter", {"logs": {"flow_run_id": {"any_": [world["run"]]}}}),
        ("POST", "/task_runs/filter", {"flow_runs": {"id": {"any_": [world["run"]]}}}),
        ("POST", "/task_runs/filter", {"sort": "EXPECTED_START_TIME_DESC", "limit": 10}),
        ("POST", "/task_runs/count", {}),
        ("POST", "/flows/filter", {"flow_runs": {"state": {"type": {"any_": ["FAILED"]}}}}),
        ("POST", "/deployments/filter", {"flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}}}),
        ("POST", "/ui/flow_runs/count-task-runs", {"flow_run_ids": [world["run"]]}),
        ("POST", "/ui/flows/next-runs", {"flow_ids": [world["flow"]]}),
        ("POST", "/events/filter", {"filter": {"any_resource": {"id": [f"prefect.flow-run.{world['run']}"]}}}),
        ("POST", "/events/filter", {"filter": {"event": {"prefix": ["prefect.flow-run."]}}, "limit": 5}),
        ("POST", "/events/filter", {"filter": {"id": {"id": [world["run"]]}}}),
        ("POST", "/events/count-by/event", {"filter": {}}),
        ("POST", "/events/count-by/time", {"filter": {}, "time_unit": "hour"}),
    ]


def _replay(client: Any, calls: list[tuple[str, str, Any]]) -> dict[str, int]:
    scans: dict[str, int] = {}
    for method, path, body in calls:
        with count_requests() as counter:
            status, answer = call(client, method, path, body)
        assert status < 500, (path, answer)
        assert status != 422, (path, body, answer)
        for table, n in counter.scans.items():
            logical = next((t for t in RUNS_TABLES if table.endswith("-" + t)), None)
            if logical:
                scans[f"{method} {path} -> {logical}"] = scans.get(f"{method} {path} -> {logical}", 0) + n
    return scans


@pytest.mark.parametrize("page", sorted(UI_CALLS))
def test_ui_pages_scan_no_runs_table(client, world, page):
    calls = [(m, _fill(p, world), _fill(b, world)) for m, p, b in UI_CALLS[page]]
    assert _replay(client, calls) == {}


def test_client_runner_worker_and_cli_reads_scan_no_runs_table(client, world):
    assert _replay(client, _client_calls(world)) == {}


def test_a_scan_is_noticed(client, world, repos):
    """The guard itself: a Scan of flow_runs is seen (an operator's full read, on purpose)."""
    with count_requests() as counter:
        found = list(repos.flow_runs.find([AccessPath(SCAN)]))
    assert uuid.UUID(world["run"]) in {r.id for r in found}
    assert any(t.endswith("-flow_runs_v2") for t in counter.scans)


BLOCK_TABLES = ("block_types", "block_schemas", "block_documents")


def test_block_routes_scan_no_block_table(client):
    """Blocks: every read of the client, the CLI (``prefect block ls``, ``block type ls``) and the
    UI's Blocks pages is a GetItem, a BatchGetItem or a Query."""
    secret = call(client, "GET", "/block_types/slug/secret")[1]
    of_secret = {"block_schemas": {"block_type_id": {"any_": [secret["id"]]}}}
    schemas = call(client, "POST", "/block_schemas/filter", of_secret)
    body = {"name": "pw", "data": {"value": "x"}, "block_type_id": secret["id"], "block_schema_id": schemas[1][0]["id"]}
    doc = call(client, "POST", "/block_documents/", body)[1]
    calls = [
        ("GET", "/block_types/slug/secret/block_documents/name/pw?include_secrets=true", None),
        ("GET", f"/block_documents/{doc['id']}", None),
        ("GET", "/block_types/slug/secret/block_documents", None),
        ("POST", "/block_documents/filter", {}),
        ("POST", "/block_documents/filter", {"block_types": {"slug": {"any_": ["secret"]}}}),
        ("POST", "/block_documents/count", {}),
        ("POST", "/block_types/filter", {}),
        ("POST", "/block_types/filter", {"block_schemas": {"block_capabilities": {"all_": ["notify"]}}}),
        ("POST", "/block_schemas/filter", {}),
        ("GET", f"/block_schemas/checksum/{schemas[1][0]['checksum']}?version=3.9.1", None),
        ("GET", "/block_capabilities", None),
    ]
    for method, path, payload in calls:
        with count_requests() as counter:
            status, answer = call(client, method, path, payload)
        assert status == 200, (path, answer)
        assert not [t for t in counter.scans if t.endswith(BLOCK_TABLES)], path
