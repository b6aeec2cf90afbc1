"""Flow runs and their states as compact DynamoDB items, and back.

What DynamoDB bills is the item's size, per KB, on every write of it and of every index it is in.
So an item carries no null and no default (they read back as the defaults), the current state once
(``st``; its id and type are the top-level ``state_id``/``state_type``), and no history (one
``flow_run_states`` item per state). Values that other attributes imply are left out too: an
auto-scheduled run's idempotency key (``scheduled <deployment> <schedule> <time>``), its
``created_by`` but the schedule's kind, and a state's ``flow_run_id`` (the run's id).

Items written before this format (the whole response in ``doc``, the state in it, the history in
``history``, nulls and defaults included) are read as they are: :func:`from_item` takes either.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from chalicelib.domain import identity
from chalicelib.domain.identity import utc_key
from chalicelib.domain.sweeps import CATCHUP, LATE, sweep_for
from chalicelib.schemas.flow_runs import FlowRun
from chalicelib.schemas.states import State, StateDetails, default_name
from chalicelib.storage.models import (
    LIVE_BUCKET,
    LIVE_STATES,
    POLLED_STATES,
    FlowRunModel,
    FlowRunStateModel,
    run_shard,
)

#: Fields kept as top-level attributes (keys, indexes, conditions); the rest goes to ``doc``.
TOP_LEVEL = (
    "id", "flow_id", "deployment_id", "schedule_id", "name", "work_queue_name", "work_queue_id",
    "next_scheduled_start_time", "expected_start_time", "heartbeat", "created", "updated",
)  # fmt: skip
#: Fields written in their own way (the state, placeholders, derived values).
_SPECIAL = {"state", "state_id", "state_type", "state_name", "run_count", "auto_scheduled", "idempotency_key"}
#: Top-level attributes of the format before this one that now live in ``doc`` (read both).
_LEGACY_TOP_LEVEL = ("start_time", "end_time", "lazarus_attempts", "idempotency_key", "state_name")
#: Placeholders that keep key attributes non-empty when a run has no state.
NO_STATE_ID = "none"
NO_STATE_TYPE = "NONE"
#: States a work queue's concurrency limit counts (by-queue keeps them under one key).
_ACTIVE = ("PENDING", "RUNNING")


@cache
def _run_defaults() -> dict[str, Any]:
    """Every FlowRun field's default, in JSON form."""
    defaults = {}
    for name, info in FlowRun.model_fields.items():
        if not info.is_required():
            value = info.get_default(call_default_factory=True)
            defaults[name] = value.model_dump(mode="json") if hasattr(value, "model_dump") else value
    return defaults


@cache
def _details_defaults() -> dict[str, Any]:
    return StateDetails().model_dump(mode="json")


# ---------------------------------------------------------------------------- states
def compact_state(state: State, run_id: uuid.UUID | str) -> dict[str, Any]:
    """``state`` without its id and type, and without what is default (``ts`` always)."""
    data = state.model_dump(mode="json")
    out: dict[str, Any] = {"ts": data["timestamp"]}
    if state.name != default_name(state.type):
        out["n"] = state.name
    if data["message"] is not None:
        out["m"] = data["message"]
    if data["data"] is not None:
        out["d"] = data["data"]
    defaults = _details_defaults()
    details = {k: v for k, v in data["state_details"].items() if k not in defaults or v != defaults[k]}
    run_ref = data["state_details"].get("flow_run_id")
    if run_ref == str(run_id):
        details.pop("flow_run_id", None)
    elif run_ref is None:
        details["flow_run_id"] = None  # read back as the run's id unless said otherwise
    if details:
        out["sd"] = details
    return out


def expand_state(compact: dict[str, Any], state_id: str, state_type: str, run_id: uuid.UUID | str) -> State:
    details = dict(compact.get("sd") or {})
    details.setdefault("flow_run_id", str(run_id))
    return State.model_validate(
        {
            "id": state_id,
            "type": state_type,
            "name": compact.get("n"),
            "timestamp": compact["ts"],
            "message": compact.get("m"),
            "data": compact.get("d"),
            "state_details": details,
        }
    )


def state_key(state: State, became_current: datetime) -> str:
    """The history item's range key: when the state became the run's current one (the ``updated``
    of that write, which every write moves forward), then the state id. The history reads in the
    order its states were set, whatever timestamps clients gave them."""
    return f"{utc_key(became_current)}#{state.id}"


