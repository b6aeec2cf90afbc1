"""The planning transaction: new runs and the schedule's progress, written together or not at all.

A plan commit is one schedule's new runs, its new ``planned_through`` and its next due time
(``None``: off the due index). Commits of several schedules share one ``TransactWriteItems`` of at
most 100 items (a request costs the same for 3 items as for 100; a tick with many due schedules
would otherwise spend its time on round trips). pynamodb sends the items in this order:

- one ConditionCheck per deployment: it exists and is not paused;
- one Put per new run, on ``attribute_not_exists(id)`` (ids derive from the run identity), off
  the late list (the late-runs marker finds planned runs from their schedules);
- one Update per schedule: ``planned_through`` and ``due_*``, on ``rev`` and ``planned_through``
  still being those the plan was computed from.

So a pause or a schedule change racing a tick leaves no stale run, and two ticks planning the
same occurrence insert it once. A cancelled transaction carries one reason per item: a run that
already exists is dropped from its commit; a failed deployment check abandons that deployment's
commits (:attr:`Outcome.DEPLOYMENT_INACTIVE`), a failed schedule condition that schedule's
(:attr:`Outcome.SCHEDULE_CHANGED`: changed, or another tick planned first), any other reason
(a concurrent transaction on an item) the commits it touches (:attr:`Outcome.CONTENDED`); the
rest is retried. Each retry removes at least one item, so the loop ends.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.schemas.flow_runs import FlowRun
from chalicelib.storage.errors import REASON_CONDITION_FAILED, cancellation_codes, response_code
from chalicelib.storage.flow_runs import FlowRunRepository
from chalicelib.storage.flow_runs._items import moved_item
from chalicelib.storage.models import DeploymentModel, FlowRunModel, ScheduleModel
from chalicelib.storage.scheduler._due import DUE_SHARD, ScheduleRecord, SchedulingStorageError

#: DynamoDB's cap on the items of one transaction.
TRANSACTION_ITEMS = 100
#: The most runs one schedule's commit may carry: a transaction of its own holds 98 runs, the
#: deployment check and the schedule update. A longer plan is committed in several steps.
MAX_RUNS_PER_COMMIT = TRANSACTION_ITEMS - 2
#: The request was refused as a whole for its content: one commit in it may be at fault.
_VALIDATION = "ValidationException"


class Outcome(StrEnum):
    COMMITTED = "committed"
    #: The deployment is paused or gone (its condition check failed).
    DEPLOYMENT_INACTIVE = "deployment_inactive"
    #: The schedule changed (rev) or another writer committed a plan first (planned_through).
    SCHEDULE_CHANGED = "schedule_changed"
    #: Cancelled for another reason (a concurrent transaction on one of its items).
    CONTENDED = "contended"
    #: The request failed outright (throttled after retries, timed out, refused): see ``error``.
    FAILED = "failed"


@dataclass(frozen=True)
class PlanCommit:
    """One schedule's part of a planning transaction."""

    schedule: ScheduleRecord
    runs: Sequence[FlowRun]
    planned_through: datetime | None
    next_due: datetime | None


@dataclass(frozen=True)
class CommitResult:
    outcome: Outcome
    inserted: tuple[uuid.UUID, ...] = ()
    #: Runs of the plan that already existed (a racing writer inserted them): dropped.
    existing: int = 0
    error: SchedulingStorageError | None = None


def items_needed(commits: Sequence[PlanCommit]) -> int:
    """Transaction items ``commits`` take together: one check per deployment, one put per run,
    one update per schedule."""
    return len({c.schedule.deployment_id for c in commits}) + sum(1 + len(c.runs) for c in commits)


@dataclass
class _Entry:
    commit: PlanCommit
    items: list[tuple[uuid.UUID, dict[str, Any]]]
    existing: int = 0


@dataclass
class _Layout:
    """Where each entry's items sit in the request (the order of the cancellation reasons)."""

    checks: list[uuid.UUID] = field(default_factory=list)
    puts: list[tuple[int, int]] = field(default_factory=list)  # (entry, run index)
    updates: list[int] = field(default_factory=list)

    @classmethod
    def of(cls, entries: dict[int, _Entry]) -> _Layout:
        layout = cls()
        for key, entry in entries.items():
            if entry.commit.schedule.deployment_id not in layout.checks:
                layout.checks.append(entry.commit.schedule.deployment_id)
            layout.puts += [(key, index) for index in range(len(entry.items))]
            layout.updates.append(key)
        return layout


