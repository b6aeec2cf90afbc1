"""Shared pydantic building blocks for Prefect's wire format.

Datetimes are timezone-aware UTC and serialise as ISO 8601 with ``Z``; request bodies forbid
unknown fields (Prefect answers 422 for them); responses carry ``id``, ``created``, ``updated``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer


def as_utc(value: datetime) -> datetime:
    """Naive datetimes are read as UTC (Prefect's rule); aware ones are converted to UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def iso_z(value: datetime) -> str:
    """``2024-03-10T07:00:00.123456Z``: ISO 8601 in UTC with a ``Z``."""
    text = as_utc(value).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


UtcDateTime = Annotated[datetime, AfterValidator(as_utc), PlainSerializer(iso_z, when_used="json")]


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
