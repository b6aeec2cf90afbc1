"""Properties of the schedule engine over random schedules, zones and windows (hypothesis).

The cron oracle is independent of the engine: it walks UTC minute by minute and reads the local
clock, where the engine walks local wall-clock times with croniter and maps them to instants. The
rrule check compares the engine's jump-to-the-window iteration with dateutil walking from DTSTART.
"""

from __future__ import annotations

import contextlib
import functools
import uuid
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any
from zoneinfo import ZoneInfo

from croniter import CroniterBadDateError, croniter
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from chalicelib.domain import cron, rrules
from chalicelib.domain.identity import scheduled_run_id
from chalicelib.domain.planning import plan_runs
from chalicelib.domain.schedules import first_after, occurrences, wall_clock
from chalicelib.schemas.schedules import parse_schedule

MINUTE = timedelta(minutes=1)
TICK = timedelta(microseconds=1)
ZONES = [
    "UTC",
    "America/New_York",
    "Europe/Berlin",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Pacific/Chatham",
    "America/St_Johns",
    "America/Havana",
    "Africa/Casablanca",
    "Asia/Kolkata",
    "Pacific/Apia",
]
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@functools.cache
def transitions(zone: str) -> list[datetime]:
    """Every UTC-offset change of ``zone`` in 2010-2031, to the second."""
    tz, found = ZoneInfo(zone), []
    day = datetime(2010, 1, 1, tzinfo=UTC)
    while day < datetime(2031, 1, 1, tzinfo=UTC):
        after = day + timedelta(days=1)
        if day.astimezone(tz).utcoffset() != after.astimezone(tz).utcoffset():
            lo, hi = day, after
            while hi - lo > timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                lo, hi = (lo, mid) if mid.astimezone(tz).utcoffset() != lo.astimezone(tz).utcoffset() else (mid, hi)
            found.append(hi.replace(microsecond=0))
        day = after
    return found


# --- an independent cron matcher for the generated subset ---------------------------------------


def field_values(field: str, low: int, high: int) -> set[int]:
    values: set[int] = set()
    for part in field.split(","):
        span, _, step = part.partition("/")
        first, last = (low, high) if span == "*" else (int(span.split("-")[0]), int(span.split("-")[-1]))
        values.update(range(first, last + 1, int(step or 1)))
    return values


@functools.cache
def _unrestricted_days(expression: str, day_or: bool) -> tuple[bool, bool]:
    """Whether croniter takes the day-of-month and the day-of-week fields as ``*`` (of the expression
    as Cirrus hands it to croniter: ``a-a`` written ``a``, which croniter would take for ``*``)."""
    expanded = croniter(cron._for_croniter(expression), datetime(2000, 1, 1), day_or=day_or).expanded
    return expanded[2] == ["*"], expanded[4] == ["*"]


def oracle_match(expression: str, day_or: bool, wall: datetime) -> bool:
    minute, hour, dom, month, dow = expression.split()
    # croniter: OR when both day fields are restricted and day_or. Which field counts as * is
    # croniter's own call ("* * 1-31 * */2": the day of month does; "* * 1 * 0-6": the 0-6 does
    # not), so the oracle takes that classification from croniter's expansion, and matches the
    # values by itself.
    any_dom, any_dow = _unrestricted_days(expression, day_or)
    weekdays = {value % 7 for value in field_values(dow, 0, 6)}
    in_dom = any_dom or wall.day in field_values(dom, 1, 31)
    in_dow = any_dow or (wall.weekday() + 1) % 7 in weekdays
    either = day_or and not any_dom and not any_dow
    day_ok = (in_dom or in_dow) if either else (in_dom and in_dow)
    return (
        wall.minute in field_values(minute, 0, 59)
        and wall.hour in field_values(hour, 0, 23)
        and wall.month in field_values(month, 1, 12)
        and day_ok
    )


def oracle_occurrences(expression: str, day_or: bool, zone: str, start: datetime, end: datetime) -> list[datetime]:
    """Walk UTC minutes: fire on a wall time's first pass, or at a change for any skipped match."""
    tz, found = ZoneInfo(zone), []
    instant = start
    previous = wall_clock(instant - MINUTE, tz)
    while instant <= end:
        local = instant.astimezone(tz)
        wall = local.replace(tzinfo=None)
        fires = local.fold == 0 and oracle_match(expression, day_or, wall)
        skipped = previous + MINUTE
        while not fires and skipped < wall:
            fires = oracle_match(expression, day_or, skipped)
            skipped += MINUTE
        if fires:
            found.append(instant)
        previous, instant = wall, instant + MINUTE
    return found


