"""Capacity benchmark: ``python bench/capacity.py --endpoint http://127.0.0.1:PORT`` prints one JSON line.

What DynamoDB bills is capacity units, not requests. Against DynamoDB Local (AWS's own emulator;
moto's capacity figures are fixed values) every call asks for ``ReturnConsumedCapacity=INDEXES``
through the botocore hook that counts requests (``storage.instrumentation.count_requests``), and
each operation below is measured through the services, as the API and the jobs call them:

- ``scheduled_run_insert``: a run as the scheduler's first pass over D deployments (half ``*/5``
  cron in New York, half hourly; ``bench/scheduler.py``'s workload) wrote it, put back in a
  one-item transaction (DynamoDB Local does not sum the items of a larger transaction right) and
  as a plain put;
- ``idle_tick``: the pass right after it (nothing due), and ``five_minute_pass`` 5 minutes later;
- ``scheduler_cpu_ms_per_run``: this process's CPU time per inserted run in those passes (the
  Lambda's cost: DynamoDB Local runs in another process);
- ``worker_poll``: ``get_scheduled_flow_runs`` for one deployment (a ``serve()`` runner's poll);
- ``create_flow_run``: a run created through the API's service (flow known, no deployment);
- ``transitions``: one scheduled run taken SCHEDULED → PENDING → RUNNING → COMPLETED, with a
  first and a later heartbeat while RUNNING; ``lifecycle`` = insert + the three transitions;
- ``read_run`` / ``read_history``: reading the completed run and its state history;
- ``log_batch``: ``POST /logs/``'s service with 200 records of that run;
- ``item_bytes``: DynamoDB's size of the run item when fresh and when completed (attribute names
  plus values, AWS's rules), and of the largest item its history adds;
- ``skip_overlap_run``: a run of a schedule with ``overlap: SKIP`` (its start and end move the
  schedule's counter) and the cost of one skipped occurrence;
- ``pool_run``: the same for a run of a deployment in a work pool (a worker's run: planned by the
  scheduler, polled by queue, in the by-queue index while SCHEDULED and active).

Write units are AWS's: DynamoDB Local reports a one-item transaction at twice AWS's rate (4 units
per KB, for the table and each index, instead of 2), so its transactional figures are divided by
2 (``instrumentation.LOCAL_TRANSACTION_FACTOR``); ``*_local`` fields carry the raw figures. Its
figures for larger transactions are not the sum of their items: they are not used.
``--deployments`` sets D (default 1,000); ``--endpoint`` names a running DynamoDB Local, else the
project's (``make dynamodb-local``) is started on a free port and stopped after.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from _env import ROOT  # noqa: E402, F401  (first: the project root on sys.path, dummy AWS credentials)

from bench.scheduler import populate  # noqa: E402
from chalicelib.config import Settings  # noqa: E402
from chalicelib.domain.identity import deployment_id, flow_id  # noqa: E402
from chalicelib.schemas.deployments import GetScheduledFlowRunsBody  # noqa: E402
from chalicelib.schemas.flow_runs import FlowRunCreate  # noqa: E402
from chalicelib.schemas.states import SetStateBody, StateType  # noqa: E402
from chalicelib.schemas.work_pools import ScheduledRunsBody, WorkPoolCreate  # noqa: E402
from chalicelib.services import deployments, flow_runs, work_pools  # noqa: E402
from chalicelib.services.scheduler import schedule_deployment, schedule_due  # noqa: E402
from chalicelib.services.work_pools import create_pool  # noqa: E402
from chalicelib.storage import Repositories, aggregates, open_repositories  # noqa: E402
from chalicelib.storage.instrumentation import (  # noqa: E402
    LOCAL_TRANSACTION_FACTOR,
    RequestCounter,
    count_requests,
    item_bytes,
)
from chalicelib.storage.models import ALL_MODELS, FlowRunModel, RunCountModel, run_shard  # noqa: E402
from chalicelib.storage.tables import create_tables, delete_tables  # noqa: E402
from tests.reliability.factories import CRON_5, T0, make_deployment  # noqa: E402

RUNS_TABLE = "flow_runs_v2"
BENCH_POOL = "bench-pool"


# ---------------------------------------------------------------------------- item sizes
def raw_run(run_id: Any) -> dict[str, Any]:
    return FlowRunModel._get_connection().get_item(run_shard(str(run_id)), str(run_id), consistent_read=True)["Item"]


def insert_units(run_id: Any) -> dict[str, Any]:
    """What inserting the run's item costs, put back exactly as the scheduler wrote it: as a plain
    PutItem and as a one-item TransactWriteItems Put (DynamoDB Local sums a transaction's items
    wrongly, so a one-item transaction is its only faithful transactional figure)."""
    client = FlowRunModel._get_connection().connection.client
    table = FlowRunModel.Meta.table_name
    key = FlowRunModel.raw_key(str(run_id))
    raw = raw_run(run_id)

    def units(consumed: Any) -> float:
        return sum(float(c.get("CapacityUnits", 0)) for c in (consumed if isinstance(consumed, list) else [consumed]))

    client.delete_item(TableName=table, Key=key)
    plain = units(client.put_item(TableName=table, Item=raw, ReturnConsumedCapacity="INDEXES")["ConsumedCapacity"])
    client.delete_item(TableName=table, Key=key)
    put = {"Put": {"TableName": table, "Item": raw, "ConditionExpression": "attribute_not_exists(id)"}}
    response = client.transact_write_items(TransactItems=[put], ReturnConsumedCapacity="INDEXES")
    local = units(response["ConsumedCapacity"])
    return {"wcu": local / LOCAL_TRANSACTION_FACTOR, "wcu_local": local, "plain_put_wcu": plain}


def history_item_bytes(run_id: Any) -> int:
    """The largest item a run's state history keeps outside the run item (0 when none does)."""
    model = next((m for m in ALL_MODELS if m.Meta.table_name.endswith("flow_run_states")), None)
    if model is None:
        return 0
    items = model._get_connection().query(str(run_id), consistent_read=True).get("Items", [])
    return max((item_bytes(i) for i in items), default=0)


