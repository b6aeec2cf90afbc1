"""Drives a running Cirrus with the real Prefect client (run under .venv-e2e, not the project venv).

``PREFECT_API_URL`` must point at the stack. Exit status 0 when every step behaved as Prefect's own
server would; otherwise an AssertionError names the step. Prints one line per step.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import DeploymentScheduleCreate
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterDeploymentId,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.responses import SetStateStatus
from prefect.client.schemas.schedules import IntervalSchedule
from prefect.client.schemas.sorting import FlowRunSort
from prefect.states import Completed, Pending, Running


def step(message: str) -> None:
    print(f"e2e: {message}", flush=True)


async def main() -> int:
    suffix = uuid.uuid4().hex[:8]
    async with get_client() as client:
        assert await client.api_healthcheck() is None, "GET /health failed"
        step("connected")

        flow_id = await client.create_flow_from_name(f"e2e-flow-{suffix}")
        flow = await client.read_flow(flow_id)
        assert flow.name == f"e2e-flow-{suffix}", flow
        step(f"flow {flow.id} created and read")

        schedule = DeploymentScheduleCreate(schedule=IntervalSchedule(interval=timedelta(hours=1)), active=True)
        deployment_id = await client.create_deployment(
            flow_id=flow_id, name=f"e2e-deployment-{suffix}", schedules=[schedule], tags=["e2e"]
        )
        deployment = await client.read_deployment(deployment_id)
        assert deployment.flow_id == flow_id and deployment.name == f"e2e-deployment-{suffix}", deployment
        assert len(deployment.schedules) == 1, deployment.schedules
        assert deployment.schedules[0].schedule.interval == timedelta(hours=1), deployment.schedules
        step(f"deployment {deployment_id} created and read, with its schedule")

        run = await client.create_flow_run_from_deployment(deployment_id, parameters={"x": 1})
        assert run.deployment_id == deployment_id and run.state is not None, run
        assert run.state.type == StateType.SCHEDULED, run.state
        step(f"flow run {run.id} created from the deployment, {run.state.type.value}")

        for state, expected in ((Pending(), StateType.PENDING), (Running(), StateType.RUNNING)):
            result = await client.set_flow_run_state(run.id, state)
            assert result.status == SetStateStatus.ACCEPT, (expected, result)
            assert result.state is not None and result.state.type == expected, result
            step(f"set_flow_run_state -> {expected.value}: {result.status.value}")
        again = await client.set_flow_run_state(run.id, Pending())
        assert again.status == SetStateStatus.ABORT, again
        step(f"a second Pending is refused: {again.status.value} ({again.details.reason})")
        result = await client.set_flow_run_state(run.id, Completed())
        assert result.status == SetStateStatus.ACCEPT, result
        step("set_flow_run_state -> COMPLETED: ACCEPT")

        done = await client.read_flow_run(run.id)
        assert done.state is not None and done.state.type == StateType.COMPLETED, done.state
        assert done.run_count == 1 and done.start_time is not None and done.end_time is not None, done
        assert done.next_scheduled_start_time is None, done
        step(f"read back: {done.state.type.value}, run_count {done.run_count}, ran {done.total_run_time}")

        completed = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                deployment_id=FlowRunFilterDeploymentId(any_=[deployment_id]),
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.COMPLETED])),
            ),
            sort=FlowRunSort.START_TIME_DESC,
        )
        assert [r.id for r in completed] == [run.id], completed
        by_flow = await client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=[flow.name])),
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
        )
        assert run.id in {r.id for r in by_flow}, by_flow
        step(f"filters: {len(completed)} completed run of the deployment; {len(by_flow)} runs of the flow")
    tag_limits_through_the_cli(f"e2e-{suffix}")
    step("ok")
    return 0


def tag_limits_through_the_cli(tag: str) -> None:
    """``prefect concurrency-limit create / inspect / ls / reset / delete`` (v1 tag limits)."""
    prefect = str(Path(sys.executable).parent / "prefect")

    def cli(*args: str) -> str:
        wide = {**os.environ, "COLUMNS": "200"}  # rich would cut the tag in a narrow table
        done = subprocess.run(
            [prefect, "concurrency-limit", *args], capture_output=True, text=True, timeout=120, env=wide
        )
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done.stdout

    cli("create", tag, "3")
    shown = cli("inspect", tag)
    assert tag in shown and "3" in shown, shown
    assert tag in cli("ls")
    cli("reset", tag)
    cli("delete", tag)
    missing = subprocess.run(
        [prefect, "concurrency-limit", "inspect", tag], capture_output=True, text=True, timeout=120
    )
    assert missing.returncode != 0, missing.stdout
    step(f"prefect concurrency-limit create/inspect/ls/reset/delete {tag}")


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
