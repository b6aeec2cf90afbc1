"""Prefect's event filters (``POST /events/filter``, ``/events/count-by``, the ``/events/out`` filter
frame), with the in-memory matching Prefect's server applies to live events (``EventFilter.includes``).

Shapes and semantics of Prefect 3.9's ``prefect.server.events.filters``: every group is ANDed; a
list inside a group is ORed; label values may be ``!negated`` or end in a ``*`` wildcard. Unknown
fields are refused (422), as there. ``occurred`` defaults to the last day (Prefect: since the start
of the day 180 days ago; Cirrus keeps ``events_retention_days``, so the wider default reads nothing
more).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.schemas.common import UtcDateTime
from chalicelib.schemas.events import RESOURCE_ID, RESOURCE_ROLE

Labels = Mapping[str, str]
LabelSpec = dict[str, str | list[str]]

#: Prefect's ``INTERACTIVE_PAGE_SIZE``: the default and largest page of ``/events/filter``.
PAGE_SIZE = 50


def _now() -> datetime:
    return datetime.now(UTC)


def label_matches(expected: str, value: str | None) -> bool:
    """Prefect's ``matches``: ``!`` negates, a trailing ``*`` is a prefix match."""
    if value is None:
        return False
    positive = not expected.startswith("!")
    expected = expected if positive else expected[1:]
    hit = value.startswith(expected[:-1]) if expected.endswith("*") else value == expected
    return hit if positive else not hit


def labels_match(spec: LabelSpec, resource: Labels) -> bool:
    """Every label of ``spec`` has one of its values (or patterns) on ``resource``."""
    for label, expected in spec.items():
        values = [expected] if isinstance(expected, str) else expected
        if not any(label_matches(candidate, resource.get(label)) for candidate in values):
            return False
    return True


class _Filter(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OccurredFilter(_Filter):
    since: UtcDateTime = Field(default_factory=lambda: _now() - timedelta(days=1))
    until: UtcDateTime = Field(default_factory=_now)

    def includes(self, occurred: datetime) -> bool:
        return self.since <= occurred <= self.until


class NameFilter(_Filter):
    prefix: list[str] | None = None
    exclude_prefix: list[str] | None = None
    name: list[str] | None = None
    exclude_name: list[str] | None = None

    def includes(self, event: str) -> bool:
        if self.prefix and not any(event.startswith(p) for p in self.prefix):
            return False
        if self.exclude_prefix and any(event.startswith(p) for p in self.exclude_prefix):
            return False
        if self.name and event not in self.name:
            return False
        return not (self.exclude_name and event in self.exclude_name)


class ResourceFilter(_Filter):
    id: list[str] | None = None
    id_prefix: list[str] | None = None
    labels: LabelSpec | None = None
    distinct: bool = False

    def matches(self, resource: Labels) -> bool:
        rid = resource.get(RESOURCE_ID, "")
        if self.id and rid not in self.id:
            return False
        if self.id_prefix and not any(rid.startswith(p) for p in self.id_prefix):
            return False
        return not (self.labels and not labels_match(self.labels, resource))


class AnyResourceFilter(ResourceFilter):
    distinct: bool = Field(default=False, exclude=True)


class RelatedFilter(_Filter):
    id: list[str] | None = None
    role: list[str] | None = None
    resources_in_roles: list[tuple[str, str]] | None = None
    labels: LabelSpec | None = None

    def matches(self, related: Labels) -> bool:
        """All criteria hold for this one related resource (Prefect joins them on one row)."""
        rid, role = related.get(RESOURCE_ID, ""), related.get(RESOURCE_ROLE, "")
        if self.id and rid not in self.id:
            return False
        if self.role and role not in self.role:
            return False
        if self.resources_in_roles and (rid, role) not in {tuple(p) for p in self.resources_in_roles}:
            return False
        return not (self.labels and not labels_match(self.labels, related))


class IdFilter(_Filter):
    id: list[uuid.UUID] | None = None


class TextFilter(_Filter):
    query: str = Field(max_length=200)

    def includes(self, text: str) -> bool:
        """Prefect's syntax, simplified: terms (or ``"quoted phrases"``) must all appear, ``-term``
        must not; case-insensitive, over the event's name, resource labels and payload."""
        haystack = text.lower()
        for term in _terms(self.query):
            negative = term.startswith("-")
            word = term.lstrip("+-").lower()
            if word and (word in haystack) == negative:
                return False
        return True


def _terms(query: str) -> list[str]:
    parts = query.split('"')
    terms: list[str] = []
    for index, part in enumerate(parts):
        terms += [part] if index % 2 else part.split()
    return [t for t in terms if t.strip()]


class EventOrder(StrEnum):
    ASC = "ASC"
    DESC = "DESC"


class EventFilter(_Filter):
    occurred: OccurredFilter = Field(default_factory=OccurredFilter)
    event: NameFilter | None = None
    resource: ResourceFilter | None = None
    related: RelatedFilter | list[RelatedFilter] | None = None
    any_resource: AnyResourceFilter | list[AnyResourceFilter] | None = None
    id: IdFilter = Field(default_factory=IdFilter)
    text: TextFilter | None = None
    order: EventOrder = EventOrder.DESC

    def related_filters(self) -> list[RelatedFilter]:
        return _as_list(self.related)

    def any_resource_filters(self) -> list[AnyResourceFilter]:
        return _as_list(self.any_resource)

    def includes(self, event: Mapping[str, Any]) -> bool:
        """Does this stored or live event (Prefect's JSON shape) match every criterion?"""
        occurred = event["occurred"]
        if isinstance(occurred, str):
            occurred = datetime.fromisoformat(occurred.replace("Z", "+00:00"))
        if not self.occurred.includes(occurred):
            return False
        if self.event is not None and not self.event.includes(event["event"]):
            return False
        resource: Labels = event["resource"]
        related: list[Labels] = event.get("related") or []
        if self.resource is not None and not self.resource.matches(resource):
            return False
        for wanted in self.related_filters():
            if not any(wanted.matches(r) for r in related):
                return False
        for wanted_any in self.any_resource_filters():
            if not any(wanted_any.matches(r) for r in (resource, *related)):
                return False
        if self.id.id and uuid.UUID(str(event["id"])) not in self.id.id:
            return False
        return not (self.text is not None and not self.text.includes(_searchable(event)))


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _searchable(event: Mapping[str, Any]) -> str:
    labels: Iterable[Labels] = [event["resource"], *(event.get("related") or [])]
    parts = [event["event"], *(v for r in labels for v in r.values()), str(event.get("payload") or "")]
    return " ".join(parts)


class Countable(StrEnum):
    day = "day"
    time = "time"
    event = "event"
    resource = "resource"


class TimeUnit(StrEnum):
    week = "week"
    day = "day"
    hour = "hour"
    minute = "minute"
    second = "second"

    def span(self, interval: float) -> timedelta:
        seconds = {"week": 7 * 86400, "day": 86400, "hour": 3600, "minute": 60, "second": 1}[self.value]
        return timedelta(seconds=seconds * interval)


class FilterRequest(_Filter):
    """The body of ``POST /events/filter``."""

    filter: EventFilter | None = None
    limit: int = Field(default=PAGE_SIZE, ge=0, le=PAGE_SIZE)


class CountRequest(_Filter):
    """The body of ``POST /events/count-by/{countable}``."""

    filter: EventFilter
    time_unit: TimeUnit = TimeUnit.day
    time_interval: float = Field(default=1.0, ge=0.01)
