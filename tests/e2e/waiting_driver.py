"""Run under .venv-e2e (real Prefect 3.9.1) against ``PREFECT_API_URL``: runs that wait.

``concurrency``: ``flows.py`` serves ``slow`` (a 4 s flow) as two deployments with
``concurrency_limit=1``: ``enqueue`` (ENQUEUE, the default) and ``cancel-new``
(``ConcurrencyLimitConfig(limit=1, collision_strategy="CANCEL_NEW")``). Two runs of each are
created at once. Both ``enqueue`` runs end COMPLETED and their RUNNING spans (from the state
histories) never overlap, the second having waited in AwaitingConcurrencySlot; of the two
``cancel-new`` runs one ends COMPLETED and the other CANCELLED ("Deployment concurrency limit
reached.").

``pause``: ``flows.py`` serves ``asker``, which calls ``pause_flow_run(wait_for_input=Answer)``;
the driver waits until its run is PAUSED, resumes it with ``resume_flow_run(run_input=...)`` and
checks that the flow received the input (it stores it in a variable) and COMPLETED.

``suspend``: the same with ``suspend_flow_run``: the flow's process ends at the suspension, the
resume makes the run SCHEDULED "Resuming", and the runner runs it again; the second
``suspend_flow_run`` call (same key) is refused by the server and returns the input.

Every subprocess runs in its own process group with a hard timeout and is killed on failure.
Prints ``e2e-waiting: ok`` at the end.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time

from served_flows import served

CONCURRENCY_FLOWS = """
import time

from prefect import flow, serve
from prefect.client.schemas.objects import ConcurrencyLimitConfig


@flow
def slow() -> None:
    time.sleep(4)


if __name__ == "__main__":
    serve(
        slow.to_deployment(name="enqueue", concurrency_limit=1),
        slow.to_deployment(
            name="cancel-new", concurrency_limit=ConcurrencyLimitConfig(limit=1, collision_strategy="CANCEL_NEW")
        ),
    )
"""
PAUSE_FLOWS = """
from prefect import flow, pause_flow_run
from prefect.input import RunInput
from prefect.variables import Variable


class Answer(RunInput):
    name: str


@flow
def asker() -> str:
    answer = pause_flow_run(wait_for_input=Answer, timeout=120, poll_interval=2)
    Variable.set("e2e_answer", answer.name, overwrite=True)
    return answer.name


if __name__ == "__main__":
    asker.serve(name="asker")
"""
SUSPEND_FLOWS = """
from prefect import flow, suspend_flow_run
from prefect.input import RunInput
from prefect.variables import Variable


class Answer(RunInput):
    name: str


@flow
def suspender() -> str:
    answer = suspend_flow_run(wait_for_input=Answer, timeout=120)
    Variable.set("e2e_suspended_answer", answer.name, overwrite=True)
    return answer.name


if __name__ == "__main__":
    suspender.serve(name="suspender")
"""
RUN_TIMEOUT_S = 150.0
TERMINAL = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")


async def deployment(client, flow_name: str, name: str):
    from prefect.exceptions import ObjectNotFound

    deadline = time.monotonic() + 60
    while True:
        try:
            return await client.read_deployment_by_name(f"{flow_name}/{name}")
        except ObjectNotFound:  # not served yet
            assert time.monotonic() < deadline, f"{flow_name}/{name} never appeared"
            await asyncio.sleep(1)


async def settled(client, run_ids: list, done=TERMINAL) -> list:
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while True:
        runs = [await client.read_flow_run(i) for i in run_ids]
        if all(r.state_type and r.state_type.value in done for r in runs):
            return runs
        assert time.monotonic() < deadline, [(r.name, r.state) for r in runs]
        await asyncio.sleep(1)


def running_spans(states: list) -> tuple:
    """(first RUNNING, first terminal state after it) of a run's history."""
    start = next(s.timestamp for s in states if s.type.value == "RUNNING")
    end = next(s.timestamp for s in states if s.type.value in TERMINAL and s.timestamp >= start)
    return start, end


