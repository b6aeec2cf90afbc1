"""Flow runs in DynamoDB: one compact item per run (``_items``), its state history one item
per state in ``flow_run_states``.

Writes are conditional: an insert on ``attribute_not_exists(id)`` (ids of runs with an
idempotency key, and of auto-scheduled runs, are derived from that key), a transition on the
``state_id`` that was read. A write of a run returns the item it replaced (``ALL_OLD``, at no
extra cost), and the states that write adds to the history are then put in one history item (one
PutItem): the new current state, and the replaced item's first state if it was not recorded yet (a
run's first state is recorded lazily, so inserting a run writes one item). A process that dies between
the two requests leaves the run right and its history short of that state.

Terminal runs get a TTL (``expires_at``); reads treat an expired item as gone even before
DynamoDB deletes it.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from types import EllipsisType
from typing import Any

from pynamodb.exceptions import DeleteError, PutError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.models import Model

from chalicelib.config import Settings
from chalicelib.domain.identity import utc_key
from chalicelib.domain.sweeps import ZOMBIE, sweep_for
from chalicelib.errors import ConcurrentUpdateError, FlowRunNotFoundError
from chalicelib.schemas.common import utcnow
from chalicelib.schemas.filters import FlowRunFilter
from chalicelib.schemas.flow_run_inputs import FlowRunInput
from chalicelib.schemas.flow_runs import FlowRun
from chalicelib.schemas.states import State, StateType
from chalicelib.storage.errors import is_condition_failure
from chalicelib.storage.flow_run_inputs import to_item as input_item
from chalicelib.storage.flow_runs import _items as flow_run_items
from chalicelib.storage.flow_runs import _listing as flow_run_listing
from chalicelib.storage.flow_runs import _queries as flow_run_queries
from chalicelib.storage.flow_runs._items import state_sort_key
from chalicelib.storage.flow_runs._listing import Listing
from chalicelib.storage.flow_runs._queries import AccessPath
from chalicelib.storage.flow_runs._transacted import delete_releasing_slot, put_transacted
from chalicelib.storage.instrumentation import item_bytes
from chalicelib.storage.models import POLLED_STATES, DeploymentModel, FlowRunModel, FlowRunStateModel

#: The size a write of an item costs one write unit up to.
_ONE_WRITE_UNIT = 1024
#: How long a history item outlives its state at least: the retention plus the scheduler's horizon
#: (a Scheduled state may be written 100 days before its run starts).
_HISTORY_SLACK = timedelta(days=100)


def never_ran_scheduled() -> Condition:
    """The run is still SCHEDULED and has never run (``run_count`` is absent or 0)."""
    never_ran = FlowRunModel.run_count.does_not_exist() | (FlowRunModel.run_count == 0)
    return (FlowRunModel.state_type == StateType.SCHEDULED.value) & never_ran


def heartbeat_is(heartbeat: datetime | None) -> Condition:
    """The stored heartbeat is ``heartbeat`` (``None``: the run has none)."""
    return FlowRunModel.heartbeat == heartbeat if heartbeat is not None else FlowRunModel.heartbeat.does_not_exist()


def unchanged_since(state_id: str, updated: datetime, heartbeat: datetime | None) -> Condition:
    """The item still holds the state, last update and heartbeat it was read with (a heartbeat does
    not move ``updated``, so it is checked on its own)."""
    return (FlowRunModel.state_id == state_id) & (FlowRunModel.updated == updated) & heartbeat_is(heartbeat)


class FlowRunRepository:
    """Reads and writes flow runs; a missing or expired run raises :class:`FlowRunNotFoundError`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def retention(self) -> timedelta:
        return timedelta(days=self.settings.retention_days)

    @property
    def zombie_step(self) -> timedelta:
        """How far a heartbeat may run ahead of the zombie-list entry before it moves the entry:
        half the zombie threshold."""
        return timedelta(seconds=self.settings.zombie_threshold_s) / 2

    def _item(self, run: FlowRun, *, history_pending: bool, late_list: bool = True) -> FlowRunModel:
        return flow_run_items.to_item(run, self.retention, history_pending=history_pending, late_list=late_list)

    # ------------------------------------------------------------------ mapping
    def to_item(self, run: FlowRun, history: Sequence[State] | None = None, *, late_list: bool = True) -> FlowRunModel:
        """The item inserting ``run`` writes (its first state not yet in the history table; off the
        late list with ``late_list=False``: see ``flow_run_items.to_item``).

        ``history`` is accepted for callers of the former format and not stored in the item."""
        return self._item(run, history_pending=True, late_list=late_list)

    @staticmethod
    def from_item(item: FlowRunModel) -> FlowRun:
        return flow_run_items.from_item(item)

    def history_of(self, item: FlowRunModel) -> list[State]:
        """The state history of the run ``item`` holds, oldest first (one Query unless the item
        still carries a history of the former format)."""
        legacy = flow_run_items.legacy_history(item)
        if legacy is not None:
            return legacy
        states = self._recorded_states(item.id)
        known = {s.id for s in states}
        for entry in self.from_item(item).unrecorded or ():
            state, _ = flow_run_items.from_history_entry(item.id, entry)
            if state.id not in known:
                states.append(state)
                known.add(state.id)
        return states

    @staticmethod
    def _expired(item: FlowRunModel, now: datetime | None = None) -> bool:
        return item.expires_at is not None and item.expires_at <= (now or utcnow())

    @staticmethod
    def _recorded_states(run_id: str) -> list[State]:
        items = FlowRunStateModel.query(run_id, consistent_read=True)
        return [state for item in items for state in flow_run_items.from_state_item(item)]

    # ------------------------------------------------------------------ reads
    def get_item(self, id_: uuid.UUID) -> FlowRunModel:
        """The stored item (strongly consistent); expired items count as missing."""
        try:
            item = FlowRunModel.get(str(id_), consistent_read=True)
        except FlowRunModel.DoesNotExist as exc:
            raise FlowRunNotFoundError(id_) from exc
        if self._expired(item):
            raise FlowRunNotFoundError(id_)
        return item

    def get(self, id_: uuid.UUID) -> FlowRun:
        return self.from_item(self.get_item(id_))

    def get_with_history(self, id_: uuid.UUID) -> tuple[FlowRun, list[State]]:
        """The run and its state history (GetItem, then a Query of ``flow_run_states``)."""
        item = self.get_item(id_)
        return self.from_item(item), self.history_of(item)

    def history(self, id_: uuid.UUID) -> list[State]:
        """The run's states, oldest first: GetItem (its latest states are in the item) and a Query
        of ``flow_run_states``. An unknown or expired run has none."""
        try:
            return self.history_of(self.get_item(id_))
        except FlowRunNotFoundError:
            return []

    def live(self, items: Iterable[FlowRunModel]) -> Iterator[FlowRun]:
        """Runs of ``items`` that have not expired."""
        now = utcnow()
        for item in items:
            if not self._expired(item, now):
                yield self.from_item(item)

    def by_deployment(
        self,
        deployment_id: uuid.UUID,
        state_type: StateType | None = None,
        after: datetime | None = None,
        before: datetime | None = None,
        limit: int | None = None,
    ) -> Iterator[FlowRun]:
        """A deployment's runs, ascending by the state-sort time (``state_sort_key``).

        With a polled ``state_type`` (SCHEDULED, CANCELLING): :meth:`polled_in_deployments` of one
        deployment. Other states, or all, are its whole by-owner-state partition, sorted here (an
        operator's path).
        """
        if state_type is not None and state_type.value in POLLED_STATES:
            found = self.polled_in_deployments([(deployment_id, limit)], state_type, after=after, before=before)
            return iter(found[deployment_id])
        path = AccessPath(flow_run_queries.BY_OWNER, (str(deployment_id),))
        low_key = f"{state_type.value}#{utc_key(after)}" if state_type and after else ""
        high_key = f"{state_type.value}#{utc_key(before)}" if state_type and before else "~"
        runs = sorted(
            (
                run
                for run in self.find([path])
                if (state_type is None or run.state_type is state_type) and low_key <= state_sort_key(run) <= high_key
            ),
            key=state_sort_key,
        )
        return iter(runs[:limit] if limit else runs)

    def polled_in_deployments(
        self,
        deployments: Sequence[tuple[uuid.UUID, int | None]],
        state_type: StateType = StateType.SCHEDULED,
        *,
        after: datetime | None = None,
        before: datetime | None = None,
    ) -> dict[uuid.UUID, list[FlowRun]]:
        """A runner's poll: for each (deployment, limit), its runs in ``state_type`` (SCHEDULED or
        CANCELLING) with their time in [after, before], earliest first, at most ``limit`` (None: all).
        One Query of by-owner-state per deployment, then one BatchGetItem (per 100) of the runs."""
        index = (FlowRunModel.by_owner, FlowRunModel.owner_sort)
        return self._polled(index, deployments, state_type, after, before)

    def _polled(
        self,
        index: tuple[Any, Any],
        keys: Sequence[tuple[uuid.UUID, int | None]],
        state_type: StateType,
        after: datetime | None,
        before: datetime | None,
    ) -> dict[uuid.UUID, list[FlowRun]]:
        """Per (hash key, limit) of ``index`` (a polled-state range key ``<TYPE>#<time>``): the runs of
        ``state_type`` in [after, before], earliest first, at most ``limit``. One Query per key (keys
        only), then one BatchGetItem per 100 runs, strongly consistent: a run that left the state
        since the index was written is left out."""
        gsi, range_key = index
        low = f"{state_type.value}#{utc_key(after) if after else ''}"
        high = f"{state_type.value}#{utc_key(before) if before else '~'}"
        named: dict[uuid.UUID, list[str]] = {}
        for key, limit in keys:
            if limit is not None and limit <= 0:
                named[key] = []
                continue
            entries = gsi.query(str(key), range_key.between(low, high), limit=limit, page_size=limit)
            named[key] = [entry.id for entry in entries]
        wanted = [run_id for ids in named.values() for run_id in ids]
        runs = {str(run.id): run for run in self.live(flow_run_queries.fetch(wanted))}
        return {
            key: [
                run
                for run in (runs.get(i) for i in ids)
                if run is not None and run.state_type is state_type and low <= state_sort_key(run) <= high
            ]
            for key, ids in named.items()
        }

    def find(self, paths: Iterable[AccessPath]) -> Iterator[FlowRun]:
        """The live runs the access paths reach (see :mod:`chalicelib.storage.flow_runs._queries`)."""
        return self.live(flow_run_queries.read(paths))

    def listed(self, listing: Listing) -> Iterator[tuple[FlowRun, str | None]]:
        """The live runs ``listing`` names, in its order, each with its position in that order
        (:mod:`chalicelib.storage.flow_runs._listing`). Owners that are flows stand for their runs
        without a deployment and those of each of their deployments."""
        if listing.owners is not None and listing.owners_are_flows:
            owners = [
                o for flow in listing.owners for o in (flow, *(d.id for d in DeploymentModel.by_flow.query(flow)))
            ]
            listing = dataclasses.replace(listing, owners=tuple(owners), owners_are_flows=False)
        now = utcnow()
        for item, position in flow_run_listing.read(listing):
            if not self._expired(item, now):
                yield self.from_item(item), position

    def get_many(self, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, FlowRun]:
        """Live runs by id (BatchGetItem, strongly consistent); missing ids are left out."""
        path = AccessPath(flow_run_queries.KEYS, tuple(dict.fromkeys(str(i) for i in ids)))
        return {run.id: run for run in self.find([path])}

    def by_flow(self, flow_id: uuid.UUID) -> Iterator[FlowRun]:
        """A flow's runs (by-owner: its own, then each deployment's, by creation time)."""
        return self.find([AccessPath(flow_run_queries.BY_FLOW, (str(flow_id),))])

    def by_work_queue(self, work_queue_id: uuid.UUID, state_type: StateType | None = None) -> Iterator[FlowRun]:
        """A work queue's runs, optionally only those of ``state_type`` (an operator's read, by the path
        the filter planner picks for the state: by-queue serves only a worker's poll and count)."""
        flt = FlowRunFilter.model_validate({"state": {"type": {"any_": [state_type.value]}}}) if state_type else None
        runs = self.find(flow_run_queries.plan(flt))
        return (run for run in runs if run.work_queue_id == work_queue_id and (flt is None or flt.matches(run)))

    def scheduled_in_queue(
        self, work_queue_id: uuid.UUID, *, after: datetime | None, before: datetime | None, limit: int
    ) -> list[FlowRun]:
        """One queue's :meth:`scheduled_in_queues`."""
        return self.scheduled_in_queues([(work_queue_id, limit)], after=after, before=before)[work_queue_id]

    def scheduled_in_queues(
        self, queues: Sequence[tuple[uuid.UUID, int]], *, after: datetime | None, before: datetime | None
    ) -> dict[uuid.UUID, list[FlowRun]]:
        """A worker's poll of queues of a work pool: for each (queue, limit), its SCHEDULED runs with
        next_scheduled_start_time in [after, before], earliest first, at most ``limit``. One Query of
        by-queue (keys only) per queue, then one BatchGetItem (per 100) of the runs they name."""
        index = (FlowRunModel.by_queue, FlowRunModel.queue_sort)
        return self._polled(index, list(queues), StateType.SCHEDULED, after, before)

    @staticmethod
    def count_active_in_queue(work_queue_id: uuid.UUID) -> int:
        """How many of the queue's runs are PENDING or RUNNING (the slots its concurrency limit
        counts): one Query with Select COUNT of by-queue (``PENDING#`` … ``RUNNING#~`` holds
        exactly those two state types: see ``flow_run_items.queue_sort_key``)."""
        condition = FlowRunModel.queue_sort.between(f"{StateType.PENDING.value}#", f"{StateType.RUNNING.value}#~")
        return FlowRunModel.by_queue.count(str(work_queue_id), condition)

    def by_next_scheduled(self, after: datetime | None = None, before: datetime | None = None) -> Iterator[FlowRun]:
        """SCHEDULED runs whose next scheduled start is in [after, before], ascending (no index holds
        every scheduled run: the filter planner's path, a Scan; an operator's read)."""
        window = {"after_": after, "before_": before}
        flt = FlowRunFilter.model_validate({"next_scheduled_start_time": window})
        runs = (r for r in self.find(flow_run_queries.plan(flt)) if flt.matches(r))
        return iter(sorted(runs, key=lambda r: (r.next_scheduled_start_time or r.created, str(r.id))))

    def flow_ids_matching(self, flt: FlowRunFilter) -> set[uuid.UUID]:
        """Ids of the flows that have a run matching ``flt`` (the ``flow_runs`` group of other filters)."""
        return {run.flow_id for run in self.find(flow_run_queries.plan(flt)) if flt.matches(run)}

    # ------------------------------------------------------------------ writes
    def insert(self, run: FlowRun, history: list[State] | None = None, *, expired_by: datetime | None = None) -> bool:
        """Put ``run`` unless a run with its id exists; ``False`` when it already existed. Its first
        state goes to the history with its first transition (``history`` is not stored).

        With ``expired_by``, an item whose TTL passed by then (reads already hide it) counts as absent.
        """
        item = self.to_item(run)
        condition = FlowRunModel.id.does_not_exist()
        if expired_by is not None:
            condition |= FlowRunModel.expires_at <= expired_by
        try:
            old = self._put(item, condition)
        except PutError as exc:
            if is_condition_failure(exc):
                return False
            raise
        if old is not None:  # an expired run replaced: its history is not this run's
            self._delete_history(str(run.id))
        return True

    def replace(
        self,
        run: FlowRun,
        history: Sequence[State] = (),
        expected_state_id: uuid.UUID | None = None,
        *,
        expected_updated: datetime | None = None,
        expected_heartbeat: datetime | None | EllipsisType = ...,
        held_slot: bool | None = None,
        slot_limit: int | None = None,
        inputs: Sequence[FlowRunInput] = (),
        held_overlap: str | None | EllipsisType = ...,
    ) -> None:
        """Write ``run`` over the stored one, only if its state is still ``expected_state_id`` and,
        when given, its ``updated`` still ``expected_updated`` (no PATCH or transition in between)
        and its heartbeat still ``expected_heartbeat`` (``None``: none; no heartbeat in between: a
        heartbeat does not move ``updated``). ``held_slot``/``slot_limit``/``held_overlap``: see :meth:`write`;
        ``inputs`` are put in the same transaction (a resume's response input).

        The history gains what the write implies (:func:`flow_run_items.states_to_record`) and the
        states of ``history`` not recorded yet are put again (idempotent; callers that hold none pass
        nothing)."""
        expected = str(expected_state_id) if expected_state_id else flow_run_items.NO_STATE_ID
        condition = FlowRunModel.state_id == expected
        if expected_heartbeat is not ...:
            condition &= heartbeat_is(expected_heartbeat)
        if expected_updated is not None:
            condition &= FlowRunModel.updated == expected_updated
        try:
            companions = [input_item(value) for value in inputs]
            self.write(
                run, condition, also=history, held_slot=held_slot, slot_limit=slot_limit, companions=companions,
                held_overlap=held_overlap,
            )  # fmt: skip
        except PutError as exc:
            if is_condition_failure(exc):
                raise ConcurrentUpdateError("Flow run", run.id) from exc
            raise

    def write(
        self,
        run: FlowRun,
        condition: Condition,
        *,
        also: Sequence[State] = (),
        held_slot: bool | None = None,
        slot_limit: int | None = None,
        companions: Sequence[Model] = (),
        held_overlap: str | None | EllipsisType = ...,
    ) -> None:
        """Put ``run``'s item on ``condition`` (PutError when it fails), then record the states the
        write adds to its history (and those of ``also``).

        ``held_slot``: whether the run as read held a deployment concurrency slot. When ``run``
        takes one (at most ``slot_limit`` taken: else :class:`SlotsUnavailableError`) or gives it
        back, the put and the slot count move in one transaction (:mod:`._transacted`), with
        ``companions``, items written only together with this state. ``held_overlap``: the schedule
        overlap token the run as read held; when ``run`` holds another, the schedule's counter
        moves in the same transaction (:class:`OverlapTokenTakenError` when the token is taken)."""
        item = self._item(run, history_pending=True)
        carried = self._carry(run, item)
        moves = held_slot is not None and held_slot != run.concurrency_slot and run.deployment_id is not None
        overlap = None
        if held_overlap is not ... and held_overlap != run.overlap_slot and run.schedule_id is not None:
            overlap = (held_overlap, run.overlap_slot)
        if moves or companions or overlap:
            slot = run.concurrency_slot if moves else None
            old = put_transacted(
                item, condition, take_slot=slot, limit=slot_limit, companions=companions, overlap=overlap
            )  # fmt: skip
        else:
            old = self._put(item, condition)
        states = flow_run_items.states_to_record(old, run)
        known = {s.id for s, _ in states} | ({uuid.UUID(old.state_id)} if old is not None and old.state else set())
        states += [(s, run.updated) for s in also if s.id not in known]
        pending = {run.state.id if run.state else None, carried}
        self._record(run, [(s, when) for s, when in states if s.id not in pending])

    @staticmethod
    def _carry(run: FlowRun, item: FlowRunModel) -> uuid.UUID | None:
        """The history's write policy: a run's current state stays out of ``flow_run_states`` (the
        item holds it, ``hp``), and so may one state before it (``pv``), so most transitions write
        no history item: PENDING carries SCHEDULED, RUNNING records both in one item, COMPLETED
        carries RUNNING. ``item`` (``run`` to be written) carries the one state the history lacked
        as read (``run.unrecorded``) besides the new current one, if it stays within 1 KB (a write
        unit), and unless the run is RUNNING: its heartbeat and work-list entry will grow its item,
        and a heartbeat is billed per KB of it. The caller records whatever the replaced item shows
        unrecorded but these. Returns the carried state's id."""
        current = str(run.state.id) if run.state else None
        earlier = [e for e in run.unrecorded or () if flow_run_items.entry_state_id(e) != current]
        if len(earlier) != 1 or run.state_type == StateType.RUNNING:
            return None
        item.carried = earlier
        if item_bytes(item.serialize()) > _ONE_WRITE_UNIT:
            item.carried = None
            return None
        return uuid.UUID(flow_run_items.entry_state_id(earlier[0]))

    @staticmethod
    def _put(item: FlowRunModel, condition: Condition) -> FlowRunModel | None:
        """PutItem returning the item it replaced (``ReturnValues=ALL_OLD`` costs no capacity)."""
        args, kwargs = item._get_save_args(condition=condition)
        kwargs["return_values"] = "ALL_OLD"
        data = FlowRunModel._get_connection().put_item(*args, **kwargs)
        old = (data or {}).get("Attributes")
        return FlowRunModel.from_raw_data(old) if old else None

    def _record(self, run: FlowRun, states: Sequence[tuple[State, datetime]]) -> None:
        if not states:
            return
        terminal = flow_run_items.expiry(run, self.retention)
        (first, when), rest = states[0], states[1:]
        expires = terminal or max(w for _, w in states) + self.retention + _HISTORY_SLACK
        # One item for all of them: one write unit while they fit in 1 KB (two states do).
        flow_run_items.state_item(run.id, first, when, expires, more=rest).save()

    @staticmethod
    def _delete_history(run_id: str) -> None:
        keys = [item.sk for item in FlowRunStateModel.query(run_id, attributes_to_get=["flow_run_id", "sk"])]
        if keys:
            with FlowRunStateModel.batch_write() as batch:
                for sk in keys:
                    batch.delete(FlowRunStateModel(run_id, sk))

    def record_heartbeat(self, run: FlowRun, at: datetime) -> None:
        """Store ``at`` as the heartbeat of ``run`` as it was read, with its work-list entry.

        An UpdateItem conditioned on the item still holding the state and ``updated`` that were
        read: it never recreates a deleted run nor touches one that moved on (a crash by the zombie
        killer included). ``updated`` stays: the indexes that hold whole runs project it, not the
        heartbeat, so a heartbeat writes no index; every other write of the run is conditioned on
        the heartbeat it read instead (:meth:`replace`, the sweeps), so none based on an older
        read lands.

        The zombie-list entry (``sweep_at``) is the heartbeat that last moved it. A heartbeat of a
        run already on that list leaves it where it is while it is less than :attr:`zombie_step`
        old (as read: ``run.stored_sweep_at``): it then writes two small attributes that no index
        carries (one write unit for a compact item). Once the entry is older, the same single
        UpdateItem moves it to ``at`` (once per step). So an entry is never older than the last
        heartbeat by a step or more, and a run that beats is never a zombie candidate.

        One request either way: the write is conditioned on the heartbeat and entry it read, so a
        concurrent heartbeat makes it fail (:class:`ConcurrentUpdateError`; the service re-reads).
        """
        beating = run.model_copy(update={"heartbeat": at})
        base = [FlowRunModel.heartbeat.set(at)]
        state_id = str(run.state.id) if run.state else flow_run_items.NO_STATE_ID
        read = unchanged_since(state_id, run.updated, run.heartbeat)
        before, after = sweep_for(run), sweep_for(beating)
        if after is None:
            moved = base + ([FlowRunModel.sweep.remove(), FlowRunModel.sweep_at.remove()] if before else [])
        elif before is not None and before[0] == after[0] == ZOMBIE:
            stored = run.stored_sweep_at
            if stored is not None and stored > at - self.zombie_step:
                moved = base  # the entry stays, as read
                read &= FlowRunModel.sweep_at == stored
            else:
                moved = base + [FlowRunModel.sweep_at.set(after[1])]
        elif before != after:
            moved = base + [FlowRunModel.sweep.set(after[0]), FlowRunModel.sweep_at.set(after[1])]
        else:
            moved = base
        if not self._update(run.id, moved, read):
            raise ConcurrentUpdateError("Flow run", run.id)

    def claim(self, run: FlowRun, until: datetime, now: datetime) -> bool:
        """Hold ``run`` for one poller until ``until``: one UpdateItem of ``claimed_until`` (no index
        carries it: one write unit for a compact item), on the run still being in the state read and
        unclaimed (or its claim over at ``now``). ``False``: another poll holds it, or it moved on.
        A later write of the run (the worker's PENDING) ends the claim: :meth:`replace` writes none."""
        state_id = str(run.state.id) if run.state else flow_run_items.NO_STATE_ID
        free = FlowRunModel.claimed_until.does_not_exist() | (FlowRunModel.claimed_until <= now)
        return self._update(run.id, [FlowRunModel.claimed_until.set(until)], (FlowRunModel.state_id == state_id) & free)

    @staticmethod
    def _update(run_id: uuid.UUID, actions: list[Any], condition: Condition) -> bool:
        """UpdateItem on ``condition``; ``False`` when it failed."""
        try:
            FlowRunModel(str(run_id)).update(actions=actions, condition=condition)
        except UpdateError as exc:
            if is_condition_failure(exc):
                return False
            raise
        return True

    @staticmethod
    def _current(item: FlowRunModel) -> bool:
        """Whether ``item`` is in this version's format and indexes (by-owner-state's ``~<id>``,
        by-time)."""
        sort = item.owner_sort
        return (
            sort is not None
            and item.history is None
            and item.time_key is not None
            and (not sort.startswith(flow_run_items.OTHER_STATES) or sort == f"{flow_run_items.OTHER_STATES}{item.id}")
        )

    def copy_from(self, table: str, cursor: dict[str, Any] | None = None, limit: int = 100) -> tuple[int, int, Any]:
        """Copy one Scan page of the runs table of the version before this one (``table``, keyed by
        id alone) into this one, in this version's format: each a put on ``attribute_not_exists``,
        so a run written here since (by this version) is kept as it is, and a copy may run any number
        of times and while runs change. The state history is shared (``flow_run_states``); a run of
        the format before it brings its ``history`` there. Returns (copied, already here, the next
        page's cursor or ``None``). A missing ``table`` is an empty one."""
        client = FlowRunModel._get_connection().connection.client
        extra = {"ExclusiveStartKey": cursor} if cursor else {}
        try:
            page = client.scan(TableName=table, Limit=limit, ConsistentRead=True, **extra)
        except client.exceptions.ResourceNotFoundException:
            return 0, 0, None
        copied = present = 0
        for raw in page.get("Items", []):
            old = FlowRunModel.from_raw_data(FlowRunModel.from_previous(raw))
            run = self.from_item(old)
            legacy = flow_run_items.legacy_history(old) is not None
            item = self._item(run, history_pending=bool(old.history_pending) and not legacy)
            try:
                self._put(item, FlowRunModel.id.does_not_exist())
            except PutError as exc:
                if not is_condition_failure(exc):
                    raise
                present += 1
                continue
            if legacy:
                self._record(run, flow_run_items.states_to_record(old, run))
            copied += 1
        return copied, present, page.get("LastEvaluatedKey")

    def rewrite_outdated(self, cursor: dict[str, Any] | None = None, limit: int = 100) -> tuple[int, int, Any]:
        """Rewrite one Scan page's runs that an older version wrote (:meth:`_current`: an older
        by-owner-state key, no by-time keys, the former format's ``history``), so they enter
        this version's indexes: each a
        put conditioned on the state and ``updated`` read (a run that moved meanwhile is current
        already). Returns (rewritten, left as they were, the next page's cursor or ``None``)."""
        page = FlowRunModel._get_connection().scan(limit=limit, exclusive_start_key=cursor, consistent_read=True)
        rewritten = kept = 0
        for raw in page.get("Items", []):
            item = FlowRunModel.from_raw_data(raw)
            if self._current(item):
                kept += 1
                continue
            try:
                self.write(self.from_item(item), unchanged_since(item.state_id, item.updated, item.heartbeat))
            except PutError as exc:
                if not is_condition_failure(exc):
                    raise
                kept += 1
                continue
            rewritten += 1
        return rewritten, kept, page.get("LastEvaluatedKey")

    def delete(self, id_: uuid.UUID, read: FlowRun | None = None) -> None:
        """Delete the run, then its state history.

        With the run as ``read``: only while its state is the one read (else
        :class:`ConcurrentUpdateError`), and a run holding a deployment concurrency slot gives it
        back in the same transaction."""
        condition = FlowRunModel.id.exists()
        if read is not None:
            condition &= FlowRunModel.state_id == (str(read.state.id) if read.state else flow_run_items.NO_STATE_ID)
        if read is not None and read.concurrency_slot and read.deployment_id is not None:
            if not delete_releasing_slot(str(id_), condition, str(read.deployment_id)):
                raise ConcurrentUpdateError("Flow run", id_)
        else:
            try:
                FlowRunModel(str(id_)).delete(condition=condition)
            except DeleteError as exc:
                if not is_condition_failure(exc):
                    raise
                if read is not None:
                    raise ConcurrentUpdateError("Flow run", id_) from exc
                raise FlowRunNotFoundError(id_) from exc
        self._delete_history(str(id_))

    def delete_if_scheduled(self, id_: uuid.UUID, require_run_count_zero: bool = False) -> bool:
        """Delete a run only while it is still SCHEDULED (a run that started in between stays)."""
        condition = (
            never_ran_scheduled() if require_run_count_zero else FlowRunModel.state_type == StateType.SCHEDULED.value
        )
        try:
            FlowRunModel(str(id_)).delete(condition=condition)
        except DeleteError as exc:
            if is_condition_failure(exc):
                return False
            raise
        return True
