"""RFC 5545 recurrence rules (dateutil), read in local wall-clock time and entered at any date cheaply.

Prefect's reading of an rrule string, kept here so that validation and generation agree:
- a string without DTSTART gets ``DTSTART:20200101T000000`` prepended (the stored, echoed form);
- rrulesets are allowed: several RRULE/EXRULE lines, RDATE and EXDATE;
- dateutil's own errors make the string invalid, including UNTIL whose form (UTC or local) does not
  match DTSTART's; COUNT together with UNTIL is accepted, as Prefect accepts it (the earlier wins);
- at most 6,500 characters.
Cirrus is stricter where Prefect would loop or crash later: INTERVAL must be >= 1, a set must have
an RRULE or RDATE, and every RRULE must have an occurrence (Feb 30, COUNT=0 and the like are
rejected; a BYMONTH/BYMONTHDAY pair naming no real date is caught without iterating).

Time zones: every date of the set is read as a naive wall-clock time of the schedule's zone. A
DTSTART, UNTIL, RDATE or EXDATE that carries a zone (``TZID=`` or ``Z``) is first converted to that
wall clock; BY* parts are read in the schedule's zone.

Cost: dateutil iterates from DTSTART, so a minutely rule started ten years ago takes ~15 s to reach
today (Prefect #18861). :func:`walls_from` first moves each rule's DTSTART forward by a whole number
of INTERVAL periods to the period holding the window, pinning every BY* value dateutil would have
derived from the old DTSTART; the set of occurrences is unchanged. A rule with COUNT moves too: when
each period holds exactly one occurrence COUNT shrinks by the periods skipped; otherwise COUNT is
first turned into an UNTIL at its last occurrence (one walk of COUNT occurrences per rule, cached).
Only a rule with COUNT above ``COUNT_WALK_CAP`` (50,000) and BY* parts still walks from DTSTART.
"""

from __future__ import annotations

import calendar
import functools
import re
import warnings
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, available_timezones

from dateutil.rrule import DAILY, HOURLY, MINUTELY, MONTHLY, WEEKLY, YEARLY, rrule, rruleset, rrulestr

DEFAULT_DTSTART = "DTSTART:20200101T000000"
MAX_RRULE_LENGTH = 6500
COUNT_WALK_CAP = 50_000
# dateutil (as Prefect calls it) splits the string on any whitespace, not only on line ends.
_DTSTART_LINE = re.compile(r"(?:^|\s)DTSTART[:;]", re.IGNORECASE)
_DTSTART_TZID = re.compile(r"(?:^|\s)DTSTART;(?:[^:\s]*;)?TZID=([^;:\s]+)", re.IGNORECASE)
_SECONDS = {HOURLY: 3600, MINUTELY: 60}  # anything else finer than DAILY is SECONDLY
_PARSE_ERRORS = (ValueError, TypeError, IndexError, KeyError, OverflowError, AttributeError)


def normalise(text: str) -> str:
    """Prefect's stored form of an rrule string: DTSTART prepended when it has none."""
    return text if _DTSTART_LINE.search(text) else f"{DEFAULT_DTSTART}\n{text}"


def dtstart_zone(text: str) -> str | None:
    """The ``TZID`` of the string's DTSTART, if it names one."""
    match = _DTSTART_TZID.search(text)
    return match.group(1).strip() if match else None


@functools.lru_cache(maxsize=1024)  # stored specs are re-validated on every read
def validate(text: str) -> str:
    """Return the normalised form of ``text``; ``ValueError`` saying why if it is not a valid rrule."""
    if len(text) > MAX_RRULE_LENGTH:
        raise ValueError(f'Invalid RRule string "{text[:40]}...": max length is {MAX_RRULE_LENGTH}, got {len(text)}')
    normalised = normalise(text)
    try:
        ruleset = wall_clock_ruleset(normalised, "UTC")
        # A rule that never occurs would make every later evaluation scan to year 9999; dateutil
        # also raises some errors (an INTERVAL that never meets BYHOUR) only while iterating.
        # The scan happens here once, bounded by dateutil's calendar end (seconds, worst case).
        if any(next(iter(rule), None) is None for rule in ruleset._rrule):
            raise ValueError("an RRULE has no occurrence")
        _check_start_years(ruleset)
        _check_fires_soon(ruleset)
    except _PARSE_ERRORS as exc:
        raise ValueError(f'Invalid RRule string "{text}": {exc}') from exc
    return normalised


