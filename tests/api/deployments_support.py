"""Helpers shared by the deployments API tests (bodies, reading a deployment's runs)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from chalicelib.schemas.flow_runs import FlowRun
from chalicelib.schemas.states import StateType
from tests.helpers import call

HOURLY = {"interval": 3600, "anchor_date": "2020-01-01T00:00:00Z", "timezone": "UTC"}
DAILY_9 = {"cron": "0 9 * * *", "timezone": "America/New_York"}
EVERY_2H = {"interval": 7200, "anchor_date": "2020-01-01T00:30:00Z", "timezone": "UTC"}


def utcnow() -> datetime:
    return datetime.now(UTC)


def make_flow(client: Any, name: str = "etl") -> str:
    status, flow = call(client, "POST", "/flows/", {"name": name})
    assert status in (200, 201)
    return flow["id"]


def make_pool(client: Any, name: str = "pool") -> dict:
    status, pool = call(client, "POST", "/work_pools/", {"name": name, "type": "process"})
    assert status == 201, pool
    return pool


def deploy(client: Any, flow_id: str, name: str = "prod", expect: int | None = None, **fields: Any) -> dict:
    status, body = call(client, "POST", "/deployments/", {"name": name, "flow_id": flow_id, **fields})
    assert status in (200, 201), body
    if expect is not None:
        assert status == expect
    return body


def runs_of(repos: Any, deployment_id: str, state: str | None = None) -> list[FlowRun]:
    """The deployment's runs (by-owner-state index), optionally of one state type, by start time."""
    runs = repos.flow_runs.by_deployment(uuid.UUID(deployment_id), StateType(state) if state else None)
    return sorted(runs, key=lambda r: (r.expected_start_time or r.created, str(r.id)))


def auto_runs(repos: Any, deployment_id: str) -> list[FlowRun]:
    """Auto-scheduled runs still SCHEDULED."""
    return [r for r in runs_of(repos, deployment_id, "SCHEDULED") if r.auto_scheduled]


def ids(rows: list[Any]) -> set[str]:
    return {str(r["id"] if isinstance(r, dict) else r.id) for r in rows}
