"""The use cases: one module per simple resource, one package per larger one (docs/architecture.md).

The Lambda edges (``api/``, ``jobs/``) reach a module here as ``services.<name>`` after
``from chalicelib import services``: it is imported on first use (PEP 562 ``__getattr__`` below), so a
cold start pays only for what its invocation touches (bench/cold_start.py). This is the one place
imports are deferred; the names below are the whole list, and the ``TYPE_CHECKING`` import lets
readers, type checkers and import-linter follow each call.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from chalicelib.services import (
        api_keys,
        artifacts,
        concurrency_limits,
        deployments,
        events,
        flow_runs,
        flows,
        health,
        logs,
        maintenance,
        paging,
        resources,
        run_counts,
        scheduler,
        task_runs,
        ticks,
        ui,
        ui_task_runs,
        variables,
        work_pools,
    )

__all__ = [
    "api_keys",
    "artifacts",
    "concurrency_limits",
    "deployments",
    "events",
    "flow_runs",
    "flows",
    "health",
    "logs",
    "maintenance",
    "paging",
    "resources",
    "run_counts",
    "scheduler",
    "task_runs",
    "ticks",
    "ui",
    "ui_task_runs",
    "variables",
    "work_pools",
]
_MODULES = frozenset(__all__)


def __getattr__(name: str) -> object:
    if name in _MODULES:
        return importlib.import_module(f"{__name__}.{name}")  # sets the attribute: called once per name
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
