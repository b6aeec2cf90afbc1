"""The only package that knows pynamodb and DynamoDB, and its one way in.

:func:`open_repositories` binds the models to a stage's tables and hands out one typed store per
aggregate (:class:`Repositories`); services receive it and never see a model. The value types and
constants a service needs beside the stores (a listing plan, a sweep candidate, a deployment change,
a counts window) are named in ``_EXPORTS`` below and imported from here, never from a submodule
(an import-linter contract keeps services, api, jobs and the CLI out of ``chalicelib.storage.*``).

Like ``chalicelib.services``, the submodules are imported on first use (:mod:`chalicelib.deferred`
for the names, ``cached_property`` for the stores): every Lambda imports ``app.py``, and the models
pull in pydantic and every table's definition.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from chalicelib.config import Settings
from chalicelib.deferred import on_first_use
from chalicelib.storage import tables
from chalicelib.storage.aws import boto3_session as boto3_session

if TYPE_CHECKING:  # pragma: no cover - the repositories' modules are imported on first use (cold start)
    from chalicelib.storage.aggregates import RunCountRepository
    from chalicelib.storage.api_keys import ApiKeyRecord, ApiKeyRepository
    from chalicelib.storage.artifacts import ArtifactRepository
    from chalicelib.storage.automations import AutomationStore, StateWrite, bucket_doc, bucket_from, bucket_sk
    from chalicelib.storage.blocks.store import BlockStore, StoredBlockDocument
    from chalicelib.storage.concurrency_limits import ConcurrencyLimitRepository, Lease
    from chalicelib.storage.deployments import (
        DeploymentChange,
        DeploymentRepository,
        ScheduleRepository,
        ScheduleWrite,
        filter_view,
        slugs_of,
    )
    from chalicelib.storage.documents import DocumentRepository
    from chalicelib.storage.errors import STORE_ERRORS, translated
    from chalicelib.storage.event_store import TOP, EventStore, decode, hour_partition, pointer_partition
    from chalicelib.storage.flow_run_inputs import FlowRunInputRepository
    from chalicelib.storage.flow_runs import (
        BY_DEPLOYMENT,
        BY_SWEEP,
        KEYS,
        LIVE_STATES,
        FlowRunRepository,
        Listing,
        is_conjunctive,
        plan,
    )
    from chalicelib.storage.flows import FlowRepository
    from chalicelib.storage.health import HealthProbe
    from chalicelib.storage.job_state import JobStateRepository
    from chalicelib.storage.logs import LogRepository
    from chalicelib.storage.run_counts import EXPECTED, FLOW_RUNS, STARTED, TASK_RUNS, Window
    from chalicelib.storage.schedule_overlap import ScheduleOverlapStore
    from chalicelib.storage.scheduler import (
        MAX_RUNS_PER_COMMIT,
        PAGE_SIZE,
        TRANSACTION_ITEMS,
        CommitResult,
        DeploymentRecord,
        Outcome,
        PlanCommit,
        PlanCommitter,
        ScheduledRunStore,
        ScheduleRecord,
        SchedulingStore,
        items_needed,
        requests_of_this_thread,
    )
    from chalicelib.storage.sweeps import DEFAULT_PAGE_SIZE, Candidate, SweepStore
    from chalicelib.storage.tables import create_tables
    from chalicelib.storage.task_runs import TaskRunRepository
    from chalicelib.storage.task_workers import TaskWorkerRecord, TaskWorkerRepository
    from chalicelib.storage.variables import VariableRepository
    from chalicelib.storage.work_pools import WorkPoolRepository
    from chalicelib.storage.workers import WorkerRepository


class Repositories:
    """Lazily built repositories over one stage's tables."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        tables.bind(settings)

    @cached_property
    def flows(self) -> FlowRepository:
        from chalicelib.storage.flows import FlowRepository

        return FlowRepository()

    @cached_property
    def deployments(self) -> DeploymentRepository:
        from chalicelib.storage.deployments import DeploymentRepository

        return DeploymentRepository()

    @cached_property
    def schedules(self) -> ScheduleRepository:
        from chalicelib.storage.deployments import ScheduleRepository

        return ScheduleRepository()

    @cached_property
    def flow_runs(self) -> FlowRunRepository:
        from chalicelib.storage.flow_runs import FlowRunRepository

        return FlowRunRepository(self.settings)

    @cached_property
    def run_counts(self) -> RunCountRepository:
        from chalicelib.storage.aggregates import RunCountRepository

        return RunCountRepository(self.settings)

    @cached_property
    def work_pools(self) -> WorkPoolRepository:
        from chalicelib.storage.work_pools import WorkPoolRepository

        return WorkPoolRepository()

    @cached_property
    def workers(self) -> WorkerRepository:
        from chalicelib.storage.workers import WorkerRepository

        return WorkerRepository()

    @cached_property
    def variables(self) -> VariableRepository:
        from chalicelib.storage.variables import VariableRepository

        return VariableRepository()

    @cached_property
    def task_runs(self) -> TaskRunRepository:
        from chalicelib.storage.task_runs import TaskRunRepository

        return TaskRunRepository(self.settings)

    @cached_property
    def task_workers(self) -> TaskWorkerRepository:
        from chalicelib.storage.task_workers import TaskWorkerRepository

        return TaskWorkerRepository()

    @cached_property
    def logs(self) -> LogRepository:
        from chalicelib.storage.logs import LogRepository

        return LogRepository(self.settings)

    @cached_property
    def concurrency_limits(self) -> ConcurrencyLimitRepository:
        from chalicelib.storage.concurrency_limits import ConcurrencyLimitRepository

        return ConcurrencyLimitRepository()

    @cached_property
    def artifacts(self) -> ArtifactRepository:
        from chalicelib.storage.artifacts import ArtifactRepository

        return ArtifactRepository()

    @cached_property
    def blocks(self) -> BlockStore:
        from chalicelib.storage.blocks.store import BlockStore

        return BlockStore(self.settings)

    @cached_property
    def job_state(self) -> JobStateRepository:
        from chalicelib.storage.job_state import JobStateRepository

        return JobStateRepository()

    @cached_property
    def health(self) -> HealthProbe:
        from chalicelib.storage.health import HealthProbe

        return HealthProbe()

    @cached_property
    def flow_run_inputs(self) -> FlowRunInputRepository:
        from chalicelib.storage.flow_run_inputs import FlowRunInputRepository

        return FlowRunInputRepository()

    @cached_property
    def events(self) -> EventStore:
        from chalicelib.storage.event_store import EventStore

        return EventStore(self.settings)

    @cached_property
    def automations(self) -> AutomationStore:
        """Automations, their trigger state and firings (:mod:`chalicelib.storage.automations`)."""
        from chalicelib.storage.automations import AutomationStore

        return AutomationStore()

    @cached_property
    def api_keys(self) -> ApiKeyRepository:
        from chalicelib.storage.api_keys import ApiKeyRepository

        return ApiKeyRepository()

    @cached_property
    def sweeps(self) -> SweepStore:
        """The maintenance jobs' work lists (zombies, Lazarus, late runs)."""
        from chalicelib.storage.sweeps import SweepStore

        return SweepStore(self.flow_runs)

    @cached_property
    def schedule_overlap(self) -> ScheduleOverlapStore:
        """Schedules' overlap counters (who holds a schedule's active and waiting tokens)."""
        from chalicelib.storage.schedule_overlap import ScheduleOverlapStore

        return ScheduleOverlapStore()

    @cached_property
    def scheduling(self) -> SchedulingStore:
        """The schedules' due index, as the scheduler and the late-runs marker read it."""
        from chalicelib.storage.scheduler import SchedulingStore

        return SchedulingStore()

    @cached_property
    def scheduled_runs(self) -> ScheduledRunStore:
        """The scheduler's other reads and writes: deployments, backfill inserts, retirements."""
        from chalicelib.storage.scheduler import ScheduledRunStore

        return ScheduledRunStore(self.flow_runs)

    @cached_property
    def plan_commits(self) -> PlanCommitter:
        """The planning transaction (new runs and a schedule's progress together)."""
        from chalicelib.storage.scheduler import PlanCommitter

        return PlanCommitter(self.flow_runs)


