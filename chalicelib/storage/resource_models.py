"""Tables of the simple resources the flow engine and runner use: variables, task runs, …

Each is a :class:`DocumentModel` (``id``, ``rev``, ``created``, ``updated``, ``doc``) plus the
top-level attributes its keys and indexes need. The README's access-pattern table mirrors this file.
"""

from __future__ import annotations

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from chalicelib.storage.attributes import TimestampAttribute
from chalicelib.storage.model_meta import DocumentModel, TableMeta, index_meta


class VariableModel(DocumentModel):
    """A variable; its name is unique through a claim ``variable-name/<name>`` in ``uniques``."""

    class Meta(TableMeta):
        table_name = "variables"


class WorkPoolModel(DocumentModel):
    """A work pool with its queues (in ``doc``). ``id`` = uuid5(name): a create is a put on a new id.

    ``queue_polls`` (queue id → instant) and ``all_polled`` record workers' polls: a poll is one
    UpdateItem of them that returns the whole pool (the queues it must read)."""

    class Meta(TableMeta):
        table_name = "work_pools"

    name = UnicodeAttribute()
    queue_polls = MapAttribute(default=dict)
    all_polled = TimestampAttribute(null=True)


class WorkersByPool(GlobalSecondaryIndex["WorkerModel"]):
    """A pool's workers by name (workers/filter, the pool's status)."""

    Meta = index_meta("by-pool", AllProjection())
    work_pool_id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute(range_key=True)


class WorkerModel(DocumentModel):
    """A worker of a pool. ``id`` = uuid5(pool id, name): a heartbeat is one upsert."""

    class Meta(TableMeta):
        table_name = "workers"

    work_pool_id = UnicodeAttribute()
    name = UnicodeAttribute()
    last_heartbeat_time = TimestampAttribute(null=True)
    heartbeat_interval_seconds = NumberAttribute(null=True)

    by_pool = WorkersByPool()


class TaskRunsByFlowRun(GlobalSecondaryIndex["TaskRunModel"]):
    """A flow run's task runs, oldest first (filters by ``flow_run_id``). Sparse: task runs
    without a flow run are not in it."""

    Meta = index_meta("by-flow-run", AllProjection())
    flow_run_id = UnicodeAttribute(hash_key=True)
    created = TimestampAttribute(range_key=True)


class TaskRunsByTime(GlobalSecondaryIndex["TaskRunModel"]):
    """Every task run by its time ``tk`` = ``<time>#<id>`` (start time, else expected start, else
    creation), partitioned by that time's UTC day (``tb`` = ``d<YYYY-MM-DD>``): the UI's lists of
    task runs read it a page at a time, newest or oldest first (``storage.task_runs``)."""

    Meta = index_meta("by-time", AllProjection())
    time_bucket = UnicodeAttribute(attr_name="tb", hash_key=True)
    time_key = UnicodeAttribute(attr_name="tk", range_key=True)


class TaskRunsAwaitingWorkers(GlobalSecondaryIndex["TaskRunModel"]):
    """Background task runs waiting for a task worker, by task key (``qk``), oldest first (``qt`` =
    ``<state time>#<state id>``). Sparse: a run leaves it when a worker is handed it (``dv``)."""

    Meta = index_meta("by-task-key", KeysOnlyProjection())
    queue_key = UnicodeAttribute(attr_name="qk", hash_key=True)
    queued_at = UnicodeAttribute(attr_name="qt", range_key=True)


class TaskRunModel(DocumentModel):
    """A task run. ``(flow_run_id, task_key, dynamic_key)`` is unique through a claim
    ``task-run/<flow_run_id>/<task_key>/<dynamic_key>`` that expires with the run."""

    class Meta(TableMeta):
        table_name = "task_runs"
        #: The run-count aggregates (``storage.run_counts``) are kept from this stream.
        stream_view_type = "NEW_AND_OLD_IMAGES"

    flow_run_id = UnicodeAttribute(null=True)
    expires_at = TTLAttribute(null=True)
    time_bucket = UnicodeAttribute(attr_name="tb", null=True)
    time_key = UnicodeAttribute(attr_name="tk", null=True)
    queue_key = UnicodeAttribute(attr_name="qk", null=True)
    queued_at = UnicodeAttribute(attr_name="qt", null=True)
    delivered_state_id = UnicodeAttribute(attr_name="dv", null=True)

    by_flow_run = TaskRunsByFlowRun()
    by_time = TaskRunsByTime()
    by_task_key = TaskRunsAwaitingWorkers()