def counts_drain(repos: Repositories) -> float:
    """Apply the streams' pending records to the run counts, as a consumer Lambda would (one batch),
    and return the write units AWS bills for it: 2 per KB of each item its transactions wrote
    (DynamoDB Local's own figures for multi-item transactions are not the sum of their items). The
    local drain's checkpoint write, which a Lambda does not make, is left out."""
    written: list[dict[str, Any]] = []

    def collect(params: dict[str, Any] | None = None, model: Any = None, **_: Any) -> None:
        if params is not None and getattr(model, "name", None) == "TransactWriteItems":
            written.extend(item["Update"]["Key"] for item in params["TransactItems"])

    client = RunCountModel._get_connection().connection.client
    client.meta.events.register("before-parameter-build.dynamodb", collect, unique_id="counts-bench")
    try:
        aggregates.drain(repos.settings)
    finally:
        client.meta.events.unregister("before-parameter-build.dynamodb", unique_id="counts-bench")
    units = 0.0
    for key in written:
        item = client.get_item(TableName=RunCountModel.Meta.table_name, Key=key).get("Item", {})
        units += 2 * max(1, -(-item_bytes(item) // 1024))
    return units


# ---------------------------------------------------------------------------- measuring
def figures(counter: RequestCounter, per: int = 1, table: str | None = None) -> dict[str, Any]:
    cap = counter.capacity
    name = None if table is None else next(m.Meta.table_name for m in ALL_MODELS if m.Meta.table_name.endswith(table))
    per = max(per, 1)
    return {
        "wcu": round(cap.write_units(name, transaction_factor=LOCAL_TRANSACTION_FACTOR) / per, 2),
        "wcu_local": round(cap.write_units(name) / per, 2),
        "rcu": round(cap.read_units(name) / per, 2),
        "requests": round(counter.total / per, 2),
    }


@contextmanager
def measured() -> Iterator[dict[str, Any]]:
    """Capacity, requests and process CPU of the block, filled into the yielded dict on exit."""
    out: dict[str, Any] = {}
    with count_requests(capacity=True) as counter:
        started = time.process_time()
        yield out
        cpu = time.process_time() - started
    out["_counter"] = counter
    out["_cpu_s"] = cpu


def clean(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if not k.startswith("_")}


def scheduler_pass(repos: Repositories, settings: Settings, minutes: int) -> dict[str, Any]:
    with measured() as m:
        report = schedule_due(repos, now=T0 + timedelta(minutes=minutes), settings=settings)
    runs = report.runs_inserted
    counter = m["_counter"]
    return {
        "runs_inserted": runs,
        "requests": counter.total,
        "errors": report.errors,
        "cpu_ms_per_run": round(m["_cpu_s"] * 1000 / runs, 3) if runs else None,
        "runs_table": figures(counter, runs, RUNS_TABLE),
        "all_tables": figures(counter, runs),
        "by_index": counter.capacity.by_index(),
    }


def step(action: Callable[[], Any]) -> dict[str, Any]:
    with measured() as m:
        action()
    return {**figures(m["_counter"]), "by_index": m["_counter"].capacity.by_index()}


def lifecycle(repos: Repositories, dep: Any, *, pool: str | None = None) -> dict[str, Any]:
    """Poll (as a ``serve()`` runner polls its deployment, or as a worker polls ``pool``), then take
    the first scheduled run polled through its lifecycle."""
    out: dict[str, Any] = {}
    polled: list[Any] = []
    if pool is None:
        poll = GetScheduledFlowRunsBody(deployment_ids=[dep], scheduled_before=T0 + timedelta(hours=1), limit=10)
        out["worker_poll"] = step(lambda: polled.extend(deployments.get_scheduled_flow_runs(repos, poll, T0)))
    else:
        body = ScheduledRunsBody(scheduled_before=T0 + timedelta(hours=1), limit=10)
        taken = step(
            lambda: polled.extend(r.flow_run for r in work_pools.get_scheduled_flow_runs(repos, pool, body, T0))
        )
        out["worker_poll"] = taken
    out["worker_poll"]["runs"] = len(polled)
    run = polled[0]
    fresh = item_bytes(raw_run(run.id))
    out["insert"] = insert_units(run.id)
    now = run.next_scheduled_start_time or T0

    def set_state(kind: StateType, at: Any) -> Callable[[], Any]:
        body = SetStateBody.model_validate({"state": {"type": kind.value}})
        return lambda: flow_runs.set_flow_run_state(repos, run.id, body, at)

    counts_drain(repos)  # the scheduler's inserts into the counts, before the run's own changes
    transitions = {}
    counts: dict[str, float] = {}
    for name, action in (
        ("pending", set_state(StateType.PENDING, now + timedelta(seconds=1))),
        ("running", set_state(StateType.RUNNING, now + timedelta(seconds=2))),
        ("heartbeat_first", lambda: flow_runs.record_heartbeat(repos, run.id, now + timedelta(seconds=3))),
        ("heartbeat", lambda: flow_runs.record_heartbeat(repos, run.id, now + timedelta(seconds=33))),
        ("completed", set_state(StateType.COMPLETED, now + timedelta(seconds=60))),
    ):
        transitions[name] = step(action)
        counts[name] = counts_drain(repos)  # each change alone: a quiet stream's worst case
    out["transitions"] = transitions
    out["counts_wcu"] = counts
    out["read_run"] = step(lambda: flow_runs.read_flow_run(repos, run.id))
    history: list[Any] = []
    out["read_history"] = step(lambda: history.extend(flow_runs.read_flow_run_states(repos, run.id)))
    out["read_history"]["states"] = len(history)
    out["log_batch"] = log_batch(repos, run.id)
    out["item_bytes"] = {
        "fresh": fresh,
        "completed": item_bytes(raw_run(run.id)),
        "history_item_max": history_item_bytes(run.id),
    }
    return out


def log_batch(repos: Repositories, run_id: Any) -> dict[str, Any]:
    """``POST /logs/`` with 200 records of a run (a typical engine batch: ~80-byte messages)."""
    from chalicelib.schemas.logs import LogCreate
    from chalicelib.services import logs

    records = [
        LogCreate.model_validate(
            {
                "name": "prefect.flow_runs",
                "level": 20,
                "message": f"Finished in state Completed() step {i:03d} of the bench flow, nothing to see",
                "timestamp": (T0 + timedelta(milliseconds=i)).isoformat(),
                "flow_run_id": str(run_id),
            }
        )
        for i in range(200)
    ]
    result = step(lambda: logs.create_logs(repos, records, T0))
    return {**result, "records": len(records), "wcu_per_record": round(result["wcu"] / len(records), 3)}


def pool_lifecycle(repos: Repositories, settings: Settings) -> dict[str, Any]:
    """A run of a deployment in a work pool (a worker's): planned by the scheduler, polled by queue."""
    create_pool(repos, settings, WorkPoolCreate(name=BENCH_POOL, type="process"), T0)
    placed = make_deployment("pooled", specs=[CRON_5], work_pool_name=BENCH_POOL, work_queue_name="default")
    schedule_deployment(repos, placed.deployment_id, now=T0, settings=settings)
    life = lifecycle(repos, placed.deployment_id, pool=BENCH_POOL)
    moves = life["transitions"]
    steps = [moves[k]["wcu"] for k in ("pending", "running", "completed")]
    return {
        "scheduled_run_insert": life["insert"],
        "transition_max": {"wcu": max(steps)},
        "lifecycle": {"wcu": round(life["insert"]["wcu"] + sum(steps), 2)},
        "worker_poll": life["worker_poll"],
        "transitions": moves,
    }


def limited_lifecycle(repos: Repositories, settings: Settings) -> dict[str, Any]:
    """A run of a deployment with ``concurrency_limit=1``: PENDING takes the slot and COMPLETED gives
    it back, each in a two-item transaction with the deployment's slot counter (DynamoDB Local does
    not sum a larger transaction's items right: ``wcu_local`` is its raw figure, read with care)."""
    placed = make_deployment("limited", specs=[CRON_5], concurrency_limit=1)
    schedule_deployment(repos, placed.deployment_id, now=T0, settings=settings)
    life = lifecycle(repos, placed.deployment_id)
    moves = life["transitions"]
    steps = [moves[k]["wcu"] for k in ("pending", "running", "completed")]
    return {
        "transitions": {k: {f: moves[k][f] for f in ("wcu", "wcu_local", "rcu", "requests")} for k in moves},
        "lifecycle": {"wcu": round(life["insert"]["wcu"] + sum(steps), 2)},
    }


def overlap_lifecycle(repos: Repositories, settings: Settings) -> dict[str, Any]:
    """A run of a schedule with ``overlap: SKIP``: PENDING takes the schedule's token and COMPLETED
    gives it back, each in a two-item transaction with the schedule's counter; then a skipped
    occurrence (its PENDING proposal while another run is active: the failed transaction, the
    counter's read, and the CANCELLED "Skipped" written instead)."""
    from chalicelib.storage.models import ScheduleModel

    placed = make_deployment("overlapping", specs=[CRON_5], work_pool_name=None)
    for schedule_id in placed.schedules:
        ScheduleModel(str(placed.deployment_id), str(schedule_id)).update(
            [ScheduleModel.policy.set({"overlap": "SKIP"})]
        )
    schedule_deployment(repos, placed.deployment_id, now=T0, settings=settings)
    life = lifecycle(repos, placed.deployment_id)
    moves = life["transitions"]
    steps = [moves[k]["wcu"] for k in ("pending", "running", "completed")]
    poll = GetScheduledFlowRunsBody(deployment_ids=[placed.deployment_id], scheduled_before=T0 + timedelta(hours=1))
    active, skipped = deployments.get_scheduled_flow_runs(repos, poll, T0)[:2]
    pending = SetStateBody.model_validate({"state": {"type": "PENDING"}})
    flow_runs.set_flow_run_state(repos, active.id, pending, T0)
    skip = step(lambda: flow_runs.set_flow_run_state(repos, skipped.id, pending, T0))
    return {
        "transitions": {k: {f: moves[k][f] for f in ("wcu", "wcu_local", "rcu", "requests")} for k in moves},
        "lifecycle": {"wcu": round(life["insert"]["wcu"] + sum(steps), 2)},
        "skipped_occurrence": {f: skip[f] for f in ("wcu", "wcu_local", "rcu", "requests")},
    }


def create_run(repos: Repositories) -> dict[str, Any]:
    body = FlowRunCreate(flow_id=flow_id("bench-flow"), name="created", tags=["bench"])
    return step(lambda: flow_runs.create_flow_run(repos, body, T0))


def run(endpoint: str, deployments: int) -> dict[str, Any]:
    # T0 is in 2025: keep its completed run readable (reads hide runs past retention).
    settings = Settings(stage="capbench", dynamodb_endpoint=endpoint, region="us-east-1", retention_days=36500)
    delete_tables(settings)
    create_tables(settings)
    repos = open_repositories(settings)
    populate(deployments)
    first = scheduler_pass(repos, settings, 0)
    idle = scheduler_pass(repos, settings, 0)
    later = scheduler_pass(repos, settings, 5)
    planned = (first["runs_inserted"] or 0) + (later["runs_inserted"] or 0)
    pass_counts = counts_drain(repos)  # the passes' runs into the counts, in the consumer's batches
    life = lifecycle(repos, deployment_id(flow_id("bench-flow"), "deployment-0"))
    life["counts_insert_wcu"] = round(pass_counts / max(planned, 1), 2)
    created = create_run(repos)
    pooled = pool_lifecycle(repos, settings)
    limited = limited_lifecycle(repos, settings)
    overlapping = overlap_lifecycle(repos, settings)
    moves = life["transitions"]
    insert = life["insert"]["wcu"]
    steps = [moves[k]["wcu"] for k in ("pending", "running", "completed")]
    result = {
        "endpoint": "dynamodb-local",
        "deployments": deployments,
        "scheduled_run_insert": life["insert"],
        "transition_max": {"wcu": max(steps)},
        "heartbeat": {"wcu": moves["heartbeat"]["wcu"], "first_wcu": moves["heartbeat_first"]["wcu"]},
        "lifecycle": {"wcu": round(insert + sum(steps), 2)},
        "counts_wcu": {
            "per_change": life["counts_wcu"],
            "lifecycle_quiet_stream": round(sum(life["counts_wcu"].values()) + life["counts_insert_wcu"], 2),
            "insert_in_scheduler_pass": life["counts_insert_wcu"],
        },
        "item_bytes": life["item_bytes"],
        "scheduler_cpu_ms_per_run": {
            "first_pass": first["cpu_ms_per_run"],
            "five_minute_pass": later["cpu_ms_per_run"],
        },
        "idle_tick": {k: idle[k] for k in ("requests", "runs_inserted")} | {"rcu": idle["all_tables"]["rcu"]},
        "first_pass": {k: first[k] for k in ("runs_inserted", "requests", "errors")},
        "five_minute_pass": {k: later[k] for k in ("runs_inserted", "requests", "errors")},
        "worker_poll": life["worker_poll"],
        "create_flow_run": created,
        "transitions": moves,
        "read_run": life["read_run"],
        "read_history": life["read_history"],
        "log_batch": {k: v for k, v in life["log_batch"].items() if k != "by_index"},
        "pool_run": pooled,
        "limited_run": limited,
        "skip_overlap_run": overlapping,
    }
    delete_tables(settings)
    return result


def main() -> None:
    from devstack import dynamodb_local

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", help="a running DynamoDB Local (default: a fresh one is started)")
    parser.add_argument("--deployments", type=int, default=1000)
    args = parser.parse_args()
    if args.endpoint:
        print(json.dumps(run(args.endpoint, args.deployments)))
        return
    reason = dynamodb_local.unavailable_reason()
    if reason:  # moto's capacity figures are fixed values: this benchmark needs DynamoDB Local
        parser.error(f"DynamoDB Local is not available ({reason}): run make dynamodb-local, or pass --endpoint")
    with dynamodb_local.backend("local") as endpoint:
        print(json.dumps(run(str(endpoint), args.deployments)))


if __name__ == "__main__":
    main()
