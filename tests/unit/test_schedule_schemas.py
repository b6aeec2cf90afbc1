"""Schedule JSON: Prefect's validation, its normalised response form, and readable 422 locations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import BaseModel, ValidationError

from chalicelib.schemas.schedules import (
    CronSchedule,
    IntervalSchedule,
    RRuleSchedule,
    Schedule,
    parse_schedule,
    schedule_to_json,
)


def errors_of(data: dict[str, Any]) -> list[tuple[tuple[str | int, ...], str]]:
    with pytest.raises(ValidationError) as caught:
        parse_schedule(data)
    return [(error["loc"], error["msg"]) for error in caught.value.errors()]


@pytest.mark.parametrize(
    ("given", "echoed"),
    [
        (
            {"interval": 3600, "anchor_date": "2020-01-01T00:00:00Z", "timezone": "America/New_York"},
            {"interval": 3600.0, "anchor_date": "2020-01-01T00:00:00Z", "timezone": "America/New_York"},
        ),
        (  # an anchor with a bare offset lends no zone (Prefect: UTC); the anchor is shown in UTC
            {"interval": 90.5, "anchor_date": "2020-01-01T00:00:00-05:00"},
            {"interval": 90.5, "anchor_date": "2020-01-01T05:00:00Z", "timezone": "UTC"},
        ),
        (  # a naive anchor is read in the schedule's zone
            {"interval": "PT1H", "anchor_date": "2024-07-01T09:00:00", "timezone": "Europe/Berlin"},
            {"interval": 3600.0, "anchor_date": "2024-07-01T07:00:00Z", "timezone": "Europe/Berlin"},
        ),
        (
            {"cron": "0 9 * * *"},
            {"cron": "0 9 * * *", "timezone": "UTC", "day_or": True},
        ),
        (
            {"cron": "@daily", "timezone": None, "day_or": False},
            {"cron": "@daily", "timezone": "UTC", "day_or": False},
        ),
        (
            {"rrule": "FREQ=DAILY"},
            {"rrule": "DTSTART:20200101T000000\nFREQ=DAILY", "timezone": "UTC"},
        ),
        (
            {"rrule": "RRULE:FREQ=WEEKLY;BYDAY=MO", "timezone": "Asia/Tokyo"},
            {"rrule": "DTSTART:20200101T000000\nRRULE:FREQ=WEEKLY;BYDAY=MO", "timezone": "Asia/Tokyo"},
        ),
        (  # a DTSTART with a TZID lends its zone when none is given
            {"rrule": "DTSTART;TZID=America/New_York:20250101T090000\nRRULE:FREQ=DAILY"},
            {
                "rrule": "DTSTART;TZID=America/New_York:20250101T090000\nRRULE:FREQ=DAILY",
                "timezone": "America/New_York",
            },
        ),
        (  # an rruleset with EXDATE, RDATE and two rules
            {
                "rrule": "DTSTART:20250101T090000\nRRULE:FREQ=WEEKLY;BYDAY=MO\nRRULE:FREQ=MONTHLY;BYMONTHDAY=1\n"
                "EXDATE:20250106T090000\nRDATE:20250104T120000"
            },
            {
                "rrule": "DTSTART:20250101T090000\nRRULE:FREQ=WEEKLY;BYDAY=MO\nRRULE:FREQ=MONTHLY;BYMONTHDAY=1\n"
                "EXDATE:20250106T090000\nRDATE:20250104T120000",
                "timezone": "UTC",
            },
        ),
        (  # COUNT with UNTIL: RFC 5545 forbids it, Prefect (dateutil) accepts it
            {"rrule": "FREQ=DAILY;COUNT=3;UNTIL=20300101T000000"},
            {"rrule": "DTSTART:20200101T000000\nFREQ=DAILY;COUNT=3;UNTIL=20300101T000000", "timezone": "UTC"},
        ),
    ],
)
def test_normalised_json_form(given: dict[str, Any], echoed: dict[str, Any]) -> None:
    schedule = parse_schedule(given)
    assert schedule_to_json(schedule) == echoed
    # The echoed form is itself valid and a fixed point.
    assert schedule_to_json(parse_schedule(echoed)) == echoed


def test_interval_anchor_defaults_to_now_and_zone_from_a_zoneinfo_anchor() -> None:
    before = datetime.now(UTC)
    schedule = IntervalSchedule(interval=timedelta(minutes=5))
    assert before <= schedule.anchor_date <= datetime.now(UTC)
    assert schedule.timezone == "UTC"
    local = IntervalSchedule(interval=60, anchor_date=datetime(2024, 1, 1, 9, tzinfo=ZoneInfo("Asia/Kolkata")))
    assert local.timezone == "Asia/Kolkata"
    assert local.anchor_date == datetime(2024, 1, 1, 3, 30, tzinfo=UTC)


def test_naive_anchor_in_a_skipped_hour_fires_at_the_change() -> None:
    schedule = parse_schedule({"interval": 86400, "anchor_date": "2024-03-10T02:30:00", "timezone": "America/New_York"})
    assert schedule.anchor_date == datetime(2024, 3, 10, 7, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("data", "loc", "message"),
    [
        ({"interval": 0}, ("IntervalSchedule", "interval"), "must be positive"),
        ({"interval": -3600.0}, ("IntervalSchedule", "interval"), "must be positive"),
        ({"interval": 1e300}, ("IntervalSchedule", "interval"), ""),
        ({"interval": 60, "timezone": "Mars/Olympus_Mons"}, ("IntervalSchedule", "timezone"), "Invalid timezone"),
        ({"interval": 60, "anchor_date": "yesterday"}, ("IntervalSchedule", "anchor_date"), ""),
        ({"cron": "0 9 * * * 30"}, ("CronSchedule", "cron"), "expected 5 fields"),
        ({"cron": "R 9 * * *"}, ("CronSchedule", "cron"), "Random and Hashed"),
        ({"cron": "H 9 * * *"}, ("CronSchedule", "cron"), "Random and Hashed"),
        ({"cron": "61 * * * *"}, ("CronSchedule", "cron"), "Invalid cron string"),
        ({"cron": 5}, ("CronSchedule", "cron"), "valid string"),
        ({"cron": "0 9 * * *", "timezone": "EST+5"}, ("CronSchedule", "timezone"), "Invalid timezone"),
        ({"rrule": "FREQ=SOMETIMES"}, ("RRuleSchedule", "rrule"), "Invalid RRule string"),
        ({"rrule": "FREQ=DAILY;INTERVAL=0"}, ("RRuleSchedule", "rrule"), "INTERVAL must be a positive"),
        ({"rrule": "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"}, ("RRuleSchedule", "rrule"), "no date that exists"),
        ({"rrule": "DTSTART:20200101T000000"}, ("RRuleSchedule", "rrule"), "no RRULE and no RDATE"),
        ({"rrule": ""}, ("RRuleSchedule", "rrule"), "Invalid RRule string"),
        ({"rrule": "DTSTART;TZID=Nowhere/Land:20250101T090000\nRRULE:FREQ=DAILY"}, ("RRuleSchedule", "rrule"), "TZID"),
        # UNTIL must match DTSTART's form (both local, or UTC with a zoned DTSTART), as in Prefect
        ({"rrule": "RRULE:FREQ=DAILY;UNTIL=20300101T000000Z"}, ("RRuleSchedule", "rrule"), "UNTIL"),
        (
            {"rrule": "DTSTART;TZID=Europe/Paris:20250101T090000\nRRULE:FREQ=DAILY;UNTIL=20300101T000000"},
            ("RRuleSchedule", "rrule"),
            "UNTIL",
        ),
        ({"rrule": "RDATE:20250101T000000," * 400}, ("RRuleSchedule", "rrule"), "max length"),
        ({"rrule": "FREQ=DAILY", "timezone": "Not/AZone"}, ("RRuleSchedule", "timezone"), "Invalid timezone"),
        # one object mixing two kinds: the first kind's model rejects the other's key
        ({"interval": 60, "cron": "* * * * *"}, ("IntervalSchedule", "cron"), "Extra inputs"),
        ({"cron": "* * * * *", "rrule": "FREQ=DAILY"}, ("CronSchedule", "rrule"), "Extra inputs"),
        ({"cron": "* * * * *", "colour": "blue"}, ("CronSchedule", "colour"), "Extra inputs"),
        ({"timezone": "UTC"}, (), "one of the keys 'interval', 'cron' or 'rrule'"),
    ],
)
def test_invalid_schedules_name_the_field(data: dict[str, Any], loc: tuple[str, ...], message: str) -> None:
    errors = errors_of(data)
    assert len(errors) == 1, errors
    assert errors[0][0] == loc
    assert message in errors[0][1]


def test_rrule_with_utc_until_and_zoned_dtstart_is_valid() -> None:
    schedule = parse_schedule(
        {"rrule": "DTSTART;TZID=Europe/Paris:20250101T090000\nRRULE:FREQ=DAILY;UNTIL=20300101T000000Z"}
    )
    assert schedule.timezone == "Europe/Paris"


def test_explicit_timezone_wins_over_dtstart_tzid() -> None:
    schedule = parse_schedule(
        {"rrule": "DTSTART;TZID=Europe/Paris:20250101T090000\nRRULE:FREQ=DAILY", "timezone": "Asia/Tokyo"}
    )
    assert schedule.timezone == "Asia/Tokyo"


class DeploymentScheduleCreate(BaseModel):
    """Stands in for the API's model that embeds a schedule."""

    schedule: Schedule
    active: bool = True


