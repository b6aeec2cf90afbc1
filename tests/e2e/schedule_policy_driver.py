"""Run under .venv-e2e (real Prefect 3.9.1) against ``PREFECT_API_URL``: Cirrus's one-time schedule,
catch-up window and overlap policy with a real ``serve()`` runner (issue 28).

1. ``flows.py`` serves ``once`` and ``slow`` with no schedule (``serve(...)``, one runner);
2. through Cirrus's REST API the test adds a one-time schedule 20 s ahead with a 10-minute catch-up
   window, and a second schedule whose only occurrence is 5 minutes in the past — planned by a
   backfill from before now, it is past a 1-minute catch-up window (a backlog after an outage);
3. the runner executes the one-time run (COMPLETED) and never the stale one: the late-runs job
   skips it (CANCELLED "Skipped"), and Prefect's client reads the deployment and its schedules, the
   policy fields included, without complaint;
4. ``slow`` (it sleeps 8 s) gets a 3-second interval schedule with ``overlap: SKIP``: the runner
   submits every due run, one starts and the others are skipped (CANCELLED "Skipped", saying which
   run was active); from the runs' state histories, no two runs were ever PENDING or RUNNING at once.

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
import time

from prefect import flow, serve


@flow(log_prints=True)
def once() -> None:
    print("the one-time run")


@flow(log_prints=True)
def slow() -> None:
    time.sleep(8)


if __name__ == "__main__":
    serve(once.to_deployment(name="policies"), slow.to_deployment(name="overlap"))
"""


async def deployment_id(name: str = "once/policies", timeout_s: float = 60.0):
    from prefect.client.orchestration import get_client

    deadline = time.monotonic() + timeout_s
    async with get_client() as client:
        while time.monotonic() < deadline:
            try:
                return (await client.read_deployment_by_name(name)).id
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


async def add_overlapping_schedule(deployment) -> None:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        schedule = {"schedule": {"interval": 3, "timezone": "UTC"}, "overlap": "SKIP", "slug": "every-3s"}
        response = await client._client.post(f"/deployments/{deployment}/schedules", json=[schedule])
        assert response.status_code == 201, response.text
        assert response.json()[0]["overlap"] == "SKIP", response.text


async def overlap_settled(deployment, timeout_s: float = 75.0) -> list:
    """The runs of the SKIP schedule, with their state histories, once two have COMPLETED and three
    were skipped; the schedule is then paused so that nothing more starts."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    deadline = time.monotonic() + timeout_s
    async with get_client() as client:
        while time.monotonic() < deadline:
            runs = await client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment]))
            )
            names = [r.state.name for r in runs if r.state]
            if names.count("Completed") >= 2 and names.count("Skipped") >= 3:
                await client.pause_deployment(deployment)
                return [(r, await client.read_flow_run_states(r.id)) for r in runs]
            await asyncio.sleep(1)
        raise AssertionError(f"the SKIP schedule never settled: {[(r.name, r.state.name) for r in runs]}")


def check_no_overlap(runs: list) -> int:
    """No two runs were active (PENDING or RUNNING) at once; skipped runs say why. Returns how many
    runs were skipped."""
    spans = []
    for run, states in runs:
        times = {s.type.value: s.timestamp for s in states}
        if "PENDING" in times:
            end = next((s.timestamp for s in states if s.is_final()), datetime.max.replace(tzinfo=UTC))
            spans.append((times["PENDING"], end, run.name))
    spans.sort()
    for (_, end, name), (start, _, other) in zip(spans, spans[1:], strict=False):
        assert end <= start, f"{other} started at {start} while {name} was active until {end}"
    skipped = [run for run, _ in runs if run.state.name == "Skipped"]
    for run in skipped:
        assert run.state.type.value == "CANCELLED", run.state
        assert "of this schedule is still active (overlap policy SKIP)" in (run.state.message or ""), run.state
    return len(skipped)


def main() -> None:
    with tempfile.TemporaryDirectory() as source:
        Path(source, "flows.py").write_text(FLOWS)
        log = Path(source, "serve.log").open("w")
        server = subprocess.Popen(
            [sys.executable, "flows.py"], cwd=source, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            deployment = asyncio.run(deployment_id())
            overlapping = asyncio.run(deployment_id("slow/overlap"))
            asyncio.run(add_schedules(deployment))
            asyncio.run(add_overlapping_schedule(overlapping))
            print("e2e-policies: one-time, stale and SKIP schedules added", flush=True)
            started = time.monotonic()
            skipped = check_no_overlap(asyncio.run(overlap_settled(overlapping)))
            print(f"e2e-policies: SKIP never overlapped; {skipped} runs skipped in {time.monotonic() - started:.0f} s")
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
