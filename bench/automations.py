"""Automations benchmark: ``python bench/automations.py [--endpoint URL]`` prints one JSON line.

Against DynamoDB Local (its capacity figures follow AWS's rules for plain reads and writes), through
the services as the ``evaluate_automations`` consumer calls them, with ``--automations`` enabled
automations stored (each a reactive trigger on its own event name, plus one that runs a deployment):

- ``batch_overhead``: the catalog's version check, once per stream batch (the catalog is cached);
- ``event_no_trigger``: an event no trigger expects;
- ``event_counted``: an event counted in a threshold-3 window (no firing);
- ``event_fires_run_deployment``: an event that fires an immediate trigger whose action runs a
  deployment, the actions and the four ``prefect.automation.*`` events included;
- ``proactive_tick``: a tick over one proactive trigger whose window has not ended;
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
from chalicelib.schemas.automations import AutomationCreate  # noqa: E402
from chalicelib.schemas.deployments import DeploymentCreate  # noqa: E402
from chalicelib.schemas.flows import FlowCreate  # noqa: E402
from chalicelib.services import automations, deployments, flows  # noqa: E402
from chalicelib.storage import open_repositories  # noqa: E402
from chalicelib.storage.instrumentation import RequestCounter, count_requests  # noqa: E402
from chalicelib.storage.tables import create_tables, delete_tables  # noqa: E402


def figures(counter: RequestCounter) -> dict[str, Any]:
    cap = counter.capacity
    return {"wcu": round(cap.write_units(), 2), "rcu": round(cap.read_units(), 2), "requests": counter.total}


def event(name: str, **payload: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {"id": str(uuid.uuid4()), "occurred": now.isoformat(), "received": now.isoformat(), "event": name,
            "resource": {"prefect.resource.id": "bench.thing"}, "payload": payload}  # fmt: skip


def automation(name: str, trigger: dict[str, Any], actions: list[dict[str, Any]]) -> AutomationCreate:
    return AutomationCreate.model_validate({"name": name, "trigger": trigger, "actions": actions})


def run(endpoint: str, n_automations: int) -> dict[str, Any]:
    settings = Settings(stage="bench", dynamodb_endpoint=endpoint, streams="pull")
    create_tables(settings)
    repos = open_repositories(settings)
    try:
        now = datetime.now(UTC)
        flow = flows.create_flow(repos, FlowCreate(name="bench-flow"), now)[0]
        dep = deployments.upsert_deployment(
            repos, settings, DeploymentCreate(name="d", flow_id=flow.id), now
        ).deployment
        for i in range(n_automations):
            trigger = {"type": "event", "posture": "Reactive", "expect": [f"bench.other.{i}"]}
            automations.create_automation(repos, automation(f"a{i}", trigger, [{"type": "do-nothing"}]), now)
        run_it = [
            {"type": "run-deployment", "deployment_id": str(dep.id), "parameters": {"x": "{{ event.payload.x }}"}}
        ]
        react = {"type": "event", "posture": "Reactive", "expect": ["bench.go"]}
        automations.create_automation(repos, automation("runs", react, run_it), now)
        window = {"type": "event", "posture": "Reactive", "expect": ["bench.count"], "threshold": 3, "within": 3600}
        automations.create_automation(repos, automation("counts", window, [{"type": "do-nothing"}]), now)
        late = {"type": "event", "posture": "Proactive", "expect": ["bench.never"], "within": 3600}
        automations.create_automation(repos, automation("proactive", late, [{"type": "do-nothing"}]), now)
        automations.evaluate_events(repos, [], now)  # loads the catalog (once per version)
        automations.evaluate_proactive(repos, now)  # opens the proactive window
        out: dict[str, Any] = {"automations": n_automations + 3}
        with count_requests(capacity=True) as counter:
            automations.evaluate_events(repos, [], now)
        out["batch_overhead"] = figures(counter)
        cases = {"event_no_trigger": event("bench.nothing"), "event_counted": event("bench.count")}
        for name, one in cases.items():
            automations.catalog(repos)
            with count_requests(capacity=True) as counter:
                automations.evaluate_events(repos, [one], now)
            out[name] = figures(counter)
        go = event("bench.go", x=1)
        with count_requests(capacity=True) as counter:
            report = automations.evaluate_events(repos, [go], now)
            automations.perform_pending(repos, settings, report.firings, now)
        out["event_fires_run_deployment"] = {**figures(counter), "firings": len(report.firings)}
        with count_requests(capacity=True) as counter:
            automations.evaluate_proactive(repos, now + timedelta(seconds=1))
        out["proactive_tick"] = figures(counter)
        return out
    finally:
        delete_tables(settings)


def main() -> None:
    from devstack import dynamodb_local

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", help="a running DynamoDB Local (default: a fresh one is started)")
    parser.add_argument("--automations", type=int, default=100)
    args = parser.parse_args()
    with dynamodb_local.backend("local") if args.endpoint is None else nullcontext(args.endpoint) as endpoint:
        print(json.dumps(run(str(endpoint), args.automations)))


if __name__ == "__main__":
    main()
