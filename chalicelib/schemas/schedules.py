"""Prefect's three schedule shapes, validated and normalised as Prefect 3 does (PREFECT_CONTRACT.md).

- ``IntervalSchedule``: ``interval`` (float seconds, or anything pydantic reads as a timedelta;
  must be > 0), ``anchor_date`` (default: now; a naive one is read in the schedule's zone),
  ``timezone`` (default: the anchor's IANA zone if it has one, else UTC).
- ``CronSchedule``: ``cron`` (five fields or an ``@daily``-style alias; see
  :mod:`chalicelib.domain.cron`), ``timezone`` (default UTC), ``day_or`` (default True: day-of-month
  OR day-of-week when both are restricted; False: AND).
- ``RRuleSchedule``: ``rrule`` (RFC 5545, rrulesets allowed; DTSTART prepended when missing; see
  :mod:`chalicelib.domain.rrules`), ``timezone`` (default: DTSTART's TZID if it has one, else UTC).

Every model forbids unknown keys, so an object mixing two kinds is rejected. Errors are pydantic
``ValidationError``s whose ``loc`` names the kind and the field, e.g. ``("CronSchedule", "cron")``:
the API turns them into Prefect's 422 body. ``Schedule`` works as a field type in other models
and picks its member by the key present (``interval``, ``cron`` or ``rrule``), so a bad cron
string yields one error about ``cron``, not three about every kind.

JSON form (``schedule_to_json`` or ``model_dump(mode="json")``): datetimes in UTC ending in ``Z``,
the interval as float seconds, and the defaults filled in (timezone, day_or, DTSTART).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from chalicelib.domain import cron, rrules
from chalicelib.domain.schedules import known_zones, to_instant, zone
from chalicelib.schemas.common import Flag, KeyText, Text, supported_utc

_CONFIG = ConfigDict(extra="forbid", ser_json_timedelta="float")


def _valid_zone(name: str | None) -> str | None:
    if name is not None:
        zone(name)  # raises ValueError naming the bad zone
    return name


class IntervalSchedule(BaseModel):
    """Runs every ``interval`` from ``anchor_date`` (absolute below a day, wall-clock from a day)."""

    model_config = _CONFIG

    interval: timedelta
    anchor_date: datetime = Field(default_factory=lambda: datetime.now(UTC))
    timezone: KeyText | None = None

    @field_validator("interval", mode="before")
    @classmethod
    def _not_a_boolean(cls, value: object) -> object:
        # pydantic reads true as 1 second; Prefect's client would read the stored schedule back as
        # something nobody asked for.
        if isinstance(value, bool):
            raise ValueError("The interval must be a number of seconds or a duration, not a boolean")
        return value

    @field_validator("interval")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("The interval must be positive")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        return _valid_zone(value)

    @model_validator(mode="after")
    def _normalise(self) -> IntervalSchedule:
        anchor_zone = self.anchor_date.tzinfo
        if self.timezone is None:
            # Prefect: an anchor in a named zone lends its zone; an anchor with a bare UTC offset
            # (what a JSON string gives) means UTC.
            named = isinstance(anchor_zone, ZoneInfo) and anchor_zone.key in known_zones()
            self.timezone = anchor_zone.key if named else "UTC"
        if anchor_zone is None:
            self.anchor_date = to_instant(self.anchor_date, zone(self.timezone))
        else:
            self.anchor_date = self.anchor_date.astimezone(UTC)
        supported_utc(self.anchor_date)  # years 1000 to 9000, as every accepted instant
        return self


class CronSchedule(BaseModel):
    """Fires when the local wall clock of ``timezone`` matches ``cron``."""

    model_config = _CONFIG

    cron: KeyText
    timezone: KeyText | None = "UTC"
    day_or: Flag = True

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        return cron.validate_cron(value)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str:
        return _valid_zone(value) or "UTC"


class RRuleSchedule(BaseModel):
    """Fires at the occurrences of an RFC 5545 rule (or rule set), read in ``timezone``'s wall clock."""

    model_config = _CONFIG

    rrule: Text
    timezone: KeyText | None = "UTC"

    @model_validator(mode="before")
    @classmethod
    def _zone_from_dtstart(cls, data: Any) -> Any:
        if isinstance(data, dict) and "at" in data and "rrule" not in data:
            return _one_time(data)
        if isinstance(data, dict) and data.get("timezone") is None and isinstance(data.get("rrule"), str):
            tzid = rrules.dtstart_zone(data["rrule"])
            if tzid in known_zones():
                return {**data, "timezone": tzid}
        return data

    @field_validator("rrule")
    @classmethod
    def _valid_rrule(cls, value: str) -> str:
        return rrules.validate(value)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str:
        return _valid_zone(value) or "UTC"


def _one_time(data: dict[str, Any]) -> dict[str, Any]:
    """Cirrus's one-time schedule ``{"at": <datetime>, "timezone": <zone>}``, stored and answered as
    the rule Prefect's client reads (one occurrence: ``RRULE:FREQ=DAILY;COUNT=1`` from ``DTSTART``).
    A naive ``at`` is a wall time in ``timezone`` (default UTC); one with an offset is that instant."""
    named = data.get("timezone")
    if named is not None and not isinstance(named, str):
        raise PydanticCustomError("string_type", "timezone must be a string")
    zone = _valid_zone(named) or "UTC"
    raw = data["at"]
    try:
        at = datetime.fromisoformat(raw) if isinstance(raw, str) else None
        if at is not None and at.tzinfo is not None:
            at = at.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
    except (ValueError, OverflowError):
        at = None
    if at is None:
        raise PydanticCustomError("datetime_parsing", "at must be an ISO 8601 date and time")
    rest = {k: v for k, v in data.items() if k not in ("at", "timezone")}
    return {**rest, "rrule": f"DTSTART:{at:%Y%m%dT%H%M%S}\nRRULE:FREQ=DAILY;COUNT=1", "timezone": zone}


_KIND_KEYS = (
    ("interval", "IntervalSchedule"),
    ("cron", "CronSchedule"),
    ("rrule", "RRuleSchedule"),
    ("at", "RRuleSchedule"),  # a one-time schedule (_one_time)
)


def _kind(value: Any) -> str | None:
    """The union member for ``value``: the first kind key it carries (extra keys are then rejected)."""
    if isinstance(value, IntervalSchedule | CronSchedule | RRuleSchedule):
        return type(value).__name__
    if isinstance(value, dict):
        return next((tag for key, tag in _KIND_KEYS if key in value), None)
    return None


Schedule = Annotated[
    Annotated[IntervalSchedule, Tag("IntervalSchedule")]
    | Annotated[CronSchedule, Tag("CronSchedule")]
    | Annotated[RRuleSchedule, Tag("RRuleSchedule")],
    Discriminator(
        _kind,
        custom_error_type="invalid_schedule",
        custom_error_message="A schedule must have exactly one of the keys 'interval', 'cron' or 'rrule'",
    ),
]

_SCHEDULE = TypeAdapter(Schedule)


def parse_schedule(data: dict[str, Any]) -> IntervalSchedule | CronSchedule | RRuleSchedule:
    """Validate a schedule's JSON object; raises ``pydantic.ValidationError``."""
    return _SCHEDULE.validate_python(data)


def schedule_to_json(schedule: IntervalSchedule | CronSchedule | RRuleSchedule) -> dict[str, Any]:
    """Prefect's normalised response form of ``schedule`` (JSON-ready)."""
    return schedule.model_dump(mode="json")
