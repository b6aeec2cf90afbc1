"""The loop every maintenance job shares: page through one work list, act on each run, report counts.

Bounded and isolated like Prefect's loop services: one Query per page with a cursor, a cap on
pages, a stop before the Lambda's time runs out (``remaining_s() < settings.job_time_margin_s``),
and a failure on one run is logged and counted, never fatal to the sweep. Each action is a write
conditioned on the item being unchanged since it was read, so two sweeps racing each other, or a
sweep racing a client, never act twice on one run.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from chalicelib.config import Settings
from chalicelib.domain.orchestration import SetStateStatus, commit, orchestrate
from chalicelib.errors import CirrusError
from chalicelib.schemas.flow_runs import FlowRun
from chalicelib.schemas.states import State
from chalicelib.services.ticks import Deadline
from chalicelib.storage import DEFAULT_PAGE_SIZE, Candidate, Repositories, SweepStore

logger = logging.getLogger("cirrus.maintenance")
# Chalice sets its app logger ("cirrus") to ERROR; the jobs' count lines and warnings are INFO/WARNING.
logger.setLevel(logging.INFO)

#: Pages per sweep and tick; the rest waits for the next tick (the list is oldest first).
DEFAULT_MAX_PAGES = 50

RemainingSeconds = Callable[[], float]


@dataclass(frozen=True)
class Change:
    """What a job decided for one run: the run after the transition, its history, and a label."""

    run: FlowRun
    history: list[State]
    outcome: str
    #: Called once the change is written (never when the run changed meanwhile).
    after: Callable[[], object] | None = field(default=None, compare=False)


def transition(candidate: Candidate, state: State, *, now: datetime, outcome: str, **fields: Any) -> Change | None:
    """``candidate``'s run after ``state``, or ``None`` when the orchestration rules do not accept it.

    The job's proposal goes through the same rules and bookkeeping as a set_state call (so a job's
    transition looks exactly like an API one); only an outright ACCEPT is written, never a
    replacement state. ``fields`` are extra fields the job keeps on the run (Lazarus' count).
    """
    decision = orchestrate(candidate.run, state, now=now)
    if decision.status is not SetStateStatus.ACCEPT or decision.state is None:
        return None
    # ``updated`` always moves forward, even past a skewed tick clock: the next conditional writer
    # (an API call that read before this write) must see that something changed.
    run = commit(candidate.run, decision, now=max(now, candidate.run.updated + timedelta(microseconds=1)))
    if fields:
        run = run.model_copy(update=fields)
    return Change(run, [*candidate.history, run.state or decision.state], outcome)


#: Decides what to do with one candidate; ``None`` leaves the run alone (counted as ``skipped``).
Decide = Callable[[Candidate], Change | None]


@dataclass
class SweepReport:
    """Counts of one job's tick. ``candidates`` = ``changed`` + ``raced`` + ``skipped`` + ``errors``."""

    candidates: int = 0
    changed: int = 0
    #: The run changed between the read and the conditional write (a heartbeat, a set_state…).
    raced: int = 0
    #: Read but not acted on (the rules refused, or the run no longer qualifies).
    skipped: int = 0
    errors: int = 0
    #: Entries whose TTL had passed (not yet deleted by DynamoDB): never acted on.
    expired: int = 0
    pages: int = 0
    #: The sweep stopped on the time budget or the page cap; the rest waits for the next tick.
    stopped_early: bool = False
    outcomes: Counter[str] = field(default_factory=Counter)

    def merge(self, other: SweepReport) -> SweepReport:
        """The sum of two reports (a job made of two sweeps)."""
        merged = SweepReport(outcomes=self.outcomes + other.outcomes)
        for name in ("candidates", "changed", "raced", "skipped", "errors", "expired", "pages"):
            setattr(merged, name, getattr(self, name) + getattr(other, name))
        merged.stopped_early = self.stopped_early or other.stopped_early
        return merged

    def as_dict(self) -> dict[str, Any]:
        counts: dict[str, Any] = {
            "candidates": self.candidates,
            "changed": self.changed,
            "raced": self.raced,
            "skipped": self.skipped,
            "errors": self.errors,
            "expired": self.expired,
            "pages": self.pages,
            "stopped_early": self.stopped_early,
        }
        counts.update(sorted(self.outcomes.items()))
        return counts


@dataclass(frozen=True)
class Budget:
    """How much one tick may do: the Lambda's remaining time (``None``: unlimited) and a page cap."""

    settings: Settings
    remaining_s: RemainingSeconds | None = None
    max_pages: int = DEFAULT_MAX_PAGES
    page_size: int = DEFAULT_PAGE_SIZE

    @property
    def deadline(self) -> Deadline:
        """The one deadline every job uses (:class:`chalicelib.services.ticks.Deadline`), at the settings' margin."""
        return Deadline(self.remaining_s, self.settings.job_time_margin_s)

    def out_of_time(self) -> bool:
        return self.deadline.passed()


@dataclass(frozen=True)
class Policy:
    """One work list a job sweeps: its entries before ``cutoff`` (or at it when ``inclusive``), each
    judged by ``decide``."""

    sweep: str
    cutoff: datetime
    decide: Decide
    inclusive: bool = False


@dataclass(frozen=True)
class Sweeper:
    """What a job's policies run with: the work lists' store and the tick's budget."""

    store: SweepStore
    budget: Budget
    now: datetime

    @classmethod
    def open(
        cls,
        repos: Repositories,
        settings: Settings,
        *,
        now: datetime,
        deadline: Deadline | None = None,
        budget: Budget | None = None,
        store: SweepStore | None = None,
    ) -> Sweeper:
        """The tick's sweeper: ``budget`` if given (tests), else the settings' caps and ``deadline``."""
        remaining = deadline.remaining_s if deadline is not None else None
        return cls(store or repos.sweeps, budget or Budget(settings, remaining_s=remaining), now)

    def run(self, *policies: Policy) -> SweepReport:
        """Sweep each policy's list in turn, sharing the budget; the sum of their counts."""
        report = SweepReport()
        for policy in policies:
            report = report.merge(
                run_sweep(
                    self.store,
                    policy.sweep,
                    policy.cutoff,
                    policy.decide,
                    now=self.now,
                    budget=self.budget,
                    inclusive=policy.inclusive,
                )
            )
        return report


def run_sweep(
    store: SweepStore,
    sweep: str,
    cutoff: datetime,
    decide: Decide,
    *,
    now: datetime,
    budget: Budget,
    inclusive: bool = False,
) -> SweepReport:
    """Act on the entries of work list ``sweep`` with ``sweep_at`` before ``cutoff`` (or at it when
    ``inclusive``), oldest first, until the list, the page cap or the time budget ends."""
    report = SweepReport()
    cursor: dict[str, Any] | None = None
    while True:
        if budget.out_of_time() or report.pages >= budget.max_pages:
            report.stopped_early = True
            return report
        page = store.page(sweep, cutoff, now=now, inclusive=inclusive, cursor=cursor, limit=budget.page_size)
        report.pages += 1
        report.expired += page.expired
        for run_id in page.undecodable:
            report.candidates += 1
            report.errors += 1
            _log_failure(sweep, run_id, "undecodable item")
        for candidate in page.candidates:
            if budget.out_of_time():
                # Entries not reached are not counted: they stay on the list for the next tick.
                report.stopped_early = True
                return report
            report.candidates += 1
            act(store, sweep, candidate, decide, report)
        cursor = page.cursor
        if cursor is None:
            return report


def act(store: SweepStore, sweep: str, candidate: Candidate, decide: Decide, report: SweepReport) -> None:
    """Decide on one candidate and write the decision (conditioned on the read), counting the outcome."""
    try:
        change = decide(candidate)
        if change is None:
            report.skipped += 1
        elif store.write(candidate, change.run, change.history):
            report.changed += 1
            report.outcomes[change.outcome] += 1
            if change.after is not None:
                change.after()
        else:
            report.raced += 1
    except (CirrusError, ValueError) as exc:
        # One bad run (a throttled write, a rule that raised, an invalid document) must not stop
        # the sweep: count it, log it with its id, carry on.
        report.errors += 1
        _log_failure(sweep, str(candidate.run.id), f"{type(exc).__name__}: {exc}")


def _log_failure(sweep: str, run_id: str, reason: str) -> None:
    logger.warning(json.dumps({"sweep": sweep, "flow_run_id": run_id, "error": reason}))