#: Rules start in these years (as every accepted datetime: chalicelib.schemas.common).
FIRST_YEAR, LAST_YEAR = 1000, 8999
#: A set must yield an occurrence among the first this-many candidates of each of its rules; an
#: EXRULE or EXDATE that removes them all (``RRULE:FREQ=DAILY`` + ``EXRULE:FREQ=DAILY`` never
#: fires) would otherwise make every search for the next occurrence walk to year 9999.
FIRST_OCCURRENCE_SEARCH_CAP = 20_000


def _check_start_years(ruleset: rruleset) -> None:
    for rule in ruleset._rrule:
        if not FIRST_YEAR <= rule._dtstart.year <= LAST_YEAR:
            raise ValueError(f"DTSTART must be between years {FIRST_YEAR} and {LAST_YEAR}")


def _check_fires_soon(ruleset: rruleset) -> None:
    """``ValueError`` unless the set yields an occurrence within the search cap (bounded work)."""
    if not ruleset._exrule and not ruleset._exdate:
        return  # every rule occurs (checked before), so the set does
    capped = rruleset()
    for rule in ruleset._rrule:
        capped.rrule(rule.replace(count=min(rule._count or FIRST_OCCURRENCE_SEARCH_CAP, FIRST_OCCURRENCE_SEARCH_CAP)))
    for rule in ruleset._exrule:
        capped.exrule(rule)
    for instant in ruleset._rdate:
        capped.rdate(instant)
    for instant in ruleset._exdate:
        capped.exdate(instant)
    if next(iter(capped), None) is None:
        raise ValueError(
            f"the set has no occurrence among its rules' first {FIRST_OCCURRENCE_SEARCH_CAP}"
            " (EXRULE/EXDATE remove them)"
        )


@functools.lru_cache(maxsize=1024)
def wall_clock_ruleset(text: str, zone_key: str) -> rruleset:
    """``text`` parsed into an rruleset of naive wall-clock times in ``zone_key``. Do not mutate it."""
    tz = ZoneInfo(zone_key)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # COUNT with UNTIL: accepted, see above
        parsed = rrulestr(normalise(text), forceset=True, tzids=_tzid)
        out = rruleset()
        for rule in parsed._rrule:
            out.rrule(_checked(_to_wall_clock(rule, tz)))
        for rule in parsed._exrule:
            out.exrule(_checked(_to_wall_clock(rule, tz)))
    for instant in parsed._rdate:
        out.rdate(_wall(instant, tz))
    for instant in parsed._exdate:
        out.exdate(_wall(instant, tz))
    if not parsed._rrule and not parsed._rdate:
        raise ValueError("the set has no RRULE and no RDATE")
    return out


def walls_from(ruleset: rruleset, begin: datetime) -> Iterator[datetime]:
    """The set's wall-clock times ``>= begin``, ascending, without walking from DTSTART."""
    entered = rruleset()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        for rule in ruleset._rrule:
            if (moved := _enter(rule, begin)) is not None:
                entered.rrule(moved)
        for rule in ruleset._exrule:
            if (moved := _enter(rule, begin)) is not None:
                entered.exrule(moved)
    for wall in ruleset._rdate:
        if wall >= begin:
            entered.rdate(wall)
    for wall in ruleset._exdate:
        if wall >= begin:
            entered.exdate(wall)
    return entered.xafter(begin, inc=True)


def _tzid(name: str) -> ZoneInfo:
    # dateutil upper-cases the whole string before it asks for a TZID; IANA names are mixed-case.
    key = _zone_keys().get(name.upper())
    if key is None:
        raise ValueError(f'unknown TZID "{name}"')
    return ZoneInfo(key)


@functools.cache
def _zone_keys() -> dict[str, str]:
    return {key.upper(): key for key in available_timezones()}


def _wall(value: datetime, tz: ZoneInfo) -> datetime:
    return value if value.tzinfo is None else value.astimezone(tz).replace(tzinfo=None)


def _to_wall_clock(rule: rrule, tz: ZoneInfo) -> rrule:
    if rule._dtstart.tzinfo is None and (rule._until is None or rule._until.tzinfo is None):
        return rule
    until = _wall(rule._until, tz) if rule._until is not None else None
    return rule.replace(dtstart=_wall(rule._dtstart, tz), until=until)


