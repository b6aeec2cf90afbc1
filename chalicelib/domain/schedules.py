"""Occurrences of Prefect's three schedule kinds, exact across daylight-saving changes.

Daylight-saving policy (PRODUCT.md; Prefect gets each of these wrong):
- Cron and RRule schedules follow the wall clock of the schedule's time zone: 09:00 is 09:00
  local on every day, whatever the UTC offset.
- A local time that does not exist (skipped by a spring-forward change) fires at the first valid
  instant after it, the instant of the change: 02:30 on 2024-03-10 in America/New_York fires at
  03:00 EDT (07:00Z). Several skipped times of one change collapse into that single run.
- A local time that occurs twice (repeated by a fall-back change) fires once, at its first
  occurrence (fold=0): 01:30 on 2024-11-03 in New York fires at 01:30 EDT (05:30Z) only.
- An interval shorter than a day is an absolute duration from the anchor: hourly runs stay 3600 s
  apart through any change (none skipped, none duplicated; on a fall-back day the local clock
  shows 01:00 twice, because two real hours pass).
- An interval of a day or more, whole days or not, is added to the anchor's wall-clock time in
  the schedule's zone, and the result is mapped by the two rules above: a daily run anchored at
  09:00 stays at 09:00 local, 1.5 days alternates 09:00 and 21:00 local.
Results are strictly increasing UTC instants: nothing is duplicated, nothing skipped.

Cost: no schedule walks from its anchor. An interval computes its first index in the window
arithmetically; croniter starts at the window; an rrule's DTSTART is moved forward by a whole
number of INTERVAL periods to the window before dateutil iterates (see ``rrules``). A call examines
at most ``limit + CANDIDATE_SLACK`` candidate times (the slack absorbs candidates that collapse into
one instant inside a skipped hour, or that fall before ``start`` in a repeated hour).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo, available_timezones

from chalicelib.domain import cron, rrules

CANDIDATE_SLACK = 50_000
DAY = timedelta(days=1)
# Far enough for any schedule, near enough that every zone's local time still fits in a datetime.
END_OF_TIME = datetime(9000, 1, 1, tzinfo=UTC)
_TICK = timedelta(microseconds=1)


class IntervalLike(Protocol):
    """What the engine reads from an interval schedule (``schemas.schedules.IntervalSchedule``)."""

    @property
    def interval(self) -> timedelta: ...
    @property
    def anchor_date(self) -> datetime: ...
    @property
    def timezone(self) -> str | None: ...


class CronLike(Protocol):
    """What the engine reads from a cron schedule."""

    @property
    def cron(self) -> str: ...
    @property
    def timezone(self) -> str | None: ...
    @property
    def day_or(self) -> bool: ...


class RRuleLike(Protocol):
    """What the engine reads from an rrule schedule."""

    @property
    def rrule(self) -> str: ...
    @property
    def timezone(self) -> str | None: ...


ScheduleLike = IntervalLike | CronLike | RRuleLike


@functools.cache
def known_zones() -> frozenset[str]:
    """Every IANA zone name this deployment knows (from the bundled tzdata)."""
    return frozenset(available_timezones())


def zone(name: str | None) -> ZoneInfo:
    """The IANA zone ``name`` (UTC when None); ``ValueError`` for a name that is not one."""
    key = name or "UTC"
    if key not in known_zones():
        raise ValueError(f'Invalid timezone: "{name}" (specify in IANA tzdata format, for example, America/New_York)')
    return ZoneInfo(key)


def wall_clock(instant: datetime, tz: ZoneInfo) -> datetime:
    """The naive local wall-clock time that ``instant`` shows in ``tz``."""
    return instant.astimezone(tz).replace(tzinfo=None)


def to_instant(wall: datetime, tz: ZoneInfo) -> datetime:
    """The UTC instant at which the naive local time ``wall`` fires in ``tz``, by the policy above."""
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if wall_clock(first, tz) == wall:
        return first  # exists; for a repeated time fold=0 is its first occurrence
    # ``wall`` was skipped. fold=1 reads it with the offset after the change (an instant before
    # the change), fold=0 with the offset before (an instant after it): bisect between the two
    # for the change itself. tzdata changes happen on whole seconds.
    lo = math.floor(wall.replace(tzinfo=tz, fold=1).astimezone(UTC).timestamp())
    hi = math.ceil(first.timestamp())
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if wall_clock(datetime.fromtimestamp(mid, UTC), tz) > wall:
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, UTC)


def window_begin(start: datetime, tz: ZoneInfo) -> datetime:
    """The earliest wall-clock time whose instant can be ``>= start``.

    Usually ``start``'s own wall-clock time; when ``start`` is exactly a spring-forward change, the
    start of the skipped range, whose times all fire at ``start``.
    """
    return wall_clock(start - _TICK, tz) + _TICK


def occurrences(schedule: ScheduleLike, start: datetime, end: datetime, limit: int) -> list[datetime]:
    """The first ``limit`` instants of ``schedule`` within ``[start, end]`` (both inclusive).

    Returns tz-aware UTC datetimes, strictly ascending. ``start`` and ``end`` must be tz-aware.
    Pure: the same arguments always give the same list.
    """
    return list(iter_occurrences(schedule, start, end, limit))


def iter_occurrences(schedule: ScheduleLike, start: datetime, end: datetime, limit: int) -> Iterator[datetime]:
    """:func:`occurrences`, lazily: a caller that stops early computes no further occurrence."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware")
    start, end = start.astimezone(UTC), min(end.astimezone(UTC), END_OF_TIME)
    if limit <= 0 or start > end:
        return iter(())
    tz = zone(schedule.timezone)
    if hasattr(schedule, "interval"):
        return iter(_interval_occurrences(schedule, tz, start, end, limit))
    begin = window_begin(start, tz)
    if hasattr(schedule, "cron"):
        walls: Iterable[datetime] = cron.walls_from(schedule.cron, begin, day_or=schedule.day_or)
    elif hasattr(schedule, "rrule"):
        walls = rrules.walls_from(rrules.wall_clock_ruleset(schedule.rrule, tz.key), begin)
    else:
        raise TypeError(f"not a schedule: {schedule!r}")
    return _from_walls(walls, tz, start, end, limit)


