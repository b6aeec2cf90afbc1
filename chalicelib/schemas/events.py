"""Prefect events as they arrive on ``/events/in`` (PREFECT_CONTRACT.md, "Events").

The fields and limits of Prefect 3.9's server ``Event``: a resource is a mapping of string labels
that names itself with ``prefect.resource.id``; a related resource also has a
``prefect.resource.role``. Unknown top-level fields are ignored, as Prefect's server does.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from chalicelib.schemas.common import UtcDateTime

#: Prefect's server limits (``PREFECT_SERVER_EVENTS_MAXIMUM_*`` defaults).
MAX_EVENT_NAME_LENGTH = 1024
MAX_LABELS_PER_RESOURCE = 500
MAX_RELATED_RESOURCES = 500

RESOURCE_ID = "prefect.resource.id"
RESOURCE_ROLE = "prefect.resource.role"

Labels = dict[str, str]


def _checked_labels(labels: Labels, *required: str) -> Labels:
    if len(labels) > MAX_LABELS_PER_RESOURCE:
        raise ValueError(f"The maximum number of labels per resource is {MAX_LABELS_PER_RESOURCE}")
    for label in required:
        if not labels.get(label):
            raise ValueError(f"Resources must include the {label} label")
    return labels


class Event(BaseModel):
    """One event: what happened (``event``), when (``occurred``), to what (``resource``)."""

    model_config = ConfigDict(extra="ignore")

    id: uuid.UUID
    occurred: UtcDateTime
    event: Annotated[str, StringConstraints(min_length=1, max_length=MAX_EVENT_NAME_LENGTH)]
    resource: Labels
    related: list[Labels] = Field(default_factory=list, max_length=MAX_RELATED_RESOURCES)
    payload: dict[str, Any] = Field(default_factory=dict)
    follows: uuid.UUID | None = None

    @field_validator("resource")
    @classmethod
    def _resource(cls, value: Labels) -> Labels:
        return _checked_labels(value, RESOURCE_ID)

    @field_validator("related")
    @classmethod
    def _related(cls, value: list[Labels]) -> list[Labels]:
        return [_checked_labels(labels, RESOURCE_ID, RESOURCE_ROLE) for labels in value]

    def resource_object_id(self, kind: str) -> uuid.UUID | None:
        """The UUID of ``prefect.<kind>.<uuid>`` when the resource is one, else ``None``."""
        return object_id(self.resource[RESOURCE_ID], kind)


def object_id(resource_id: str, kind: str) -> uuid.UUID | None:
    """The UUID in ``prefect.<kind>.<uuid>``, or ``None`` when ``resource_id`` is not such an id."""
    prefix = f"prefect.{kind}."
    if not resource_id.startswith(prefix):
        return None
    try:
        return uuid.UUID(resource_id[len(prefix) :])
    except ValueError:
        return None
