"""The only package that knows pynamodb and DynamoDB.

:func:`open_repositories` binds the models to a stage's tables and hands out one repository per
aggregate; services receive them and never see a model.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from chalicelib.config import Settings
from chalicelib.storage import tables

if TYPE_CHECKING:  # pragma: no cover - the repositories' modules are imported on first use (cold start)
    from chalicelib.storage.aggregates import RunCountRepository
    from chalicelib.storage.api_keys import ApiKeyRepository
    from chalicelib.storage.artifacts import ArtifactRepository
    from chalicelib.storage.concurrency_limits import ConcurrencyLimitRepository
    from chalicelib.storage.deployments import DeploymentRepository
    from chalicelib.storage.event_store import EventStore
    from chalicelib.storage.flow_runs import FlowRunRepository
    from chalicelib.storage.flows import FlowRepository
    from chalicelib.storage.health import HealthProbe
    from chalicelib.storage.job_state import JobStateRepository
    from chalicelib.storage.logs import LogRepository
    from chalicelib.storage.schedules import ScheduleRepository
    from chalicelib.storage.task_runs import TaskRunRepository
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
        from chalicelib.storage.schedules import ScheduleRepository

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
    def job_state(self) -> JobStateRepository:
        from chalicelib.storage.job_state import JobStateRepository

        return JobStateRepository()

    @cached_property
    def health(self) -> HealthProbe:
        from chalicelib.storage.health import HealthProbe

        return HealthProbe()

    @cached_property
    def events(self) -> EventStore:
        from chalicelib.storage.event_store import EventStore

        return EventStore(self.settings)

    @cached_property
    def api_keys(self) -> ApiKeyRepository:
        from chalicelib.storage.api_keys import ApiKeyRepository

        return ApiKeyRepository()


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