def history_entry(run_id: uuid.UUID | str, state: State, became_current: datetime) -> dict[str, Any]:
    """``state`` as an entry of a history item's ``more`` (and of a run item's ``pv``)."""
    return {"k": state_key(state, became_current), "t": state.type.value, "s": compact_state(state, run_id)}


def entry_state_id(entry: dict[str, Any]) -> str:
    """The id of a history entry's state (the end of its key)."""
    return str(entry["k"]).rsplit("#", 1)[1]


def from_history_entry(run_id: uuid.UUID | str, entry: dict[str, Any]) -> tuple[State, datetime]:
    """The state of a history entry, and when it became current."""
    when = datetime.fromisoformat(str(entry["k"]).rsplit("#", 1)[0].replace("Z", "+00:00"))
    return expand_state(entry["s"], entry_state_id(entry), entry["t"], run_id), when


def state_item(
    run_id: uuid.UUID | str,
    state: State,
    became_current: datetime,
    expires_at: datetime | None,
    more: Sequence[tuple[State, datetime]] = (),
) -> FlowRunStateModel:
    """The history item of ``state`` and of the states of ``more`` that followed it (one item)."""
    later = [history_entry(run_id, s, when) for s, when in more]
    return FlowRunStateModel(
        str(run_id),
        state_key(state, became_current),
        type=state.type.value,
        state=compact_state(state, run_id),
        more=later or None,
        expires_at=expires_at,
    )


def from_state_item(item: FlowRunStateModel) -> list[State]:
    """The states a history item holds, in the order they were set."""
    entries = [(item.sk, item.type, item.state or {})] + [(m["k"], m["t"], m["s"]) for m in item.more or []]
    return [expand_state(compact, sk.rsplit("#", 1)[1], kind, item.flow_run_id) for sk, kind, compact in entries]


# ---------------------------------------------------------------------------- runs
def owner_sort_key(run: FlowRun) -> str:
    """by-owner-state's range key: :func:`state_sort_key` in a polled state (SCHEDULED, CANCELLING),
    else ``~<id>`` (so leaving SCHEDULED moves the entry once, no later transition does, and an
    owner's other runs are in id order: Prefect's default sort reads a page of them)."""
    if run.state_type is not None and run.state_type.value in POLLED_STATES:
        return state_sort_key(run)
    return f"{OTHER_STATES}{run.id}"


#: by-owner-state's prefix of the runs not in a polled state (after every ``<STATE>#`` prefix).
OTHER_STATES = "~"


#: A start time later than the write that set it by more than this is a client's clock ahead.
_CLOCK_SKEW = timedelta(minutes=5)


def list_time(run: FlowRun) -> datetime:
    """The time by-time and by-owner-state list a run by: its start time, else its expected start,
    else its creation (Prefect's START_TIME sort key, with creation for a run that has neither)."""
    return run.start_time or run.expected_start_time or run.created


def time_key(run: FlowRun) -> str:
    """by-time's range key: ``<list time>#<id>``."""
    return f"{utc_key(list_time(run))}#{run.id}"


def time_bucket(run: FlowRun) -> str:
    """by-time's partition: ``live`` while the run is under way, else ``d<UTC day of its list time>``."""
    if run.state_type is not None and run.state_type.value in LIVE_STATES:
        return LIVE_BUCKET
    return day_bucket(list_time(run))


def day_bucket(instant: datetime) -> str:
    return "d" + utc_key(instant)[:10]


def is_out_of_order(run: FlowRun) -> bool:
    """Whether the run started before its expected start, or later than the write that recorded it
    by more than the clock skew allowed (by-odd: such runs escape a window's bound on ``tk``)."""
    start = run.start_time
    if start is None:
        return False
    expected = run.expected_start_time
    return (expected is not None and start < expected) or start > run.updated + _CLOCK_SKEW


def state_sort_key(run: FlowRun) -> str:
    """``<STATE_TYPE>#<time>``: the range key of polled runs in by-owner-state and by-queue.

    The time is the next scheduled start while SCHEDULED (get_scheduled_flow_runs reads a range of
    it), else the expected start, else the creation time.
    """
    when = run.next_scheduled_start_time or run.expected_start_time or run.created
    return f"{run.state_type.value if run.state_type else NO_STATE_TYPE}#{utc_key(when)}"


def _derived_idempotency_key(run: FlowRun) -> str | None:
    if not run.auto_scheduled or not (run.deployment_id and run.schedule_id and run.expected_start_time):
        return None
    return identity.scheduled_run_idempotency_key(run.deployment_id, run.schedule_id, run.expected_start_time)


