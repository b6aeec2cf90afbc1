"""Cron expressions: the one module that talks to croniter.

croniter is volatile (its DST handling changed between releases, it grew random ``R`` and hashed
``H`` fields, and it reads a 6th field as seconds), so the rest of the code never sees it. This
wrapper hands croniter *naive local wall-clock times only*: croniter's own daylight-saving logic
never runs, and :mod:`chalicelib.domain.schedules` maps each wall-clock time to an instant with
our policy (see its docstring).

What an expression may be (Prefect's rule, narrowed where croniter is looser):
- exactly five fields ``minute hour day-of-month month day-of-week``; day-of-week 0 and 7 are
  Sunday; names (``JAN``, ``MON-FRI``), lists, ranges, steps and croniter's ``L``, ``W``, ``#`` and
  ``?`` are accepted;
- or one of the aliases ``@yearly @annually @monthly @weekly @daily @midnight @hourly``;
- a 6-field (seconds, as croniter reads it) or 7-field (years, as EventBridge writes it)
  expression is rejected rather than guessed at: the two readings disagree, and Prefect's
  contract is five fields;
- random (``R``) and hashed (``H``) fields are rejected, as Prefect does: they would make the
  schedule differ between evaluations.

An expression that is valid but can never fire (``0 0 30 2 *``) is accepted, as Prefect accepts
it; it simply has no occurrences.

Generation: expressions without ``L``, ``W`` or ``#`` are walked day by day here, from croniter's
own expansion of the fields and with its day-of-month/day-of-week rule (croniter costs ~50 us per
answer); the others are answered by croniter. Property tests hold the two paths equal.

croniter 7 reads a range whose ends are equal as the whole field (``5-5`` as ``*``, ``5-5/2`` as
``*/2``); cron means the single value, so such ranges are rewritten before croniter sees them.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from functools import lru_cache

from croniter import CroniterBadCronError, CroniterBadDateError, CroniterError, croniter

ALIASES = frozenset({"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"})
FIELD_COUNT = 5
_HORIZON_DAYS = 50 * 366  # croniter's max_years_between_matches
_SAME_ENDS = re.compile(r"^(\w+)-(\w+)(?:/\d+)?$")


def _for_croniter(expression: str) -> str:
    """``expression`` with every ``a-a`` or ``a-a/k`` range written as ``a`` (see the module docstring)."""

    def part(text: str) -> str:
        match = _SAME_ENDS.match(text)
        return match.group(1) if match and match.group(1).lower() == match.group(2).lower() else text

    return " ".join(",".join(part(p) for p in field.split(",")) for field in expression.split())


@lru_cache(maxsize=4096)
def validate_cron(expression: str) -> str:
    """Return ``expression`` unchanged if Cirrus accepts it; raise ``ValueError`` saying why not."""
    fields = expression.split()
    if len(fields) == 1 and fields[0].lower() in ALIASES:
        return expression
    if len(fields) != FIELD_COUNT:
        raise ValueError(
            f'Invalid cron string: "{expression}" (expected 5 fields: minute hour day-of-month month '
            f"day-of-week, or an alias such as @daily; got {len(fields)})"
        )
    # A part that starts with R or H is croniter's random/hashed syntax: no month or weekday name
    # starts with either letter, so this cannot reject a legitimate name such as THU or MAR.
    if any(part[:1].upper() in ("R", "H") for field in fields for part in field.split(",")):
        raise ValueError(f'Random and Hashed expressions are unsupported, received: "{expression}"')
    try:
        valid = croniter.is_valid(_for_croniter(expression))
    except (CroniterError, ValueError, TypeError):
        valid = False
    if not valid:
        raise ValueError(f'Invalid cron string: "{expression}"')
    return expression


def matches(expression: str, wall: datetime, *, day_or: bool = True) -> bool:
    """Whether the naive local wall-clock minute ``wall`` satisfies ``expression``."""
    if wall.tzinfo is not None:
        raise ValueError("wall must be a naive local wall-clock time")
    minute = wall.replace(second=0, microsecond=0)
    if minute != wall:
        return False
    return bool(croniter.match(_for_croniter(expression), minute, day_or=day_or))


def walls_from(expression: str, begin: datetime, *, day_or: bool = True) -> Iterator[datetime]:
    """Naive wall-clock times ``>= begin`` that satisfy ``expression``, ascending, without end.

    The iterator ends early when no match follows within 50 years (croniter's search horizon, so
    an expression that can never fire ends at once) or the calendar ends in 9999.
    """
    if begin.tzinfo is not None:
        raise ValueError("begin must be a naive local wall-clock time")
    fields = _plain_fields(expression, day_or)
    if fields is not None:
        return _walk_days(fields, day_or, begin)
    # croniter answers strictly after its cursor; start one second early so that ``begin``
    # itself is returned when it matches (cron has minute resolution).
    try:
        cursor = croniter(_for_croniter(expression), begin - timedelta(seconds=1), day_or=day_or)
    except (CroniterBadCronError, OverflowError) as exc:
        raise ValueError(f'Invalid cron string: "{expression}"') from exc
    fields = cursor.expanded
    plain = not cursor.nth_weekday_of_month and not getattr(cursor, "nearest_weekday", None)
    if plain and len(fields) == FIELD_COUNT and all(v == "*" or isinstance(v, int) for f in fields for v in f):
        # croniter spends ~50 us per answer; plain fields (no L, W or #) are walked here day by
        # day from croniter's own expansion, 50 times faster and with the same matching rule.
        return _walk_days(fields, day_or, begin)
    return _croniter_walls(cursor, begin)


@lru_cache(maxsize=4096)
def _plain_fields(expression: str, day_or: bool) -> list[list[int | str]] | None:
    """croniter's expansion of ``expression`` when its fields are plain (no L, W or #), else
    ``None``; expanding costs ~100 us, and a scheduler pass asks for it once per schedule."""
    try:
        cursor = croniter(_for_croniter(expression), datetime(2000, 1, 1), day_or=day_or)
    except (CroniterBadCronError, OverflowError):
        return None  # walls_from raises the error
    fields = cursor.expanded
    plain = not cursor.nth_weekday_of_month and not getattr(cursor, "nearest_weekday", None)
    if plain and len(fields) == FIELD_COUNT and all(v == "*" or isinstance(v, int) for f in fields for v in f):
        return fields
    return None


def _croniter_walls(cursor: croniter, begin: datetime) -> Iterator[datetime]:
    while True:
        try:
            wall = cursor.get_next(datetime)
        except (CroniterBadDateError, OverflowError, ValueError):
            return
        if wall >= begin:
            yield wall


_Fields = tuple[frozenset[int] | None, ...]


@lru_cache(maxsize=4096)
def _compiled(fields: tuple[tuple[int | str, ...], ...]) -> tuple[_Fields, tuple[tuple[int, int], ...]]:
    """The fields as sets (``None``: ``*``) and the day's (hour, minute) times, ascending."""
    sets = tuple(None if field == ("*",) else frozenset(int(v) for v in field) for field in fields)
    minutes, hours = sets[0], sets[1]
    hour_list = sorted(hours) if hours is not None else range(24)
    times = tuple((h, m) for h in hour_list for m in (sorted(minutes) if minutes is not None else range(60)))
    return sets, times


def _walk_days(fields: list[list[int | str]], day_or: bool, begin: datetime) -> Iterator[datetime]:
    (_, _, doms, months, dows), times = _compiled(tuple(tuple(f) for f in fields))
    # croniter's rule: day-of-month OR day-of-week when both are restricted and day_or, else AND.
    either = day_or and doms is not None and dows is not None
    day, idle = begin.date(), 0
    # On the first day, skip the times before ``begin`` (the day's earlier minutes never match).
    first = bisect_left(times, (begin.hour, begin.minute))
    while idle <= _HORIZON_DAYS:
        in_dom = doms is None or day.day in doms
        in_dow = dows is None or day.isoweekday() % 7 in dows
        if (months is None or day.month in months) and ((in_dom or in_dow) if either else (in_dom and in_dow)):
            idle = 0
            for hour, minute in times[first:] if first else times:
                wall = datetime(day.year, day.month, day.day, hour, minute)
                if wall >= begin:
                    yield wall
        else:
            idle += 1
        first = 0
        if day == date.max:
            return
        day += timedelta(days=1)
