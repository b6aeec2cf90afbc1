"""The DynamoDB tables, as pynamodb models. The README's access-pattern table mirrors this file.

Table names are bound at run time (``tables.bind``): ``Meta.table_name`` holds the logical name
until then. Items keep the attributes that keys, indexes and conditions need as top-level
attributes, and the rest of the Prefect document in ``doc`` (JSON).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, IncludeProjection, KeysOnlyProjection
from pynamodb.models import Model

from chalicelib.storage.attributes import TimestampAttribute
from chalicelib.storage.automations import AUTOMATION_MODELS
from chalicelib.storage.blocks._models import BLOCK_MODELS
from chalicelib.storage.event_models import EVENT_MODELS
from chalicelib.storage.model_meta import TableMeta, index_meta
from chalicelib.storage.resource_models import RESOURCE_MODELS
from chalicelib.storage.wait_models import WAIT_MODELS

# One model meta for every table (chalicelib.storage.model_meta), under the names this module uses.
_Meta = TableMeta
_index_meta = index_meta


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
    """A flow's deployments' ids (flow deletion, filters on flows, the UI's per-flow counts). Keys
    only: a runner's poll rewrites ``last_polled`` on the deployment item and on no index."""

    Meta = _index_meta("by-flow-keys", KeysOnlyProjection())
    flow_id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute(range_key=True)


class DeploymentsByUpdated(GlobalSecondaryIndex["DeploymentModel"]):
    """Deployments by last change (the recent-deployments scheduler). ``updated_shard`` is constant."""

    Meta = _index_meta("by-updated", KeysOnlyProjection())
    updated_shard = UnicodeAttribute(hash_key=True)
    updated = TimestampAttribute(range_key=True)


class DeploymentsByReady(GlobalSecondaryIndex["DeploymentModel"]):
    """Sparse: only deployments whose last status event was ``prefect.deployment.ready`` carry
    ``ready_shard``/``ready_until`` (the earliest instant they may be NOT_READY). The maintenance
    tick queries ``ready_until <= now``: it reads only deployments that may have gone quiet. A poll
    writes ``ready_until`` rounded to half the readiness window, so the entry moves at most once per
    half window (a same-value write rewrites no index entry)."""

    Meta = _index_meta("by-ready", KeysOnlyProjection())
    ready_shard = UnicodeAttribute(hash_key=True)
    ready_until = TimestampAttribute(range_key=True)


class DeploymentsByQueue(GlobalSecondaryIndex["DeploymentModel"]):
    """Sparse: only deployments of a work pool's queue carry ``queue_id`` (that queue's id, written
    when the deployment is created or changes queue); ``queue_mark`` is the status of their last
    status event (``READY``, ``NOT_READY``, ``-`` for none yet: ``-`` < ``NOT_READY`` < ``READY``).
    The maintenance tick queries, per queue, the deployments whose mark differs from what the
    queue's polls make them (``queue_mark < READY``, or ``= READY``): usually none. Keys only, and a
    poll writes neither attribute."""

    Meta = _index_meta("by-queue", KeysOnlyProjection())
    queue_id = UnicodeAttribute(hash_key=True)
    queue_mark = UnicodeAttribute(range_key=True)


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
    #: The last status event emitted (``"<STATUS>|<event id>"``) and, while it is READY, the
    #: by-ready entry (``services/deployments/_status_events.py``).
    status_mark = UnicodeAttribute(null=True)
    ready_shard = UnicodeAttribute(null=True)
    ready_until = TimestampAttribute(null=True)
    #: The by-queue entry: its work pool queue's id and its mark's status (``storage/deployments/_readiness.py``).
    queue_id = UnicodeAttribute(null=True)
    queue_mark = UnicodeAttribute(null=True)
    doc = JSONAttribute(default=dict)

    by_flow = DeploymentsByFlow()
    by_updated = DeploymentsByUpdated()
    by_ready = DeploymentsByReady()
    by_queue = DeploymentsByQueue()


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
    #: Cirrus's schedule policies (``domain.schedule_policy``), when any is set.
    policy = JSONAttribute(null=True)
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
#: The states a worker or runner polls a deployment's or queue's runs in (get_scheduled_flow_runs,
#: the cancellation checks): by-owner-state and by-queue key them by ``<STATE_TYPE>#<time>``.
POLLED_STATES = ("SCHEDULED", "CANCELLING")


class RunsByOwner(GlobalSecondaryIndex["FlowRunModel"]):
    """Every run under its deployment, or its flow when it has none (``ow``), by ``os``: runs in a
    polled state (SCHEDULED, CANCELLING) by ``<STATE_TYPE>#<time>`` (time = next scheduled start
    while SCHEDULED: a runner's get_scheduled_flow_runs is one Query of a deployment's
    ``SCHEDULED#`` range; pause, delete and retirement read the same range), every other run by
    ``~<created>``. So a deployment's runs in any state are its partition, a fresh scheduled run is in
    no other index but a work pool's queue's, and a run's entry moves once (leaving SCHEDULED).
    Keys, plus two attributes that never change (a retirement or delete filters on them): a
    transition that keeps the key, a Late mark or a heartbeat rewrites no entry. The entry also
    carries the run's ``tk`` (by-time's range key), so a deployment's or flow's runs are listed in
    time order from their entries and read by key a page at a time (it changes once, when the run
    starts)."""

    Meta = _index_meta("by-owner-state", IncludeProjection(["schedule_id", "au", "tk"]))
    owner = UnicodeAttribute(attr_name="ow", hash_key=True)
    owner_sort = UnicodeAttribute(attr_name="os", range_key=True)


class RunsByQueue(GlobalSecondaryIndex["FlowRunModel"]):
    """Sparse: the runs a worker polls or counts, of a queue of a work pool, keyed on the queue's id
    (queue names repeat across pools), by ``qs``: SCHEDULED and CANCELLING runs by
    ``<STATE_TYPE>#<time>`` (a worker's poll is one Query of its ``SCHEDULED#`` range), PENDING and
    RUNNING ones under ``PENDING#<created>`` (the concurrency count reads ``PENDING#`` …
    ``RUNNING#~``; PENDING → RUNNING keeps the key). A run leaves it when it ends, and runs with no
    work pool (a ``serve()`` runner's, polled by deployment) are never in it. Keys only: a write
    that keeps the key (→ RUNNING, Late, a heartbeat) rewrites no entry; a poll then reads its runs
    by key."""

    Meta = _index_meta("by-queue", KeysOnlyProjection())
    work_queue_id = UnicodeAttribute(hash_key=True)
    queue_sort = UnicodeAttribute(attr_name="qs", range_key=True)


class RunsBySweep(GlobalSecondaryIndex["FlowRunModel"]):
    """Sparse work lists of the maintenance jobs: ``sweep`` names the job that may act on the run
    (``late``, ``zombie``, ``cancelling``, ``lazarus``) and ``sweep_at`` when it becomes eligible.
    Keys only: a heartbeat rewrites no entry, and a job reads its candidates by key (consistent)."""

    Meta = _index_meta("by-sweep", KeysOnlyProjection())
    sweep = UnicodeAttribute(hash_key=True)
    sweep_at = TimestampAttribute(range_key=True)


#: What by-time projects: every attribute a listed run is built from (``flow_run_items.from_item``),
#: none that only a heartbeat or a work list changes (``heartbeat``, ``sweep``/``sweep_at``) nor
#: other indexes' keys, so a heartbeat writes no by-time entry.
LISTED_ATTRIBUTES = (
    "flow_id", "deployment_id", "schedule_id", "name", "idempotency_key", "au", "state_id",
    "state_type", "st", "run_count", "wn", "work_queue_id", "ns",
    "es", "created", "updated", "doc", "expires_at",
    "history", "state_name", "tags", "start_time", "end_time", "lazarus_attempts",
)  # fmt: skip
#: by-time's partition of the runs that are under way (any time): PENDING, RUNNING, PAUSED, CANCELLING.
LIVE_BUCKET = "live"
LIVE_STATES = ("PENDING", "RUNNING", "PAUSED", "CANCELLING")


class RunsByTime(GlobalSecondaryIndex["FlowRunModel"]):
    """Every run by its time ``tk`` = ``<time>#<id>``, time = start time, else expected start, else
    creation (Prefect's START_TIME sort key): runs under way in one partition (``tb`` = ``live``),
    the others by that time's UTC day (``tb`` = ``d<YYYY-MM-DD>``). The UI's and client's listings
    read it newest or oldest first, a page at a time, and stop once the page is full (a keyset: see
    ``storage.flow_runs``). Projects every attribute a listed run needs (no BatchGetItem)
    but the heartbeat and work-list ones."""

    Meta = _index_meta("by-time", IncludeProjection(list(LISTED_ATTRIBUTES)))
    time_bucket = UnicodeAttribute(attr_name="tb", hash_key=True)
    time_key = UnicodeAttribute(attr_name="tk", range_key=True)


class RunsOutOfOrder(GlobalSecondaryIndex["FlowRunModel"]):
    """Sparse: the runs whose start time is before their expected start (a forced early start) or
    ahead of the write that set it (a client's clock), ``odd`` = ``odd``. They break the bound a
    window on expected start time puts on ``tk``; every such listing also reads this (normally
    empty) list. Keys only."""

    Meta = _index_meta("by-odd", KeysOnlyProjection())
    odd = UnicodeAttribute(hash_key=True)
    time_key = UnicodeAttribute(attr_name="tk", range_key=True)


#: The runs table's partitions, in id order: ``r0`` holds the ids that start with 0–3, … ``r3`` c–f.
RUN_SHARDS = ("r0", "r1", "r2", "r3")
_HEX = "0123456789abcdef"


def run_shard(run_id: str) -> str:
    """The runs table's partition of the run ``run_id`` (by its first hex digit, so the shards
    read in order give every id in order; anything else is in the first)."""
    return RUN_SHARDS[max(0, _HEX.find(str(run_id)[:1].lower())) * len(RUN_SHARDS) // len(_HEX)]


class FlowRunModel(Model):
    """A flow run, compact: no nulls or defaults are written (they read back as defaults), the current
    state is stored once (``st``), and the state history lives in ``flow_run_states``.

    ``id`` is random, or uuid5(flow_id, idempotency_key) when a key is given: the key's uniqueness
    per flow is the id's. A transition is a put conditional on ``state_id`` being the one read.
    ``expires_at`` (TTL) is set while the run is in a terminal state. Attributes that keys,
    indexes and conditions use keep their names (items written before the compact format carry the
    same ones); the ``legacy`` attributes are only read, from items written before it
    (``storage.flow_runs._items`` reads both formats).
    """

    class Meta(_Meta):
        #: ``flow_runs_v2``: keyed by (shard, id) since 2026-12-06 (``flow_runs`` was keyed by id;
        #: ``cirrus migrate-runs --from-table`` copies one). A key schema cannot change in place.
        table_name = "flow_runs_v2"
        #: The run-count aggregates (``storage.run_counts``) are kept from this stream.
        stream_view_type = "NEW_AND_OLD_IMAGES"

    #: The partition: :func:`run_shard` of the id. A Query of the shards in order reads every run in
    #: id order (Prefect's default ID_DESC sort) with its attributes, at a Query's cost.
    id_shard = UnicodeAttribute(attr_name="ix", hash_key=True)
    id = UnicodeAttribute(range_key=True)
    flow_id = UnicodeAttribute()
    deployment_id = UnicodeAttribute(null=True)
    schedule_id = UnicodeAttribute(null=True)
    name = UnicodeAttribute()
    #: Only when it is not the one the run's schedule and time imply ("" for none).
    idempotency_key = UnicodeAttribute(null=True)
    #: Only when true.
    auto_scheduled = BooleanAttribute(attr_name="au", null=True)
    state_id = UnicodeAttribute()
    state_type = UnicodeAttribute()
    #: The current state but its id and type: ``ts``, and ``n``/``m``/``d``/``sd`` when not default.
    state = JSONAttribute(attr_name="st", null=True)
    #: Set while the current state is not yet in ``flow_run_states`` (a run's first state).
    history_pending = BooleanAttribute(attr_name="hp", null=True)
    #: States before the current one not yet in ``flow_run_states`` (history entries ``{k, t, s}``):
    #: a transition carries the state it replaces here while the item stays within 1 KB, and the
    #: next one records both in one history item (``storage.flow_runs._repository``).
    carried = JSONAttribute(attr_name="pv", null=True)
    #: by-queue's range key (runs of a work pool's queue while polled or active).
    queue_sort = UnicodeAttribute(attr_name="qs", null=True)
    #: by-owner-state's hash key: the deployment id, else the flow id; and its range key.
    owner = UnicodeAttribute(attr_name="ow", null=True)
    owner_sort = UnicodeAttribute(attr_name="os", null=True)
    #: Only when above 0.
    run_count = NumberAttribute(null=True)
    work_queue_name = UnicodeAttribute(attr_name="wn", null=True)
    #: The hash key of ``by-queue`` (the worker's poll).
    work_queue_id = UnicodeAttribute(null=True)
    #: Short names: a run item's size is what every write of it bills (per KB).
    next_scheduled_start_time = TimestampAttribute(attr_name="ns", null=True)
    expected_start_time = TimestampAttribute(attr_name="es", null=True)
    heartbeat = TimestampAttribute(null=True)
    #: Until when a worker's poll holds the (SCHEDULED) run: other polls skip it. No index has it.
    claimed_until = TimestampAttribute(null=True)
    sweep = UnicodeAttribute(null=True)
    sweep_at = TimestampAttribute(null=True)
    expires_at = TTLAttribute(null=True)
    created = TimestampAttribute()
    updated = TimestampAttribute()
    #: The other fields of the run that differ from their defaults (JSON).
    doc = JSONAttribute(null=True)
    # legacy: items written before the compact format also carry these.
    history = JSONAttribute(null=True)
    state_name = UnicodeAttribute(null=True)
    tags = UnicodeSetAttribute(null=True)
    start_time = TimestampAttribute(null=True)
    end_time = TimestampAttribute(null=True)
    lazarus_attempts = NumberAttribute(null=True)

    #: by-time's keys (``RunsByTime``), by-odd's flag.
    time_bucket = UnicodeAttribute(attr_name="tb", null=True)
    time_key = UnicodeAttribute(attr_name="tk", null=True)
    odd = UnicodeAttribute(null=True)

    by_owner = RunsByOwner()
    by_queue = RunsByQueue()
    by_sweep = RunsBySweep()
    by_time = RunsByTime()
    by_odd = RunsOutOfOrder()

    def __init__(
        self, hash_key: Any = None, range_key: Any = None, _user_instantiated: bool = True, **attributes: Any
    ) -> None:
        """``FlowRunModel(run_id, ...)``: a run is named by its id; the shard follows from it."""
        if hash_key is not None and range_key is None:
            hash_key, range_key = run_shard(hash_key), hash_key
        elif hash_key is None and attributes.get("id") is not None and "id_shard" not in attributes:
            attributes["id_shard"] = run_shard(attributes["id"])
        super().__init__(hash_key, range_key, _user_instantiated=_user_instantiated, **attributes)

    @classmethod
    def get(  # type: ignore[override]
        cls, hash_key: Any, range_key: Any = None, consistent_read: bool = False, attributes_to_get: Any = None
    ) -> FlowRunModel:
        """GetItem of a run by its id (or by its shard and id)."""
        if range_key is None:
            hash_key, range_key = run_shard(hash_key), hash_key
        return super().get(hash_key, range_key, consistent_read=consistent_read, attributes_to_get=attributes_to_get)

    @classmethod
    def batch_get(  # type: ignore[override]
        cls, items: Iterable[Any], consistent_read: bool | None = None, attributes_to_get: Any = None
    ) -> Iterator[FlowRunModel]:
        """BatchGetItem of runs by their ids (or (shard, id) pairs)."""
        keys = [(run_shard(i), i) if isinstance(i, str) else tuple(i) for i in items]
        return super().batch_get(keys, consistent_read=consistent_read, attributes_to_get=attributes_to_get)

    #: Attributes the ``flow_runs`` table of the versions before (keyed by id) named otherwise.
    PREVIOUS_NAMES = {
        "auto_scheduled": "au", "work_queue_name": "wn", "next_scheduled_start_time": "ns", "expected_start_time": "es",
    }  # fmt: skip

    @classmethod
    def from_previous(cls, raw: Mapping[str, Any]) -> dict[str, Any]:
        """An item (or stream image) of the previous ``flow_runs`` table in this table's raw form:
        its attributes under their names here, and its shard."""
        values = {cls.PREVIOUS_NAMES.get(name, name): value for name, value in raw.items()}
        return {**values, **cls.raw_key(values["id"]["S"])} if "id" in values else values

    @staticmethod
    def raw_key(run_id: str) -> dict[str, dict[str, str]]:
        """The run's key as DynamoDB's API takes it."""
        return {"ix": {"S": run_shard(run_id)}, "id": {"S": run_id}}


class FlowRunStateModel(Model):
    """One state of a flow run's history (as Prefect's ``flow_run_state`` table): a Query on the run's
    id reads its history in time order. ``sk`` = ``<timestamp>#<state id>``; ``s`` holds the state
    compact as ``FlowRunModel.state``. Expires (TTL) after the retention, counted generously from the
    state's time (a run's own TTL starts at its end)."""

    class Meta(_Meta):
        table_name = "flow_run_states"

    flow_run_id = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    type = UnicodeAttribute(attr_name="t")
    state = JSONAttribute(attr_name="s")
    more = JSONAttribute(null=True)
    expires_at = TTLAttribute(null=True)


# --------------------------------------------------------------------------- run counts
class RunCountModel(Model):
    """The run-count aggregates (``storage.run_counts``): counters per kind of run, dimension and
    hour (``pk`` = ``<kind>#<dimension>``, ``sk`` = the hour), exact entries per minute for window
    edges, totals, per deployment; and the stream consumer's checkpoints and batch claims. Written
    only from the runs tables' streams; the counters are attributes named by state, read and
    written with expressions (no fixed attribute set)."""

    class Meta(_Meta):
        table_name = "run_counts"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    #: Batch claims expire (a retried batch comes back within the stream's 24 hours).
    expires_at = TTLAttribute(null=True)


# --------------------------------------------------------------------------- job state
class JobStateModel(Model):
    """How far a scheduled job has worked through time (``through``), one item per job: the late-runs
    marker's cursor over the scheduler's planned occurrences. Advanced by a conditional write."""

    class Meta(_Meta):
        table_name = "job_state"

    name = UnicodeAttribute(hash_key=True)
    through = TimestampAttribute()


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
    FlowRunStateModel,
    RunCountModel,
    JobStateModel,
    ApiKeyModel,
    *RESOURCE_MODELS,
    *WAIT_MODELS,
    *BLOCK_MODELS,
    *EVENT_MODELS,
    *AUTOMATION_MODELS,
)
