"""``make smoke URL=... KEY=...``: does a deployed Cirrus work? A short check with Prefect's own client.

Run by the e2e virtualenv (Prefect 3.9.1, ``make e2e-venv``): ``python infra/smoke.py --url
https://<distribution>.cloudfront.net/api --key <API key>``. ``URL`` is the stack's ``PrefectApiUrl``
output (``make run``'s stand-in: ``http://127.0.0.1:<port>/api``); ``KEY`` a key from ``cirrus api-key
create``. Each step prints one line (``ok``/``FAIL``, seconds); the exit status is 0 when all pass:

1. health: ``GET /health`` through the client (no key needed);
2. auth: a request without the key is refused (401), one with a wrong key too (403)
   (``--no-auth`` skips this for a stack that requires none);
3. a flow and a deployment with a one-minute interval schedule are created;
4. the scheduler plans the deployment's runs: at least one SCHEDULED run within 2 minutes;
5. an event over the websocket (``<URL>/events/in``, Prefect's events client): a task-run event
   of one of those runs, which must then be readable as a task run;
6. Prefect's UI settings: ``GET <host>/ui-settings`` names this API;

then it deletes what it created (task run, runs, deployment, flow), whatever happened.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

SCHEDULED_WITHIN_S = 120.0
EVENT_WITHIN_S = 30.0


class Smoke:
    """The steps, in order; each records its outcome; :meth:`clean_up` undoes what they created."""

    def __init__(self, url: str, key: str, require_auth: bool) -> None:
        self.url, self.key, self.require_auth = url.rstrip("/"), key, require_auth
        self.name = f"cirrus-smoke-{uuid.uuid4().hex[:8]}"
        self.created: dict[str, Any] = {}
        self.failures = 0

    async def step(self, title: str, check: Callable[[], Awaitable[str]]) -> bool:
        started = time.monotonic()
        try:
            detail = await check()
        except Exception as exc:  # noqa: BLE001 - a smoke test reports every failure and goes on to clean up
            self.failures += 1
            print(f"FAIL {title} ({time.monotonic() - started:.1f} s): {type(exc).__name__}: {exc}", flush=True)
            return False
        print(f"ok   {title} ({time.monotonic() - started:.1f} s){': ' + detail if detail else ''}", flush=True)
        return True

    async def health(self) -> str:
        from prefect.client.orchestration import get_client

        async with get_client() as client:
            error = await client.api_healthcheck()
        if error is not None:
            raise error
        return ""

    async def auth(self) -> str:
        import httpx

        async with httpx.AsyncClient(timeout=30) as http:
            anonymous = await http.post(f"{self.url}/flows/filter", json={})
            wrong = await http.post(
                f"{self.url}/flows/filter", json={}, headers={"Authorization": "Bearer not-a-cirrus-key"}
            )
        if (anonymous.status_code, wrong.status_code) != (401, 403):
            raise AssertionError(
                f"no key -> {anonymous.status_code}, a wrong key -> {wrong.status_code} (want 401, 403)"
            )
        return "no key 401, wrong key 403"

    async def flow_and_deployment(self) -> str:
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.actions import DeploymentScheduleCreate
        from prefect.client.schemas.schedules import IntervalSchedule

        async with get_client() as client:
            flow_id = await client.create_flow_from_name(self.name)
            self.created["flow"] = flow_id
            schedule = DeploymentScheduleCreate(schedule=IntervalSchedule(interval=timedelta(minutes=1)), active=True)
            deployment_id = await client.create_deployment(flow_id=flow_id, name="every-minute", schedules=[schedule])
            self.created["deployment"] = deployment_id
            deployment = await client.read_deployment(deployment_id)
        if deployment.name != "every-minute" or len(deployment.schedules) != 1:
            raise AssertionError(f"read back {deployment.name!r} with {len(deployment.schedules)} schedules")
        return f"flow {flow_id}, deployment {deployment_id}"

    async def scheduled_runs(self) -> str:
        from prefect.client.orchestration import get_client

        deadline = time.monotonic() + SCHEDULED_WITHIN_S
        async with get_client() as client:
            while True:
                runs = await client.read_flow_runs(deployment_filter=_deployment_filter(self.created["deployment"]))
                scheduled = [r for r in runs if r.state is not None and r.state.type.value == "SCHEDULED"]
                if scheduled:
                    self.created["runs"] = [r.id for r in runs]
                    first = min(r.expected_start_time for r in scheduled if r.expected_start_time)
                    return f"{len(scheduled)} scheduled, the first at {first.isoformat()}"
                if time.monotonic() > deadline:
                    raise AssertionError(f"no scheduled run within {SCHEDULED_WITHIN_S:.0f} s")
                await asyncio.sleep(5)

    async def websocket_event(self) -> str:
        from prefect.client.orchestration import get_client
        from prefect.events import Event
        from prefect.events.clients import PrefectEventsClient

        flow_run_id = self.created["runs"][0]
        task_run_id = uuid.uuid4()
        event = Event(
            occurred=datetime.now(UTC),
            event="prefect.task-run.Running",
            resource={"prefect.resource.id": f"prefect.task-run.{task_run_id}"},
            related=[{"prefect.resource.id": f"prefect.flow-run.{flow_run_id}", "prefect.resource.role": "flow-run"}],
            payload={
                "validated_state": {"type": "RUNNING", "name": "Running", "message": "", "state_details": {}},
                "task_run": {"name": "smoke-task", "task_key": "smoke-task-0", "dynamic_key": "0", "run_count": 1},
            },
        )
        async with PrefectEventsClient(api_url=self.url) as events:
            await events.emit(event)
        self.created["task_run"] = task_run_id
        deadline = time.monotonic() + EVENT_WITHIN_S
        async with get_client() as client:
            while True:
                try:
                    task_run = await client.read_task_run(task_run_id)
                    if str(task_run.flow_run_id) == str(flow_run_id):
                        return f"task run {task_run_id} recorded from the event"
                except Exception:  # noqa: BLE001 - not there yet (404): wait for it
                    if time.monotonic() > deadline:
                        raise
                await asyncio.sleep(1)

    async def ui_settings(self) -> str:
        import httpx

        host = self.url.removesuffix("/api")
        async with httpx.AsyncClient(timeout=30) as http:
            answer = await http.get(f"{host}/ui-settings")
        answer.raise_for_status()
        settings = answer.json()
        if not str(settings.get("api_url", "")).endswith("/api"):
            raise AssertionError(f"/ui-settings names api_url {settings.get('api_url')!r}")
        return f"api_url {settings['api_url']}, auth {settings.get('auth')}"

    async def clean_up(self) -> None:
        from prefect.client.orchestration import get_client

        async with get_client() as client:
            steps: list[Awaitable[Any]] = []
            if "task_run" in self.created:
                steps.append(client.delete_task_run(self.created["task_run"]))
            if "deployment" in self.created:
                runs = await client.read_flow_runs(
                    deployment_filter=_deployment_filter(self.created["deployment"]), limit=200
                )
                steps += [client.delete_flow_run(run.id) for run in runs]
                steps.append(client.delete_deployment(self.created["deployment"]))
            for awaitable in steps:
                try:
                    await awaitable
                except Exception as exc:  # noqa: BLE001 - clean up as much as possible
                    print(f"     clean-up: {type(exc).__name__}: {exc}", flush=True)
            if "flow" in self.created:
                await client.delete_flow(self.created["flow"])
        print(f"ok   cleaned up {sorted(self.created)}", flush=True)

    async def run(self) -> int:
        print(f"smoke test of {self.url} ({self.name})", flush=True)
        try:
            await self.step("health", self.health)
            if self.require_auth:
                await self.step("auth refused without the key", self.auth)
            if await self.step("flow and deployment created", self.flow_and_deployment):
                if await self.step("the scheduler planned runs", self.scheduled_runs):
                    await self.step("an event over the websocket", self.websocket_event)
            await self.step("Prefect's UI settings", self.ui_settings)
        finally:
            await self.clean_up()
        print("smoke test passed" if not self.failures else f"smoke test FAILED: {self.failures} step(s)", flush=True)
        return 1 if self.failures else 0


def _deployment_filter(deployment_id: Any) -> Any:
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    return DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the stack's PrefectApiUrl (…/api)")
    parser.add_argument("--key", default="", help="an API key (cirrus api-key create)")
    parser.add_argument("--no-auth", action="store_true", help="the stack requires no key (skip the auth step)")
    args = parser.parse_args()
    if not args.key and not args.no_auth:
        parser.error("--key is required (or --no-auth for a stack without keys)")
    # Prefect reads its settings from the environment when first imported: set them before.
    os.environ["PREFECT_API_URL"] = args.url.rstrip("/")
    os.environ["PREFECT_SERVER_ALLOW_EPHEMERAL_MODE"] = "false"
    if args.key:
        os.environ["PREFECT_API_KEY"] = args.key
        os.environ["PREFECT_API_AUTH_STRING"] = args.key
    return asyncio.run(Smoke(args.url, args.key, require_auth=not args.no_auth).run())


if __name__ == "__main__":
    sys.exit(main())
