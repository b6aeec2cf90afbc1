"""Run counts kept from the runs tables' streams, so counts and histories read a handful of items.

What is kept, per kind of run (``fr`` flow runs, ``tr`` task runs) and per *dimension* (``e``: the
expected start time, else the creation time; ``s``: the start time, for runs that started):

==========================  ==========================================  ============================
item (``pk``, ``sk``)        attributes                                  answers
==========================  ==========================================  ============================
``<kind>#<dim>#d``, day      ``<HH>|<TYPE>|<NAME>`` runs whose time is   whole hours of a window
(``YYYY-MM-DD``)             in that hour, by current state
``<kind>#<dim>``, hour       ``<MM>|<TYPE>|<NAME>`` runs whose time is   whole minutes of the hours
(``YYYY-MM-DDTHH``)          in that minute; task runs also              a window cuts, history
                             ``rt|<MM>|…``: their summed run time        intervals
``<kind>#<dim>#r``, minute   ``<id>`` = ``<time>|<TYPE>|<flow>|<state     the partial minutes at a
and shard (``YYYY-MM-DD      id>|<NAME>``: one entry per run             window's edges, exactly
THH:MM#<2 hex>``)           (``-<time>`` once the run is deleted)
``<kind>#all``, ``-``        ``<TYPE>``                                  counts with no window
``fr#fe``, hour              ``<flow id>|<TYPE>`` (dimension ``e``)      flows with runs in a window
``fr#dep``, deployment id    ``<TYPE>|<NAME>``                           a deployment's runs by state
==========================  ==========================================  ============================

How they stay exact. The streams (NEW_AND_OLD_IMAGES) deliver every change of a run, from any
writer: the API, the scheduler's transactions, the sweeps, deletes and TTL expiry. A change is
applied in one transaction whose condition is the run's entry as the change's *old* image implies
it (absent, or a deletion older than the run, for a new run), and which sets the entry as the new
image implies it and adds the counter deltas. A change delivered again (a retried Lambda batch, a
local drain started over) finds the entry moved on and is skipped; entries carry the state id, so
a state that comes back is a new entry. Changes of one run arrive in order (a stream shard, then its
children). A batch's changes go in as few transactions as its items allow; if one of them was
applied already, the batch is applied change by change. So once a stream is drained, every count
equals a recount of the stored runs (tests compare them under racing writers), and a rebuild from
a Scan (``cirrus migrate-runs``) may run while runs change: what it missed, the stream brings.

Counts lag the runs by the stream's delivery (on AWS typically under a second, plus the
consumer's batching window); the local stack and the tests drain the stream before reading.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.domain.identity import utc_key
from chalicelib.storage.models import RunCountModel

FLOW_RUNS = "fr"
TASK_RUNS = "tr"
EXPECTED = "e"
STARTED = "s"
DIMENSIONS = (EXPECTED, STARTED)
ALL = "all"
#: The totals item's set of the days (``d<YYYY-MM-DD>``) whose by-time partitions hold runs.
DAYS = "days"
FLOWS_BY_HOUR = "fr#fe"
DEPLOYMENTS = "fr#dep"
NO_STATE = "NONE"
#: TransactWriteItems' limit.
_MAX_ITEMS = 100
_TOMBSTONE = "-"
#: Prefix of the hour items' summed run times (``rt|<MM>|<TYPE>|<NAME>``).
_RUN_TIME = "rt|"
#: Below every sort key used (sort keys cannot be empty).
_LOWEST = " "


@dataclass(frozen=True)
class RunView:
    """What the counts need of one stored run."""

    id: str
    state: str
    name: str
    state_id: str
    times: Mapping[str, datetime | None]
    flow_id: str | None = None
    deployment_id: str | None = None
    run_time: float = 0.0
    #: When the run was created and last written (a deletion's tombstone is no older than that).
    created: datetime | None = None
    changed: datetime | None = None

    def entry(self, dim: str) -> str | None:
        """The run's entry in its minute's item of ``dim``: ``time|TYPE|flow|state id|name``."""
        when = self.times.get(dim)
        if when is None:
            return None
        return f"{utc_key(when)}|{self.state}|{self.flow_id or ''}|{self.state_id}|{self.name}"


#: A minute's entries are spread over up to 256 items by the first two hex digits of the run id, so
#: an item stays small (a write of it costs what the entry costs) and a minute holds any number of
#: runs (thousands per item); an edge minute is read with one Query of its items.
#: At most this many entries of one item are conditioned on in one transaction (DynamoDB allows
#: 300 operators and 4 KB per expression).
_MAX_ENTRIES_PER_ITEM = 40


def _entry_item(entry: str, run_id: str) -> str:
    """The minute item (``<minute>#<shard>``) of a run's entry."""
    return f"{minute_of(_entry_time(entry))}#{run_id[:2].lower()}"


def hour_of(instant: datetime) -> str:
    return utc_key(instant)[:13]


def minute_of(instant: datetime) -> str:
    return utc_key(instant)[:16]


def _entry_time(entry: str) -> datetime:
    return datetime.strptime(entry.split("|", 1)[0], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


# ---------------------------------------------------------------------------------- writes
@dataclass
class _ItemOps:
    """What one transaction does to one aggregate item."""

    add: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    #: String sets to add to (the days that hold runs).
    members: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    set_: dict[str, str] = field(default_factory=dict)
    #: attribute -> the value it must hold (``None``: absent, or a deletion older than ``newer_than``).
    expect: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        """Whether the item has anything to change (deltas that cancel out are nothing)."""
        return any(self.add.values()) or bool(self.set_ or self.members)


class _Change:
    """One run's change as item operations: ``ops[(pk, sk)]``."""

    def __init__(self, kind: str, old: RunView | None, new: RunView | None, at: datetime) -> None:
        self.ops: dict[tuple[str, str], _ItemOps] = defaultdict(_ItemOps)
        self.kind = kind
        for dim in DIMENSIONS:
            self._entry(dim, old, new, at)
        self._count(old, -1)
        self._count(new, +1)

    @property
    def empty(self) -> bool:
        """Nothing counted changes (a heartbeat, a PATCH of other fields): the change is skipped."""
        return not any(any(o.add.values()) or o.set_ for o in self.ops.values())

    def _entry(self, dim: str, old: RunView | None, new: RunView | None, at: datetime) -> None:
        before = old.entry(dim) if old else None
        after = new.entry(dim) if new else None
        if before == after:
            return
        run_id = (new or old).id  # type: ignore[union-attr]
        if before is not None:
            item = self.ops[(f"{self.kind}#{dim}#r", _entry_item(before, run_id))]
            item.expect[run_id] = (before, None)
            if after is None or minute_of(_entry_time(after)) != minute_of(_entry_time(before)):
                deleted = max(at, old.changed or at) if old else at
                item.set_[run_id] = _TOMBSTONE + utc_key(deleted)
        if after is not None:
            item = self.ops[(f"{self.kind}#{dim}#r", _entry_item(after, run_id))]
            if before is None or run_id not in item.expect:
                created = new.created if new else None
                item.expect.setdefault(run_id, (None, _TOMBSTONE + utc_key(created or at)))
            item.set_[run_id] = after

    def _count(self, view: RunView | None, sign: int) -> None:
        if view is None:
            return
        for dim in DIMENSIONS:
            when = view.times.get(dim)
            if when is None:
                continue
            text = utc_key(when)
            hour = self.ops[(f"{self.kind}#{dim}", hour_of(when))]
            day = self.ops[(f"{self.kind}#{dim}#d", text[:10])]
            key = f"{text[14:16]}|{view.state}|{view.name}"
            hour.add[key] += sign
            day.add[f"{text[11:13]}|{view.state}|{view.name}"] += sign
            if view.run_time and self.kind == TASK_RUNS:  # task-run histories sum run times
                hour.add[_RUN_TIME + key] += sign * view.run_time
        totals = self.ops[(f"{self.kind}#{ALL}", "-")]
        totals.add[view.state] += sign
        if sign > 0:
            listed = view.times.get(STARTED) or view.times.get(EXPECTED)
            if listed is not None:
                totals.members[DAYS].add("d" + utc_key(listed)[:10])
        if self.kind == FLOW_RUNS:
            when = view.times.get(EXPECTED)
            if when is not None and view.flow_id:
                self.ops[(FLOWS_BY_HOUR, hour_of(when))].add[f"{view.flow_id}|{view.state}"] += sign
            if view.deployment_id:
                self.ops[(DEPLOYMENTS, view.deployment_id)].add[f"{view.state}|{view.name}"] += sign


def _merge(changes: Sequence[_Change]) -> dict[tuple[str, str], _ItemOps]:
    """The changes of a batch as one set of item operations: per run, the first change's expected
    entry and the last one's value."""
    merged: dict[tuple[str, str], _ItemOps] = defaultdict(_ItemOps)
    for change in changes:
        for key, ops in change.ops.items():
            target = merged[key]
            for name, delta in ops.add.items():
                target.add[name] += delta
            for name, members in ops.members.items():
                target.members[name] |= members
            for name, expected in ops.expect.items():
                target.expect.setdefault(name, expected)
            target.set_.update(ops.set_)
    return merged


def _update(table: str, key: tuple[str, str], ops: _ItemOps) -> dict[str, Any]:
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    adds, sets, conditions = [], [], []
    for i, (name, delta) in enumerate(sorted(ops.add.items())):
        if not delta:
            continue
        names[f"#a{i}"] = name
        values[f":a{i}"] = {"N": str(int(delta)) if float(delta).is_integer() else f"{delta:.6f}"}
        adds.append(f"#a{i} :a{i}")
    for i, (name, members) in enumerate(sorted(ops.members.items())):
        names[f"#m{i}"] = name
        values[f":m{i}"] = {"SS": sorted(members)}
        adds.append(f"#m{i} :m{i}")
    for i, (name, value) in enumerate(sorted(ops.set_.items())):
        names[f"#s{i}"] = name
        values[f":s{i}"] = {"S": value}
        sets.append(f"#s{i} = :s{i}")
    for i, (name, (expected, newer_than)) in enumerate(sorted(ops.expect.items())):
        names[f"#c{i}"] = name
        if expected is not None:
            values[f":c{i}"] = {"S": expected}
            conditions.append(f"#c{i} = :c{i}")
        else:
            values[f":c{i}"] = {"S": newer_than}
            conditions.append(f"(attribute_not_exists(#c{i}) OR #c{i} < :c{i})")
    parts = []
    if sets:
        parts.append("SET " + ", ".join(sets))
    if adds:
        parts.append("ADD " + ", ".join(adds))
    update: dict[str, Any] = {
        "TableName": table,
        "Key": {"pk": {"S": key[0]}, "sk": {"S": key[1]}},
        "UpdateExpression": " ".join(parts),
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }
    if conditions:
        update["ConditionExpression"] = " AND ".join(conditions)
    return {"Update": update}


def _client() -> Any:
    return RunCountModel._get_connection().connection.client


def _transact(ops: dict[tuple[str, str], _ItemOps]) -> bool:
    """One transaction; ``False`` when a condition failed (a change applied already). Conflicts with
    another writer of the same items are retried."""
    table = RunCountModel.Meta.table_name
    items = [_update(table, key, o) for key, o in sorted(ops.items()) if o.active]
    if not items:
        return True
    for attempt in range(8):
        try:
            _client().transact_write_items(TransactItems=items)
            return True
        except ClientError as exc:
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if "ConditionalCheckFailed" in reasons:
                return False
            conflict = "TransactionConflict" in reasons or exc.response["Error"]["Code"] in (
                "TransactionConflictException",
                "TransactionInProgressException",
                "ThrottlingException",
            )
            if not conflict or attempt == 7:
                raise
            time.sleep(random.uniform(0, 0.02 * 2**attempt))
    return False  # pragma: no cover


def apply(kind: str, changes: Iterable[tuple[RunView | None, RunView | None, datetime]]) -> int:
    """Apply a batch of changes (old view, new view, when) of runs of ``kind``; returns how many
    changed the counts (those delivered before are skipped)."""
    pending = [c for c in (_Change(kind, old, new, at) for old, new, at in changes) if not c.empty]
    applied = 0
    group: list[_Change] = []

    def flush(group: list[_Change]) -> int:
        if not group:
            return 0
        if _transact(_merge(group)):
            return len(group)
        if len(group) == 1:
            return 0
        return sum(flush([c]) for c in group)

    keys: set[tuple[str, str]] = set()
    entries: dict[tuple[str, str], int] = defaultdict(int)
    for change in pending:
        crowded = any(entries[k] + len(o.expect) > _MAX_ENTRIES_PER_ITEM for k, o in change.ops.items() if o.expect)
        if len(keys | change.ops.keys()) > _MAX_ITEMS or crowded:
            applied += flush(group)
            group, keys, entries = [], set(), defaultdict(int)
        group.append(change)
        keys |= change.ops.keys()
        for key, ops in change.ops.items():
            entries[key] += len(ops.expect)
    return applied + flush(group)


# ---------------------------------------------------------------------------------- reads
def _items(pk: str, low: str, high: str) -> Iterator[dict[str, Any]]:
    """Items of partition ``pk`` with ``low <= sk <= high`` (eventually consistent: what a
    stream consumer wrote a moment ago may be missing for a moment, as the consumer's own lag)."""
    request: dict[str, Any] = {
        "TableName": RunCountModel.Meta.table_name,
        "KeyConditionExpression": "pk = :pk AND sk BETWEEN :lo AND :hi",
        "ExpressionAttributeValues": {":pk": {"S": pk}, ":lo": {"S": low}, ":hi": {"S": high}},
    }
    while True:
        page = _client().query(**request)
        yield from page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _get_many(keys: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    table = RunCountModel.Meta.table_name
    wanted = [{"pk": {"S": pk}, "sk": {"S": sk}} for pk, sk in dict.fromkeys(keys)]
    for start in range(0, len(wanted), 100):
        request = {table: {"Keys": wanted[start : start + 100]}}
        while request:
            answer = _client().batch_get_item(RequestItems=request)
            out += answer.get("Responses", {}).get(table, [])
            request = answer.get("UnprocessedKeys") or {}
    return out


def _number(value: dict[str, str]) -> float:
    return float(value["N"]) if "N" in value else 0.0


@dataclass(frozen=True)
class Window:
    """``after <= time <= before`` (either may be open)."""

    after: datetime | None = None
    before: datetime | None = None

    def holds(self, when: datetime) -> bool:
        return (self.after is None or when >= self.after) and (self.before is None or when <= self.before)


_MINUTE = timedelta(minutes=1)
_HOUR = timedelta(hours=1)


def _minute_start(label: str) -> datetime:
    return datetime.strptime(label, "%Y-%m-%dT%H:%M").replace(tzinfo=UTC)


@dataclass
class MinuteCounts:
    """Per minute label and (type, name): count and summed run time; and which minutes are partial."""

    counts: dict[tuple[str, str, str], float] = field(default_factory=lambda: defaultdict(float))
    run_times: dict[tuple[str, str, str], float] = field(default_factory=lambda: defaultdict(float))


def _read_minutes(kind: str, dim: str, window: Window) -> MinuteCounts:
    """The hour items of ``window``, as per-minute counts (one Query, paged)."""
    low = hour_of(window.after) if window.after else _LOWEST
    high = hour_of(window.before) if window.before else "~"
    result = MinuteCounts()
    for item in _items(f"{kind}#{dim}", low, high):
        _add_minutes(result, item)
    return result


def _add_minutes(result: MinuteCounts, item: dict[str, Any]) -> None:
    hour = item["sk"]["S"]
    for name, value in item.items():
        if name in ("pk", "sk"):
            continue
        run_time = name.startswith(_RUN_TIME)
        mm, state, state_name = name.removeprefix(_RUN_TIME).split("|", 2)
        key = (f"{hour}:{mm}", state, state_name)
        (result.run_times if run_time else result.counts)[key] += _number(value)


def _span_holds(start: datetime, length: timedelta, window: Window) -> bool:
    return window.holds(start) and window.holds(start + length - timedelta(microseconds=1))


def _span_overlaps(start: datetime, length: timedelta, window: Window) -> bool:
    return (window.before is None or start <= window.before) and (window.after is None or start + length > window.after)


def _whole(minute: str, window: Window) -> bool:
    start = _minute_start(minute)
    end = start + _MINUTE - timedelta(microseconds=1)
    return window.holds(start) and window.holds(end)


@dataclass(frozen=True)
class Entry:
    when: datetime
    state: str
    flow_id: str
    name: str


def _parse_entries(item: dict[str, Any]) -> Iterator[Entry]:
    for key, value in item.items():
        text = value.get("S")
        if key in ("pk", "sk") or text is None or text.startswith(_TOMBSTONE):
            continue
        _, state, flow, _, name = text.split("|", 4)
        yield Entry(_entry_time(text), state, flow, name)


def _entries(kind: str, dim: str, minutes: Iterable[str]) -> Iterator[Entry]:
    """The runs entered in those minutes' items (deleted ones left out): one Query per minute."""
    for minute in sorted(minutes):
        for item in _items(f"{kind}#{dim}#r", f"{minute}#", f"{minute}#~"):
            yield from _parse_entries(item)


def count_by_type(kind: str, dim: str | None, window: Window) -> dict[str, int]:
    """How many runs of ``kind`` have their ``dim`` time in ``window``, per current state type.

    No window (``dim`` None): the totals item, 1 request. Else at most 3: the window's day items
    (hour counts: the whole hours), the hour items of the (at most 2) hours it cuts (minute counts:
    their whole minutes), the entries of the (at most 2) minutes it cuts (exact times)."""
    totals: dict[str, float] = defaultdict(float)
    if dim is None or (window.after is None and window.before is None):
        items = _get_many([(f"{kind}#{ALL}", "-")])
        for key, value in (items[0] if items else {}).items():
            if key not in ("pk", "sk", DAYS):
                totals[key] += _number(value)
        return {k: int(v) for k, v in totals.items() if v}
    low = window.after.strftime("%Y-%m-%d") if window.after else _LOWEST
    high = window.before.strftime("%Y-%m-%d") if window.before else "~"
    cut_hours: set[str] = set()
    for item in _items(f"{kind}#{dim}#d", low, high):
        day = item["sk"]["S"]
        for name, value in item.items():
            if name in ("pk", "sk") or not _number(value):
                continue
            hh, state, _ = name.split("|", 2)
            hour = f"{day}T{hh}"
            start = datetime.strptime(hour, "%Y-%m-%dT%H").replace(tzinfo=UTC)
            if _span_holds(start, _HOUR, window):
                totals[state] += _number(value)
            elif _span_overlaps(start, _HOUR, window):
                cut_hours.add(hour)
    minutes = MinuteCounts()
    for item in _get_many([(f"{kind}#{dim}", hour) for hour in sorted(cut_hours)]):
        _add_minutes(minutes, item)
    cut_minutes = set()
    for (minute, state, _), n in minutes.counts.items():
        if _whole(minute, window):
            totals[state] += n
        elif n and _overlaps(minute, window):
            cut_minutes.add(minute)
    for entry in _entries(kind, dim, cut_minutes):
        if window.holds(entry.when):
            totals[entry.state] += 1
    return {k: int(v) for k, v in totals.items() if v}


def count(kind: str, dim: str | None, window: Window, types: set[str] | None) -> int:
    """:func:`count_by_type` summed over ``types`` (``None``: every type)."""
    return sum(n for state, n in count_by_type(kind, dim, window).items() if types is None or state in types)


def _overlaps(minute: str, window: Window) -> bool:
    start = _minute_start(minute)
    end = start + _MINUTE
    return (window.before is None or start <= window.before) and (window.after is None or end > window.after)


def flows_with_runs(window: Window, types: set[str] | None) -> set[str]:
    """Ids of the flows with a run whose expected start is in ``window`` and state type in
    ``types``: the flows' hour items give the flows of whole hours, and the flows seen only in the
    (at most two) hours the window cuts are checked against those hours' minute entries, read only
    when there is such a flow."""
    found: set[str] = set()
    maybe: dict[str, set[str]] = defaultdict(set)  # hour the window cuts -> flows seen in it
    low = hour_of(window.after) if window.after else _LOWEST
    high = hour_of(window.before) if window.before else "~"
    for item in _items(FLOWS_BY_HOUR, low, high):
        hour = item["sk"]["S"]
        start = datetime.strptime(hour, "%Y-%m-%dT%H").replace(tzinfo=UTC)
        whole = _span_holds(start, _HOUR, window)
        for name, value in item.items():
            if name in ("pk", "sk") or not _number(value):
                continue
            flow, state = name.rsplit("|", 1)
            if types is not None and state not in types:
                continue
            if whole:
                found.add(flow)
            else:
                maybe[hour].add(flow)
    for hour, flows in sorted(maybe.items()):
        if not flows - found:
            continue
        for item in _items(f"{FLOW_RUNS}#{EXPECTED}#r", f"{hour}:00", f"{hour}:59#~"):
            for entry in _parse_entries(item):
                if (types is None or entry.state in types) and window.holds(entry.when):
                    found.add(entry.flow_id)
    return found


def days(kind: str) -> frozenset[str]:
    """The days (``d<YYYY-MM-DD>``) on which runs of ``kind`` have been listed (a day stays listed
    after its runs expire: reading it costs one empty Query)."""
    items = _get_many([(f"{kind}#{ALL}", "-")])
    return frozenset(items[0].get(DAYS, {}).get("SS", [])) if items else frozenset()


def deployment_counts(deployment_ids: Sequence[str]) -> dict[str, dict[tuple[str, str], int]]:
    """Per deployment: its runs by (state type, state name), one BatchGetItem."""
    out: dict[str, dict[tuple[str, str], int]] = {d: {} for d in deployment_ids}
    for item in _get_many([(DEPLOYMENTS, d) for d in deployment_ids]):
        counts = out[item["sk"]["S"]]
        for name, value in item.items():
            if name in ("pk", "sk"):
                continue
            state, state_name = name.split("|", 1)
            counts[(state, state_name)] = int(_number(value))
    return out


@dataclass
class HistoryCell:
    count: int = 0
    run_time: float = 0.0


def history(
    kind: str,
    dim: str,
    start: datetime,
    end: datetime,
    step: timedelta,
    types: set[str] | None,
    within: Window | None = None,
    exact_cuts: int | None = None,
) -> dict[tuple[int, str, str], HistoryCell]:
    """Runs per interval ``[start + i*step, start + (i+1)*step)`` of ``[start, end)``, by (state type,
    state name), with their summed total run time: whole minutes from the hour items; the minutes an
    interval boundary cuts (holding runs), when at most :data:`EXACT_CUTS` of them, from their entries (exact; their
    run times are not in the entries: they add counts only); with more cuts (the dashboard's 20
    buckets of a day) a cut minute counts whole in the interval holding its start, so the buckets are
    exact to the minute and the request count stays bounded."""
    window = Window(start, end - timedelta(microseconds=1))
    if within is not None:  # the filter's own window on the same time
        after = max(start, within.after) if within.after else start
        before = min(window.before, within.before) if within.before else window.before  # type: ignore[type-var]
        window = Window(after, before)
    minutes = _read_minutes(kind, dim, window)
    cells: dict[tuple[int, str, str], HistoryCell] = defaultdict(HistoryCell)
    cut: set[str] = set()
    counted = [(key, n) for key, n in minutes.counts.items() if n and (types is None or key[1] in types)]
    for (minute, _, _), _ in counted:
        begin = _minute_start(minute)
        first, last = _interval(begin, start, step), _interval(begin + _MINUTE - timedelta(microseconds=1), start, step)
        if first != last or not _whole(minute, window):
            cut.add(minute)
    exact = len(cut) <= (EXACT_CUTS if exact_cuts is None else exact_cuts)
    for (minute, state, name), n in counted:
        begin = _minute_start(minute)
        if exact and minute in cut:
            continue
        if not exact and not window.holds(begin):
            continue
        cell = cells[(_interval(begin, start, step), state, name)]
        cell.count += int(n)
        cell.run_time += minutes.run_times.get((minute, state, name), 0.0)
    for entry in _entries(kind, dim, cut if exact else ()):
        if (types is None or entry.state in types) and window.holds(entry.when):
            cells[(_interval(entry.when, start, step), entry.state, entry.name)].count += 1
    return dict(cells)


#: At most this many minutes cut by interval boundaries are read entry by entry (a Query each).
EXACT_CUTS = 8


def _interval(when: datetime, start: datetime, step: timedelta) -> int:
    return int((when - start) // step)
