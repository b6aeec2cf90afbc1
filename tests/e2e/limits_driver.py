"""Run under .venv-e2e (real Prefect 3.9.1) against ``PREFECT_API_URL``: rate and tag limits.

``rate_limit``: a global concurrency limit ``api`` with ``limit=2`` and ``slot_decay_per_second=5``;
a loop of 12 ``rate_limit("api")`` calls. The first two pass at once, each later one waits for a
slot to decay (0.2 s): the loop takes at least 2.0 s, and the measured rate is printed.

``tags``: a v1 tag limit (``prefect concurrency-limit create db 1``'s call); a flow submits two
tasks tagged ``db`` at once. The task engine takes the ``tag:db`` slot (a lease naming the task
run): inside, each task reads the v1 limit and finds its own task run among ``active_slots``; the
two tasks' running spans never overlap. A third task takes the same tag's slot through
``prefect.concurrency.v1`` (``/concurrency_limits/increment|decrement``), and after the flow no
slot is held.

Prints ``e2e-limits: ok`` at the end.
"""

from __future__ import annotations

import asyncio
import sys
import time

from prefect import flow, task
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.concurrency.sync import rate_limit
from prefect.concurrency.v1.sync import concurrency as v1_concurrency
from prefect.runtime import task_run as current_task_run

CALLS = 12
LIMIT = 2
DECAY = 5.0


def check_rate_limit() -> None:
    async def create() -> None:
        async with get_client() as client:
            await client.create_global_concurrency_limit(
                GlobalConcurrencyLimitCreate(name="api", limit=LIMIT, slot_decay_per_second=DECAY)
            )

    asyncio.run(create())
    started = time.monotonic()
    passed = []
    for _ in range(CALLS):
        rate_limit("api")
        passed.append(time.monotonic() - started)
    elapsed = passed[-1]
    floor = (CALLS - LIMIT) / DECAY
    print(f"rate_limit: {CALLS} calls in {elapsed:.2f} s (limit {LIMIT}, decay {DECAY}/s: at least {floor:.1f} s)")
    print("rate_limit: passed at", ", ".join(f"{t:.2f}" for t in passed))
    assert passed[LIMIT - 1] < 1.0, passed  # the first `limit` calls pass at once
    assert elapsed >= floor - 0.05, passed  # then one per 1/decay seconds, never faster
    assert elapsed < floor + 6.0, passed  # and without long stalls
    print(f"rate_limit: measured {(CALLS - LIMIT) / (elapsed - passed[LIMIT - 1]):.2f} calls/s after the burst")


@task(tags=["db"])
def tagged(seconds: float) -> tuple[float, float, bool]:
    start = time.time()
    mine = str(current_task_run.id)
    with get_client(sync_client=True) as client:
        holders = [str(x) for x in client.read_concurrency_limit_by_tag("db").active_slots]
    time.sleep(seconds)
    return start, time.time(), mine in holders


@task
def through_v1() -> bool:
    mine = current_task_run.id
    with v1_concurrency("db", task_run_id=mine):
        with get_client(sync_client=True) as client:
            return str(mine) in [str(x) for x in client.read_concurrency_limit_by_tag("db").active_slots]


@flow
def two_tagged() -> list[tuple[float, float, bool]]:
    futures = [tagged.submit(2.0), tagged.submit(2.0)]
    return [future.result() for future in futures]


@flow
def one_through_v1() -> bool:
    return through_v1()


def check_tags() -> None:
    with get_client(sync_client=True) as client:
        client.create_concurrency_limit(tag="db", concurrency_limit=1)
    spans = sorted(two_tagged())
    print("tags: task spans", [(round(a, 2), round(b, 2)) for a, b, _ in spans])
    assert all(seen for _, _, seen in spans), spans  # each task run was named among active_slots
    assert spans[0][1] <= spans[1][0], spans  # one slot: the second waited for the first
    assert one_through_v1() is True
    with get_client(sync_client=True) as client:
        assert client.read_concurrency_limit_by_tag("db").active_slots == []
        assert client.read_global_concurrency_limit_by_name("tag:db").active_slots == 0
    print("tags: one slot, two tasks in turn; v1 increment/decrement named the task run")


if __name__ == "__main__":
    parts = sys.argv[1:] or ["rate_limit", "tags"]
    for part in parts:
        {"rate_limit": check_rate_limit, "tags": check_tags}[part]()
    print("e2e-limits: ok")
