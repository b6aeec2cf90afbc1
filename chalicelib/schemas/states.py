"""States of a flow run (PREFECT_CONTRACT.md, "States and set_state")."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict, model_validator

from chalicelib.schemas.common import (
    MAX_STATE_MESSAGE_CHARS,
    ActionModel,
    AnyDocument,
    Flag,
    KeyText,
    Text,
    UtcDateTime,
    utcnow,
    utf8_size,
)


class StateType(StrEnum):
    SCHEDULED = "SCHEDULED"
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    CRASHED = "CRASHED"
    PAUSED = "PAUSED"
    CANCELLING = "CANCELLING"


TERMINAL_STATES = frozenset({StateType.COMPLETED, StateType.FAILED, StateType.CANCELLED, StateType.CRASHED})


def default_name(state_type: StateType) -> str:
    """Prefect's default state name: the capitalised type (``CANCELLING`` → ``Cancelling``)."""
    return state_type.value.capitalize()


class StateDetails(BaseModel):
    model_config = ConfigDict(extra="allow")

    flow_run_id: uuid.UUID | None = None
    task_run_id: uuid.UUID | None = None
    child_flow_run_id: uuid.UUID | None = None
    scheduled_time: UtcDateTime | None = None
    cache_key: Text | None = None
    cache_expiration: UtcDateTime | None = None
    deferred: Flag | None = False
    untrackable_result: Flag = False
    pause_timeout: UtcDateTime | None = None
    pause_reschedule: Flag = False
    pause_key: Text | None = None
    run_input_keyset: dict[KeyText, Text] | None = None
    refresh_cache: Flag | None = None
    retriable: Flag | None = None
    transition_id: uuid.UUID | None = None
    task_parameters_id: uuid.UUID | None = None
    traceparent: Text | None = None
    deployment_concurrency_lease_id: uuid.UUID | None = None


class State(BaseModel):
    """A state as stored and shown."""

    model_config = ConfigDict(extra="ignore")

    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    type: StateType
    name: str | None = None
    timestamp: UtcDateTime = Field(default_factory=utcnow)
    message: str | None = None
    data: Any = None
    state_details: StateDetails = Field(default_factory=StateDetails)

    @model_validator(mode="after")
    def _default_name(self) -> State:
        if self.name is None:
            self.name = default_name(self.type)
        return self

    @property
    def is_terminal(self) -> bool:
        return self.type in TERMINAL_STATES


def _cut(message: str) -> str:
    """A state message is kept to MAX_STATE_MESSAGE_CHARS (it lives in the run's history)."""
    utf8_size(message)  # a lone surrogate is refused, not stored
    if len(message) <= MAX_STATE_MESSAGE_CHARS:
        return message
    return message[: MAX_STATE_MESSAGE_CHARS - 1] + "…"


StateMessage = Annotated[str, Strict(), AfterValidator(_cut)]


class StateCreate(ActionModel):
    """A proposed state (``set_state``, ``state`` of a create body)."""

    type: StateType
    name: Text | None = None
    message: StateMessage | None = None
    data: AnyDocument = None
    state_details: StateDetails = Field(default_factory=StateDetails)
    timestamp: UtcDateTime | None = None
    id: uuid.UUID | None = None

    def to_state(self, now: Any) -> State:
        return State(
            id=self.id or uuid.uuid4(),
            type=self.type,
            name=self.name,
            timestamp=self.timestamp or now,
            message=self.message,
            data=self.data,
            state_details=self.state_details.model_copy(),
        )


class SetStateBody(ActionModel):
    state: StateCreate
    force: Flag = False
