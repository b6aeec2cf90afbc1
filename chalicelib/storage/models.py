"""The DynamoDB tables, as pynamodb models. The README's access-pattern table mirrors this file.

Table names are bound at run time (``tables.bind``): ``Meta.table_name`` holds the logical name
until then. Items keep the attributes that keys, indexes and conditions need as top-level
attributes, and the rest of the Prefect document in ``doc`` (JSON).
"""

from __future__ import annotations

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from chalicelib.storage.attributes import TimestampAttribute
from chalicelib.storage.resource_models import RESOURCE_MODELS


class _Meta:
    billing_mode = "PAY_PER_REQUEST"
    region = "us-east-1"


def _index_meta(name: str, projection: object) -> type:
    return type("Meta", (), {"index_name": name, "projection": projection})


# --------------------------------------------------------------------------- flows
class FlowModel(Model):
    """A flow. ``id`` = uuid5(name) (identity.flow_id): upsert by name is a conditional put."""

    class Meta(_Meta):
        table_name = "flows"

    id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    tags = JSONAttribute(default=list)
    labels = JSONAttribute(null=True)
    created = TimestampAttribute()
    updated = TimestampAttribute()


# --------------------------------------------------------------------------- deployments
class DeploymentsByFlow(GlobalSecondaryIndex["DeploymentModel"]):
    """A flow's deployments (flow deletion, filters on flows)."""

    Meta = _index_meta("by-flow", AllProjection())
    flow_id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute(range_key=True)


class DeploymentsByUpdated(GlobalSecondaryIndex["DeploymentModel"]):
    """Deployments by last change (the recent-deployments scheduler). ``updated_shard`` is constant."""

    Meta = _index_meta("by-updated", KeysOnlyProjection())
    updated_shard = UnicodeAttribute(hash_key=True)
    updated = TimestampAttribute(range_key=True)


class DeploymentModel(Model):
    """A deployment. ``id`` = uuid5(flow_id, name); ``rev`` is bumped by every write (optimistic lock)."""

    class Meta(_Meta):
        table_name = "deployments"

    id = UnicodeAttribute(hash_key=True)
    flow_id = UnicodeAttribute()
    name = UnicodeAttribute()
    paused = BooleanAttribute(default=False)
    rev = NumberAttribute(default=0)
    work_queue_name = UnicodeAttribute(null=True)
    work_pool_name = UnicodeAttribute(null=True)
    created = TimestampAttribute()
    updated = TimestampAttribute()
    updated_shard = UnicodeAttribute(default="all")
    #: Set by get_scheduled_flow_runs (a worker polled); outside ``doc`` so polling is one UpdateItem.
    last_polled = TimestampAttribute(null=True)
    doc = JSONAttribute(default=dict)

    by_flow = DeploymentsByFlow()
    by_updated = DeploymentsByUpdated()


# --------------------------------------------------------------------------- schedules
class SchedulesByDue(GlobalSecondaryIndex["ScheduleModel"]):
    """Sparse: only active schedules of unpaused deployments carry ``due_shard``/``due_at``.

    A scheduler tick queries ``due_shard = "due" AND due_at <= now``: it reads only due schedules.
    """

    Meta = _index_meta("by-due", AllProjection())
    due_shard = UnicodeAttribute(hash_key=True)
    due_at = TimestampAttribute(range_key=True)


class ScheduleModel(Model):
    """A deployment schedule. ``rev`` changes whenever the runs it would plan change."""

    class Meta(_Meta):
        table_name = "schedules"

    deployment_id = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)
    spec = JSONAttribute()
    active = BooleanAttribute(default=True)
    max_scheduled_runs = NumberAttribute(null=True)
    parameters = JSONAttribute(default=dict)
    slug = UnicodeAttribute(null=True)
    rev = NumberAttribute(default=0)
    planned_through = TimestampAttribute(null=True)
    due_shard = UnicodeAttribute(null=True)
    due_at = TimestampAttribute(null=True)
    created = TimestampAttribute()
    updated = TimestampAttribute()

    by_due = SchedulesByDue()


# --------------------------------------------------------------------------- uniqueness
class UniqueModel(Model):
    """Uniqueness claims (``key`` → ``owner``), e.g. a schedule slug within its deployment.

    Written in the same transaction as the object that claims it, with ``attribute_not_exists``.
    """

    class Meta(_Meta):
        table_name = "uniques"

    key = UnicodeAttribute(hash_key=True)
    owner = UnicodeAttribute()
    #: Set on claims of objects that expire (task runs): the claim goes with its object.
    expires_at = TTLAttribute(null=True)


