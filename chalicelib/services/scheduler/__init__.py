"""The scheduler: keeps every active schedule of every unpaused deployment stocked with runs.

- ``_scheduler``: the tick, inline scheduling after a deployment change, the recent-deployments net;
- ``_run_builder``: what an occurrence looks like as a flow run;
- ``_backfill``: ``/deployments/{id}/schedule`` and retiring a changed schedule's runs;
- ``_report``: the report of counts every entry point returns, and the time budget.
"""

from chalicelib.services.scheduler._backfill import backfill, retire_runs
from chalicelib.services.scheduler._report import (
    SchedulingReport,
)
from chalicelib.services.scheduler._run_builder import build_scheduled_run, build_scheduled_runs, run_name
from chalicelib.services.scheduler._scheduler import schedule_deployment, schedule_due, schedule_recent_deployments

__all__ = [
    "SchedulingReport",
    "backfill",
    "build_scheduled_run",
    "build_scheduled_runs",
    "retire_runs",
    "run_name",
    "schedule_deployment",
    "schedule_due",
    "schedule_recent_deployments",
]
