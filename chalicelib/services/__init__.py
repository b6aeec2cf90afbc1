"""The use cases: one module per simple resource, one package per larger one (docs/architecture.md).

The edges reach a module here as ``services.<name>`` after ``from chalicelib import services``; it
is imported on first use (:mod:`chalicelib.deferred`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.deferred import on_first_use

if TYPE_CHECKING:  # pragma: no cover
    from chalicelib.services import (
        api_keys,
        artifacts,
        automations,
        blocks,
        concurrency_limits,
        deployments,
        event_feed,
        event_records,
        event_subscriptions,
        events,
        flow_run_events,
        flow_run_inputs,
        flow_runs,
        flows,
        health,
        logs,
        maintenance,
        paging,
        resources,
        run_counts,
        run_graph,
        scheduler,
        status_events,
        task_runs,
        task_workers,
        ticks,
        ui,
        ui_task_runs,
        variables,
        work_pools,
    )

__all__ = [
    "api_keys",
    "artifacts",
    "automations",
    "blocks",
    "concurrency_limits",
    "deployments",
    "event_feed",
    "event_records",
    "event_subscriptions",
    "events",
    "flow_run_events",
    "flow_run_inputs",
    "flow_runs",
    "flows",
    "health",
    "logs",
    "maintenance",
    "paging",
    "resources",
    "run_counts",
    "run_graph",
    "scheduler",
    "status_events",
    "task_runs",
    "task_workers",
    "ticks",
    "ui",
    "ui_task_runs",
    "variables",
    "work_pools",
]
__getattr__ = on_first_use(__name__, dict.fromkeys(__all__))
