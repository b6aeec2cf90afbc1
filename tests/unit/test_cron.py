"""The croniter wrapper: which expressions Cirrus accepts, and naive wall-clock iteration."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import islice

import pytest

from chalicelib.domain import cron


@pytest.mark.parametrize(
    "expression",
    [
        "0 9 * * *",
        "*/15 * * * *",
        "0 9 * * MON-FRI",
        "0 9 * mar,jun *",
        "0 9 * * thu",  # contains an H, but is a weekday name, not a hashed field
        "0 0 L * *",
        "0 9 * * 5#2",
        "0 9 ? * 1",
        "0 9 * * 7",
        "0 0 30 2 *",  # valid syntax that never fires: accepted, as Prefect accepts it
        " 0  9 * * * ",
        "@hourly",
        "@daily",
        "@weekly",
        "@monthly",
        "@yearly",
        "@annually",
        "@midnight",
    ],
)
def test_accepts_five_fields_and_aliases(expression: str) -> None:
    assert cron.validate_cron(expression) == expression


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("0 9 * * * 30", "5 fields"),  # croniter would read the 6th field as seconds
        ("0 9 * * * 2024 x", "5 fields"),
        ("0 9 ? * MON *", "5 fields"),  # EventBridge's 6-field form with years
        ("0 9 * *", "5 fields"),
        ("", "5 fields"),
        ("@reboot", "5 fields"),
        ("@every 5m", "5 fields"),
        ("R 9 * * *", "Random and Hashed"),
        ("0 r * * *", "Random and Hashed"),
        ("R(0-30) 9 * * *", "Random and Hashed"),
        ("H 9 * * *", "Random and Hashed"),
        ("H/5 * * * *", "Random and Hashed"),
        ("0 9 * * 1,H", "Random and Hashed"),
        ("60 * * * *", "Invalid cron"),
        ("0 24 * * *", "Invalid cron"),
        ("*/0 * * * *", "Invalid cron"),
        ("0 9 * * 8", "Invalid cron"),
        ("0 9 32 * *", "Invalid cron"),
        ("a b c d e", "Invalid cron"),
    ],
)
def test_rejects_other_shapes(expression: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        cron.validate_cron(expression)


def test_walls_from_includes_begin_and_stays_naive() -> None:
    walls = list(islice(cron.walls_from("0 9 * * *", datetime(2024, 1, 1, 9, 0)), 3))
    assert walls == [datetime(2024, 1, 1, 9), datetime(2024, 1, 2, 9), datetime(2024, 1, 3, 9)]
    assert all(wall.tzinfo is None for wall in walls)


def test_walls_from_mid_minute_begins_at_the_next_minute() -> None:
    walls = list(islice(cron.walls_from("* * * * *", datetime(2024, 1, 1, 9, 0, 0, 1)), 2))
    assert walls == [datetime(2024, 1, 1, 9, 1), datetime(2024, 1, 1, 9, 2)]


def test_walls_from_a_never_firing_expression_ends_quietly() -> None:
    assert list(cron.walls_from("0 0 30 2 *", datetime(2024, 1, 1))) == []


def test_walls_from_rejects_aware_begin() -> None:
    with pytest.raises(ValueError, match="naive"):
        next(cron.walls_from("* * * * *", datetime(2024, 1, 1, tzinfo=UTC)))


def test_day_or_false_means_day_of_month_and_day_of_week() -> None:
    fridays_13th = list(islice(cron.walls_from("0 9 13 * 5", datetime(2024, 1, 1), day_or=False), 3))
    assert fridays_13th == [datetime(2024, 9, 13, 9), datetime(2024, 12, 13, 9), datetime(2025, 6, 13, 9)]
    either = list(islice(cron.walls_from("0 9 13 * 5", datetime(2024, 1, 1), day_or=True), 3))
    assert either == [datetime(2024, 1, 5, 9), datetime(2024, 1, 12, 9), datetime(2024, 1, 13, 9)]


def test_matches_reads_the_wall_clock_minute() -> None:
    assert cron.matches("30 2 * * *", datetime(2024, 3, 10, 2, 30))
    assert not cron.matches("30 2 * * *", datetime(2024, 3, 10, 2, 31))
    assert not cron.matches("30 2 * * *", datetime(2024, 3, 10, 2, 30, 1))
    assert cron.matches("0 9 13 * 5", datetime(2024, 9, 13, 9), day_or=False)
    assert not cron.matches("0 9 13 * 5", datetime(2024, 9, 6, 9), day_or=False)
    assert cron.matches("0 9 13 * 5", datetime(2024, 9, 6, 9), day_or=True)
    assert cron.matches("@daily", datetime(2024, 9, 6))
    with pytest.raises(ValueError, match="naive"):
        cron.matches("* * * * *", datetime(2024, 1, 1, tzinfo=UTC))


def test_a_range_with_equal_ends_is_one_value_not_the_whole_field() -> None:
    # croniter 7 alone reads "5-5" as "*" and "5-5/2" as "*/2".
    assert list(islice(cron.walls_from("5-5 * * * *", datetime(2024, 1, 1)), 2)) == [
        datetime(2024, 1, 1, 0, 5),
        datetime(2024, 1, 1, 1, 5),
    ]
    assert list(islice(cron.walls_from("0 0 13-13/2 * 5", datetime(2024, 1, 1)), 2)) == [
        datetime(2024, 1, 5),
        datetime(2024, 1, 12),
    ]
    assert not cron.matches("5-5/2 * * * *", datetime(2024, 1, 1, 0, 6))
