"""What Prefect's UI asks beyond the resource routes: its aggregations (prefect/server/api/ui/*.py),
``/admin/settings``, and parameter validation for the run forms.

Every answer reads by key or index with a bounded cost:

- deployments per flow: one by-flow Query of ``deployments`` per flow id (≤ 200 ids);
- next run per flow: the flow's deployments (one Query), then per deployment one by-owner-state Query
  of its SCHEDULED range, ``Limit 1`` (the earliest), and one BatchGetItem of those runs. A
  SCHEDULED run of no deployment (an ad hoc run created in the future) is not shown there; the Runs
  page lists it;
- flow-run history: the ``/flow_runs/filter`` planner (:mod:`chalicelib.services.flow_runs._queries`),
  so the same paths and costs as that route.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime, timedelta
from typing import Any

from chalicelib.config import Settings
from chalicelib.domain.parameter_schema import validate_values
from chalicelib.schemas.filters import FilterBody
from chalicelib.schemas.flow_runs import FlowRun
from chalicelib.schemas.states import TERMINAL_STATES
from chalicelib.schemas.ui import (
    HistoryBody,
    SchemaValidateBody,
    SimpleFlowRun,
    SimpleNextFlowRun,
)
from chalicelib.services import flow_runs
from chalicelib.storage import Repositories

#: Settings that describe this deployment of Cirrus, nested as Prefect's ``/admin/settings`` is.
_PUBLIC_SETTINGS = (
    "stage", "region", "scheduler_min_runs", "scheduler_max_runs", "scheduler_min_scheduled_time_s",
    "scheduler_max_scheduled_time_s", "late_runs_after_s", "zombie_threshold_s", "cancelling_timeout_s",
    "lazarus_max_attempts", "retention_days", "auth_required",
)  # fmt: skip


def admin_settings(settings: Settings) -> dict[str, Any]:
    """Prefect's shape (nested, no secrets); the UI reads only ``server.ui`` of it."""
    values = dataclasses.asdict(settings)
    return {
        "server": {"ui": {"enabled": True, "show_promotional_content": False}},
        "cirrus": {name: values[name] for name in _PUBLIC_SETTINGS if name in values},
    }


def count_deployments_by_flow(repos: Repositories, flow_ids: list[uuid.UUID]) -> dict[str, int]:
    return {str(fid): len(repos.deployments.ids_for_flow(fid)) for fid in dict.fromkeys(flow_ids)}


def _earliest_scheduled(repos: Repositories, flow_id: uuid.UUID) -> FlowRun | None:
    """The flow's deployments' earliest scheduled run: one Query per deployment (limit 1), then one
    BatchGetItem of the candidates."""
    deployments = [(d, 1) for d in repos.deployments.ids_for_flow(flow_id)]
    firsts = [runs[0] for runs in repos.flow_runs.polled_in_deployments(deployments).values() if runs]
    return min(
        firsts,
        key=lambda run: (run.next_scheduled_start_time or run.expected_start_time or run.created, str(run.id)),
        default=None,
    )


def next_runs_by_flow(repos: Repositories, flow_ids: list[uuid.UUID]) -> dict[str, SimpleNextFlowRun | None]:
    out: dict[str, SimpleNextFlowRun | None] = {}
    for fid in dict.fromkeys(flow_ids):
        run = _earliest_scheduled(repos, fid)
        out[str(fid)] = (
            None
            if run is None
            else SimpleNextFlowRun(
                id=run.id,
                flow_id=run.flow_id,
                name=run.name,
                state_name=run.state_name,
                state_type=run.state_type,
                next_scheduled_start_time=run.next_scheduled_start_time or run.expected_start_time,
            )
        )
    return out


def flow_run_history(repos: Repositories, body: HistoryBody) -> list[SimpleFlowRun]:
    return [
        SimpleFlowRun(
            id=run.id,
            state_type=run.state_type,
            timestamp=run.start_time or run.expected_start_time,
            duration=timedelta(seconds=run.estimated_run_time or run.total_run_time),
            lateness=timedelta(seconds=run.estimated_start_time_delta),
        )
        for run in flow_runs.filter_flow_runs(repos, body)
    ]


def _lateness_s(run: FlowRun, now: datetime) -> float:
    """Prefect's ``estimated_start_time_delta`` as its ``/flow_runs/lateness`` computes it."""
    expected = run.expected_start_time
    if expected is None:
        return 0.0
    if run.start_time is not None:
        return max((run.start_time - expected).total_seconds(), 0.0)
    if run.state_type not in TERMINAL_STATES and expected < now:
        return (now - expected).total_seconds()
    return 0.0


def average_lateness(repos: Repositories, body: FilterBody, now: datetime) -> float | None:
    """Mean lateness in seconds of the runs the body matches (None when none does); the
    ``/flow_runs/filter`` planner reads them."""
    runs = flow_runs.matching_flow_runs(repos, body)
    if not runs:
        return None
    return sum(_lateness_s(run, now) for run in runs) / len(runs)


def validate_parameters(body: SchemaValidateBody) -> dict[str, Any]:
    return validate_values(body.schema_, body.values)
