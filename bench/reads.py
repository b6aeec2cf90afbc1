"""Reads at scale: ``python bench/reads.py --runs N`` prints one JSON line.

Seeds DynamoDB Local (started here; ``--endpoint URL`` uses a running one) with realistic data: 50
flows, 100 cron deployments, N flow runs over the last 7 days and the next 2 hours in a mix of
states (81% COMPLETED, 8% FAILED, 2% CRASHED, 3% CANCELLED, 4% SCHEDULED, 1% RUNNING and 1% PENDING
up to 50 each: runs under way are bounded by workers, not by history; started runs 0-90 s late)
and N/2 task runs, written in batches as stored items; then applies the runs tables' streams to
the run counts (what the consumer Lambdas do on AWS), and replays, through the Chalice app with
``CIRRUS_STREAMS=lambda`` (no drain before a read, as deployed):

- every call of the issue's table (``calls``): the dashboard's counts, the runs page's list,
  history and pages, the flows page's filtered list, the task-run counts and history, the client's
  ``read_flow_runs(state=RUNNING)``, ``count_flow_runs()``, ``read_flow_runs(deployment_id=X,
  limit=10)``, a runner's poll of 5 deployments and a read of one run;
- the dashboard load as Prefect's UI 3.9.1 makes it (``bench/ui_page_calls.json``, its windows moved
  to now): ``dashboard.requests``, ``dashboard.rcu`` (read units as DynamoDB Local reports them:
  AWS's rules for reads), ``dashboard.seconds`` (one load, sequential, median of 3).

Per call: DynamoDB ``requests``, ``rcu``, ``p50_ms`` (median of 5) and ``heap_mb`` (tracemalloc peak
of one call: what sizes the Lambda). ``max_call`` is the largest requests and read units over the
calls, ``scans_on_ui_paths`` the Scans of a runs table they issued (0 is the target). A benchmark,
not a test: figures go to the README.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import time
import tracemalloc
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _env import ROOT  # noqa: E402, F401  (first: the project root on sys.path, dummy AWS credentials)
from chalice.test import Client  # noqa: E402

from chalicelib.config import Settings, override_settings  # noqa: E402
from chalicelib.domain import identity  # noqa: E402
from chalicelib.domain.run_bookkeeping import with_initial_state  # noqa: E402
from chalicelib.schemas.deployments import Deployment  # noqa: E402
from chalicelib.schemas.flow_runs import FlowRun  # noqa: E402
from chalicelib.schemas.flows import Flow  # noqa: E402
from chalicelib.schemas.states import State, StateDetails, StateType  # noqa: E402
from chalicelib.schemas.task_runs import TaskRun  # noqa: E402
from chalicelib.storage import aggregates, open_repositories  # noqa: E402
from chalicelib.storage.deployments import to_item as deployment_item  # noqa: E402
from chalicelib.storage.instrumentation import count_requests  # noqa: E402
from chalicelib.storage.models import DeploymentModel, FlowModel, FlowRunModel  # noqa: E402
from chalicelib.storage.resource_models import TaskRunModel  # noqa: E402
from chalicelib.storage.tables import create_tables  # noqa: E402
from devstack import dynamodb_local  # noqa: E402

FLOWS = 50
DEPLOYMENTS = 100
MIX = [("COMPLETED", 81), ("FAILED", 8), ("CRASHED", 2), ("CANCELLED", 3), ("SCHEDULED", 4), ("RUNNING", 1),
       ("PENDING", 1)]  # fmt: skip
#: At most this many runs RUNNING and as many PENDING (1% of the runs up to that).
LIVE_CAP = 50
UI_CALLS = json.loads((Path(__file__).resolve().parent / "ui_page_calls.json").read_text())
RUNS_TABLES = ("-flow_runs_v2", "-task_runs", "-flow_run_states", "-logs")


def _iso(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _seed(settings: Settings, n: int, now: datetime, rng: random.Random) -> dict[str, Any]:
    repos = open_repositories(settings)
    flows = [Flow(id=identity.flow_id(f"flow-{i}"), name=f"flow-{i}", created=now, updated=now) for i in range(FLOWS)]
    with FlowModel.batch_write() as batch:
        for flow in flows:
            batch.save(FlowModel(str(flow.id), name=flow.name, created=now, updated=now))
    deployments = []
    with DeploymentModel.batch_write() as batch:
        for i in range(DEPLOYMENTS):
            flow = flows[i % FLOWS]
            d = Deployment(
                id=identity.deployment_id(flow.id, f"d{i}"), name=f"d{i}", flow_id=flow.id, created=now, updated=now
            )
            deployments.append(d)
            batch.save(deployment_item(d, 0))
    states = [s for s, w in MIX for _ in range(w)]
    span = timedelta(days=7).total_seconds()
    running: list[FlowRun] = []
    live: dict[str, int] = {"RUNNING": 0, "PENDING": 0}
    with FlowRunModel.batch_write() as batch, TaskRunModel.batch_write() as tasks:
        task_repo = repos.task_runs
        for i in range(n):
            d = deployments[i % DEPLOYMENTS]
            kind = rng.choice(states)
            if kind in ("RUNNING", "PENDING") and live[kind] >= LIVE_CAP:
                kind = "COMPLETED"  # runs under way are bounded by the workers, not by the history kept
            live[kind] = live.get(kind, 0) + 1
            if kind == "SCHEDULED":
                expected = now + timedelta(seconds=rng.randint(60, 7200))
            elif kind in ("RUNNING", "PENDING"):
                expected = now - timedelta(seconds=rng.randint(60, 3600))
            else:
                expected = now - timedelta(seconds=rng.uniform(120, span))
            expected = expected.replace(second=0, microsecond=0)  # cron runs start on the minute
            created = expected - timedelta(hours=1)
            first = State(
                type=StateType.SCHEDULED, timestamp=created, state_details=StateDetails(scheduled_time=expected)
            )
            run = FlowRun(
                id=uuid.uuid4(), name=f"run-{i}", flow_id=d.flow_id, deployment_id=d.id, tags=["auto-scheduled"],
                auto_scheduled=True, expected_start_time=expected, next_scheduled_start_time=expected,
                created=created, updated=created,
            )  # fmt: skip
            run = with_initial_state(run, first)
            if kind != "SCHEDULED":
                start = expected + timedelta(seconds=rng.randint(0, 90))
                end = start + timedelta(seconds=rng.randint(5, 600))
                terminal = kind not in ("RUNNING", "PENDING")
                state = State(type=StateType(kind), timestamp=end if terminal else start)
                run = run.model_copy(
                    update={
                        "state": state, "state_id": state.id, "state_type": state.type, "state_name": state.name,
                        "next_scheduled_start_time": None, "run_count": 0 if kind == "PENDING" else 1,
                        "start_time": None if kind == "PENDING" else start, "end_time": end if terminal else None,
                        "total_run_time": (end - start).total_seconds() if terminal else 0.0,
                        "updated": end if terminal else start,
                    }
                )  # fmt: skip
                if kind == "RUNNING":
                    running.append(run)
            batch.save(repos.flow_runs.to_item(run))
            if i % 2 == 0 and run.start_time is not None:
                task_state = State(type=run.state_type, timestamp=run.updated)
                task = TaskRun(
                    id=uuid.uuid4(), name=f"task-{i}", flow_run_id=run.id, task_key="t", dynamic_key=str(i),
                    state=task_state, state_id=task_state.id, state_type=task_state.type,
                    state_name=task_state.name, start_time=run.start_time, expected_start_time=run.start_time,
                    end_time=run.end_time, total_run_time=run.total_run_time, created=run.start_time,
                    updated=run.updated,
                )  # fmt: skip
                tasks.save(task_repo.to_item(task))
    return {"deployments": [str(d.id) for d in deployments], "flows": [str(f.id) for f in flows]}


def _dashboard_calls(now: datetime) -> list[tuple[str, str, Any]]:
    """The recorded dashboard load with its windows moved to ``now`` (the recording's day → now)."""
    calls = []
    for method, path, body in UI_CALLS["dashboard"]:
        text = json.dumps(body)
        text = re.sub(r"2026-11-29T19:17:0\d\.000Z", _iso(now), text)
        text = re.sub(r"2026-11-28T19:17:0\d\.000Z", _iso(now - timedelta(days=1)), text)
        calls.append((method, path, json.loads(text)))
    return calls


def _issue_calls(now: datetime, seeded: dict[str, Any]) -> dict[str, tuple[str, str, Any]]:
    day = {"after_": _iso(now - timedelta(days=1)), "before_": _iso(now)}
    week = {"after_": _iso(now - timedelta(days=7)), "before_": _iso(now)}
    deployment = seeded["deployments"][0]
    runs_page = {"flow_runs": {"start_time": week}, "sort": "START_TIME_DESC", "limit": 100}
    task_window = {"state": {"type": {"any_": ["COMPLETED", "FAILED", "CRASHED", "RUNNING"]}}, "start_time": day,
                   "subflow_runs": {"exists_": False}}  # fmt: skip
    return {
        "flow_runs_count_24h": ("POST", "/flow_runs/count", {"flow_runs": {"expected_start_time": day}}),
        "flow_runs_count_24h_failed": (
            "POST",
            "/flow_runs/count",
            {"flow_runs": {"state": {"type": {"any_": ["FAILED", "CRASHED"]}}, "expected_start_time": day}},
        ),  # fmt: skip
        "flow_runs_filter_sorted_limit_10": (
            "POST",
            "/flow_runs/filter",
            {"flow_runs": {"start_time": week}, "sort": "START_TIME_DESC", "limit": 10},
        ),  # fmt: skip
        "flow_runs_filter_default_limit_200": ("POST", "/flow_runs/filter", {}),
        "ui_flow_runs_history": ("POST", "/ui/flow_runs/history", runs_page),
        "flow_runs_paginate": ("POST", "/flow_runs/paginate", {**runs_page, "page": 1}),
        "flows_paginate_with_run_filter": (
            "POST",
            "/flows/paginate",
            {
                "flow_runs": {"state": {"type": {"any_": ["FAILED", "CRASHED"]}}, "expected_start_time": day},
                "sort": "UPDATED_DESC",
            },
        ),  # fmt: skip
        "task_runs_count": ("POST", "/task_runs/count", {"task_runs": task_window}),
        "task_runs_history": (
            "POST",
            "/task_runs/history",
            {
                "history_start": day["after_"],
                "history_end": day["before_"],
                "history_interval_seconds": 4320,
                "flow_runs": {},
                "task_runs": {"start_time": day},
            },
        ),  # fmt: skip
        "client_read_flow_runs_running": (
            "POST",
            "/flow_runs/filter",
            {"flow_runs": {"state": {"type": {"any_": ["RUNNING"]}}}},
        ),  # fmt: skip
        "client_count_flow_runs": ("POST", "/flow_runs/count", {}),
        "client_read_flow_runs_deployment_limit_10": (
            "POST",
            "/flow_runs/filter",
            {"flow_runs": {"deployment_id": {"any_": [deployment]}}, "limit": 10},
        ),  # fmt: skip
        "runner_poll_5_deployments": (
            "POST",
            "/deployments/get_scheduled_flow_runs",
            {"deployment_ids": seeded["deployments"][:5], "scheduled_before": _iso(now + timedelta(seconds=10))},
        ),  # fmt: skip
    }


def _measure(client: Client, method: str, path: str, body: Any, repeat: int) -> dict[str, Any]:
    times = []
    for _ in range(repeat):
        with count_requests(capacity=True) as counter:
            start = time.perf_counter()
            response = client.http.request(method, path, headers={"content-type": "application/json"},
                                           body=json.dumps(body).encode() if body is not None else b"")  # fmt: skip
            times.append(time.perf_counter() - start)
    tracemalloc.start()
    client.http.request(method, path, headers={"content-type": "application/json"},
                        body=json.dumps(body).encode() if body is not None else b"")  # fmt: skip
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    scans = sum(n for table, n in counter.scans.items() if table.endswith(RUNS_TABLES))
    return {
        "status": response.status_code,
        "requests": counter.total,
        "rcu": round(counter.capacity.read_units(), 1),
        "p50_ms": round(statistics.median(times) * 1000, 1),
        "heap_mb": round(peak / 2**20, 1),
        "scans": scans,
    }


def run(endpoint: str, runs: int, repeat: int) -> dict[str, Any]:
    settings = override_settings(
        Settings(stage="bench", region="us-east-1", dynamodb_endpoint=endpoint, streams="lambda")
    )
    create_tables(settings)
    now = datetime.now(UTC).replace(microsecond=0)
    started = time.perf_counter()
    seeded = _seed(settings, runs, now, random.Random(1))
    seed_s = time.perf_counter() - started
    started = time.perf_counter()
    records = aggregates.drain(settings)
    drain_s = time.perf_counter() - started
    from app import app

    out: dict[str, Any] = {"benchmark": "reads", "runs": runs, "dynamodb": "local"}
    with Client(app, stage_name="local") as client:
        calls = {name: _measure(client, *call, repeat) for name, call in _issue_calls(now, seeded).items()}
        dashboard = _dashboard_calls(now)
        loads = []
        for _ in range(3):
            with count_requests(capacity=True) as counter:
                start = time.perf_counter()
                for method, path, body in dashboard:
                    client.http.request(method, path, headers={"content-type": "application/json"},
                                        body=json.dumps(body).encode() if body is not None else b"")  # fmt: skip
                loads.append(time.perf_counter() - start)
        dashboard_scans = sum(n for t, n in counter.scans.items() if t.endswith(RUNS_TABLES))
    worst = max(calls.items(), key=lambda kv: kv[1]["rcu"])
    most = max(calls.items(), key=lambda kv: kv[1]["requests"])
    out.update(
        seed_seconds=round(seed_s, 1),
        stream_records=records,
        counts_seconds=round(drain_s, 1),
        calls=calls,
        max_call={
            "requests": most[1]["requests"],
            "requests_call": most[0],
            "rcu": worst[1]["rcu"],
            "rcu_call": worst[0],
            "heap_mb": max(c["heap_mb"] for c in calls.values()),
        },  # fmt: skip
        dashboard={
            "calls": len(dashboard),
            "requests": counter.total,
            "rcu": round(counter.capacity.read_units(), 1),
            "seconds": round(statistics.median(loads), 2),
        },  # fmt: skip
        scans_on_ui_paths=sum(c["scans"] for c in calls.values()) + dashboard_scans,
        failed_calls=sorted(name for name, c in calls.items() if c["status"] >= 400),
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--endpoint", help="a running DynamoDB Local (default: start one, in memory)")
    args = parser.parse_args()
    if args.endpoint:
        print(json.dumps(run(args.endpoint, args.runs, args.repeat)))
        return
    with dynamodb_local.DynamoDBLocal() as instance:
        print(json.dumps(run(instance.endpoint, args.runs, args.repeat)))


if __name__ == "__main__":
    main()
