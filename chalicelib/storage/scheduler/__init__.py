"""The scheduler's storage.

- ``_due``: the sparse due index of schedules and taking schedules off it;
- ``_runs``: the deployments runs copy from, backfill inserts, retirement deletes;
- ``_commits``: the planning transaction (new runs and the schedule's progress, together or not at all).
"""

from chalicelib.storage.scheduler._commits import (
    MAX_RUNS_PER_COMMIT,
    TRANSACTION_ITEMS,
    CommitResult,
    Outcome,
    PlanCommit,
    PlanCommitter,
    items_needed,
)
from chalicelib.storage.scheduler._due import (
    PAGE_SIZE,
    ScheduleRecord,
    SchedulingStore,
    schedule_record,
)
from chalicelib.storage.scheduler._runs import DeploymentRecord, ScheduledRunStore, requests_of_this_thread

__all__ = [
    "CommitResult",
    "DeploymentRecord",
    "MAX_RUNS_PER_COMMIT",
    "Outcome",
    "PAGE_SIZE",
    "PlanCommit",
    "PlanCommitter",
    "ScheduleRecord",
    "ScheduledRunStore",
    "SchedulingStore",
    "TRANSACTION_ITEMS",
    "items_needed",
    "requests_of_this_thread",
    "schedule_record",
]
