"""The API's use cases as the reliability tests drive them (the services behind the routes)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from chalicelib.config import Settings
from chalicelib.errors import ConcurrentUpdateError, DeploymentNotFoundError
from chalicelib.schemas.deployments import DeploymentCreate, DeploymentFlowRunCreate, DeploymentUpdate
from chalicelib.schemas.flows import FlowCreate
from chalicelib.services import deployments, flows
from chalicelib.storage import Repositories

T = TypeVar("T")
ATTEMPTS = 20


def persist(call: Callable[[], T]) -> T:
    """Call ``call`` again while it loses optimistic races (what a client retrying a 409 does)."""
    for _ in range(ATTEMPTS - 1):
        try:
            return call()
        except ConcurrentUpdateError:
            continue
    return call()


def create_flow(repos: Repositories, name: str, now: datetime) -> uuid.UUID:
    flow, _ = flows.create_flow(repos, FlowCreate(name=name), now)
    return flow.id


def upsert(
    repos: Repositories,
    settings: Settings,
    flow_id: uuid.UUID,
    name: str,
    schedules: list[dict[str, Any]],
    now: datetime,
    **fields: Any,
) -> uuid.UUID:
    """``POST /deployments/`` (plans the deployment inline, as the route does)."""
    body = DeploymentCreate(name=name, flow_id=flow_id, schedules=schedules, **fields)
    return persist(lambda: deployments.upsert_deployment(repos, settings, body, now)).deployment.id


def patch(repos: Repositories, settings: Settings, id_: uuid.UUID, now: datetime, **fields: Any) -> None:
    """``PATCH /deployments/{id}``."""
    body = DeploymentUpdate(**fields)
    persist(lambda: deployments.update_deployment(repos, settings, id_, body, now))


def pause(repos: Repositories, id_: uuid.UUID, now: datetime) -> None:
    persist(lambda: deployments.pause_deployment(repos, id_, now))


def resume(repos: Repositories, settings: Settings, id_: uuid.UUID, now: datetime) -> None:
    persist(lambda: deployments.resume_deployment(repos, settings, id_, now))


def create_flow_run(repos: Repositories, id_: uuid.UUID, key: str | None, now: datetime) -> uuid.UUID | None:
    """``POST /deployments/{id}/create_flow_run``; ``None`` while the deployment does not exist."""
    try:
        run, _ = deployments.create_flow_run(repos, id_, DeploymentFlowRunCreate(idempotency_key=key), now)
    except DeploymentNotFoundError:
        return None
    return run.id
