"""Flow bodies and responses (PREFECT_CONTRACT.md, "Flows")."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from chalicelib.schemas.common import ActionModel, ResponseModel


class FlowCreate(ActionModel):
    name: str = Field(min_length=1)
    tags: list[str] = Field(default_factory=list)
    labels: dict[str, Any] | None = Field(default_factory=dict)


class FlowUpdate(ActionModel):
    tags: list[str] | None = None
    labels: dict[str, Any] | None = None


class Flow(ResponseModel):
    name: str
    tags: list[str] = Field(default_factory=list)
    labels: dict[str, Any] | None = Field(default_factory=dict)
