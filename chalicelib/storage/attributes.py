"""Attribute types shared by the models."""

from __future__ import annotations

from datetime import UTC, datetime

from pynamodb.attributes import UnicodeAttribute

from chalicelib.domain.identity import utc_key


class TimestampAttribute(UnicodeAttribute):
    """A UTC instant stored as fixed-width ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` text.

    Text order is time order, so these work as range keys and in ``between`` conditions.
    """

    def serialize(self, value: datetime) -> str:  # type: ignore[override]
        return utc_key(value)

    def deserialize(self, value: str) -> datetime:  # type: ignore[override]
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
