"""Prefect's wire shapes (pydantic): one module per resource.

The edges reach a module here as ``schemas.<name>`` after ``from chalicelib import schemas``; it
is imported on first use (:mod:`chalicelib.deferred`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.deferred import on_first_use

if TYPE_CHECKING:  # pragma: no cover
    from chalicelib.schemas import (
        artifacts,
        automations,
        blocks,
        common,
        concurrency_limits,
        deployments,
        event_filters,
        events,
        filters,
        flow_run_inputs,
        flow_runs,
        flows,
        limits,
        logs,
        schedules,
        states,
        task_runs,
        ui,
        variables,
        work_pools,
    )

__all__ = [
    "artifacts",
    "automations",
    "blocks",
    "common",
    "concurrency_limits",
    "deployments",
    "event_filters",
    "events",
    "filters",
    "flow_run_inputs",
    "flow_runs",
    "flows",
    "limits",
    "logs",
    "schedules",
    "states",
    "task_runs",
    "ui",
    "variables",
    "work_pools",
]
__getattr__ = on_first_use(__name__, dict.fromkeys(__all__))