def _checked(rule: rrule) -> rrule:
    if rule._interval < 1:
        raise ValueError("INTERVAL must be a positive integer")
    days = rule._bymonthday
    free_days = rule._bynmonthday or rule._byweekday or rule._bynweekday or rule._byyearday
    if days and not free_days and not rule._byweekno and not rule._byeaster:
        months = rule._bymonth or range(1, 13)
        if min(days) > max(calendar.monthrange(2000, month)[1] for month in months):
            raise ValueError("BYMONTH and BYMONTHDAY name no date that exists")
    return rule


def _enter(rule: rrule, begin: datetime) -> rrule | None:
    """``rule`` with DTSTART moved to the start of the INTERVAL period holding ``begin``.

    None when the move shows that COUNT is used up before ``begin``.
    """
    first = rule._dtstart
    steps = _periods_between(rule, first, begin) // rule._interval * rule._interval
    if steps <= 0:
        return rule
    extra: dict[str, object] = {}
    if rule._count is not None and _one_per_period(rule):
        remaining = rule._count - steps // rule._interval
        if remaining <= 0:
            return None
        extra["count"] = remaining
    elif rule._count is not None:
        rule = _count_as_until(rule)
        if rule._count is not None:
            return rule  # COUNT above the cap: walk from DTSTART, bounded by COUNT
    return rule.replace(dtstart=_period_start(rule, first, steps), **_pinned(rule), **extra)


@functools.lru_cache(maxsize=1024)
def _count_as_until(rule: rrule) -> rrule:
    """``rule`` with COUNT replaced by an UNTIL at its last occurrence: the same set, enterable.

    Costs one walk of COUNT occurrences per rule (cached); above ``COUNT_WALK_CAP`` it keeps COUNT.
    """
    if rule._count > COUNT_WALK_CAP:
        return rule
    last = None
    for last in rule:  # noqa: B007 - only the last one is wanted
        pass
    return rule if last is None else rule.replace(count=None, until=last)


def _periods_between(rule: rrule, a: datetime, b: datetime) -> int:
    freq = rule._freq
    if freq == YEARLY:
        return b.year - a.year
    if freq == MONTHLY:
        return (b.year - a.year) * 12 + b.month - a.month
    if freq == WEEKLY:
        return (_week_start(b, rule._wkst) - _week_start(a, rule._wkst)).days // 7
    if freq == DAILY:
        return (b.date() - a.date()).days
    unit = timedelta(seconds=_SECONDS.get(freq, 1))
    return (b - datetime.min) // unit - (a - datetime.min) // unit


def _period_start(rule: rrule, first: datetime, steps: int) -> datetime:
    freq = rule._freq
    if freq == YEARLY:
        return datetime(first.year + steps, 1, 1)
    if freq == MONTHLY:
        year, month = divmod(first.month - 1 + steps, 12)
        return datetime(first.year + year, month + 1, 1)
    if freq == WEEKLY:
        return _week_start(first, rule._wkst) + timedelta(weeks=steps)
    if freq == DAILY:
        return datetime.combine(first.date() + timedelta(days=steps), time())
    unit = timedelta(seconds=_SECONDS.get(freq, 1))
    return datetime.min + ((first - datetime.min) // unit + steps) * unit


def _week_start(moment: datetime, wkst: int) -> datetime:
    day = moment.date() - timedelta(days=(moment.weekday() - wkst) % 7)
    return datetime.combine(day, time())


def _pinned(rule: rrule) -> dict[str, object]:
    """The BY* values dateutil derived from DTSTART, made explicit so a moved DTSTART keeps them.

    dateutil marks a derived BYMONTH/BYMONTHDAY/BYWEEKDAY with None in ``_original_rule`` and
    leaves a derived BYHOUR/BYMINUTE/BYSECOND out of it.
    """
    given = rule._original_rule
    pinned: dict[str, object] = {}
    for name in ("bymonth", "bymonthday", "byweekday"):
        if name in given and given[name] is None:
            pinned[name] = getattr(rule, f"_{name}")
    for name in ("byhour", "byminute", "bysecond"):
        value = getattr(rule, f"_{name}")
        if name not in given and value is not None:
            pinned[name] = tuple(sorted(value))
    return pinned


def _one_per_period(rule: rrule) -> bool:
    """Whether every period of ``rule`` holds exactly one occurrence (no BY* part of its own)."""
    if any(value is not None for value in rule._original_rule.values()):
        return False
    first = rule._dtstart
    if rule._freq == MONTHLY:
        return first.day <= 28
    if rule._freq == YEARLY:
        return (first.month, first.day) != (2, 29)
    return True