def cron_field(low: int, high: int, hot: list[int]) -> st.SearchStrategy[str]:
    value = st.one_of(st.sampled_from(hot), st.integers(low, high))
    return st.one_of(
        st.just("*"),
        value.map(str),
        st.lists(value, min_size=2, max_size=3, unique=True).map(lambda v: ",".join(map(str, sorted(v)))),
        st.tuples(value, value).map(lambda ab: f"{min(ab)}-{max(ab)}"),
        st.sampled_from([2, 3, 5, 10, 15, 20, 30]).filter(lambda k: k <= high).map(lambda k: f"*/{k}"),
        st.tuples(value, st.integers(2, 7)).map(lambda vk: f"{vk[0]}-{high}/{vk[1]}"),
    )


cron_expressions = st.tuples(
    cron_field(0, 59, [0, 15, 30, 45]),
    cron_field(0, 23, [0, 1, 2, 3]),
    st.one_of(st.just("*"), st.just("*"), cron_field(1, 31, [1, 13, 31])),
    st.one_of(st.just("*"), st.just("*"), cron_field(1, 12, [3, 4, 10, 11])),
    st.one_of(st.just("*"), cron_field(0, 6, [0, 5])),
).map(" ".join)


@st.composite
def windows_around_changes(draw: st.DrawFn, max_hours: int = 30) -> tuple[str, datetime, datetime]:
    zone = draw(st.sampled_from(ZONES))
    changes = transitions(zone)
    centre = draw(st.sampled_from(changes)) if changes else datetime(2024, 6, 1, tzinfo=UTC)
    before = draw(st.integers(0, max_hours * 60))
    after = draw(st.integers(0, max_hours * 60))
    return zone, centre - before * MINUTE, centre + after * MINUTE


@FAST
@given(cron_expressions, st.booleans(), windows_around_changes())
def test_cron_matches_the_minute_walk_oracle(expression: str, day_or: bool, window: Any) -> None:
    zone, start, end = window
    schedule = parse_schedule({"cron": expression, "timezone": zone, "day_or": day_or})
    assert occurrences(schedule, start, end, 100_000) == oracle_occurrences(expression, day_or, zone, start, end)


@FAST
@given(cron_expressions, st.booleans(), st.datetimes(datetime(2015, 1, 1), datetime(2030, 1, 1)))
def test_cron_day_walk_agrees_with_croniter(expression: str, day_or: bool, begin: datetime) -> None:
    # walls_from walks plain expressions itself; croniter (fed the same expression) is the reference.
    reference = croniter(cron._for_croniter(expression), begin - timedelta(seconds=1), day_or=day_or)
    expected: list[datetime] = []
    with contextlib.suppress(CroniterBadDateError):  # no further match within croniter's 50 years
        while len(expected) < 300:
            expected.append(reference.get_next(datetime))
    expected = [wall for wall in expected if wall >= begin]  # a sub-minute begin: croniter's first
    assert list(islice(cron.walls_from(expression, begin, day_or=day_or), len(expected))) == expected


rich_crons = st.sampled_from(
    [
        "@hourly",
        "@daily",
        "@weekly",
        "@monthly",
        "0 9 * * MON-FRI",
        "30 2 L * *",
        "0 1 * * 5#2",
        "*/7 1-3 * * *",
        "15 2 * jan,mar,oct,nov *",
        "0 0 29 2 *",
        "45 1 ? * sun",
        "0 2,3 1W * *",
    ]
)


@FAST
@given(rich_crons, st.booleans(), windows_around_changes(max_hours=24 * 20))
def test_every_cron_occurrence_matches_in_local_time(expression: str, day_or: bool, window: Any) -> None:
    zone, start, end = window
    tz = ZoneInfo(zone)
    found = occurrences(parse_schedule({"cron": expression, "timezone": zone, "day_or": day_or}), start, end, 500)
    assert_window_properties(found, start, end, 500)
    for instant in found:
        wall = wall_clock(instant, tz)
        if cron.matches(expression, wall, day_or=day_or):
            continue
        # Otherwise it must be a spring-forward change standing in for a skipped matching time.
        before = wall_clock(instant - TICK, tz) + TICK
        assert before < wall, (instant, wall)
        skipped = before.replace(second=0, microsecond=0)
        assert any(
            cron.matches(expression, skipped + k * MINUTE, day_or=day_or) for k in range(int((wall - skipped) / MINUTE))
        )


