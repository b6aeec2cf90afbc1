"""Global concurrency limits, v2 (Prefect's ``ConcurrencyLimitV2*`` and the lease bodies)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

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
#: Decay rates accepted (slots per second): 0 (no decay) or within these bounds, so ``n / r`` and
#: the stored ``drained_at`` stay well within DynamoDB's number range and precision.
MIN_DECAY = 1e-6
MAX_DECAY = 1e6


def _decay_in_range(rate: float) -> float:
    if 0 < rate < MIN_DECAY:
        raise ValueError(f"slot_decay_per_second must be 0 or at least {MIN_DECAY:g}")
    return rate


#: Slots given back per second (0: no decay, the limit counts held slots).
DecayRate = Annotated[Number, Field(ge=0, le=MAX_DECAY), AfterValidator(_decay_in_range)]


class ConcurrencyLimitCreate(ActionModel):
    active: Flag = True
    name: Name
    limit: NonNegativeInt
    active_slots: NonNegativeInt = 0
    denied_slots: NonNegativeInt = 0
    slot_decay_per_second: DecayRate = 0.0


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
    slot_decay_per_second: DecayRate | None = None


class ConcurrencyLimit(ResponseModel):
    active: bool = True
    name: str
    limit: int
    active_slots: int = 0
    denied_slots: int = 0
    slot_decay_per_second: float = 0.0
    avg_slot_occupancy_seconds: float = 2.0
    #: With decay: the instant (epoch seconds) all held slots will have decayed (storage only).
    drained_at: float | None = Field(default=None, exclude=True)
    #: Lease id → the id of who holds its slots (a task run), for v1's ``active_slots`` (storage
    #: only; ``None``: an item written before holders were kept).
    holders: dict[str, str] | None = Field(default=None, exclude=True)


class ConcurrencyLimitFilterBody(PagedBody):
    pass


class Increment(ActionModel):
    """``POST /v2/concurrency_limits/increment``: slots taken without a lease (``rate_limit()``)."""

    slots: PositiveInt
    names: list[Name] = Field(min_length=1, max_length=100)
    mode: Literal["concurrency", "rate_limit"] = "concurrency"
    create_if_missing: Flag | None = None


class Decrement(ActionModel):
    """``POST /v2/concurrency_limits/decrement``: slots given back without a lease."""

    slots: PositiveInt
    names: list[Name] = Field(min_length=1, max_length=100)
    occupancy_seconds: Annotated[Number, Field(gt=0)] | None = None
    create_if_missing: Flag | None = None


class TagSlots(ActionModel):
    """v1's ``POST /concurrency_limits/increment``: one slot of each tag's limit for a task run."""

    names: list[Name] = Field(max_length=100)
    task_run_id: uuid.UUID


class TagSlotsRelease(TagSlots):
    """v1's ``POST /concurrency_limits/decrement``."""

    occupancy_seconds: Annotated[Number, Field(ge=0)] | None = None


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
