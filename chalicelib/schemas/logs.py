"""Logs (Prefect's ``LogCreate``/``Log``, ``LogFilter`` and ``LogSort``)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from pydantic import Field, RootModel, Strict, field_validator

from chalicelib.schemas.common import ActionModel, Flag, Int, ResponseModel, Text, UtcDateTime
from chalicelib.schemas.filters import PagedBody, _Criterion, _Group

#: A message longer than this (UTF-8 bytes) is stored truncated: a DynamoDB item holds 400 KB.
MAX_MESSAGE_BYTES = 256 * 1024
TRUNCATED = "\n… [truncated by Cirrus: the message exceeded 256 KB]"
#: The most records one ``POST /logs/`` may carry (Prefect's client sends far fewer).
MAX_BATCH_RECORDS = 10_000


class LogCreate(ActionModel):
    name: Text
    level: Int
    message: Annotated[str, Strict()]
    timestamp: UtcDateTime
    flow_run_id: uuid.UUID | None = None
    task_run_id: uuid.UUID | None = None

    @field_validator("message")
    @classmethod
    def _fits_an_item(cls, value: str) -> str:
        encoded = value.encode("utf-8")
        if len(encoded) <= MAX_MESSAGE_BYTES:
            return value
        keep = MAX_MESSAGE_BYTES - len(TRUNCATED.encode("utf-8"))
        return encoded[:keep].decode("utf-8", "ignore") + TRUNCATED


class Log(ResponseModel):
    name: str
    level: int
    message: str
    timestamp: UtcDateTime
    flow_run_id: uuid.UUID | None = None
    task_run_id: uuid.UUID | None = None


class _Name(_Criterion):
    any_: list[str] | None = None

    def checks(self, obj: Any) -> list[bool]:
        return [obj.name in set(self.any_)] if self.any_ is not None else []


class _Level(_Criterion):
    ge_: Int | None = None
    le_: Int | None = None

    def checks(self, obj: Any) -> list[bool]:
        out = []
        if self.ge_ is not None:
            out.append(obj.level >= self.ge_)
        if self.le_ is not None:
            out.append(obj.level <= self.le_)
        return out


class Timestamp(_Criterion):
    before_: UtcDateTime | None = None
    after_: UtcDateTime | None = None

    def checks(self, obj: Any) -> list[bool]:
        out = []
        if self.before_ is not None:
            out.append(obj.timestamp <= self.before_)
        if self.after_ is not None:
            out.append(obj.timestamp >= self.after_)
        return out


class _FlowRunId(_Criterion):
    any_: list[uuid.UUID] | None = None

    def checks(self, obj: Any) -> list[bool]:
        return [obj.flow_run_id in set(self.any_)] if self.any_ is not None else []


class _TaskRunId(_Criterion):
    any_: list[uuid.UUID] | None = None
    is_null_: Flag | None = None

    def checks(self, obj: Any) -> list[bool]:
        out = []
        if self.any_ is not None:
            out.append(obj.task_run_id in set(self.any_))
        if self.is_null_ is not None:
            out.append((obj.task_run_id is None) == self.is_null_)
        return out


class _Text(_Criterion):
    """Prefect's log text search, simplified: every term must appear in the message or logger
    name (case-insensitive), a ``-term`` must not; ``"quoted phrases"`` are one term."""

    query: str = Field(max_length=200)

    def terms(self) -> tuple[list[str], list[str]]:
        import shlex

        try:
            words = shlex.split(self.query)
        except ValueError:
            words = self.query.split()
        include = [w.lstrip("+").lower() for w in words if not w.startswith("-") and w.lstrip("+")]
        exclude = [w[1:].lower() for w in words if w.startswith("-") and len(w) > 1]
        return include, exclude

    def checks(self, obj: Any) -> list[bool]:
        text = f"{obj.message}\n{obj.name}".lower()
        include, exclude = self.terms()
        return [all(t in text for t in include) and not any(t in text for t in exclude)]


class LogFilter(_Group):
    name: _Name | None = None
    level: _Level | None = None
    timestamp: Timestamp | None = None
    flow_run_id: _FlowRunId | None = None
    task_run_id: _TaskRunId | None = None
    text: _Text | None = None


class LogFilterBody(PagedBody):
    logs: LogFilter | None = None


SORTS = ("TIMESTAMP_ASC", "TIMESTAMP_DESC")


class LogBatch(RootModel[list[LogCreate]]):
    """The body of ``POST /logs/``: validated whole before anything is stored."""

    root: list[LogCreate] = Field(max_length=MAX_BATCH_RECORDS)
