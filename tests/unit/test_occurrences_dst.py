"""Dated daylight-saving examples: the policy of chalicelib.domain.schedules, change by change."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from chalicelib.domain.schedules import occurrences, to_instant
from chalicelib.schemas.schedules import parse_schedule


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def local_times(instants: list[datetime], zone: str) -> list[str]:
    """Each instant as the local clock shows it, with its offset: '2024-03-10 03:00 -04:00'."""
    return [instant.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %z") for instant in instants]


def cron(expression: str, zone: str, *, day_or: bool = True):  # noqa: ANN201 - a schema model
    return parse_schedule({"cron": expression, "timezone": zone, "day_or": day_or})


# --- America/New_York: 2024-03-10 02:00 EST -> 03:00 EDT; 2024-11-03 02:00 EDT -> 01:00 EST ---


def test_new_york_skipped_time_fires_at_the_change_not_an_hour_early() -> None:
    found = occurrences(cron("30 2 * * *", "America/New_York"), utc(2024, 3, 9), utc(2024, 3, 12), 10)
    assert local_times(found, "America/New_York") == [
        "2024-03-09 02:30 -0500",
        "2024-03-10 03:00 -0400",  # 02:30 does not exist: the first valid instant after it
        "2024-03-11 02:30 -0400",
    ]
    assert found[1] == utc(2024, 3, 10, 7, 0)


def test_new_york_several_skipped_times_collapse_into_one_run() -> None:
    found = occurrences(cron("*/20 * * * *", "America/New_York"), utc(2024, 3, 10, 6, 30), utc(2024, 3, 10, 7, 30), 10)
    assert local_times(found, "America/New_York") == [
        "2024-03-10 01:40 -0500",
        "2024-03-10 03:00 -0400",  # 02:00, 02:20, 02:40 and 03:00 itself: one run
        "2024-03-10 03:20 -0400",
    ]


def test_window_starting_exactly_at_the_change_includes_the_skipped_times() -> None:
    found = occurrences(cron("30 2 * * *", "America/New_York"), utc(2024, 3, 10, 7), utc(2024, 3, 10, 8), 10)
    assert found == [utc(2024, 3, 10, 7)]


def test_new_york_repeated_time_fires_once_at_its_first_occurrence() -> None:
    found = occurrences(cron("30 1 * * *", "America/New_York"), utc(2024, 11, 2), utc(2024, 11, 5), 10)
    assert local_times(found, "America/New_York") == [
        "2024-11-02 01:30 -0400",
        "2024-11-03 01:30 -0400",  # and not again at 01:30 EST
        "2024-11-04 01:30 -0500",
    ]


def test_new_york_hourly_cron_follows_the_wall_clock_through_fall_back() -> None:
    found = occurrences(cron("0 * * * *", "America/New_York"), utc(2024, 11, 3, 4), utc(2024, 11, 3, 8), 10)
    assert local_times(found, "America/New_York") == [
        "2024-11-03 00:00 -0400",
        "2024-11-03 01:00 -0400",
        "2024-11-03 02:00 -0500",  # two real hours later: 01:00 fires once
        "2024-11-03 03:00 -0500",
    ]


def test_window_inside_the_second_pass_of_a_repeated_hour() -> None:
    # 01:10 EST is the second 01:10; the 01:30 of that hour already fired at 01:30 EDT.
    found = occurrences(cron("30 1,2 * * *", "America/New_York"), utc(2024, 11, 3, 6, 10), utc(2024, 11, 3, 8), 10)
    assert local_times(found, "America/New_York") == ["2024-11-03 02:30 -0500"]


# --- Europe/Berlin: 2024-03-31 02:00 -> 03:00; 2024-10-27 03:00 -> 02:00 ---


def test_berlin_changes() -> None:
    schedule = cron("30 2 * * *", "Europe/Berlin")
    spring = occurrences(schedule, utc(2024, 3, 30), utc(2024, 4, 2), 10)
    assert local_times(spring, "Europe/Berlin") == [
        "2024-03-30 02:30 +0100",
        "2024-03-31 03:00 +0200",
        "2024-04-01 02:30 +0200",
    ]
    autumn = occurrences(schedule, utc(2024, 10, 26), utc(2024, 10, 29), 10)
    assert local_times(autumn, "Europe/Berlin") == [
        "2024-10-26 02:30 +0200",
        "2024-10-27 02:30 +0200",
        "2024-10-28 02:30 +0100",
    ]


# --- Australia/Sydney (southern hemisphere): 2024-04-07 03:00 -> 02:00; 2024-10-06 02:00 -> 03:00 ---


def test_sydney_changes() -> None:
    schedule = cron("30 2 * * *", "Australia/Sydney")
    autumn = occurrences(schedule, utc(2024, 4, 5), utc(2024, 4, 8), 10)
    assert local_times(autumn, "Australia/Sydney") == [
        "2024-04-06 02:30 +1100",
        "2024-04-07 02:30 +1100",  # first of the two 02:30s
        "2024-04-08 02:30 +1000",
    ]
    spring = occurrences(schedule, utc(2024, 10, 4), utc(2024, 10, 7), 10)
    assert local_times(spring, "Australia/Sydney") == [
        "2024-10-05 02:30 +1000",
        "2024-10-06 03:00 +1100",
        "2024-10-07 02:30 +1100",
    ]


# --- Australia/Lord_Howe: a 30-minute shift. 2024-04-07 02:00 -> 01:30; 2024-10-06 02:00 -> 02:30 ---


def test_lord_howe_half_hour_changes() -> None:
    spring = occurrences(cron("15 2 * * *", "Australia/Lord_Howe"), utc(2024, 10, 4), utc(2024, 10, 7), 10)
    assert local_times(spring, "Australia/Lord_Howe") == [
        "2024-10-05 02:15 +1030",
        "2024-10-06 02:30 +1100",  # 02:15 was skipped; the change is at 02:00 -> 02:30
        "2024-10-07 02:15 +1100",
    ]
    autumn = occurrences(cron("45 1 * * *", "Australia/Lord_Howe"), utc(2024, 4, 5), utc(2024, 4, 8), 10)
    assert local_times(autumn, "Australia/Lord_Howe") == [
        "2024-04-06 01:45 +1100",
        "2024-04-07 01:45 +1100",
        "2024-04-08 01:45 +1030",
    ]
    every_10 = occurrences(
        cron("*/10 * * * *", "Australia/Lord_Howe"), utc(2024, 4, 6, 14, 40), utc(2024, 4, 6, 15, 40), 20
    )
    assert local_times(every_10, "Australia/Lord_Howe") == [
        "2024-04-07 01:40 +1100",
        "2024-04-07 01:50 +1100",
        "2024-04-07 02:00 +1030",  # 01:30-01:59 again: already fired
        "2024-04-07 02:10 +1030",
    ]


def test_samoa_skipped_a_whole_day() -> None:
    # Pacific/Apia went from 2011-12-29 23:59 (-10) to 2011-12-31 00:00 (+14).
    found = occurrences(cron("0 9 * * *", "Pacific/Apia"), utc(2011, 12, 29), utc(2012, 1, 1), 10)
    assert local_times(found, "Pacific/Apia") == [
        "2011-12-29 09:00 -1000",
        "2011-12-31 00:00 +1400",  # Dec 30 09:00 never existed
        "2011-12-31 09:00 +1400",
        "2012-01-01 09:00 +1400",
    ]


def test_day_or_false_friday_the_13th() -> None:
    fridays = occurrences(cron("0 9 13 * 5", "Europe/London", day_or=False), utc(2024, 1, 1), utc(2026, 1, 1), 10)
    assert local_times(fridays, "Europe/London") == [
        "2024-09-13 09:00 +0100",
        "2024-12-13 09:00 +0000",
        "2025-06-13 09:00 +0100",
    ]
    either = occurrences(cron("0 9 13 * 5", "Europe/London"), utc(2024, 9, 1), utc(2024, 9, 16), 10)
    assert [instant.day for instant in either] == [6, 13]


# --- intervals ---


def test_daily_interval_keeps_the_wall_clock_across_changes() -> None:
    daily = parse_schedule({"interval": 86400, "anchor_date": "2024-03-08T09:00:00", "timezone": "America/New_York"})
    found = occurrences(daily, utc(2024, 3, 8), utc(2024, 3, 12), 10)
    assert local_times(found, "America/New_York") == [
        "2024-03-08 09:00 -0500",
        "2024-03-09 09:00 -0500",
        "2024-03-10 09:00 -0400",
        "2024-03-11 09:00 -0400",
    ]
    autumn = occurrences(daily, utc(2024, 11, 2), utc(2024, 11, 5), 10)
    assert local_times(autumn, "America/New_York") == [
        "2024-11-02 09:00 -0400",
        "2024-11-03 09:00 -0500",
        "2024-11-04 09:00 -0500",
    ]


def test_interval_of_a_day_and_a_half_alternates_on_the_wall_clock() -> None:
    schedule = parse_schedule(
        {"interval": 1.5 * 86400, "anchor_date": "2024-03-08T09:00:00", "timezone": "America/New_York"}
    )
    found = occurrences(schedule, utc(2024, 3, 8), utc(2024, 3, 14), 10)
    assert local_times(found, "America/New_York") == [
        "2024-03-08 09:00 -0500",
        "2024-03-09 21:00 -0500",
        "2024-03-11 09:00 -0400",
        "2024-03-12 21:00 -0400",
    ]


def test_daily_interval_anchored_in_a_skipped_time() -> None:
    schedule = parse_schedule({"interval": 86400, "anchor_date": "2024-03-01T02:30:00", "timezone": "America/New_York"})
    found = occurrences(schedule, utc(2024, 3, 9), utc(2024, 3, 12), 10)
    assert local_times(found, "America/New_York") == [
        "2024-03-09 02:30 -0500",
        "2024-03-10 03:00 -0400",
        "2024-03-11 02:30 -0400",
    ]


@pytest.mark.parametrize(
    ("zone", "day"),
    [
        ("America/New_York", (2024, 11, 3)),
        ("America/New_York", (2024, 3, 10)),
        ("Australia/Lord_Howe", (2024, 4, 6)),
        ("Europe/Berlin", (2024, 10, 27)),
    ],
)
def test_hourly_interval_is_absolute_time(zone: str, day: tuple[int, int, int]) -> None:
    hourly = parse_schedule({"interval": 3600, "anchor_date": "2024-01-01T00:15:00", "timezone": zone})
    start, end = utc(*day), utc(*day) + timedelta(days=1, hours=12)
    found = occurrences(hourly, start, end, 100)
    assert len(found) == 36  # one per real hour: none skipped, none duplicated
    assert all(later - earlier == timedelta(hours=1) for earlier, later in zip(found, found[1:], strict=False))


def test_hourly_interval_shows_a_repeated_local_hour_twice() -> None:
    hourly = parse_schedule({"interval": 3600, "anchor_date": "2024-01-01T00:00:00", "timezone": "America/New_York"})
    found = occurrences(hourly, utc(2024, 11, 3, 4), utc(2024, 11, 3, 7), 10)
    assert local_times(found, "America/New_York") == [
        "2024-11-03 00:00 -0400",
        "2024-11-03 01:00 -0400",
        "2024-11-03 01:00 -0500",
        "2024-11-03 02:00 -0500",
    ]


# --- rrules ---


def test_rrule_follows_the_wall_clock_and_the_skipped_time_policy() -> None:
    schedule = parse_schedule({"rrule": "DTSTART:20240301T023000\nRRULE:FREQ=DAILY", "timezone": "America/New_York"})
    found = occurrences(schedule, utc(2024, 3, 9), utc(2024, 3, 12), 10)
    assert local_times(found, "America/New_York") == [
        "2024-03-09 02:30 -0500",
        "2024-03-10 03:00 -0400",
        "2024-03-11 02:30 -0400",
    ]
    autumn = parse_schedule({"rrule": "DTSTART:20241101T013000\nRRULE:FREQ=DAILY", "timezone": "America/New_York"})
    assert local_times(occurrences(autumn, utc(2024, 11, 3), utc(2024, 11, 4), 10), "America/New_York") == [
        "2024-11-03 01:30 -0400"
    ]


def test_rrule_with_zoned_dtstart_exdate_and_rdate() -> None:
    schedule = parse_schedule(
        {
            "rrule": "DTSTART;TZID=Europe/Berlin:20240329T090000\nRRULE:FREQ=DAILY;COUNT=5\n"
            "EXDATE;TZID=Europe/Berlin:20240331T090000\nRDATE:20240401T200000Z"
        }
    )
    found = occurrences(schedule, utc(2024, 1, 1), utc(2025, 1, 1), 10)
    assert local_times(found, "Europe/Berlin") == [
        "2024-03-29 09:00 +0100",
        "2024-03-30 09:00 +0100",
        "2024-04-01 09:00 +0200",
        "2024-04-01 22:00 +0200",
        "2024-04-02 09:00 +0200",
    ]


def test_rrule_count_and_until_together_stop_at_the_earlier() -> None:
    schedule = parse_schedule({"rrule": "DTSTART:20250101T000000\nRRULE:FREQ=DAILY;COUNT=10;UNTIL=20250103T000000"})
    found = occurrences(schedule, utc(2024, 1, 1), utc(2026, 1, 1), 100)
    assert found == [utc(2025, 1, 1), utc(2025, 1, 2), utc(2025, 1, 3)]


# --- cost: old anchors jump to the window ---


@pytest.mark.parametrize(
    "data",
    [
        {"rrule": "DTSTART:20150101T000000\nRRULE:FREQ=MINUTELY"},
        {"rrule": "DTSTART:20150101T000000\nRRULE:FREQ=SECONDLY;INTERVAL=7"},
        {"rrule": "DTSTART:20150101T000000\nRRULE:FREQ=HOURLY;COUNT=900000"},
        {"rrule": "DTSTART:20150101T000000\nRRULE:FREQ=DAILY;BYHOUR=9,21;BYMINUTE=0,30;COUNT=40000"},
        {"rrule": "FREQ=MINUTELY"},  # DTSTART 2020-01-01 prepended
        {"interval": 1, "anchor_date": "2015-01-01T00:00:00Z"},
        {"interval": 86400, "anchor_date": "1990-01-01T09:00:00", "timezone": "America/New_York"},
    ],
)
def test_old_anchor_does_not_walk_from_the_anchor(data: dict[str, object]) -> None:
    schedule = parse_schedule(data)
    began = time.perf_counter()
    found = occurrences(schedule, utc(2026, 5, 1), utc(2027, 5, 1), 100)
    assert time.perf_counter() - began < 0.5
    assert len(found) == 100
    assert found[0] >= utc(2026, 5, 1)


def test_limits_and_empty_windows() -> None:
    schedule = cron("* * * * *", "UTC")
    assert occurrences(schedule, utc(2024, 1, 1), utc(2024, 1, 2), 0) == []
    assert occurrences(schedule, utc(2024, 1, 2), utc(2024, 1, 1), 5) == []
    assert occurrences(schedule, utc(2024, 1, 1), utc(2024, 1, 1), 5) == [utc(2024, 1, 1)]
    assert occurrences(cron("0 0 30 2 *", "UTC"), utc(2024, 1, 1), utc(2030, 1, 1), 5) == []
    with pytest.raises(ValueError, match="timezone-aware"):
        occurrences(schedule, datetime(2024, 1, 1), utc(2024, 1, 2), 5)


def test_to_instant_policy_directly() -> None:
    new_york = ZoneInfo("America/New_York")
    assert to_instant(datetime(2024, 3, 10, 2, 30), new_york) == utc(2024, 3, 10, 7)
    assert to_instant(datetime(2024, 3, 10, 2, 0), new_york) == utc(2024, 3, 10, 7)
    assert to_instant(datetime(2024, 3, 10, 3, 0), new_york) == utc(2024, 3, 10, 7)
    assert to_instant(datetime(2024, 11, 3, 1, 30), new_york) == utc(2024, 11, 3, 5, 30)
    assert to_instant(datetime(2024, 11, 3, 2, 0), new_york) == utc(2024, 11, 3, 7)