async def check_concurrency() -> None:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        enqueue = await deployment(client, "slow", "enqueue")
        cancel_new = await deployment(client, "slow", "cancel-new")
        assert enqueue.concurrency_limit == 1, enqueue
        queued = [(await client.create_flow_run_from_deployment(enqueue.id)).id for _ in range(2)]
        cancelled = [(await client.create_flow_run_from_deployment(cancel_new.id)).id for _ in range(2)]
        runs = await settled(client, queued + cancelled)
        print("e2e-waiting:", [(r.name, r.state_type.value, r.state.message) for r in runs], flush=True)
        first, second = runs[:2]
        assert first.state_type.value == second.state_type.value == "COMPLETED", runs[:2]
        spans = sorted([running_spans(await client.read_flow_run_states(r.id)) for r in (first, second)])
        assert spans[0][1] <= spans[1][0], f"two RUNNING at once: {spans}"
        waited = [await client.read_flow_run_states(r.id) for r in (first, second)]
        assert any(s.name == "AwaitingConcurrencySlot" for states in waited for s in states), waited
        kinds = sorted(r.state_type.value for r in runs[2:])
        assert kinds == ["CANCELLED", "COMPLETED"], runs[2:]
        loser = next(r for r in runs[2:] if r.state_type.value == "CANCELLED")
        assert loser.state.message == "Deployment concurrency limit reached.", loser.state
    print("e2e-waiting: ENQUEUE ran one at a time, CANCEL_NEW cancelled the second", flush=True)


async def resumed_with_input(flow_name: str, variable: str) -> list:
    """Run ``flow_name``'s deployment until it is PAUSED waiting for input, resume it with input
    through the client, and check that it COMPLETED with that input; its states."""
    from prefect.client.orchestration import get_client
    from prefect.flow_runs import resume_flow_run
    from prefect.variables import Variable

    async with get_client() as client:
        target = await deployment(client, flow_name, flow_name)
        run_id = (await client.create_flow_run_from_deployment(target.id)).id
        (paused,) = await settled(client, [run_id], done=("PAUSED", *TERMINAL))
        assert paused.state_type.value == "PAUSED", paused.state
        keyset = paused.state.state_details.run_input_keyset
        assert keyset, paused.state
        deadline = time.monotonic() + 30
        while not await client.filter_flow_run_input(run_id, keyset["schema"], 1, set()):
            assert time.monotonic() < deadline, "the flow never saved its input schema"
            await asyncio.sleep(1)
    await asyncio.to_thread(resume_flow_run, run_id, run_input={"name": "cirrus"})
    async with get_client() as client:
        (done,) = await settled(client, [run_id])
        assert done.state_type.value == "COMPLETED", done.state
        states = await client.read_flow_run_states(run_id)
    assert await Variable.aget(variable) == "cirrus"
    return states


async def check_pause() -> None:
    await resumed_with_input("asker", "e2e_answer")
    print("e2e-waiting: paused for input, resumed with it, the flow received it", flush=True)


async def check_suspend() -> None:
    states = await resumed_with_input("suspender", "e2e_suspended_answer")
    names = [s.name for s in states]
    assert "Suspended" in names and "Resuming" in names, names
    assert names.count("Running") == 2, names  # its process ended at the suspension; the runner ran it again
    print("e2e-waiting: suspended for input, resumed through the runner with it", flush=True)


PARTS = {
    "concurrency": (CONCURRENCY_FLOWS, check_concurrency),
    "pause": (PAUSE_FLOWS, check_pause),
    "suspend": (SUSPEND_FLOWS, check_suspend),
}


def main() -> None:
    parts = sys.argv[1:] or list(PARTS)
    for part in parts:
        with tempfile.TemporaryDirectory() as source:
            flows, check = PARTS[part]
            with served(source, flows):
                asyncio.run(check())
    print("e2e-waiting: ok")


if __name__ == "__main__":
    main()