def open_repositories(settings: Settings) -> Repositories:
    return Repositories(settings)


_shared: Repositories | None = None


def shared_repositories(settings: Settings) -> Repositories:
    """The process's repositories for ``settings``, built once per settings object, so a warm
    Lambda (API or job) reuses its models' connections."""
    global _shared
    if _shared is None or _shared.settings is not settings:
        _shared = Repositories(settings)
    return _shared


__all__ = [
    "TOP",
    "decode",
    "hour_partition",
    "pointer_partition",
    "Repositories",
    "boto3_session",
    "open_repositories",
    "shared_repositories",
    "tables",
    "ApiKeyRecord",
    "StateWrite",
    "bucket_doc",
    "bucket_from",
    "bucket_sk",
    "BlockStore",
    "StoredBlockDocument",
    "BY_DEPLOYMENT",
    "BY_SWEEP",
    "Candidate",
    "CommitResult",
    "DEFAULT_PAGE_SIZE",
    "DeploymentChange",
    "DeploymentRecord",
    "DocumentRepository",
    "EXPECTED",
    "FLOW_RUNS",
    "KEYS",
    "Lease",
    "LIVE_STATES",
    "Listing",
    "MAX_RUNS_PER_COMMIT",
    "Outcome",
    "PAGE_SIZE",
    "PlanCommit",
    "PlanCommitter",
    "STARTED",
    "STORE_ERRORS",
    "ScheduleRecord",
    "ScheduleWrite",
    "ScheduledRunStore",
    "SchedulingStore",
    "SweepStore",
    "TASK_RUNS",
    "TaskWorkerRecord",
    "TRANSACTION_ITEMS",
    "Window",
    "create_tables",
    "filter_view",
    "is_conjunctive",
    "items_needed",
    "plan",
    "requests_of_this_thread",
    "slugs_of",
    "translated",
]