class LogsByTaskRun(GlobalSecondaryIndex["LogModel"]):
    """A task run's logs in time order (sparse: flow-level lines have no task run)."""

    Meta = index_meta("by-task-run", AllProjection())
    task_run_id = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)


class LogModel(Model):
    """A log line, in its flow run's partition (``-`` for none) in time order: ``sk`` =
    ``<UTC timestamp>#<id>``. Append-only; written 25 to a BatchWriteItem; expires (TTL)
    ``retention_days`` after it was stored."""

    class Meta(TableMeta):
        table_name = "logs"

    flow_run_id = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    id = UnicodeAttribute()
    task_run_id = UnicodeAttribute(null=True)
    name = UnicodeAttribute()
    level = NumberAttribute()
    message = UnicodeAttribute()
    created = TimestampAttribute()
    expires_at = TTLAttribute(null=True)

    by_task_run = LogsByTaskRun()


class ConcurrencyLimitModel(DocumentModel):
    """A global concurrency limit (v2); its name is unique through a claim. ``active_slots`` is
    taken and given back with UpdateItem ADDs conditional on ``active_slots <= limit - n``; a
    limit with slot decay keeps ``drained_at`` instead (``chalicelib.domain.slot_decay``).
    ``holders`` maps a lease's id to its holder's id (v1's ``active_slots``)."""

    class Meta(TableMeta):
        table_name = "concurrency_limits"

    name = UnicodeAttribute()
    limit = NumberAttribute()
    active = BooleanAttribute(default=True)
    active_slots = NumberAttribute(default=0)
    slot_decay_per_second = NumberAttribute(default=0)
    drained_at = NumberAttribute(null=True)
    holders = MapAttribute(null=True)  # type: ignore[var-annotated]


class LeasesByExpiry(GlobalSecondaryIndex["ConcurrencyLeaseModel"]):
    """Every lease by expiry (``shard`` is constant): expired leases are found with one Query."""

    Meta = index_meta("by-expiry", KeysOnlyProjection())
    shard = UnicodeAttribute(hash_key=True)
    expires = TimestampAttribute(range_key=True)


class ConcurrencyLeaseModel(Model):
    """Slots held on concurrency limits until released or until ``expires``; an expired lease's
    slots are given back the next time an increment is refused. ``expires_at`` (TTL) removes
    forgotten items a day after expiry."""

    class Meta(TableMeta):
        table_name = "concurrency_leases"

    id = UnicodeAttribute(hash_key=True)
    limit_ids = JSONAttribute(default=list)
    slots = NumberAttribute()
    holder = JSONAttribute(null=True)
    shard = UnicodeAttribute(default="lease")
    expires = TimestampAttribute()
    created = TimestampAttribute()
    expires_at = TTLAttribute(null=True)

    by_expiry = LeasesByExpiry()


class ArtifactsByKey(GlobalSecondaryIndex["ArtifactModel"]):
    """A key's artifacts by creation (``latest``: newest first, limit 1). Sparse: keyless ones are not in it."""

    Meta = index_meta("by-key", AllProjection())
    key = UnicodeAttribute(hash_key=True)
    created = TimestampAttribute(range_key=True)


class ArtifactModel(DocumentModel):
    """An artifact; those with a ``key`` are versions of it (the latest is the newest)."""

    class Meta(TableMeta):
        table_name = "artifacts"

    key = UnicodeAttribute(null=True)

    by_key = ArtifactsByKey()


class TaskWorkerModel(Model):
    """A task worker subscribed to ``/task_runs/subscriptions/scheduled``: one item per connection
    (the local front's socket or an API Gateway connection), all in one partition (``shard``), so
    the workers are one Query. Removed when the connection closes; ``expires_at`` (TTL) and readers
    drop one whose connection vanished unannounced."""

    class Meta(TableMeta):
        table_name = "task_workers"

    shard = UnicodeAttribute(hash_key=True, default="worker")
    connection_id = UnicodeAttribute(range_key=True)
    client_id = UnicodeAttribute()
    task_keys = JSONAttribute(default=list)
    seen = TimestampAttribute()
    expires_at = TTLAttribute()


RESOURCE_MODELS: tuple[type[Model], ...] = (
    ArtifactModel,
    VariableModel,
    WorkPoolModel,
    WorkerModel,
    TaskRunModel,
    LogModel,
    ConcurrencyLimitModel,
    ConcurrencyLeaseModel,
    TaskWorkerModel,
)
