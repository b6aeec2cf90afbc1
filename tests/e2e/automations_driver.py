"""Run under .venv-e2e (real Prefect 3.9.1) against ``PREFECT_API_URL``: automations end to end.

1. ``flows.py`` serves ``greet`` with ``triggers=[DeploymentEventTrigger(expect={"e2e.go"}, ...,
   parameters={"x": "{{ event.payload.x }}"})]`` and ``sleeper`` (sleeps 120 s); ``serve()`` deletes
   the automations its deployments own, then creates the trigger's (owned by ``greet``'s deployment);
2. ``emit_event("e2e.go", payload={"x": 7})`` (the events websocket) → a run of ``greet`` with
   ``x == 7`` is created (the latency from the emit to the run's creation is printed) and completes;
3. an automation created with the client on a custom event runs ``greet`` (``x`` from the payload);
4. a proactive automation ("no Completed of flow ``never-runs`` within 10 s") fires: its
   ``prefect.automation.triggered`` event is stored;
5. an automation that cancels long runs ("Running, then no terminal state within 10 s", for each
   run of ``sleeper``) cancels a ``sleeper`` run: it ends CANCELLED.

Prints ``e2e-automations: ok`` and ``latency_s=<seconds>`` at the end.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from datetime import timedelta

from served_flows import served

FLOWS = """
import time

from prefect import flow, serve
from prefect.events import DeploymentEventTrigger


@flow
def greet(x: int = 0) -> int:
    return x


@flow
def sleeper() -> None:
    time.sleep(120)


if __name__ == "__main__":
    trigger = DeploymentEventTrigger(
        expect={"e2e.go"}, match={"prefect.resource.id": "e2e.thing"}, parameters={"x": "{{ event.payload.x }}"}
    )
    serve(greet.to_deployment(name="e2e-greet", triggers=[trigger]), sleeper.to_deployment(name="e2e-sleeper"))
"""
TIMEOUT_S = 90.0


async def wait_for(predicate, timeout: float = TIMEOUT_S, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        found = await predicate()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {predicate.__name__}"
        await asyncio.sleep(every)


async def main() -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId, FlowRunFilter
    from prefect.events import emit_event
    from prefect.events.actions import CancelFlowRun, DoNothing, RunDeployment
    from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter
    from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture

    async with get_client() as client:

        async def deployments():
            found = {d.name: d for d in await client.read_deployments()}
            return found if {"e2e-greet", "e2e-sleeper"} <= set(found) else None

        deps = await wait_for(deployments)
        greet, sleeper = deps["e2e-greet"], deps["e2e-sleeper"]

        async def owned():
            return await client.read_resource_related_automations(f"prefect.deployment.{greet.id}")

        (trigger_automation,) = await wait_for(owned)
        assert trigger_automation.actions[0].deployment_id == greet.id, trigger_automation

        async def greet_runs(x: int):
            runs = await client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[greet.id])),
                flow_run_filter=FlowRunFilter(),
            )
            return [r for r in runs if r.parameters.get("x") == x]

        # 2. serve(triggers=...): the emitted event runs greet
        emitted = time.time()
        emit_event("e2e.go", resource={"prefect.resource.id": "e2e.thing"}, payload={"x": 7})

        async def run_seven():
            return await greet_runs(7)

        (run,) = await wait_for(run_seven)
        latency = run.created.timestamp() - emitted
        print(f"latency_s={latency:.2f}", flush=True)

        async def completed():
            state = (await client.read_flow_run(run.id)).state_type.value
            return state if state == "COMPLETED" else None

        await wait_for(completed, every=0.5)

        # 3. an automation created with the client, on a custom event
        await client.create_automation(
            AutomationCore(
                name="e2e custom",
                trigger=EventTrigger(expect={"e2e.custom"}, posture=Posture.Reactive, threshold=1),
                actions=[RunDeployment(source="selected", deployment_id=greet.id, parameters={"x": 11})],
            )
        )
        emit_event("e2e.custom", resource={"prefect.resource.id": "e2e.other"})

        async def run_eleven():
            return await greet_runs(11)

        await wait_for(run_eleven)

        # 4. proactive: no Completed of flow never-runs within 10 s
        proactive = await client.create_automation(
            AutomationCore(
                name="e2e proactive",
                trigger=EventTrigger(
                    expect={"prefect.flow-run.Completed"},
                    match_related={"prefect.resource.role": "flow", "prefect.resource.name": "never-runs"},
                    posture=Posture.Proactive,
                    threshold=1,
                    within=timedelta(seconds=10),
                ),
                actions=[DoNothing()],
            )
        )

        async def proactive_fired():
            page = await client.request(
                "POST",
                "/events/filter",
                json={
                    "filter": EventFilter(
                        event=EventNameFilter(name=["prefect.automation.triggered"]),
                        resource=EventResourceFilter(id=[f"prefect.automation.{proactive}"]),
                    ).model_dump(mode="json")
                },
            )
            return page.json()["events"]

        started = time.time()
        await wait_for(proactive_fired, every=1.0)
        print(f"proactive_fired_after_s={time.time() - started:.1f}", flush=True)

        # 5. cancel long runs of sleeper
        await client.create_automation(
            AutomationCore(
                name="e2e cancel long runs",
                trigger=EventTrigger(
                    after={"prefect.flow-run.Running"},
                    expect={
                        "prefect.flow-run.Completed",
                        "prefect.flow-run.Failed",
                        "prefect.flow-run.Cancelled",
                        "prefect.flow-run.Crashed",
                    },  # fmt: skip
                    match={"prefect.resource.id": "prefect.flow-run.*"},
                    match_related={"prefect.resource.id": f"prefect.deployment.{sleeper.id}"},
                    for_each={"prefect.resource.id"},
                    posture=Posture.Proactive,
                    threshold=1,
                    within=timedelta(seconds=10),
                ),
                actions=[CancelFlowRun()],
            )
        )
        long_run = await client.create_flow_run_from_deployment(sleeper.id)

        async def cancelled():
            state = (await client.read_flow_run(long_run.id)).state_type.value
            assert state not in ("COMPLETED", "FAILED", "CRASHED"), state
            return state if state == "CANCELLED" else None

        await wait_for(cancelled, timeout=120, every=1.0)
        print(f"cancelled run {long_run.id}", flush=True)
    print("e2e-automations: ok", flush=True)


if __name__ == "__main__":
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    with tempfile.TemporaryDirectory() as source, served(source, FLOWS):
        asyncio.run(main())
    sys.exit(0)
