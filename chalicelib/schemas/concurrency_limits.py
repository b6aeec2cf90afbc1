"""Global concurrency limits, v2 (Prefect's ``ConcurrencyLimitV2*`` and the lease bodies)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from pydantic import Field

from chalicelib.schemas.common import (
    ActionModel,
    Document,
    Flag,
    Name,
    NonNegativeInt,
    Number,
    PositiveInt,
    ResponseModel,
)
from chalicelib.schemas.filters import PagedBody

LeaseSeconds = Annotated[Number, Field(ge=60, le=86400)]


class ConcurrencyLimitCreate(ActionModel):
    active: Flag = True
    name: Name
    limit: NonNegativeInt
    active_slots: NonNegativeInt = 0
    denied_slots: NonNegativeInt = 0
    slot_decay_per_second: Literal[0, 0.0] = Field(default=0, description="rate limits are not supported by Cirrus")


class TagLimitCreate(ActionModel):
    """v1's ``POST /concurrency_limits/``: a tag's limit (kept as the v2 limit ``tag:<tag>``)."""

    tag: Name
    concurrency_limit: NonNegativeInt


class TagLimitReset(ActionModel):
    """v1's ``POST /concurrency_limits/tag/{tag}/reset``: the slots held afterwards (none by default)."""

    slot_override: list[uuid.UUID] | None = None


class ConcurrencyLimitUpdate(ActionModel):
    active: Flag | None = None
    name: Name | None = None
    limit: NonNegativeInt | None = None
    active_slots: NonNegativeInt | None = None
    denied_slots: NonNegativeInt | None = None
    slot_decay_per_second: Literal[0, 0.0] | None = None


class ConcurrencyLimit(ResponseModel):
    active: bool = True
    name: str
    limit: int
    active_slots: int = 0
    denied_slots: int = 0
    slot_decay_per_second: float = 0.0
    avg_slot_occupancy_seconds: float = 2.0


class ConcurrencyLimitFilterBody(PagedBody):
    pass


class IncrementWithLease(ActionModel):
    slots: PositiveInt
    names: list[Name] = Field(min_length=1, max_length=100)
    mode: Literal["concurrency", "rate_limit"] = "concurrency"
    lease_duration: LeaseSeconds = 300
    holder: Document | None = None
    create_if_missing: Flag | None = None


class DecrementWithLease(ActionModel):
    lease_id: uuid.UUID


class RenewLease(ActionModel):
    lease_duration: LeaseSeconds = 300


def minimal(limit: ConcurrencyLimit) -> dict[str, Any]:
    return {"id": str(limit.id), "name": limit.name, "limit": limit.limit}


SORTS = {"NAME_ASC": (lambda limit: limit.name, False)}
