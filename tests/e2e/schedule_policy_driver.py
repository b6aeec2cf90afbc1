"""Run under .venv-e2e (real Prefect 3.9.1) against ``PREFECT_API_URL``: Cirrus's one-time schedule
and catch-up window with a real ``serve()`` runner (issue 28).

1. ``flows.py`` serves ``once`` with no schedule (``serve(name="policies")``);
2. through Cirrus's REST API the test adds a one-time schedule 20 s ahead with a 10-minute catch-up
   window, and a second schedule whose only occurrence is 5 minutes in the past — planned by a
   backfill from before now, it is past a 1-minute catch-up window (a backlog after an outage);
3. the runner executes the one-time run (COMPLETED) and never the stale one: the late-runs job
   skips it (CANCELLED "Skipped"), and Prefect's client reads the deployment and its schedules, the
   policy fields included, without complaint.

Every subprocess runs in its own process group with a hard timeout and is killed on failure.
Prints ``e2e-policies: ok`` at the end.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

FLOWS = """
from prefect import flow


@flow(log_prints=True)
def once() -> None:
    print("the one-time run")


if __name__ == "__main__":
    once.serve(name="policies")
"""


async def deployment_id(timeout_s: float = 60.0):
    from prefect.client.orchestration import get_client

    deadline = time.monotonic() + timeout_s
    async with get_client() as client:
        while time.monotonic() < deadline:
            try:
                return (await client.read_deployment_by_name("once/policies")).id
            except Exception:  # noqa: BLE001 - not served yet
                await asyncio.sleep(1)
    raise AssertionError("the served deployment never appeared")


async def add_schedules(deployment) -> None:
    from prefect.client.orchestration import get_client

    now = datetime.now(UTC)
    at = (now + timedelta(seconds=20)).replace(microsecond=0)
    stale = (now - timedelta(minutes=5)).replace(microsecond=0)
    async with get_client() as client:
        http = client._client  # Prefect's own HTTP client: Cirrus's fields are not in its models
        schedules = [
            {"schedule": {"at": at.isoformat()}, "catchup_window": 600, "slug": "once"},
            {"schedule": {"at": stale.isoformat()}, "catchup_window": 60, "slug": "stale"},
        ]
        response = await http.post(f"/deployments/{deployment}/schedules", json=schedules)
        assert response.status_code == 201, response.text
        # The stale occurrence is in the past: the scheduler never plans it; a backfill from before
        # it does (as runs already planned before an outage would be there).
        body = {"start_time": (stale - timedelta(seconds=1)).isoformat(), "end_time": now.isoformat()}
        response = await http.post(f"/deployments/{deployment}/schedule", json=body)
        assert response.status_code in (200, 201), response.text


async def wait_for_runs(deployment, timeout_s: float = 150.0) -> dict[str, object]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    deadline = time.monotonic() + timeout_s
    async with get_client() as client:
        while time.monotonic() < deadline:
            runs = await client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment]))
            )
            names = {r.state.name for r in runs if r.state}
            if "Completed" in names and "Skipped" in names:
                read = await client.read_deployment(deployment)  # Prefect's models, Cirrus's extra fields
                assert {s.slug for s in read.schedules} == {"once", "stale"}, read.schedules
                return {r.state.name: r for r in runs}
            await asyncio.sleep(2)
        raise AssertionError(f"runs never settled: {[(r.name, r.state.name) for r in runs]}")


def main() -> None:
    with tempfile.TemporaryDirectory() as source:
        Path(source, "flows.py").write_text(FLOWS)
        log = Path(source, "serve.log").open("w")
        server = subprocess.Popen(
            [sys.executable, "flows.py"], cwd=source, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            deployment = asyncio.run(deployment_id())
            asyncio.run(add_schedules(deployment))
            print("e2e-policies: one-time and stale schedules added", flush=True)
            runs = asyncio.run(wait_for_runs(deployment))
            time.sleep(5)  # nothing else runs: the one-time schedule planned exactly one run
            final = asyncio.run(wait_for_runs(deployment))
        except BaseException:
            log.flush()
            print(Path(source, "serve.log").read_text()[-6000:], flush=True)
            raise
        finally:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)
            log.close()
    assert set(final) == {"Completed", "Skipped"}, final
    skipped = runs["Skipped"]
    assert "catch-up window" in (skipped.state.message or ""), skipped.state
    print("e2e-policies: the one-time run COMPLETED, the stale run Skipped", flush=True)
    print("e2e-policies: ok")


if __name__ == "__main__":
    main()
