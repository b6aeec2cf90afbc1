"""Run under .venv-e2e (real Prefect 3.9.1) against ``PREFECT_API_URL``: a new user's worker flow.

1. ``prefect work-pool create e2e-pool --type process``
2. a deployment from local source into that pool, with an interval schedule due in 20 seconds
   (Cirrus plans its first run inline: an auto-scheduled run)
3. ``prefect deployment run hello/nightly`` (a manual run)
4. ``prefect worker start --pool e2e-pool --run-once`` (prefetching a minute): runs both
5. both runs are COMPLETED with the worker's pid and labels; ``prefect work-pool inspect`` shows the
   pool READY and the worker is listed ONLINE.
6. ``flow.submit_to_work_pool(...)`` (no deployment: the run goes on the pool's default queue), its
   bundle stored by a local upload/execute step pair (two modules in a temporary directory,
   the pool's storage configuration), a long-running worker runs it and ``future.wait()`` returns
   once the run's COMPLETED event arrives on ``/events/out``.

Every CLI call is a subprocess in its own process group with a hard timeout; the group is killed
on timeout. Prints ``e2e-worker: ok`` at the end.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

BIN = Path(sys.executable).parent
FLOW_SOURCE = """
from prefect import flow


@flow(log_prints=True)
def hello(name: str = "cirrus"):
    print(f"hello {name}")
    return 42
"""
DEPLOY = """
import sys
from datetime import datetime, timedelta, timezone

from prefect import flow
from prefect.schedules import Interval

anchor = datetime.fromisoformat(sys.argv[2])
flow.from_source(source=sys.argv[1], entrypoint="flows.py:hello").deploy(
    name="nightly", work_pool_name="e2e-pool", schedule=Interval(3600, anchor_date=anchor),
    print_next_steps=False, ignore_warnings=True,
)
"""


# The pool's bundle storage for step 6: a directory. Prefect runs ``python -m bundle_upload --dir D --key
# K K`` in the bundle's temporary directory and makes ``python -m bundle_execute --dir D --key K`` the
# run's command (the steps' ``launcher`` is this interpreter).
BUNDLE_UPLOAD = """
import shutil, sys
from pathlib import Path

*_, store, _, key, local_file = sys.argv
shutil.copyfile(local_file, Path(store, key))
"""
BUNDLE_EXECUTE = """
import sys
from pathlib import Path

from prefect.bundles.execute import execute_bundle_from_file

if __name__ == "__main__":  # the bundle's flow runs in a spawned process that imports this module
    *_, store, _, key = sys.argv
    execute_bundle_from_file(str(Path(store, key)))
"""


def run(args: list[str], timeout: float) -> str:
    """Run ``args`` in a new session; kill its whole process group on timeout; fail on non-zero."""
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


async def check(anchor: datetime) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

    async with get_client() as client:
        pool = await client.read_work_pool("e2e-pool")
        assert pool.status is not None and pool.status.value == "READY", pool.status
        workers = await client.read_workers_for_work_pool("e2e-pool")
        assert [w.status.value for w in workers] == ["ONLINE"], workers
        named = DeploymentFilter(name=DeploymentFilterName(any_=["nightly"]))
        (deployment,) = await client.read_deployments(deployment_filter=named)
        assert deployment.work_pool_name == "e2e-pool" and deployment.work_queue_name == "default"
        runs = await client.read_flow_runs()
        done = [r for r in runs if r.state_type and r.state_type.value == "COMPLETED"]
        manual = [r for r in done if not r.auto_scheduled]
        auto = [r for r in done if r.auto_scheduled and r.expected_start_time == anchor]
        assert len(manual) == 1 and len(auto) == 1, [(r.name, r.state_type, r.auto_scheduled) for r in runs]
        for flow_run in manual + auto:
            assert flow_run.infrastructure_pid, flow_run
            assert flow_run.work_queue_id == deployment.work_queue_id and flow_run.work_pool_name == "e2e-pool"
            assert any(key.startswith("prefect.worker") for key in flow_run.labels), flow_run.labels


def submit_to_the_pool(prefect: str) -> None:
    """Step 6: a flow submitted to the pool (no deployment) runs on a worker; ``wait()`` returns."""
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolUpdate
    from prefect.client.schemas.objects import WorkPoolStorageConfiguration
    from prefect.flows import bind_flow_to_infrastructure
    from prefect.workers.process import ProcessWorker

    @flow
    def submitted(x: int) -> int:
        return x * 2

    with tempfile.TemporaryDirectory() as store:
        Path(store, "bundle_upload.py").write_text(BUNDLE_UPLOAD)
        Path(store, "bundle_execute.py").write_text(BUNDLE_EXECUTE)
        os.environ["PYTHONPATH"] = store  # the upload step, the worker and its flow-run process
        step = {"launcher": [sys.executable], "dir": store}
        steps = WorkPoolStorageConfiguration(
            bundle_upload_step={"bundle_upload": step}, bundle_execution_step={"bundle_execute": step}
        )
        with get_client(sync_client=True) as client:
            client.update_work_pool("e2e-pool", WorkPoolUpdate(storage_configuration=steps))
        log = Path(store, "worker.log").open("w+")  # a file, not a pipe nobody drains
        worker = subprocess.Popen(
            [prefect, "worker", "start", "--pool", "e2e-pool"],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "PREFECT_WORKER_QUERY_SECONDS": "2"},
        )
        try:
            bound = bind_flow_to_infrastructure(submitted, "e2e-pool", ProcessWorker, launcher=[sys.executable])
            future = bound.submit_to_work_pool(x=21)
            future.wait(timeout=90)
            state = future.state
        finally:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(10)
            log.seek(0)
            out = log.read()
        assert state.is_completed(), (state, out[-6000:])
        with get_client(sync_client=True) as client:
            flow_run = client.read_flow_run(future.flow_run_id)
        assert (flow_run.work_pool_name, flow_run.work_queue_name) == ("e2e-pool", "default"), flow_run
        assert flow_run.infrastructure_pid, (flow_run, out[-3000:])


def main() -> None:
    prefect = str(BIN / "prefect")
    with tempfile.TemporaryDirectory() as source:
        Path(source, "flows.py").write_text(FLOW_SOURCE)
        run([prefect, "work-pool", "create", "e2e-pool", "--type", "process"], 60)
        anchor = (datetime.now(UTC) + timedelta(seconds=20)).replace(microsecond=0)
        run([sys.executable, "-c", DEPLOY, source, anchor.isoformat()], 90)
        run([prefect, "deployment", "run", "hello/nightly"], 60)
        run([prefect, "worker", "start", "--pool", "e2e-pool", "--run-once"], 120)
    inspected = run([prefect, "work-pool", "inspect", "e2e-pool"], 60)
    assert "WorkPoolStatus.READY" in inspected, inspected
    asyncio.run(check(anchor))
    submit_to_the_pool(prefect)
    print("e2e-worker: ok")


if __name__ == "__main__":
    main()
