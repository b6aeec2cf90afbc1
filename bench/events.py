"""Event feed benchmark: ``python bench/events.py [--endpoint URL]`` prints one JSON line.

Against DynamoDB Local (its capacity figures follow AWS's rules for plain reads and writes), through
the services as the API and the consumers call them:

- ``store_heartbeat`` / ``store_task_run_event``: storing one client event (a flow-run heartbeat;
  a task-run state event as Prefect 3.9's engine sends it, ~1.4 KB) in the ``events`` table;
- ``flow_run_transitions``: the ``prefect.flow-run.<State>`` events of one run taken SCHEDULED →
  PENDING → RUNNING → COMPLETED (4 events, the emitter's reads of flow and deployment included);
- ``feed_page``: ``POST /events/filter``'s first page (50 events) over an hour holding ``--events``
  events, unfiltered (the UI's Event Feed), and filtered by one run (``resource.id``, its pointers);
- ``count_by_time``: ``/events/count-by/time`` by minute over that hour;
- per figure: write/read units, requests.
"""

from __future__ import annotations

import argparse
import json
import uuid
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta
from typing import Any

from _env import ROOT  # noqa: E402, F401  (first: the project root on sys.path, dummy AWS credentials)

from chalicelib.config import Settings  # noqa: E402
from chalicelib.schemas.event_filters import Countable, EventFilter, TimeUnit  # noqa: E402
from chalicelib.schemas.flow_runs import FlowRunCreate  # noqa: E402
from chalicelib.schemas.flows import FlowCreate  # noqa: E402
from chalicelib.schemas.states import SetStateBody  # noqa: E402
from chalicelib.services import event_feed, events, flow_run_events, flow_runs, flows  # noqa: E402
from chalicelib.storage import open_repositories  # noqa: E402
from chalicelib.storage.instrumentation import RequestCounter, count_requests  # noqa: E402
from chalicelib.storage.tables import create_tables, delete_tables  # noqa: E402


def figures(counter: RequestCounter, per: int = 1) -> dict[str, Any]:
    cap = counter.capacity
    return {
        "wcu": round(cap.write_units() / per, 2),
        "rcu": round(cap.read_units() / per, 2),
        "requests": round(counter.total / per, 2),
    }


def task_run_event(flow_run_id: str, at: datetime) -> dict[str, Any]:
    task_run_id = str(uuid.uuid4())
    state = {"type": "COMPLETED", "name": "Completed", "timestamp": at.isoformat(), "message": "", "state_details": {}}
    return {
        "id": str(uuid.uuid4()),
        "occurred": at.isoformat(),
        "event": "prefect.task-run.Completed",
        "resource": {
            "prefect.resource.id": f"prefect.task-run.{task_run_id}",
            "prefect.resource.name": "add-0",
            "prefect.state-message": "",
            "prefect.state-name": "Completed",
            "prefect.state-timestamp": at.isoformat(),
            "prefect.state-type": "COMPLETED",
            "prefect.orchestration": "client",
        },
        "related": [
            {
                "prefect.resource.id": f"prefect.flow-run.{flow_run_id}",
                "prefect.resource.role": "flow-run",
                "prefect.resource.name": "quick-fox",
            },
            {
                "prefect.resource.id": f"prefect.flow.{uuid.uuid4()}",
                "prefect.resource.role": "flow",
                "prefect.resource.name": "etl",
            },
            {"prefect.resource.id": "prefect.tag.nightly", "prefect.resource.role": "tag"},
        ],  # fmt: skip
        "payload": {
            "intended": {"from": "RUNNING", "to": "COMPLETED"},
            "initial_state": {"type": "RUNNING", "name": "Running"},
            "validated_state": state,
            "task_run": {
                "name": "add-0",
                "task_key": "add-0f1e2d3c",
                "dynamic_key": "0",
                "empirical_policy": {"max_retries": 0, "retry_delay_seconds": 0.0, "retries": 0, "retry_delay": 0},
                "tags": ["nightly"],
                "labels": {},
                "task_inputs": {"x": [], "y": []},
                "run_count": 1,
                "flow_run_run_count": 1,
                "expected_start_time": at.isoformat(),
                "start_time": at.isoformat(),
                "end_time": at.isoformat(),
                "total_run_time": 0.01,
                "estimated_run_time": 0.01,
            },
        },  # fmt: skip
    }


