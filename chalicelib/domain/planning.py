"""Run planning: which occurrences of one schedule should exist as runs, and when to look again.

Prefect's generation rule (``prefect.server.models.deployments._generate_scheduled_flow_runs``),
applied to one schedule: walk the schedule's occurrences in order from ``start`` (inclusive),
taking each one, and stop
- before an occurrence later than ``end`` (default ``start + max_time``; inclusive),
- once ``max_runs`` occurrences are taken,
- right after the first taken occurrence at which both minimums hold: at least ``min_runs``
  occurrences taken, and that occurrence at or after ``start + min_time``.
So runs reach at least ``min_runs`` and at least ``start + min_time``, unless ``end`` or
``max_runs`` stops them first. Cirrus enforces ``max_scheduled_runs`` as well: the list a
schedule holds is never longer than ``min(max_runs, max_scheduled_runs)``.

Planning is pure and deterministic (the clock is the ``start`` argument), so any number of
scheduler ticks, retries and backfills computing the same plan insert the same runs; the run ids
come from :func:`chalicelib.domain.identity.scheduled_run_id`.

``next_due`` lets the scheduler skip schedules with nothing to do: it is the earliest instant
``T >= start`` at which ``plan_runs(start=T, planned_through=<this plan's planned_through>, <same
other arguments>)`` returns a non-empty ``new``. With ``Q`` the first occurrence after
``planned_through`` (and at or after ``start``), ``Q`` enters the plan at ``T`` exactly when
(a) at most ``limit`` occurrences lie in ``[T, Q]``, (b) ``Q <= end(T)``, and (c) the stop rule has
not fired before ``Q``: fewer than ``min_runs`` occurrences lie in ``[T, Q)``, or the one just
before ``Q`` is earlier than ``T + min_time``. Each condition only gets truer as ``T`` grows, so
``next_due`` is the largest of the three thresholds (and ``start``), computed from the
occurrences just before ``Q``: it is exact to the microsecond, never late. It is early only when
``planned_through`` is far ahead of what this call selects (more than ``max(limit, min_runs)``
occurrences), which a scheduler using one set of arguments never produces.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from chalicelib.domain.schedules import ScheduleLike, first_after, iter_occurrences, occurrences

_TICK = timedelta(microseconds=1)


@dataclass(frozen=True)
class RunPlan:
    """The outcome of :func:`plan_runs` (all datetimes tz-aware UTC)."""

    occurrences: list[datetime]  # every selected occurrence, ascending
    new: list[datetime]  # those later than the planned_through passed in: the runs to insert
    planned_through: datetime | None  # last selected occurrence, or the one passed in if later
    next_due: datetime | None  # when planning again would add runs; None: never again


def plan_runs(
    schedule: ScheduleLike,
    *,
    start: datetime,
    end: datetime | None = None,
    min_runs: int,
    max_runs: int,
    min_time: timedelta,
    max_time: timedelta,
    max_scheduled_runs: int | None = None,
    planned_through: datetime | None = None,
) -> RunPlan:
    """Select ``schedule``'s runs from ``start`` by Prefect's rule (see the module docstring).

    ``planned_through`` is the ``planned_through`` of the previous plan of this schedule:
    occurrences at or before it were inserted then; they still count toward ``min_runs`` and
    ``max_scheduled_runs`` but are not returned in ``new``. Raises ``ValueError`` for naive
    datetimes or negative counts and durations.
    """
    for name, value in (("start", start), ("end", end), ("planned_through", planned_through)):
        if value is not None and value.tzinfo is None:
            raise ValueError(f"{name} must be timezone-aware")
    if min(min_runs, max_runs, max_scheduled_runs or 0) < 0 or min(min_time, max_time) < timedelta(0):
        raise ValueError("counts and durations must not be negative")
    start = start.astimezone(UTC)
    end = end.astimezone(UTC) if end is not None else None
    previous = planned_through.astimezone(UTC) if planned_through is not None else None
    limit = max_runs if max_scheduled_runs is None else min(max_runs, max_scheduled_runs)

    selected = _select(schedule, start, end or start + max_time, limit, min_runs, min_time)
    new = [instant for instant in selected if previous is None or instant > previous]
    through = max((t for t in (selected[-1] if selected else None, previous) if t is not None), default=None)
    next_due = _next_due(schedule, start, end, selected, through, limit, min_runs, min_time, max_time)
    return RunPlan(occurrences=selected, new=new, planned_through=through, next_due=next_due)


def _select(
    schedule: ScheduleLike, start: datetime, end: datetime, limit: int, min_runs: int, min_time: timedelta
) -> list[datetime]:
    # Lazily: the rule usually stops long before ``limit`` occurrences (13 of 100 for */5).
    horizon = start + min_time
    taken: list[datetime] = []
    for instant in iter_occurrences(schedule, start, end, limit):
        taken.append(instant)
        if len(taken) >= min_runs and instant >= horizon:
            break
    return taken


def _next_due(
    schedule: ScheduleLike,
    start: datetime,
    end: datetime | None,
    selected: list[datetime],
    through: datetime | None,
    limit: int,
    min_runs: int,
    min_time: timedelta,
    max_time: timedelta,
) -> datetime | None:
    if limit <= 0:
        return None
    after = through if through is not None and through >= start else start - _TICK
    target = first_after(schedule, after)  # Q in the module docstring
    if target is None or (end is not None and target > end):
        return None
    # The occurrences in [start, Q): the selected ones, plus those between the last selected one
    # and planned_through when an earlier plan reached further than this one.
    before = list(selected)
    if through is not None and through >= start and (not selected or through > selected[-1]):
        gap_start = selected[-1] + _TICK if selected else start
        # The first few suffice to stay early-or-exact: see the module docstring.
        before += occurrences(schedule, gap_start, through, max(limit, min_runs) + 1)
    count = len(before)
    thresholds = [start]
    if count >= limit:  # (a): T must pass the occurrence ``limit`` places before Q
        thresholds.append(before[count - limit] + _TICK)
    if end is None:  # (b): Q must fall within T + max_time
        thresholds.append(target - max_time)
    if count >= 1 and min_runs <= count:  # (c): otherwise fewer than min_runs precede Q anyway
        edge = before[-1] - min_time
        if min_runs >= 1:
            edge = min(edge, before[count - min_runs])
        thresholds.append(edge + _TICK)
    return max(thresholds)