def assert_window_properties(found: list[datetime], start: datetime, end: datetime, limit: int) -> None:
    assert len(found) <= limit
    assert all(instant.tzinfo is not None and instant.utcoffset() == timedelta(0) for instant in found)
    assert all(start <= instant <= end for instant in found)
    assert all(earlier < later for earlier, later in zip(found, found[1:], strict=False))


# --- random schedules of every kind --------------------------------------------------------------


@st.composite
def interval_schedules(draw: st.DrawFn, zone: str) -> dict[str, Any]:
    seconds = draw(st.one_of(st.sampled_from([60, 900, 3600, 5400, 86400, 129600, 604800]), st.integers(1, 864000)))
    anchor = draw(st.datetimes(datetime(2000, 1, 1), datetime(2030, 1, 1)))
    return {"interval": seconds, "anchor_date": anchor.isoformat(), "timezone": zone}


@st.composite
def rrule_texts(draw: st.DrawFn) -> str:
    freq = draw(st.sampled_from(["YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY", "MINUTELY", "SECONDLY"]))
    interval = draw(st.integers(1, 4))
    parts = [f"FREQ={freq}", f"INTERVAL={interval}"]
    small = functools.partial(st.lists, min_size=1, max_size=3, unique=True)
    days = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
    if freq in ("YEARLY", "MONTHLY") and draw(st.booleans()):
        parts.append("BYMONTHDAY=" + ",".join(map(str, draw(small(st.sampled_from([1, 2, 13, 15, 28, -1]))))))
    if freq == "YEARLY" and draw(st.booleans()):
        parts.append("BYMONTH=" + ",".join(map(str, draw(small(st.integers(1, 12))))))
    if freq in ("WEEKLY", "MONTHLY") or (freq == "DAILY" and interval == 1):
        if draw(st.booleans()):
            ordinal = draw(st.sampled_from(["", "", "1", "2", "-1"])) if freq == "MONTHLY" else ""
            parts.append("BYDAY=" + ",".join(ordinal + day for day in draw(small(st.sampled_from(days)))))
    if freq not in ("HOURLY", "MINUTELY", "SECONDLY") and draw(st.booleans()):
        parts.append("BYHOUR=" + ",".join(map(str, draw(small(st.sampled_from([0, 1, 2, 3, 9, 23]))))))
    if freq not in ("MINUTELY", "SECONDLY") and draw(st.booleans()):
        parts.append("BYMINUTE=" + ",".join(map(str, draw(small(st.sampled_from([0, 15, 30, 59]))))))
    if freq in ("MONTHLY", "WEEKLY") and any(p.startswith("BYDAY") for p in parts) and draw(st.booleans()):
        parts.append(f"BYSETPOS={draw(st.sampled_from([1, -1, 2]))}")
    if draw(st.integers(0, 3)) == 0:
        parts.append(f"COUNT={draw(st.integers(1, 400))}")
    start = draw(st.datetimes(datetime(2016, 1, 1), datetime(2027, 1, 1))).replace(second=0, microsecond=0)
    lines = [f"DTSTART:{start:%Y%m%dT%H%M%S}", "RRULE:" + ";".join(parts)]
    if draw(st.booleans()):
        lines.append(f"EXDATE:{start + timedelta(days=draw(st.integers(0, 30))):%Y%m%dT%H%M%S}")
    if draw(st.booleans()):
        lines.append(f"RDATE:{start + timedelta(hours=draw(st.integers(1, 9000))):%Y%m%dT%H%M%S}")
    return "\n".join(lines)


def valid_rrule(text: str) -> str:
    try:
        return rrules.validate(text)
    except ValueError:
        assume(False)
        raise


# How far behind the window DTSTART may be while dateutil can still afford to walk from it.
WALKABLE = {
    "SECONDLY": timedelta(hours=3),
    "MINUTELY": timedelta(days=2),
    "HOURLY": timedelta(days=90),
    "DAILY": timedelta(days=1500),
}


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(rrule_texts(), st.floats(0, 1), st.sampled_from(ZONES))
def test_rrule_jump_to_the_window_changes_nothing(text: str, fraction: float, zone: str) -> None:
    ruleset = rrules.wall_clock_ruleset(valid_rrule(text), zone)
    first = ruleset._rrule[0]._dtstart
    reach = WALKABLE.get(next(f for f in (*WALKABLE, "") if f in text), timedelta(days=5500))
    begin = first + fraction * reach + timedelta(seconds=17)
    jumped = list(islice(rrules.walls_from(ruleset, begin), 40))
    walked = list(islice(ruleset.xafter(begin, inc=True), 40))
    assert jumped == walked


