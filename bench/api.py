"""Deployments API benchmark: ``python bench/api.py`` prints one JSON line.

Each operation goes through the Chalice app (``chalice.test.Client``) on DynamoDB Local, or on
in-process moto with ``--dynamodb moto`` (the JSON line's ``dynamodb`` says which); ``requests``
is the number of DynamoDB API calls per call (counted with a botocore hook,
``storage.instrumentation.count_requests``), ``median_ms`` the median wall time of one call.

- ``create_flow_run``: ``POST /deployments/{id}/create_flow_run`` with no body (a GetItem of the
  deployment and one conditional PutItem);
- ``get_scheduled_flow_runs``: one worker poll naming ``POLLED`` deployments with scheduled runs
  (one index Query per deployment, one BatchGetItem of the due runs, one write that marks them polled);
- ``post_logs_200``: ``POST /logs/`` of 200 lines, as the flow engine batches them (BatchWriteItem
  of 25: 8 requests); ``read_logs_page_200``: ``POST /logs/filter`` of one run's first 200 lines
  (one Query of its partition);
- ``read_deployment``: ``GET /deployments/{id}`` of a deployment with two schedules;
- ``upsert_deployment``: a redeploy of that deployment with identical schedules (including the
  inline scheduler call, which finds nothing new to plan);
- ``worker_poll``: ``POST /work_pools/{pool}/get_scheduled_flow_runs`` of a worker polling every
  queue of a pool with 3 queues, each holding scheduled runs (one UpdateItem that stamps the poll
  and returns the pool with its queues, one by-queue Query per queue, one BatchGetItem of the runs);
- ``worker_heartbeat``: ``POST /work_pools/{pool}/workers/heartbeat`` (one TransactWriteItems);
- ``filter_deployments``: ``POST /deployments/filter`` selecting the 50 of 1,000 deployments that
  carry a tag (a Scan; measured last, after the 1,000 are bulk-written, because moto copies a
  table on every transaction that touches it).
- ``ui_page_loads``: the API calls Prefect's UI (3.9.1) makes when it opens each main page, as
  recorded from a headless Chromium (``bench/ui_page_calls.json``, ids replaced by the seeded
  ones), replayed through the app: DynamoDB requests per page load, and the calls that Cirrus does
  not answer with a 2xx (features it does not have yet). Seeded before the 1,000 deployments.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _env import ROOT  # noqa: E402, F401  (first: the project root on sys.path, dummy AWS credentials)
from chalice.test import Client  # noqa: E402

from chalicelib.config import Settings, override_settings  # noqa: E402
from chalicelib.domain.identity import deployment_id  # noqa: E402
from chalicelib.schemas.common import utcnow  # noqa: E402
from chalicelib.schemas.deployments import Deployment  # noqa: E402
from chalicelib.storage.deployments import to_item  # noqa: E402
from chalicelib.storage.instrumentation import count_requests  # noqa: E402
from chalicelib.storage.models import DeploymentModel  # noqa: E402
from chalicelib.storage.tables import create_tables  # noqa: E402
from devstack import dynamodb_local  # noqa: E402

CALLS = 25
POLLED = 5
TOTAL_DEPLOYMENTS = 1000
TAGGED = 50
SCHEDULES = [
    {"schedule": {"interval": 3600, "anchor_date": "2020-01-01T00:00:00Z"}, "slug": "hourly"},
    {"schedule": {"cron": "0 9 * * *", "timezone": "America/New_York"}},
]


def _call(client: Client, method: str, path: str, body: Any = None) -> Any:
    send = getattr(client.http, method.lower())
    kwargs: dict[str, Any] = {"headers": {"Content-Type": "application/json"}}
    if body is not None:
        kwargs["body"] = json.dumps(body)
    response = send(path, **kwargs)
    if response.status_code >= 300:
        raise RuntimeError(f"{method} {path}: {response.status_code} {response.body!r}")
    return json.loads(response.body) if response.body else None


def measure(action: Callable[[], object], calls: int = CALLS) -> dict[str, float]:
    """DynamoDB requests per call and the median latency of ``calls`` calls."""
    times = []
    with count_requests() as counter:
        for _ in range(calls):
            started = time.perf_counter()
            action()
            times.append((time.perf_counter() - started) * 1000)
    return {"requests": round(counter.total / calls, 2), "median_ms": round(statistics.median(times), 2)}


def bulk_deployments(flow_id: str, count: int, tagged: int) -> None:
    """``count`` schedule-less deployments, ``tagged`` of them tagged ``bench`` (BatchWriteItem)."""
    now = utcnow()
    marked = set(range(0, count, count // tagged)[:tagged])
    with DeploymentModel.batch_write() as batch:
        for i in range(count):
            name = f"bulk-{i:04d}"
            dep = Deployment(
                id=deployment_id(uuid.UUID(flow_id), name),
                name=name,
                flow_id=flow_id,
                tags=["bench"] if i in marked else [],
                created=now,
                updated=now,
            )
            batch.save(to_item(dep, rev=1))


UI_PAGE_CALLS = Path(__file__).resolve().parent / "ui_page_calls.json"


def ui_page_loads(client: Client, ids: dict[str, str]) -> dict[str, Any]:
    """DynamoDB requests of one load of each main UI page (its recorded API calls, replayed)."""
    pages = json.loads(UI_PAGE_CALLS.read_text())
    out: dict[str, Any] = {}
    for page, calls in pages.items():
        unanswered: list[str] = []
        with count_requests() as counter:
            for method, path, body in calls:
                for name, value in ids.items():
                    path = path.replace("{" + name + "}", value)
                send = getattr(client.http, method.lower())
                kwargs: dict[str, Any] = {"headers": {"Content-Type": "application/json"}}
                if body is not None:
                    text = json.dumps(body)
                    for name, value in ids.items():
                        text = text.replace("{" + name + "}", value)
                    kwargs["body"] = text
                if send(path, **kwargs).status_code >= 300:
                    unanswered.append(f"{method} {path}")
        out[page] = {
            "calls": len(calls),
            "requests": counter.total,
            "by_operation": counter.snapshot(),
            "unanswered": sorted(set(unanswered)),
        }
    return out


def bench_workers(client: Client, flow_id: str) -> dict[str, Any]:
    """A pool with 3 queues, a deployment in each with 5 runs due; a worker's poll and heartbeat."""
    _call(client, "POST", "/work_pools/", {"name": "bench-pool", "type": "process"})
    queues = ["default", "fast", "slow"]
    for queue in queues[1:]:
        _call(client, "POST", "/work_pools/bench-pool/queues/", {"name": queue})
    for queue in queues:
        body = {"name": f"pooled-{queue}", "flow_id": flow_id, "work_pool_name": "bench-pool", "work_queue_name": queue}
        dep = _call(client, "POST", "/deployments/", body)
        for _ in range(5):
            _call(client, "POST", f"/deployments/{dep['id']}/create_flow_run", {})
    poll = {"work_queue_names": [], "limit": 10}
    url = "/work_pools/bench-pool/get_scheduled_flow_runs"
    returned = len(_call(client, "POST", url, poll))
    beat = {"name": "bench-worker", "heartbeat_interval_seconds": 30}
    return {
        "worker_poll": {**measure(lambda: _call(client, "POST", url, poll)), "queues": 3, "runs_returned": returned},
        "worker_heartbeat": measure(lambda: _call(client, "POST", "/work_pools/bench-pool/workers/heartbeat", beat)),
    }


