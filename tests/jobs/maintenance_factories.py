"""Builders of flow runs in the states the maintenance jobs look at (shared by their tests and bench)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from chalicelib.domain.sweeps import ZOMBIE_CRASH_MARK
from chalicelib.schemas.flow_runs import FlowRun
from chalicelib.schemas.states import State, StateDetails, StateType
from chalicelib.storage.sweeps import SweepPage, SweepStore


def make_run(state: State, **fields: Any) -> FlowRun:
    """A run whose state_* fields agree with ``state``."""
    fields.setdefault("name", f"run-{uuid.uuid4().hex[:8]}")
    fields.setdefault("flow_id", uuid.uuid4())
    fields.setdefault("created", state.timestamp - timedelta(hours=1))
    fields.setdefault("updated", state.timestamp)
    return FlowRun(state=state, state_id=state.id, state_type=state.type, state_name=state.name, **fields)


def scheduled(at: datetime, *, name: str = "Scheduled", **fields: Any) -> FlowRun:
    state = State(
        type=StateType.SCHEDULED,
        name=name,
        timestamp=at - timedelta(hours=1),
        message="Flow run scheduled",
        state_details=StateDetails(scheduled_time=at),
    )
    fields.setdefault("deployment_id", uuid.uuid4())
    return make_run(state, next_scheduled_start_time=at, expected_start_time=at, auto_scheduled=True, **fields)


def running(started: datetime, heartbeat: datetime | None, **fields: Any) -> FlowRun:
    state = State(type=StateType.RUNNING, timestamp=started)
    fields.setdefault("deployment_id", uuid.uuid4())
    fields.setdefault("updated", heartbeat or started)
    return make_run(state, start_time=started, expected_start_time=started, run_count=1, heartbeat=heartbeat, **fields)


def cancelling(since: datetime, **fields: Any) -> FlowRun:
    state = State(type=StateType.CANCELLING, timestamp=since)
    return make_run(state, start_time=since - timedelta(minutes=5), run_count=1, **fields)


def zombie_crashed(at: datetime, *, attempts: int = 0, **fields: Any) -> FlowRun:
    """A run of a deployment that the zombie killer marked CRASHED at ``at``."""
    state = State(
        type=StateType.CRASHED,
        timestamp=at,
        message="No heartbeat detected from the flow run; marked as crashed by the zombie killer.",
        state_details=StateDetails(**{ZOMBIE_CRASH_MARK: True}),
    )
    fields.setdefault("deployment_id", uuid.uuid4())
    started = at - timedelta(minutes=20)
    return make_run(
        state,
        start_time=started,
        end_time=at,
        total_run_time=(at - started).total_seconds(),
        run_count=attempts + 1,
        heartbeat=at - timedelta(minutes=11),
        lazarus_attempts=attempts,
        **fields,
    )


def completed(at: datetime, **fields: Any) -> FlowRun:
    state = State(type=StateType.COMPLETED, timestamp=at)
    started = at - timedelta(minutes=1)
    return make_run(state, start_time=started, end_time=at, total_run_time=60.0, run_count=1, **fields)


class InterleavingStore(SweepStore):
    """A store that runs ``between(page)`` once, after the first non-empty page is read and before any
    write: how a test lands a heartbeat or a set_state between a job's read and its write."""

    def __init__(self, runs: Any, between: Callable[[SweepPage], None]) -> None:
        super().__init__(runs)
        self.between: Callable[[SweepPage], None] | None = between

    def page(self, *args: Any, **kwargs: Any) -> SweepPage:
        page = super().page(*args, **kwargs)
        if page.candidates and self.between is not None:
            between, self.between = self.between, None
            between(page)
        return page


class BarrierStore(SweepStore):
    """Every sweep reads its page, then waits for the others: all read before anyone writes.

    The conditional puts that follow race for real: DynamoDB (and DynamoDB Local) applies each
    atomically; on moto, the ``aws`` fixture's shim serialises requests to the same effect.
    """

    def __init__(self, runs: Any, barrier: threading.Barrier) -> None:
        super().__init__(runs)
        self.barrier = barrier

    def page(self, *args: Any, **kwargs: Any) -> SweepPage:
        page = super().page(*args, **kwargs)
        if page.candidates:
            self.barrier.wait(timeout=10)
        return page