def schedules_in(zone: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(
        interval_schedules(zone),
        st.tuples(cron_expressions, st.booleans()).map(lambda c: {"cron": c[0], "day_or": c[1], "timezone": zone}),
        rrule_texts().map(lambda text: {"rrule": text, "timezone": zone}),
    )


@st.composite
def cases(draw: st.DrawFn) -> tuple[dict[str, Any], datetime]:
    """A schedule and a moment, half the time within a day of one of its zone's offset changes."""
    zone = draw(st.sampled_from(ZONES))
    schedule = draw(schedules_in(zone))
    changes = transitions(zone)
    if changes and draw(st.booleans()):
        moment = draw(st.sampled_from(changes)) + draw(st.integers(-1440, 1440)) * MINUTE
        moment += draw(st.sampled_from([timedelta(0), timedelta(0), TICK, -TICK, timedelta(seconds=30)]))
    else:
        moment = draw(st.datetimes(datetime(2015, 1, 1), datetime(2030, 1, 1))).replace(tzinfo=UTC)
    return schedule, moment


def parsed(data: dict[str, Any]) -> Any:
    if "rrule" in data:
        valid_rrule(data["rrule"])
    return parse_schedule(data)


@FAST
@given(cases(), st.integers(1, 72 * 60), st.integers(1, 300))
def test_occurrences_are_sorted_unique_inside_the_window_and_complete(case: Any, minutes: int, limit: int) -> None:
    data, start = case
    schedule = parsed(data)
    end = start + minutes * MINUTE
    found = occurrences(schedule, start, end, limit)
    assert_window_properties(found, start, end, limit)
    if len(found) < limit:  # nothing was left out between the last one and the end
        following = first_after(schedule, found[-1] if found else start - TICK)
        assert following is None or following > end
    if found:  # and nothing between start and the first
        assert first_after(schedule, start - TICK) == found[0]
    if "interval" in data and schedule.interval < timedelta(days=1):
        assert all((instant - schedule.anchor_date) % schedule.interval == timedelta(0) for instant in found)


plan_arguments = st.fixed_dictionaries(
    {
        "min_runs": st.integers(0, 5),
        "max_runs": st.integers(1, 25),
        "min_time": st.integers(0, 6 * 3600).map(lambda s: timedelta(seconds=s)),
        "max_time": st.integers(60, 20 * 86400).map(lambda s: timedelta(seconds=s)),
        "max_scheduled_runs": st.one_of(st.none(), st.integers(0, 10)),
    }
)


@FAST
@given(cases(), plan_arguments, st.lists(st.floats(0, 1), min_size=3, max_size=3))
def test_next_due_is_exact(case: Any, arguments: dict[str, Any], probes: list[float]) -> None:
    data, start = case
    schedule = parsed(data)
    first = plan_runs(schedule, start=start, **arguments)
    assert first.new == first.occurrences
    through = first.planned_through

    def new_at(moment: datetime) -> list[datetime]:
        return plan_runs(schedule, start=moment, planned_through=through, **arguments).new

    if first.next_due is None:  # only when no run can ever be added
        assert arguments["max_scheduled_runs"] == 0 or first_after(schedule, through or start - TICK) is None
        return
    assert first.next_due >= start
    assert new_at(first.next_due), "next_due must not be late"
    for probe in [0.0, *probes]:
        early = start + (first.next_due - start) * probe
        if early < first.next_due:
            assert not new_at(early), "next_due must be the earliest such instant"
    if first.next_due - TICK >= start:
        assert not new_at(first.next_due - TICK)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(), plan_arguments)
def test_a_scheduler_following_next_due_skips_and_repeats_nothing(case: Any, arguments: dict[str, Any]) -> None:
    data, start = case
    schedule = parsed(data)
    flow, deployment, schedule_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    inserted: list[datetime] = []
    planned_through, at = None, start
    for _ in range(6):
        plan = plan_runs(schedule, start=at, planned_through=planned_through, **arguments)
        assert plan == plan_runs(schedule, start=at, planned_through=planned_through, **arguments)
        assert plan.new or at == start
        inserted += plan.new
        planned_through = plan.planned_through
        if plan.next_due is None:
            break
        at = plan.next_due
    assert inserted == sorted(set(inserted))
    if inserted:  # every occurrence from the first run to the last planned one became a run
        assert inserted == occurrences(schedule, inserted[0], inserted[-1], len(inserted) + 1)
    ids = [scheduled_run_id(flow, deployment, schedule_id, instant) for instant in inserted]
    assert ids == [scheduled_run_id(flow, deployment, schedule_id, instant) for instant in inserted]
    assert len(set(ids)) == len(ids)