#: Name -> the submodule that defines it, for the names services and edges import from here.
_EXPORTS = {
    **dict.fromkeys(["ApiKeyRecord"], "api_keys"),
    **dict.fromkeys(["StateWrite", "bucket_doc", "bucket_from", "bucket_sk"], "automations"),
    **dict.fromkeys(["BlockStore", "StoredBlockDocument"], "blocks.store"),
    **dict.fromkeys(["Lease"], "concurrency_limits"),
    **dict.fromkeys(["DeploymentChange", "ScheduleWrite", "filter_view", "slugs_of"], "deployments"),
    **dict.fromkeys(["DocumentRepository"], "documents"),
    **dict.fromkeys(["TOP", "decode", "hour_partition", "pointer_partition"], "event_store"),
    **dict.fromkeys(["STORE_ERRORS", "translated"], "errors"),
    **dict.fromkeys(
        ["BY_DEPLOYMENT", "BY_SWEEP", "KEYS", "LIVE_STATES", "Listing", "is_conjunctive", "plan"], "flow_runs"
    ),
    **dict.fromkeys(["EXPECTED", "FLOW_RUNS", "STARTED", "TASK_RUNS", "Window"], "run_counts"),
    **dict.fromkeys(
        [
            "MAX_RUNS_PER_COMMIT",
            "PAGE_SIZE",
            "TRANSACTION_ITEMS",
            "CommitResult",
            "DeploymentRecord",
            "Outcome",
            "PlanCommit",
            "PlanCommitter",
            "ScheduledRunStore",
            "ScheduleRecord",
            "SchedulingStore",
            "items_needed",
            "requests_of_this_thread",
        ],
        "scheduler",
    ),
    **dict.fromkeys(["DEFAULT_PAGE_SIZE", "Candidate", "SweepStore"], "sweeps"),
    **dict.fromkeys(["create_tables"], "tables"),
    **dict.fromkeys(["TaskWorkerRecord"], "task_workers"),
}

__getattr__ = on_first_use(__name__, _EXPORTS)