def bench_logs(client: Client, run_id: str) -> dict[str, Any]:
    """``POST /logs/`` of 200 lines (the engine's batch) and reading the run's 200 lines back."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    batches = iter(range(10_000))

    def batch() -> list[dict[str, Any]]:
        n = next(batches)
        return [
            {"name": "prefect.flow_runs", "level": 20, "message": f"batch {n} line {i} " + "x" * 100,
             "timestamp": (start + timedelta(seconds=n, microseconds=i)).isoformat(), "flow_run_id": run_id}
            for i in range(200)
        ]  # fmt: skip

    read = {"logs": {"flow_run_id": {"any_": [run_id]}}, "limit": 200, "offset": 0, "sort": "TIMESTAMP_ASC"}
    write = measure(lambda: _call(client, "POST", "/logs/", batch()), calls=5)
    return {
        "post_logs_200": {**write, "records": 200},
        "read_logs_page_200": measure(lambda: _call(client, "POST", "/logs/filter", read), calls=10),
    }


def run(endpoint: str | None) -> dict[str, Any]:
    from app import app

    settings = override_settings(Settings(stage="bench", dynamodb_endpoint=endpoint))
    create_tables(settings)
    results: dict[str, Any] = {}
    with Client(app, stage_name="test") as client:
        flow_id = _call(client, "POST", "/flows/", {"name": "bench-flow"})["id"]
        body = {"name": "main", "flow_id": flow_id, "schedules": SCHEDULES, "tags": ["t"]}
        main = _call(client, "POST", "/deployments/", body)
        polled = [main["id"]] + [
            _call(client, "POST", "/deployments/", {**body, "name": f"worker-{i}"})["id"] for i in range(POLLED - 1)
        ]
        results["read_deployment"] = measure(lambda: _call(client, "GET", f"/deployments/{main['id']}"))
        results["upsert_deployment"] = measure(lambda: _call(client, "POST", "/deployments/", body))
        poll = {"deployment_ids": polled, "limit": 50}
        results["get_scheduled_flow_runs"] = {
            **measure(lambda: _call(client, "POST", "/deployments/get_scheduled_flow_runs", poll)),
            "deployments_asked": POLLED,
        }
        url = f"/deployments/{main['id']}/create_flow_run"
        results["create_flow_run"] = measure(lambda: _call(client, "POST", url, {}))
        done = _call(client, "POST", url, {})
        for state in ("PENDING", "RUNNING", "COMPLETED"):
            _call(client, "POST", f"/flow_runs/{done['id']}/set_state", {"state": {"type": state}})
        ids = {"flow": flow_id, "deployment": main["id"], "run": done["id"]}
        if client.http.get("/work_pools/default").status_code == 404:  # the pool the recorded pages show
            _call(client, "POST", "/work_pools/", {"name": "default", "type": "process"})
        results["ui_page_loads"] = ui_page_loads(client, ids)
        results.update(bench_workers(client, flow_id))
        results.update(bench_logs(client, done["id"]))
        bulk_deployments(flow_id, TOTAL_DEPLOYMENTS - POLLED, TAGGED)
        query = {"deployments": {"tags": {"any_": ["bench"]}}, "limit": 200}
        matched = len(_call(client, "POST", "/deployments/filter", query))
        results["filter_deployments"] = {
            **measure(lambda: _call(client, "POST", "/deployments/filter", query), calls=10),
            "matched": matched,
            "deployments": TOTAL_DEPLOYMENTS,
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    dynamodb_local.add_backend_option(parser)
    args = parser.parse_args()
    with dynamodb_local.backend(args.dynamodb) as endpoint:
        print(json.dumps({"dynamodb": args.dynamodb, **run(endpoint)}, sort_keys=True))


if __name__ == "__main__":
    main()
