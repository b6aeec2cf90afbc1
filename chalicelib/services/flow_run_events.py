"""Cirrus's own ``prefect.flow-run.<State>`` events, derived from the ``flow_runs`` table's stream.

Every accepted transition is a write of the run item that changes its ``state_id``; the stream
(NEW_AND_OLD_IMAGES) carries each such write exactly once, in order per run, for 24 hours. So an
event is emitted for every transition that happened and for none that did not (a refused
``set_state`` writes nothing; a heartbeat or a PATCH keeps the ``state_id``, so emits nothing).
Deployed, a Lambda consumes the stream and is retried until it succeeds; locally the stream is
pulled before the feed is read and by the front's poller. The event's id is the new state's id (as
Prefect's server does), so a record handled twice stores its event once.

The event has Prefect's shape (``server/models/events.py``): the run as resource with its state
labels; related flow, deployment, work queue, work pool, parent task run, the tags of the run, flow
and deployment, and the creator; the ``intended`` transition and both states in the payload;
``follows`` the previous state's event when that was less than 5 minutes earlier.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from chalicelib.errors import NotFoundError
from chalicelib.schemas.events import Event
from chalicelib.schemas.flow_runs import FlowRun
from chalicelib.schemas.states import State
from chalicelib.services import event_records
from chalicelib.storage import Repositories

#: Prefect's ``TRUNCATE_STATE_MESSAGES_AT``.
MESSAGE_LIMIT = 100_000
TIGHT_TIMING = timedelta(minutes=5)

Change = tuple[FlowRun | None, FlowRun]


def _truncated(text: str | None) -> str:
    if not text:
        return ""
    if len(text) <= MESSAGE_LIMIT:
        return text
    half = MESSAGE_LIMIT // 2
    return text[:half] + "..." + text[-half:]


def state_payload(state: State | None) -> dict[str, str] | None:
    if state is None:
        return None
    payload = {"type": state.type.value}
    if state.name:
        payload["name"] = state.name
    if state.message:
        payload["message"] = _truncated(state.message)
    if state.type.value == "PAUSED":
        payload["pause_reschedule"] = str(bool(state.state_details.pause_reschedule)).lower()
    return payload


class _Lookups:
    """The run's flow, deployment and work pool, each read once per batch of changes."""

    def __init__(self, repos: Repositories) -> None:
        self.repos = repos
        self.cache: dict[tuple[str, Any], Any] = {}

    def _get(self, kind: str, key: Any, read: Callable[[Any], Any]) -> Any:
        if (kind, key) not in self.cache:
            try:
                self.cache[(kind, key)] = read(key)
            except NotFoundError:
                self.cache[(kind, key)] = None
        return self.cache[(kind, key)]

    def flow(self, flow_id: uuid.UUID) -> Any:
        return self._get("flow", flow_id, self.repos.flows.get)

    def deployment(self, deployment_id: uuid.UUID | None) -> Any:
        return None if deployment_id is None else self._get("deployment", deployment_id, self.repos.deployments.get)

    def work_pool(self, name: str | None) -> Any:
        return None if not name else self._get("pool", name, self.repos.work_pools.find_named)


def _related(run: FlowRun, lookups: _Lookups) -> list[dict[str, str]]:
    related: list[dict[str, str]] = []
    tags = set(run.tags)

    def add(kind: str, object_id: Any, name: str | None, **extra: str) -> None:
        related.append(
            {"prefect.resource.id": f"prefect.{kind}.{object_id}", "prefect.resource.role": kind,
             "prefect.resource.name": name or "", **extra}
        )  # fmt: skip

    flow = lookups.flow(run.flow_id)
    if flow is not None:
        add("flow", flow.id, flow.name)
        tags |= set(flow.tags or [])
    deployment = lookups.deployment(run.deployment_id)
    if deployment is not None:
        add("deployment", deployment.id, deployment.name)
        tags |= set(deployment.tags or [])
    if run.work_queue_id is not None:
        add("work-queue", run.work_queue_id, run.work_queue_name)
    pool = lookups.work_pool(run.work_pool_name)
    if pool is not None:
        add("work-pool", pool.id, pool.name, **{"prefect.work-pool.type": pool.type})
    if run.parent_task_run_id is not None:
        add("task-run", run.parent_task_run_id, None)
    related += [{"prefect.resource.id": f"prefect.tag.{tag}", "prefect.resource.role": "tag"} for tag in sorted(tags)]
    creator = run.created_by
    if creator is not None and creator.id is not None and creator.type in ("DEPLOYMENT", "AUTOMATION"):
        entry = {
            "prefect.resource.id": f"prefect.{creator.type.lower()}.{creator.id}",
            "prefect.resource.role": "creator",
        }
        if creator.display_value:
            entry["prefect.resource.name"] = creator.display_value
        related.append(entry)
    return related


def state_change_event(before: FlowRun | None, after: FlowRun, lookups: _Lookups) -> Event | None:
    """The event of the transition from ``before`` to ``after``, or ``None`` when the write did not
    change the run's state."""
    state = after.state
    if state is None or (before is not None and before.state is not None and before.state.id == state.id):
        return None
    initial = before.state if before is not None else None
    follows = None
    if initial is not None and abs(state.timestamp - initial.timestamp) < TIGHT_TIMING:
        follows = initial.id
    return Event(
        id=state.id,
        occurred=state.timestamp,
        event=f"prefect.flow-run.{state.name}",
        resource={
            "prefect.resource.id": f"prefect.flow-run.{after.id}",
            "prefect.resource.name": after.name,
            "prefect.run-count": str(after.run_count),
            "prefect.state-message": _truncated(state.message),
            "prefect.state-name": state.name or "",
            "prefect.state-timestamp": state.timestamp.isoformat(),
            "prefect.state-type": state.type.value,
        },
        related=_related(after, lookups),
        payload={
            "intended": {"from": initial.type.value if initial else None, "to": state.type.value},
            "initial_state": state_payload(initial),
            "validated_state": state_payload(state),
        },
        follows=follows,
    )


def record(repos: Repositories, changes: Sequence[Change], now: datetime) -> int:
    """Store the event of every transition among ``changes``; returns how many were new."""
    lookups = _Lookups(repos)
    stored = 0
    for before, after in changes:
        event = state_change_event(before, after, lookups)
        if event is not None and event_records.store(repos, event, now):
            stored += 1
    return stored


def record_stream(repos: Repositories, records: list[dict[str, Any]], now: datetime) -> int:
    """A batch of ``flow_runs`` stream records (the deployed consumer)."""
    return record(repos, repos.events.flow_run_changes(records), now)


def catch_up(repos: Repositories, now: datetime) -> int:
    """With ``pull_streams`` (local stack, tests): record the transitions still waiting in the
    stream, so a read of the feed right after a ``set_state`` sees its event. Returns records read."""
    if not repos.settings.pull_streams:
        return 0
    return repos.events.pull_flow_run_changes(lambda changes: record(repos, changes, now))