def test_schedule_is_a_field_type_that_picks_its_member_by_key() -> None:
    body = DeploymentScheduleCreate.model_validate({"schedule": {"rrule": "FREQ=HOURLY"}})
    assert isinstance(body.schedule, RRuleSchedule)
    assert isinstance(DeploymentScheduleCreate(schedule={"cron": "@hourly"}).schedule, CronSchedule)
    assert isinstance(DeploymentScheduleCreate(schedule=IntervalSchedule(interval=60)).schedule, IntervalSchedule)
    dumped = DeploymentScheduleCreate(schedule={"interval": 60, "anchor_date": "2020-01-01T00:00:00Z"}).model_dump(
        mode="json"
    )
    assert dumped["schedule"] == {"interval": 60.0, "anchor_date": "2020-01-01T00:00:00Z", "timezone": "UTC"}


def test_nested_errors_carry_the_outer_field_and_one_member() -> None:
    with pytest.raises(ValidationError) as caught:
        DeploymentScheduleCreate.model_validate({"schedule": {"cron": "every day"}})
    (error,) = caught.value.errors()
    assert error["loc"] == ("schedule", "CronSchedule", "cron")


def test_models_forbid_extra_keys_directly() -> None:
    with pytest.raises(ValidationError):
        CronSchedule.model_validate({"cron": "* * * * *", "interval": 60})
    with pytest.raises(ValidationError):
        RRuleSchedule.model_validate({"rrule": "FREQ=DAILY", "anchor_date": "2020-01-01T00:00:00Z"})


def test_an_interval_of_true_is_not_one_second():
    """pydantic reads ``true`` as a 1-second timedelta: a schedule nobody asked for; it is a 422."""
    import pytest as _pytest
    from pydantic import ValidationError

    from chalicelib.schemas.schedules import IntervalSchedule

    with _pytest.raises(ValidationError, match="not a boolean"):
        IntervalSchedule.model_validate({"interval": True})
    assert IntervalSchedule.model_validate({"interval": 60}).interval.total_seconds() == 60
