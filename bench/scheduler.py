"""Scheduler benchmark: ``python bench/scheduler.py --deployments D`` prints one JSON line.

Workload: D deployments, half with a cron ``*/5 * * * *`` schedule in America/New_York, half with
a 3600 s interval (anchored at :30), on DynamoDB Local (``--dynamodb moto``: in-process moto; the
JSON line's ``dynamodb`` says which). The clock is injected: the first pass and
the immediate second pass tick at 2025-01-06T00:00Z, the advanced pass five minutes later (each
cron schedule then needs one more run; no interval schedule does). ``requests`` counts every
DynamoDB API call, ``write_requests`` the write calls, ``cpu_ms_per_run`` this process's CPU time
per inserted run (the Lambda's cost; on DynamoDB Local, another process, it is the client's alone;
on moto it includes the emulator).

On moto: moto 5.2.5 deep-copies every table a transaction touches (O(table size) per transaction)
and is not thread-safe; the benchmark runs with ``devstack/moto_shim.py``, which applies
transactions item by item with DynamoDB's all-or-nothing semantics. Without it the first pass at
D = 1,000 takes hours, which says nothing about the scheduler.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
import uuid
from datetime import timedelta
from typing import Any

from _env import ROOT  # noqa: E402, F401  (first: the project root on sys.path, dummy AWS credentials)

from chalicelib.config import Settings  # noqa: E402
from chalicelib.domain.identity import deployment_id, flow_id  # noqa: E402
from chalicelib.services.scheduler import schedule_due  # noqa: E402
from chalicelib.storage import Repositories, open_repositories  # noqa: E402
from chalicelib.storage.instrumentation import count_requests  # noqa: E402
from chalicelib.storage.models import DeploymentModel, FlowModel, ScheduleModel  # noqa: E402
from chalicelib.storage.tables import create_tables  # noqa: E402
from devstack import dynamodb_local  # noqa: E402
from tests.reliability.factories import CRON_5, HOURLY, T0  # noqa: E402


def populate(count: int) -> None:
    """``count`` deployments with one schedule each, due now (written in batches; not measured)."""
    flow = flow_id("bench-flow")
    FlowModel(str(flow), name="bench-flow", tags=[], created=T0, updated=T0).save()
    with DeploymentModel.batch_write() as deployments, ScheduleModel.batch_write() as schedules:
        for i in range(count):
            dep = deployment_id(flow, f"deployment-{i}")
            deployments.save(
                DeploymentModel(
                    str(dep),
                    flow_id=str(flow),
                    name=f"deployment-{i}",
                    paused=False,
                    rev=0,
                    work_queue_name="default",
                    created=T0,
                    updated=T0,
                    doc={"tags": ["bench"], "parameters": {"n": i}, "version": "1"},
                )
            )
            schedules.save(
                ScheduleModel(
                    str(dep),
                    str(uuid.uuid4()),
                    spec=CRON_5 if i % 2 == 0 else HOURLY,
                    active=True,
                    parameters={},
                    rev=0,
                    due_shard="due",
                    due_at=T0,
                    created=T0,
                    updated=T0,
                )
            )


def timed_pass(repos: Repositories, settings: Settings, minutes: int) -> dict[str, Any]:
    with count_requests() as counter:
        started = time.perf_counter()
        cpu_started = time.process_time()
        report = schedule_due(repos, now=T0 + timedelta(minutes=minutes), settings=settings)
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
    inserted = report.runs_inserted
    return {
        "runs_inserted": inserted,
        "runs_per_s": round(inserted / seconds, 1) if seconds else 0.0,
        "requests": counter.total,
        "write_requests": counter.writes,
        "write_requests_per_run": round(counter.writes / inserted, 3) if inserted else 0.0,
        "seconds": round(seconds, 3),
        "cpu_ms_per_run": round(cpu * 1000 / inserted, 3) if inserted else None,
        "errors": report.errors,
    }


def run(count: int, dynamodb: str) -> dict[str, Any]:
    with dynamodb_local.backend(dynamodb) as endpoint:
        settings = Settings(stage="bench", dynamodb_endpoint=endpoint)
        create_tables(settings)
        repos = open_repositories(settings)
        populate(count)
        first = timed_pass(repos, settings, 0)
        second = timed_pass(repos, settings, 0)
        advanced = timed_pass(repos, settings, 5)
    return {
        "dynamodb": dynamodb,
        "deployments": count,
        "first_pass": first,
        "second_pass": {k: second[k] for k in ("runs_inserted", "requests", "seconds")},
        "advanced_pass": {
            k: advanced[k]
            for k in ("runs_inserted", "requests", "write_requests", "runs_per_s", "seconds", "cpu_ms_per_run")
        },
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deployments", type=int, default=1000)
    dynamodb_local.add_backend_option(parser)
    args = parser.parse_args()
    print(json.dumps(run(args.deployments, args.dynamodb)))


if __name__ == "__main__":
    main()