def first_after(schedule: ScheduleLike, instant: datetime) -> datetime | None:
    """The first occurrence strictly after ``instant``, or None if there is none."""
    found = occurrences(schedule, instant + _TICK, END_OF_TIME, 1)
    return found[0] if found else None


def _from_walls(
    walls: Iterable[datetime], tz: ZoneInfo, start: datetime, end: datetime, limit: int
) -> Iterator[datetime]:
    last: datetime | None = None
    found = 0
    for examined, wall in enumerate(walls):
        if examined >= limit + CANDIDATE_SLACK:
            return
        instant = to_instant(wall, tz)
        if instant > end:
            return  # to_instant is monotonic in the wall-clock time: nothing later can fit
        # Earlier than start: a repeated hour's first pass. Equal to the last: a skipped range.
        if instant < start or (last is not None and instant <= last):
            continue
        yield instant
        last, found = instant, found + 1
        if found >= limit:
            return


def _interval_occurrences(
    schedule: IntervalLike, tz: ZoneInfo, start: datetime, end: datetime, limit: int
) -> list[datetime]:
    step = schedule.interval
    if step <= timedelta(0):
        raise ValueError("The interval must be positive")
    anchor = schedule.anchor_date
    anchor = to_instant(anchor, tz) if anchor.tzinfo is None else anchor.astimezone(UTC)
    found: list[datetime] = []
    try:
        if step < DAY:
            # Absolute time: the grid anchor + k*step, entered at the first k on or after start.
            k = -((anchor - start) // step)
            while len(found) < limit and (at := anchor + k * step) <= end:
                found.append(at)
                k += 1
            return found
        # Wall-clock time: enter the grid by wall-clock arithmetic, then settle k exactly, because
        # the offset can move an instant across ``start`` (by at most a few steps: step >= 1 day).
        base = wall_clock(anchor, tz)
        k = -((base - window_begin(start, tz)) // step)
        while to_instant(base + (k - 1) * step, tz) >= start:
            k -= 1
        while to_instant(base + k * step, tz) < start:
            k += 1
        while len(found) < limit and (at := to_instant(base + k * step, tz)) <= end:
            if not found or at > found[-1]:
                found.append(at)
            k += 1
    except OverflowError:
        pass  # the grid ran off the calendar (year 9999): there is nothing later
    return found