def queue_sort_key(run: FlowRun) -> str | None:
    """by-queue's range key (``None``: not in it): ``<STATE_TYPE>#<time>`` while SCHEDULED or
    CANCELLING (the polls' ranges), ``PENDING#<created>`` while PENDING or RUNNING (so ``PENDING#``
    … ``RUNNING#~`` counts the active runs and PENDING → RUNNING keeps the key), only for runs of a
    work pool's queue (a worker polls them; a ``serve()`` runner polls its runs by deployment)."""
    if run.work_queue_id is None or run.work_pool_name is None:
        return None
    state = run.state_type.value if run.state_type else None
    if state in POLLED_STATES:
        return state_sort_key(run)
    if state in _ACTIVE:
        return f"{_ACTIVE[0]}#{utc_key(run.created)}"
    return None


def to_item(run: FlowRun, retention: timedelta, *, history_pending: bool, late_list: bool = True) -> FlowRunModel:
    """The compact item for ``run`` with every derived attribute (index keys, sweep, TTL).

    ``history_pending``: the current state is not (yet) in ``flow_run_states``. ``late_list=False``
    keeps a run off the ``late`` work list: the scheduler's planned runs, which the late-runs marker
    finds from their schedules instead (``services.late_runs``), so their insert writes no entry.
    """
    data = run.model_dump(mode="json")
    defaults = _run_defaults()
    doc = {
        k: v
        for k, v in data.items()
        if k not in TOP_LEVEL and k not in _SPECIAL and (k not in defaults or v != defaults[k])
    }
    if run.lazarus_attempts:
        doc["lazarus_attempts"] = run.lazarus_attempts
    if run.concurrency_slot:
        doc["concurrency_slot"] = True
    if run.overlap:
        doc["overlap"] = run.overlap
    if run.overlap_slot:
        doc["overlap_slot"] = run.overlap_slot
    by = doc.get("created_by")
    if by and run.schedule_id and by.get("type") == "SCHEDULE" and by.get("id") == str(run.schedule_id):
        doc["created_by"] = by.get("display_value") or ""  # the schedule that planned it: its kind
    key = run.idempotency_key
    derived = _derived_idempotency_key(run)
    item = FlowRunModel(
        str(run.id),
        flow_id=str(run.flow_id),
        deployment_id=str(run.deployment_id) if run.deployment_id else None,
        schedule_id=str(run.schedule_id) if run.schedule_id else None,
        name=run.name,
        idempotency_key=None if key == derived else (key or ("" if derived else None)),
        auto_scheduled=True if run.auto_scheduled else None,
        state_id=str(run.state.id) if run.state else NO_STATE_ID,
        state_type=run.state.type.value if run.state else NO_STATE_TYPE,
        state=compact_state(run.state, run.id) if run.state else None,
        history_pending=True if history_pending and run.state else None,
        work_queue_id=str(run.work_queue_id) if run.work_queue_id else None,
        queue_sort=queue_sort_key(run),
        owner=str(run.deployment_id or run.flow_id),
        owner_sort=owner_sort_key(run),
        run_count=run.run_count or None,
        work_queue_name=run.work_queue_name,
        next_scheduled_start_time=run.next_scheduled_start_time,
        expected_start_time=run.expected_start_time,
        heartbeat=run.heartbeat,
        created=run.created,
        updated=run.updated,
        doc=doc or None,
        time_bucket=time_bucket(run),
        time_key=time_key(run),
        odd="odd" if is_out_of_order(run) else None,
    )
    sweep = sweep_for(run)
    if sweep is not None and (late_list or sweep[0] != LATE):
        item.sweep, item.sweep_at = sweep
    item.expires_at = expiry(run, retention)
    return item


#: What differs between the items of one schedule's runs planned in one pass (the occurrence):
#: :func:`moved_item` rewrites exactly these, ``qs`` only where the template has it.
_PER_OCCURRENCE = (
    "id", "id_shard", "name", "state_id", "state", "owner_sort", "queue_sort", "next_scheduled_start_time",
    "expected_start_time", "time_bucket", "time_key", "sweep_at",
)  # fmt: skip


