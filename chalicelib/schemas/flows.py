"""Flow bodies and responses (PREFECT_CONTRACT.md, "Flows")."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from chalicelib.schemas.common import ActionModel, Labels, Name, ResponseModel, Tags


class FlowCreate(ActionModel):
    name: Name
    tags: Tags = Field(default_factory=list)
    labels: Labels = Field(default_factory=dict)


class FlowUpdate(ActionModel):
    tags: Tags | None = None
    labels: Labels | None = None


class Flow(ResponseModel):
    name: str
    tags: list[str] = Field(default_factory=list)
    labels: dict[str, Any] | None = Field(default_factory=dict)
