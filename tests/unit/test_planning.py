"""plan_runs: Prefect's generation rule, max_scheduled_runs, planned_through and next_due."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.domain.identity import scheduled_run_id
from chalicelib.domain.planning import RunPlan, plan_runs
from chalicelib.schemas.schedules import parse_schedule

TICK = timedelta(microseconds=1)
PREFECT = {"min_runs": 3, "max_runs": 100, "min_time": timedelta(hours=1), "max_time": timedelta(days=100)}


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def plan(data: dict[str, Any], start: datetime, **overrides: Any) -> RunPlan:
    return plan_runs(parse_schedule(data), start=start, **{**PREFECT, **overrides})


def test_min_runs_reached_before_min_time_stops_at_min_time() -> None:
    hourly = plan({"cron": "0 * * * *"}, utc(2024, 1, 1, 0, 30))
    assert hourly.occurrences == [utc(2024, 1, 1, 1), utc(2024, 1, 1, 2), utc(2024, 1, 1, 3)]
    assert hourly.new == hourly.occurrences
    assert hourly.planned_through == utc(2024, 1, 1, 3)


def test_min_time_keeps_going_past_min_runs() -> None:
    minutely = plan({"cron": "* * * * *"}, utc(2024, 1, 1))
    assert len(minutely.occurrences) == 61  # 00:00 .. 01:00 inclusive: the first at or after start + 1 h
    assert minutely.occurrences[-1] == utc(2024, 1, 1, 1)


def test_max_runs_and_end_stop_first() -> None:
    assert len(plan({"cron": "* * * * *"}, utc(2024, 1, 1), min_time=timedelta(days=1)).occurrences) == 100
    daily = plan({"cron": "0 9 * * *"}, utc(2024, 1, 1), max_time=timedelta(days=1, hours=9))
    assert daily.occurrences == [utc(2024, 1, 1, 9), utc(2024, 1, 2, 9)]  # end is inclusive
    backfill = plan({"cron": "0 9 * * *"}, utc(2024, 1, 1), end=utc(2024, 1, 10), min_runs=100, max_runs=5)
    assert len(backfill.occurrences) == 5


def test_max_scheduled_runs_caps_the_list() -> None:
    capped = plan({"cron": "* * * * *"}, utc(2024, 1, 1), max_scheduled_runs=2)
    assert capped.occurrences == [utc(2024, 1, 1), utc(2024, 1, 1, 0, 1)]
    assert plan({"cron": "* * * * *"}, utc(2024, 1, 1), max_scheduled_runs=0).occurrences == []
    assert plan({"cron": "* * * * *"}, utc(2024, 1, 1), max_scheduled_runs=0).next_due is None


def test_planned_through_counts_but_is_not_new() -> None:
    first = plan({"cron": "0 * * * *"}, utc(2024, 1, 1, 0, 30))
    again = plan({"cron": "0 * * * *"}, utc(2024, 1, 1, 1, 30), planned_through=first.planned_through)
    assert again.occurrences == [utc(2024, 1, 1, 2), utc(2024, 1, 1, 3), utc(2024, 1, 1, 4)]
    assert again.new == [utc(2024, 1, 1, 4)]
    assert again.planned_through == utc(2024, 1, 1, 4)


def test_planned_through_later_than_the_selection_is_kept() -> None:
    ahead = utc(2024, 1, 5)
    later = plan({"cron": "0 * * * *"}, utc(2024, 1, 1), planned_through=ahead)
    assert later.new == []
    assert later.planned_through == ahead


def test_next_due_daily_is_just_after_the_first_run() -> None:
    daily = plan({"cron": "0 9 * * *"}, utc(2024, 1, 1))
    assert daily.occurrences == [utc(2024, 1, 1, 9), utc(2024, 1, 2, 9), utc(2024, 1, 3, 9)]
    assert daily.next_due == utc(2024, 1, 1, 9) + TICK
    assert plan({"cron": "0 9 * * *"}, daily.next_due - TICK, planned_through=daily.planned_through).new == []
    assert plan({"cron": "0 9 * * *"}, daily.next_due, planned_through=daily.planned_through).new == [
        utc(2024, 1, 4, 9)
    ]


def test_next_due_of_a_rare_schedule_is_max_time_before_its_next_occurrence() -> None:
    yearly = plan({"rrule": "DTSTART:20200301T120000\nRRULE:FREQ=YEARLY"}, utc(2024, 6, 1))
    assert yearly.occurrences == []
    assert yearly.planned_through is None
    assert yearly.next_due == utc(2025, 3, 1, 12) - timedelta(days=100)


def test_next_due_is_none_when_nothing_is_left() -> None:
    finite = plan({"rrule": "DTSTART:20240101T000000\nRRULE:FREQ=DAILY;COUNT=2"}, utc(2023, 12, 31))
    assert finite.new == [utc(2024, 1, 1), utc(2024, 1, 2)]
    assert finite.next_due is None
    assert plan({"cron": "0 0 30 2 *"}, utc(2024, 1, 1)).next_due is None
    bounded = plan({"cron": "0 9 * * *"}, utc(2024, 1, 1), end=utc(2024, 1, 2, 9))
    assert bounded.next_due is None  # the next occurrence is past the fixed end


def test_next_due_with_a_planned_through_far_ahead_is_never_late() -> None:
    schedule = {"cron": "*/10 * * * *"}
    backfilled = plan(schedule, utc(2024, 1, 1), end=utc(2024, 1, 3), min_runs=1000, max_runs=1000)
    tick = plan(schedule, utc(2024, 1, 1), planned_through=backfilled.planned_through)
    assert tick.new == []
    # The exact answer is when the 2-day backlog has shrunk to min_time: 2024-01-02 23:00:00.000001.
    # With a backlog this far ahead of one tick's selection, next_due may be early, never late.
    assert tick.next_due is not None
    assert utc(2024, 1, 1) < tick.next_due <= utc(2024, 1, 2, 23) + TICK
    assert plan(schedule, utc(2024, 1, 2, 23), planned_through=tick.planned_through).new == []
    assert plan(schedule, utc(2024, 1, 2, 23) + TICK, planned_through=tick.planned_through).new == [
        utc(2024, 1, 3, 0, 10)
    ]


def test_arguments_are_checked() -> None:
    schedule = parse_schedule({"cron": "* * * * *"})
    with pytest.raises(ValueError, match="timezone-aware"):
        plan_runs(schedule, start=datetime(2024, 1, 1), **PREFECT)
    with pytest.raises(ValueError, match="timezone-aware"):
        plan_runs(schedule, start=utc(2024, 1, 1), planned_through=datetime(2024, 1, 1), **PREFECT)
    with pytest.raises(ValueError, match="negative"):
        plan_runs(schedule, start=utc(2024, 1, 1), **{**PREFECT, "min_runs": -1})
    with pytest.raises(ValueError, match="negative"):
        plan_runs(schedule, start=utc(2024, 1, 1), **{**PREFECT, "min_time": timedelta(seconds=-1)})


def test_planning_is_deterministic_and_run_ids_are_stable() -> None:
    flow, deployment, schedule_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    data = {"interval": 600, "anchor_date": "2020-01-01T00:03:00Z", "timezone": "Europe/Paris"}
    one, two = plan(data, utc(2024, 3, 31)), plan(data, utc(2024, 3, 31))
    assert one == two
    ids = [scheduled_run_id(flow, deployment, schedule_id, instant) for instant in one.new]
    assert ids == [scheduled_run_id(flow, deployment, schedule_id, instant) for instant in two.new]
    assert len(set(ids)) == len(ids)
    # Planning from a later start re-derives the same ids for the occurrences both plans hold.
    later = plan(data, utc(2024, 3, 31, 0, 30))
    shared = set(one.occurrences) & set(later.occurrences)
    assert shared
    assert {scheduled_run_id(flow, deployment, schedule_id, t) for t in shared} <= set(ids) | {
        scheduled_run_id(flow, deployment, schedule_id, t) for t in later.occurrences
    }