class PlanCommitter:
    """Writes plan commits (see the module docstring)."""

    def __init__(self, flow_runs: FlowRunRepository) -> None:
        self.flow_runs = flow_runs

    def commit(self, commits: Sequence[PlanCommit]) -> list[CommitResult]:
        """Commit ``commits`` (distinct schedules, :func:`items_needed` ≤ 100) in one transaction,
        retried without the items whose cancellation reason settles them. One result per commit.

        A request refused for its content (ValidationException) is retried one commit at a time,
        so one bad commit fails alone; any other failure fails every commit (all stay due).
        """
        if items_needed(commits) > TRANSACTION_ITEMS:
            raise ValueError(f"more than {TRANSACTION_ITEMS} items in one planning transaction")
        if len({(c.schedule.deployment_id, c.schedule.id) for c in commits}) != len(commits):
            raise ValueError("one commit per schedule and transaction")
        entries = {key: _Entry(c, self._items(c.runs)) for key, c in enumerate(commits)}
        results: dict[int, CommitResult] = {}
        self._settle(entries, results)
        return [results[key] for key in range(len(commits))]

    def _items(self, runs: Sequence[FlowRun]) -> list[tuple[uuid.UUID, dict[str, Any]]]:
        """The stored form of a schedule's new runs (off the late list: the late-runs marker finds
        planned runs from their schedules): the first built in full, the others from it."""
        if not runs:
            return []
        first = self.flow_runs.to_item(runs[0], late_list=False).serialize()
        return [(runs[0].id, first), *((run.id, moved_item(first, run)) for run in runs[1:])]

    def _settle(self, entries: dict[int, _Entry], results: dict[int, CommitResult]) -> None:
        while entries:
            layout = _Layout.of(entries)
            try:
                self._transact(layout, entries)
            except TransactWriteError as exc:
                codes = cancellation_codes(exc)
                if codes:
                    entries = self._after_cancellation(layout, codes, entries, results)
                    continue
                if response_code(exc) == _VALIDATION and len(entries) > 1:
                    for key, entry in entries.items():
                        self._settle({key: entry}, results)
                    return
                error = SchedulingStorageError("TransactWriteItems plans", None, response_code(exc))
                error.__cause__ = exc
                for key, entry in entries.items():
                    results[key] = CommitResult(Outcome.FAILED, existing=entry.existing, error=error)
                return
            for key, entry in entries.items():
                results[key] = CommitResult(Outcome.COMMITTED, tuple(i for i, _ in entry.items), entry.existing)
            return

    @staticmethod
    def _after_cancellation(
        layout: _Layout, codes: list[str | None], entries: dict[int, _Entry], results: dict[int, CommitResult]
    ) -> dict[int, _Entry]:
        """Settle the entries the reasons decide; return the rest, without their existing runs."""
        total = len(layout.checks) + len(layout.puts) + len(layout.updates)
        codes = (codes + [None] * total)[:total]
        check_codes = dict(zip(layout.checks, codes, strict=False))
        put_codes = codes[len(layout.checks) : len(layout.checks) + len(layout.puts)]
        update_codes = codes[len(layout.checks) + len(layout.puts) :]
        settled: dict[int, Outcome] = {}
        for key, entry in entries.items():
            code = check_codes.get(entry.commit.schedule.deployment_id)
            if code:
                settled[key] = _outcome(code, Outcome.DEPLOYMENT_INACTIVE)
        for key, code in zip(layout.updates, update_codes, strict=True):
            if code:
                settled.setdefault(key, _outcome(code, Outcome.SCHEDULE_CHANGED))
        taken: dict[int, set[int]] = {}
        for (key, index), code in zip(layout.puts, put_codes, strict=True):
            if code == REASON_CONDITION_FAILED:
                taken.setdefault(key, set()).add(index)
            elif code:
                settled.setdefault(key, Outcome.CONTENDED)
        if not settled and not taken:  # cancelled with no reason we can act on: give up on all
            settled = dict.fromkeys(entries, Outcome.CONTENDED)
        rest: dict[int, _Entry] = {}
        for key, entry in entries.items():
            dropped = taken.get(key, set())
            entry.existing += len(dropped)
            if key in settled:
                results[key] = CommitResult(settled[key], existing=entry.existing)
                continue
            entry.items = [item for index, item in enumerate(entry.items) if index not in dropped]
            rest[key] = entry
        return rest

    @staticmethod
    def _transact(layout: _Layout, entries: dict[int, _Entry]) -> None:
        live = DeploymentModel.id.exists() & (
            (DeploymentModel.paused == False) | DeploymentModel.paused.does_not_exist()  # noqa: E712
        )
        with _RawTransactWrite(connection=ScheduleModel._get_connection().connection) as tx:
            for deployment_id in layout.checks:
                tx.condition_check(DeploymentModel, str(deployment_id), condition=live)
            for key, index in layout.puts:
                tx.put_new_run(entries[key].items[index][1])
            for key in layout.updates:
                commit = entries[key].commit
                schedule = commit.schedule
                tx.update(
                    ScheduleModel(str(schedule.deployment_id), str(schedule.id)),
                    actions=_progress(commit.planned_through, commit.next_due),
                    condition=_as_planned(schedule),
                )


class _RawTransactWrite(TransactWrite):
    """pynamodb's transaction, plus a Put of a run already in its stored form (``Item``), on
    ``attribute_not_exists(id)``: a pass writes up to 100 runs per schedule, built from the first."""

    def put_new_run(self, item: dict[str, Any]) -> None:
        self._put_items.append(
            {
                "TableName": FlowRunModel.Meta.table_name,
                "Item": item,
                "ConditionExpression": "attribute_not_exists (#0)",
                "ExpressionAttributeNames": {"#0": "id"},
            }
        )


def _outcome(code: str, on_condition: Outcome) -> Outcome:
    return on_condition if code == REASON_CONDITION_FAILED else Outcome.CONTENDED


def _progress(planned_through: datetime | None, next_due: datetime | None) -> list[Any]:
    actions: list[Any] = [
        ScheduleModel.planned_through.set(planned_through)
        if planned_through is not None
        else ScheduleModel.planned_through.remove()
    ]
    if next_due is None:
        return actions + [ScheduleModel.due_shard.remove(), ScheduleModel.due_at.remove()]
    return actions + [ScheduleModel.due_shard.set(DUE_SHARD), ScheduleModel.due_at.set(next_due)]


def _as_planned(schedule: ScheduleRecord) -> Any:
    """The schedule still has the ``rev`` and ``planned_through`` the plan was computed from."""
    through = (
        ScheduleModel.planned_through == schedule.planned_through
        if schedule.planned_through is not None
        else ScheduleModel.planned_through.does_not_exist()
    )
    return (ScheduleModel.rev == schedule.rev) & through