# --------------------------------------------------------------------------- flow runs
class RunsByDeployment(GlobalSecondaryIndex["FlowRunModel"]):
    """A deployment's runs by ``<STATE_TYPE>#<time>`` (time = next scheduled start while SCHEDULED,
    else expected start or creation): get_scheduled_flow_runs, pause, delete, filters."""

    Meta = _index_meta("by-deployment", AllProjection())
    deployment_id = UnicodeAttribute(hash_key=True)
    state_sort = UnicodeAttribute(range_key=True)


class RunsByFlow(GlobalSecondaryIndex["FlowRunModel"]):
    Meta = _index_meta("by-flow", AllProjection())
    flow_id = UnicodeAttribute(hash_key=True)
    created = TimestampAttribute(range_key=True)


class RunsByWorkQueue(GlobalSecondaryIndex["FlowRunModel"]):
    """A work queue's runs by ``<STATE_TYPE>#<time>``, keyed on the queue's id (queue names repeat
    across pools): a worker's poll is one Query per queue, its ``SCHEDULED#`` range."""

    Meta = _index_meta("by-work-queue", AllProjection())
    work_queue_id = UnicodeAttribute(hash_key=True)
    state_sort = UnicodeAttribute(range_key=True)


class RunsByNextScheduled(GlobalSecondaryIndex["FlowRunModel"]):
    """Sparse: ``next_scheduled_start_time`` exists only while a run is SCHEDULED."""

    Meta = _index_meta("by-next-scheduled", AllProjection())
    state_type = UnicodeAttribute(hash_key=True)
    next_scheduled_start_time = TimestampAttribute(range_key=True)


class RunsBySweep(GlobalSecondaryIndex["FlowRunModel"]):
    """Sparse work lists of the maintenance jobs: ``sweep`` names the job that may act on the run
    (``late``, ``zombie``, ``cancelling``, ``lazarus``) and ``sweep_at`` when it becomes eligible."""

    Meta = _index_meta("by-sweep", AllProjection())
    sweep = UnicodeAttribute(hash_key=True)
    sweep_at = TimestampAttribute(range_key=True)


class FlowRunModel(Model):
    """A flow run with its state history (``history``, oldest first) in the same item.

    ``id`` is random, or uuid5(flow_id, idempotency_key) when a key is given: the key's uniqueness
    per flow is the id's. A transition is a put conditional on ``state_id`` being the one read.
    ``expires_at`` (TTL) is set while the run is in a terminal state.
    """

    class Meta(_Meta):
        table_name = "flow_runs"

    id = UnicodeAttribute(hash_key=True)
    flow_id = UnicodeAttribute()
    deployment_id = UnicodeAttribute(null=True)
    schedule_id = UnicodeAttribute(null=True)
    name = UnicodeAttribute()
    idempotency_key = UnicodeAttribute(null=True)
    auto_scheduled = BooleanAttribute(default=False)
    state_id = UnicodeAttribute()
    state_type = UnicodeAttribute()
    state_name = UnicodeAttribute()
    state_sort = UnicodeAttribute()
    run_count = NumberAttribute(default=0)
    work_queue_name = UnicodeAttribute(null=True)
    #: The hash key of ``by-work-queue`` (the worker's poll).
    work_queue_id = UnicodeAttribute(null=True)
    tags = UnicodeSetAttribute(null=True)
    next_scheduled_start_time = TimestampAttribute(null=True)
    expected_start_time = TimestampAttribute(null=True)
    start_time = TimestampAttribute(null=True)
    end_time = TimestampAttribute(null=True)
    heartbeat = TimestampAttribute(null=True)
    lazarus_attempts = NumberAttribute(default=0)
    sweep = UnicodeAttribute(null=True)
    sweep_at = TimestampAttribute(null=True)
    expires_at = TTLAttribute(null=True)
    created = TimestampAttribute()
    updated = TimestampAttribute()
    doc = JSONAttribute(default=dict)
    history = JSONAttribute(default=list)

    by_deployment = RunsByDeployment()
    by_flow = RunsByFlow()
    by_work_queue = RunsByWorkQueue()
    by_next_scheduled = RunsByNextScheduled()
    by_sweep = RunsBySweep()


# --------------------------------------------------------------------------- api keys
class ApiKeyModel(Model):
    """An API key, stored only as its SHA-256 hash."""

    class Meta(_Meta):
        table_name = "api_keys"

    key_hash = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    prefix = UnicodeAttribute(null=True)
    created = TimestampAttribute()


ALL_MODELS: tuple[type[Model], ...] = (
    FlowModel,
    DeploymentModel,
    ScheduleModel,
    UniqueModel,
    FlowRunModel,
    ApiKeyModel,
    *RESOURCE_MODELS,
)