def moved_item(template: dict[str, Any], run: FlowRun) -> dict[str, Any]:
    """The stored form (attribute values, as ``to_item(run).serialize()``) of ``run``, a run of the
    same deployment, schedule and planning pass as the run ``template`` holds (a planned run: off the
    late list, history pending): ``template`` with the occurrence's attributes rewritten. A pass
    plans up to 100 runs per schedule; this skips building a model per run (a test compares)."""
    if run.state is None:
        raise ValueError("a planned run has a state")
    attributes = FlowRunModel.get_attributes()
    values = {
        "id": str(run.id),
        "id_shard": run_shard(str(run.id)),
        "name": run.name,
        "state_id": str(run.state.id),
        "state": compact_state(run.state, run.id),
        "owner_sort": owner_sort_key(run),
        "queue_sort": queue_sort_key(run),
        "next_scheduled_start_time": run.next_scheduled_start_time,
        "expected_start_time": run.expected_start_time,
        "time_bucket": time_bucket(run),
        "time_key": time_key(run),
        "sweep_at": sweep[1] if (sweep := sweep_for(run)) is not None else None,
    }
    item = dict(template)
    for name in _PER_OCCURRENCE:
        attribute = attributes[name]
        if attribute.attr_name in template:
            item[attribute.attr_name] = {attribute.attr_type: attribute.serialize(values[name])}
    return item


def expiry(run: FlowRun, retention: timedelta) -> datetime | None:
    """When a terminal run expires (TTL); ``None`` while it is not terminal."""
    if run.state is None or not run.state.is_terminal:
        return None
    return (run.end_time or run.state.timestamp) + retention


def from_item(item: FlowRunModel) -> FlowRun:
    """The run an item holds, in either format."""
    doc = dict(item.doc or {})
    legacy_state = doc.pop("state", None)
    data: dict[str, Any] = {**doc}
    for name in TOP_LEVEL:  # a former item may hold some of them in ``doc`` only
        value = getattr(item, name)
        if value is not None or name not in data:
            data[name] = value
    for name in _LEGACY_TOP_LEVEL:
        value = getattr(item, name)
        if value is not None:
            data[name] = value
    auto = bool(item.auto_scheduled)
    data.update(run_count=int(item.run_count or 0), auto_scheduled=auto)
    if isinstance(data.get("created_by"), str):
        kind = data["created_by"] or None
        data["created_by"] = {"id": data["schedule_id"], "type": "SCHEDULE", "display_value": kind}
    if "lazarus_attempts" in data:
        data["lazarus_attempts"] = int(data["lazarus_attempts"] or 0)
    if item.state_id == NO_STATE_ID:
        state = None
    elif item.state is not None:
        state = expand_state(item.state, item.state_id, item.state_type, item.id)
    else:
        state = State.model_validate(legacy_state) if legacy_state is not None else None
    data["state"] = state
    data["stored_sweep_at"] = item.sweep_at
    unrecorded = list(item.carried or [])
    if item.history_pending and item.state_id != NO_STATE_ID and item.state is not None:
        unrecorded.append({"k": f"{utc_key(item.updated)}#{item.state_id}", "t": item.state_type, "s": item.state})
    data["unrecorded"] = unrecorded or None
    data["claimed_until"] = item.claimed_until
    if item.sweep == CATCHUP:  # the catch-up list's entry is the deadline itself
        data["catchup_deadline"] = item.sweep_at
    data.update(
        state_id=state.id if state else None,
        state_type=state.type if state else None,
        state_name=state.name if state else None,
    )
    run = FlowRun.model_validate(data)
    if item.idempotency_key is None and "idempotency_key" not in doc:
        derived = _derived_idempotency_key(run)
        if derived is not None:
            run = run.model_copy(update={"idempotency_key": derived})
    elif item.idempotency_key == "":
        run = run.model_copy(update={"idempotency_key": None})
    return run


def legacy_history(item: FlowRunModel) -> list[State] | None:
    """The history an item of the format before this one holds (``None`` for a compact item)."""
    if item.history is None:
        return None
    return [State.model_validate(s) for s in item.history]


def states_to_record(old: FlowRunModel | None, run: FlowRun) -> list[tuple[State, datetime]]:
    """The states a write of ``run`` over ``old`` must add to the history, each with when it became
    current: the old item's states that are not there yet (its pending first state; a legacy
    item's whole history, in its order), then the new current state if it changed."""
    states: list[tuple[State, datetime]] = []
    if old is not None:
        states += [from_history_entry(old.id, entry) for entry in old.carried or []]
        legacy = legacy_history(old)
        if legacy is not None:
            states += [(s, old.updated - timedelta(microseconds=len(legacy) - i - 1)) for i, s in enumerate(legacy)]
        elif old.history_pending:
            previous = from_item(old).state
            if previous is not None:
                states.append((previous, old.updated))
    if run.state is not None and (old is None or old.state_id != str(run.state.id)):
        states.append((run.state, run.updated))
    unique = {s.id: (s, when) for s, when in states}
    return list(unique.values())