def run(endpoint: str, n_events: int) -> dict[str, Any]:
    settings = Settings(stage="bench", dynamodb_endpoint=endpoint, streams="pull")
    create_tables(settings)
    repos = open_repositories(settings)
    try:
        now = datetime.now(UTC)
        flow = flows.create_flow(repos, FlowCreate(name="bench-flow"), now)[0]
        body = FlowRunCreate.model_validate({"flow_id": str(flow.id), "state": {"type": "SCHEDULED"}})
        run_ = flow_runs.create_flow_run(repos, body, now)[0]
        flow_run_events.catch_up(repos, now)
        out: dict[str, Any] = {}
        beat = {"id": str(uuid.uuid4()), "occurred": now.isoformat(), "event": "prefect.flow-run.heartbeat",
                "resource": {"prefect.resource.id": f"prefect.flow-run.{run_.id}"}}  # fmt: skip
        with count_requests(capacity=True) as counter:
            repos.events.put({**beat, "received": now.isoformat()}, now, now)
        out["store_heartbeat"] = figures(counter)
        sample = task_run_event(str(run_.id), now)
        with count_requests(capacity=True) as counter:
            repos.events.put({**sample, "received": now.isoformat()}, now, now)
        out["store_task_run_event"] = {**figures(counter), "event_bytes": len(json.dumps(sample))}
        for state in ("PENDING", "RUNNING", "COMPLETED"):
            body_ = SetStateBody.model_validate({"state": {"type": state}})
            flow_runs.set_flow_run_state(repos, run_.id, body_, datetime.now(UTC))
        with count_requests(capacity=True) as counter:
            emitted = flow_run_events.catch_up(repos, datetime.now(UTC))
        out["flow_run_transitions"] = {**figures(counter), "records": emitted}
        base = now - timedelta(minutes=59)
        for i in range(n_events):
            at = base + timedelta(seconds=i * 3540 / n_events)
            events.ingest(repos, task_run_event(str(run_.id) if i % 10 == 0 else str(uuid.uuid4()), at), now)
        occurred = {"since": (now - timedelta(hours=1)).isoformat(), "until": now.isoformat()}
        with count_requests(capacity=True) as counter:
            page = event_feed.first_page(repos, EventFilter.model_validate({"occurred": occurred}), 50)
        out["feed_page"] = {**figures(counter), "events": len(page.events)}
        by_run = {"occurred": occurred, "any_resource": {"id": [f"prefect.flow-run.{run_.id}"]}}
        with count_requests(capacity=True) as counter:
            page = event_feed.first_page(repos, EventFilter.model_validate(by_run), 50)
        out["feed_page_of_one_run"] = {**figures(counter), "events": len(page.events)}
        with count_requests(capacity=True) as counter:
            counts = event_feed.count_by(
                repos, EventFilter.model_validate({"occurred": occurred}), Countable.time, TimeUnit.minute, 1.0, now
            )
        out["count_by_time"] = {**figures(counter), "buckets": len(counts), "events": sum(c["count"] for c in counts)}
        out["stored_events"] = n_events
        return out
    finally:
        delete_tables(settings)


def main() -> None:
    from devstack import dynamodb_local

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", help="a running DynamoDB Local (default: a fresh one is started)")
    parser.add_argument("--events", type=int, default=1000)
    args = parser.parse_args()
    with dynamodb_local.backend("local") if args.endpoint is None else nullcontext(args.endpoint) as endpoint:
        print(json.dumps(run(str(endpoint), args.events)))


if __name__ == "__main__":
    main()
