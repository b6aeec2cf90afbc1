"""Deployments: what the ``/deployments`` routes and the scheduler's callers may do with them.

- ``_upsert``: create-or-update, read, PATCH, delete, pause, resume;
- ``_changes``: one change as one transaction (the write path the others share);
- ``_schedules``: the schedules sub-resource;
- ``_runs``: runs of a deployment (create_flow_run, a worker's poll, a backfill);
- ``_queries``: ``/filter``, ``/count``, ``/paginate``;
- ``_pause_on_failure``: a schedule that deactivates itself when one of its runs fails;
- ``_status_events``: ``prefect.deployment.ready|not-ready`` (a poll, the maintenance tick, a work queue's polls).
"""

from chalicelib.services.deployments._changes import MAX_SCHEDULES, save
from chalicelib.services.deployments._pause_on_failure import pause_on_failure
from chalicelib.services.deployments._queries import count_deployments, filter_deployments, paginate_deployments
from chalicelib.services.deployments._runs import (
    backfill,
    check_run_job_variables,
    create_flow_run,
    get_scheduled_flow_runs,
    work_queue_check,
)
from chalicelib.services.deployments._schedules import (
    create_schedules,
    delete_schedule,
    list_schedules,
    update_schedule,
)
from chalicelib.services.deployments._status_events import (
    QUEUE_LIMIT,
    QUEUE_STATUS_EVENTS,
    STATUS_ENTRIES_MOVED,
    STATUS_EVENTS,
    record_poll,
    watch_queue,
    watch_statuses,
)
from chalicelib.services.deployments._upsert import (
    delete_deployment,
    pause_deployment,
    read_deployment,
    read_deployment_by_name,
    resume_deployment,
    update_deployment,
    upsert_deployment,
)

__all__ = [
    "MAX_SCHEDULES",
    "QUEUE_LIMIT",
    "QUEUE_STATUS_EVENTS",
    "STATUS_ENTRIES_MOVED",
    "STATUS_EVENTS",
    "backfill",
    "check_run_job_variables",
    "count_deployments",
    "create_flow_run",
    "create_schedules",
    "delete_deployment",
    "delete_schedule",
    "filter_deployments",
    "get_scheduled_flow_runs",
    "list_schedules",
    "paginate_deployments",
    "pause_deployment",
    "pause_on_failure",
    "read_deployment",
    "read_deployment_by_name",
    "record_poll",
    "resume_deployment",
    "save",
    "update_deployment",
    "update_schedule",
    "upsert_deployment",
    "watch_queue",
    "watch_statuses",
    "work_queue_check",
]
