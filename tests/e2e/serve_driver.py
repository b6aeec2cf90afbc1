"""Run under .venv-e2e (real Prefect 3.9.1) against ``PREFECT_API_URL``: a new user's ``serve()``.

1. a global concurrency limit ``tag:e2e`` (1 slot) and a variable are created with the client;
2. ``flows.py`` serves ``parent`` (a flow calling a subflow whose task has the tag ``e2e``, reading
   a missing variable with a default, logging a marker line) with ``serve(interval=...)``: Cirrus
   plans its first run at once, the runner picks it up;
3. ``prefect deployment run parent/e2e-serve`` makes a manual run the runner also executes;
4. both runs end COMPLETED; ``prefect flow-run logs`` prints the marker lines in order; the subflow
   run links to its parent task run; the tag's slots are all given back.

Every subprocess runs in its own process group with a hard timeout and is killed on failure.
Prints ``e2e-serve: ok`` at the end.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from served_flows import served

BIN = Path(sys.executable).parent
FLOWS = """
from prefect import flow, get_run_logger, task
from prefect.variables import Variable


@task(tags=["e2e"])
def add(x: int, y: int) -> int:
    return x + y


@flow
def child(n: int) -> int:
    return add(n, 1)


@flow
def parent() -> int:
    logger = get_run_logger()
    logger.info("cirrus-e2e first line")
    logger.info("cirrus-e2e variable=%s", Variable.get("e2e_missing", default="fallback"))
    logger.info("cirrus-e2e stored=%s", Variable.get("e2e_stored"))
    result = child(41)
    logger.info("cirrus-e2e last line %s", result)
    return result


if __name__ == "__main__":
    parent.serve(name="e2e-serve", interval=20)
"""
RUN_TIMEOUT_S = 75.0


def run(args: list[str], timeout: float) -> str:
    process = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        out, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, _ = process.communicate()
        raise SystemExit(f"timed out after {timeout}s: {args}\n{out[-4000:]}") from None
    if process.returncode != 0:
        raise SystemExit(f"exit {process.returncode}: {args}\n{out[-4000:]}")
    return out


async def prepare() -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate, VariableCreate

    async with get_client() as client:
        assert await client.hello() is not None
        await client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name="tag:e2e", limit=1))
        await client.create_variable(VariableCreate(name="e2e_stored", value="kept"))


async def completed_runs(expected: int) -> list:
    """Wait until ``expected`` runs of ``parent`` are COMPLETED (a failed or crashed one fails)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    deadline = time.monotonic() + RUN_TIMEOUT_S
    async with get_client() as client:
        while True:
            runs = await client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=["parent"])))
            bad = [r for r in runs if r.state_type and r.state_type.value in ("FAILED", "CRASHED", "CANCELLED")]
            assert not bad, [(r.name, r.state) for r in bad]
            done = [r for r in runs if r.state_type and r.state_type.value == "COMPLETED"]
            if len(done) >= expected:
                return done
            assert time.monotonic() < deadline, [(r.name, r.state_type, r.auto_scheduled) for r in runs]
            await asyncio.sleep(1)


async def completed_manual_run() -> list:
    """Completed runs once one of them is the manual run."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while True:
        done = await completed_runs(1)
        if any(not r.auto_scheduled for r in done):
            return done
        assert time.monotonic() < deadline, done
        await asyncio.sleep(1)


async def check(runs: list) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    async with get_client() as client:
        assert any(r.auto_scheduled for r in runs) and any(not r.auto_scheduled for r in runs), runs
        children = await client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=["child"])))
        linked = {}
        for child in children:
            assert child.parent_task_run_id is not None, child
            link = await client.read_task_run(child.parent_task_run_id)
            linked[link.flow_run_id] = child
        for parent in runs:  # each completed parent has its completed subflow, linked by a task run
            assert linked[parent.id].state_type.value == "COMPLETED", linked[parent.id]
        limit = await client.read_global_concurrency_limit_by_name("tag:e2e")
        assert limit.active_slots == 0, limit


def logs_arriving(prefect: str, run_id: str, count: int, timeout_s: float = 60.0) -> list[str]:
    """The run's log lines once ``count`` have arrived (or whatever is there after ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    while True:
        lines = logs_of(prefect, run_id)
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(2)


def logs_of(prefect: str, run_id: str) -> list[str]:
    deadline = time.monotonic() + 20
    while True:
        out = run([prefect, "flow-run", "logs", run_id], 60)
        lines = [line for line in out.splitlines() if "cirrus-e2e" in line]
        if len(lines) >= 4 or time.monotonic() > deadline:
            return lines
        time.sleep(1)


def main() -> None:
    prefect = str(BIN / "prefect")
    asyncio.run(prepare())
    print("e2e-serve: limit and variable created", flush=True)
    with tempfile.TemporaryDirectory() as source, served(source, FLOWS):
        (first, *_) = asyncio.run(completed_runs(1))
        assert first.auto_scheduled, first
        print(f"e2e-serve: auto-scheduled run {first.id} COMPLETED", flush=True)
        run([prefect, "deployment", "run", "parent/e2e-serve"], 60)
        runs = asyncio.run(completed_manual_run())
        print("e2e-serve: manual run COMPLETED", flush=True)
        # The engine sends a run's last log batch as its process exits, just after the state
        # COMPLETED: wait for the lines before the runner (and that process) is killed.
        logs = {flow_run.id: logs_arriving(prefect, str(flow_run.id), 4) for flow_run in runs}
    asyncio.run(check(runs))
    for flow_run in runs:
        lines = logs[flow_run.id]
        assert len(lines) == 4, lines
        assert "first line" in lines[0] and "variable=fallback" in lines[1], lines
        assert "stored=kept" in lines[2] and "last line 42" in lines[3], lines
    print("e2e-serve: logs in order, subflow linked, slots given back", flush=True)
    print("e2e-serve: ok")


if __name__ == "__main__":
    main()
