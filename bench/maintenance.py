"""Benchmark of the maintenance jobs: DynamoDB requests and seconds per sweep, against table size.

    python bench/maintenance.py --runs 50000

loads ``--runs`` flow runs into DynamoDB Local (``--dynamodb moto``: in-process moto; the JSON line's
``dynamodb`` says which) (100 zombies and 100 late runs among them, the rest
spread over future scheduled runs, healthy heartbeating runs, runs that never heartbeat and
finished runs), then runs one tick of each job and prints ONE JSON line keyed by job, each
``{"candidates", "changed", "requests", "seconds"}``. ``requests`` counts every DynamoDB call made
by the tick (storage.instrumentation); it should follow the candidates, not the table: compare two
sizes. Seconds are the emulator's (moto walks the whole table on every index query) and only indicative.
Loading progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import _env  # noqa: E402, F401  (first: the project root on sys.path, dummy AWS credentials)

from chalicelib.config import Settings  # noqa: E402
from chalicelib.schemas.flow_runs import FlowRun  # noqa: E402
from chalicelib.services.maintenance import (
    SweepReport,  # noqa: E402
    kill_zombies,  # noqa: E402
    mark_late_runs,  # noqa: E402
    revive_crashed_runs,  # noqa: E402
)
from chalicelib.storage import Repositories, open_repositories  # noqa: E402
from chalicelib.storage.instrumentation import count_requests  # noqa: E402
from chalicelib.storage.models import FlowRunModel  # noqa: E402
from chalicelib.storage.tables import create_tables  # noqa: E402
from devstack import dynamodb_local  # noqa: E402
from tests.jobs.maintenance_factories import completed, running, scheduled  # noqa: E402

ZOMBIES = 100
LATE = 100


def population(total: int, now: datetime) -> Iterator[FlowRun]:
    """``total`` runs: the zombies and late runs first, then a mix that sits on the work lists without
    being eligible (future, fresh heartbeats) or on none (never heartbeating, finished)."""
    for i in range(ZOMBIES):
        yield running(now - timedelta(hours=1), heartbeat=now - timedelta(minutes=11, seconds=i))
    for i in range(LATE):
        yield scheduled(now - timedelta(minutes=1, seconds=i))
    for i in range(max(0, total - ZOMBIES - LATE)):
        kind = i % 10
        if kind < 4:  # future runs: on the late list, not yet eligible
            yield scheduled(now + timedelta(minutes=1 + i % 5000))
        elif kind < 5:  # healthy runs: on the zombie list, heartbeat fresh
            yield running(now - timedelta(minutes=30), heartbeat=now - timedelta(seconds=i % 60))
        elif kind < 6:  # clients that never heartbeat: on no list
            yield running(now - timedelta(days=2), heartbeat=None)
        else:  # finished runs: on no list, with a TTL
            yield completed(now - timedelta(days=i % 80, minutes=1))


def load(repos: Repositories, runs: Iterator[FlowRun], total: int) -> None:
    """BatchWriteItem through pynamodb (25 items a request)."""
    started = time.perf_counter()
    with FlowRunModel.batch_write() as batch:
        for count, run in enumerate(runs, 1):
            batch.save(repos.flow_runs.to_item(run, [run.state] if run.state else []))
            if count % 10000 == 0:
                print(f"loaded {count}/{total} runs ({time.perf_counter() - started:.0f} s)", file=sys.stderr)


def measure(tick: Callable[[], SweepReport]) -> dict[str, Any]:
    with count_requests() as counter:
        started = time.perf_counter()
        report = tick()
        seconds = time.perf_counter() - started
    return {
        "candidates": report.candidates,
        "changed": report.changed,
        "requests": counter.total,
        "seconds": round(seconds, 3),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=50_000, help="flow runs in the table (default 50,000)")
    dynamodb_local.add_backend_option(parser)
    args = parser.parse_args(argv)
    if args.runs < ZOMBIES + LATE:
        parser.error(f"--runs must be at least {ZOMBIES + LATE}")
    with dynamodb_local.backend(args.dynamodb) as endpoint:
        settings = Settings(stage="bench", dynamodb_endpoint=endpoint)
        create_tables(settings)
        repos = open_repositories(settings)
        now = datetime.now(UTC)
        load(repos, population(args.runs, now), args.runs)
        result = {
            "dynamodb": args.dynamodb,
            "kill_zombies": measure(lambda: kill_zombies(repos, now=now, settings=settings)),
            # Lazarus runs a tick later, on the runs the zombie killer just crashed.
            "revive_crashed_runs": measure(
                lambda: revive_crashed_runs(repos, now=now + timedelta(seconds=1), settings=settings)
            ),
            "mark_late_runs": measure(lambda: mark_late_runs(repos, now=now, settings=settings)),
        }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
