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
   run was active); from the runs' state histories, no two runs were ever PENDING or RUNNING at once;
5. meanwhile ``endless`` (it sleeps 10 minutes) gets a 20-second interval schedule with
   ``overlap: CANCEL_OTHER``: when the next run is due, the active one is set CANCELLING, the
   runner kills its process (Prefect's cancellation path) and it ends CANCELLED, saying which run
   was due; the due run then runs; again no two runs were ever active at once;
6. ``tick`` (a 4-second interval, 1-minute catch-up window) is paused through Prefect's client for
   15 s, then resumed: no occurrence of the paused span ever runs (no backlog), and runs resume.

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


@flow(log_prints=True)
def endless() -> None:
    time.sleep(600)


@flow(log_prints=True)
def tick() -> None:
    print("tick")


if __name__ == "__main__":
    serve(
        once.to_deployment(name="policies"),
        slow.to_deployment(name="overlap"),
        endless.to_deployment(name="cancel-other"),
        tick.to_deployment(name="paused"),
    )
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


async def add_interval_schedule(deployment, every_s: int, **policies: object) -> None:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        schedule = {"schedule": {"interval": every_s, "timezone": "UTC"}, "slug": f"every-{every_s}s", **policies}
        response = await client._client.post(f"/deployments/{deployment}/schedules", json=[schedule])
        assert response.status_code == 201, response.text


async def add_overlapping_schedule(deployment, policy: str = "SKIP", every_s: int = 3) -> None:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        interval = {"interval": every_s, "timezone": "UTC"}
        schedule = {"schedule": interval, "overlap": policy, "slug": f"every-{every_s}s"}
        response = await client._client.post(f"/deployments/{deployment}/schedules", json=[schedule])
        assert response.status_code == 201, response.text
        assert response.json()[0]["overlap"] == policy, response.text


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


async def cancel_other_settled(deployment, timeout_s: float = 120.0) -> list:
    """The runs of the CANCEL_OTHER schedule, with their state histories, once one was cancelled by
    the policy and a later one is RUNNING; the schedule is then paused."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    deadline = time.monotonic() + timeout_s
    async with get_client() as client:
        while time.monotonic() < deadline:
            runs = await client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment]))
            )
            cancelled = [r for r in runs if r.state and r.state.type.value == "CANCELLED"]
            if cancelled and any(r.state.type.value == "RUNNING" for r in runs):
                await client.pause_deployment(deployment)
                return [(r, await client.read_flow_run_states(r.id)) for r in runs]
            await asyncio.sleep(1)
        raise AssertionError(f"CANCEL_OTHER never settled: {[(r.name, r.state.name) for r in runs]}")


def check_cancel_other(runs: list) -> int:
    """A run the policy cancelled went CANCELLING → CANCELLED (its process killed by the runner) and
    says which run was due; the run due then ran; never two active at once. Returns how many."""
    check_spans(runs)
    cancelled = [states for run, states in runs if run.state.type.value == "CANCELLED"]
    for states in cancelled:
        assert "CANCELLING" in [s.type.value for s in states], states
        assert any("(overlap policy CANCEL_OTHER)" in (s.message or "") for s in states), states
    # At least one was running: its process was killed (on a loaded machine another may have been
    # cancelled while its process was still starting, PENDING, which the policy allows).
    assert any("RUNNING" in [s.type.value for s in states] for states in cancelled), cancelled
    return len(cancelled)


def check_no_overlap(runs: list) -> int:
    """No two runs were active (PENDING or RUNNING) at once; skipped runs say why. Returns how many
    runs were skipped."""
    check_spans(runs)
    skipped = [run for run, _ in runs if run.state.name == "Skipped"]
    for run in skipped:
        assert run.state.type.value == "CANCELLED", run.state
        assert "of this schedule is still active (overlap policy SKIP)" in (run.state.message or ""), run.state
    return len(skipped)


async def runs_of(client, deployment) -> list:
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    return await client.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment])))


async def pause_and_resume(deployment, pause_s: float = 15.0, timeout_s: float = 60.0) -> tuple[int, int]:
    """Pause ``deployment`` once a run of it completed, resume it ``pause_s`` later, wait for a run
    due after the resume to complete; no run due while it was paused may have run (no backlog).
    Returns (runs completed before the pause, after the resume)."""
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        deadline = time.monotonic() + timeout_s
        while not any(r.state.type.value == "COMPLETED" for r in await runs_of(client, deployment)):
            assert time.monotonic() < deadline, "no run of the interval schedule completed"
            await asyncio.sleep(1)
        await client.pause_deployment(deployment)
        paused_at = datetime.now(UTC)
        await asyncio.sleep(pause_s)
        await client.resume_deployment(deployment)
        resumed_at = datetime.now(UTC)
        deadline = time.monotonic() + timeout_s
        while True:
            runs = await runs_of(client, deployment)
            after = [r for r in runs if r.state.type.value == "COMPLETED" and r.expected_start_time >= resumed_at]
            if after:
                break
            assert time.monotonic() < deadline, f"no run after the resume: {[(r.name, r.state.name) for r in runs]}"
            await asyncio.sleep(1)
        await client.pause_deployment(deployment)
        # Due while paused: only runs the runner had already submitted (PENDING before the pause:
        # its prefetch takes runs up to 10 s early) may have run; nothing was started later.
        margin = timedelta(seconds=1)
        span = [r for r in runs if paused_at + margin < r.expected_start_time < resumed_at - margin]
        backlog = []
        for run in span:
            started = [s.timestamp for s in await client.read_flow_run_states(run.id) if s.type.value == "PENDING"]
            if any(at > paused_at for at in started):
                backlog.append((run.name, run.expected_start_time, run.state.name, started))
    assert not backlog, backlog
    before = [r for r in runs if r.state.type.value == "COMPLETED" and r.expected_start_time <= paused_at]
    return len(before), len(after)


def check_spans(runs: list) -> None:
    """No two of ``runs`` were active (PENDING to a final state) at once."""
    spans = []
    for run, states in runs:
        times = {s.type.value: s.timestamp for s in states}
        if "PENDING" in times:
            end = next((s.timestamp for s in states if s.is_final()), datetime.max.replace(tzinfo=UTC))
            spans.append((times["PENDING"], end, run.name))
    spans.sort()
    for (_, end, name), (start, _, other) in zip(spans, spans[1:], strict=False):
        assert end <= start, f"{other} started at {start} while {name} was active until {end}"


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
            cancelling = asyncio.run(deployment_id("endless/cancel-other"))
            paused = asyncio.run(deployment_id("tick/paused"))
            asyncio.run(add_schedules(deployment))
            asyncio.run(add_overlapping_schedule(overlapping))
            asyncio.run(add_overlapping_schedule(cancelling, "CANCEL_OTHER", 20))
            asyncio.run(add_interval_schedule(paused, 4, catchup_window=60))
            print("e2e-policies: one-time, stale, SKIP and CANCEL_OTHER schedules added", flush=True)
            started = time.monotonic()
            skipped = check_no_overlap(asyncio.run(overlap_settled(overlapping)))
            print(f"e2e-policies: SKIP never overlapped; {skipped} runs skipped in {time.monotonic() - started:.0f} s")
            before, after = asyncio.run(pause_and_resume(paused))
            print(f"e2e-policies: paused then resumed: no backlog ran ({before} runs before, {after} after)")
            cancelled = check_cancel_other(asyncio.run(cancel_other_settled(cancelling)))
            print(f"e2e-policies: CANCEL_OTHER killed {cancelled} active run(s), the due run ran; never overlapped")
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
