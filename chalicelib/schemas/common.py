"""Shared pydantic building blocks for Prefect's wire format.

Datetimes are timezone-aware UTC and serialise as ISO 8601 with ``Z``; request bodies forbid
unknown fields (Prefect answers 422 for them); responses carry ``id``, ``created``, ``updated``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer

#: Instants Cirrus accepts: far enough from datetime's limits that adding a schedule horizon (100
#: days, or a backfill window) can never overflow.
EARLIEST = datetime(1000, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def as_utc(value: datetime) -> datetime:
    """Naive datetimes are read as UTC (Prefect's rule); aware ones are converted to UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def supported_utc(value: datetime) -> datetime:
    """:func:`as_utc`, rejecting instants outside [year 1000, year 9000) (a 422 naming the field)."""
    value = as_utc(value)
    if not EARLIEST <= value < LATEST:
        raise ValueError("datetime must be between 1000-01-01 and 9000-01-01")
    return value


def iso_z(value: datetime) -> str:
    """``2024-03-10T07:00:00.123456Z``: ISO 8601 in UTC with a ``Z``."""
    text = as_utc(value).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


UtcDateTime = Annotated[datetime, AfterValidator(supported_utc), PlainSerializer(iso_z, when_used="json")]


def utcnow() -> datetime:
    return datetime.now(UTC)


class ActionModel(BaseModel):
    """A request body: unknown fields are an error, as in Prefect."""

    model_config = ConfigDict(extra="forbid")


class ResponseModel(BaseModel):
    """A stored object as the API shows it."""

    model_config = ConfigDict(extra="ignore")

    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    created: UtcDateTime = Field(default_factory=utcnow)
    updated: UtcDateTime = Field(default_factory=utcnow)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


Tags = list[str]
