"""Shared pydantic building blocks for Prefect's wire format, and the field types of every limit.

Datetimes are timezone-aware UTC and serialise as ISO 8601 with ``Z``; request bodies forbid
unknown fields (Prefect answers 422 for them); responses carry ``id``, ``created``, ``updated``.

The limits themselves are numbers in :mod:`chalicelib.schemas.limits` (re-exported here; README,
"Request limits"), derived from DynamoDB's and from Prefect's schemas (its name pattern, label
value types, limits). Request models use the annotated types of this module for every name, key, text, document,
boolean and integer, so a violation is a 422 naming the field before any storage call; the edge
(``chalicelib.api.request_policy``) enforces what applies to a whole body.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, Strict

from chalicelib.schemas.limits import (  # noqa: F401 (re-exported: the limits live in one place)
    MAX_BODY_BYTES,
    MAX_DOCUMENT_BYTES,
    MAX_IDS_PER_REQUEST,
    MAX_INT,
    MAX_JSON_DEPTH,
    MAX_KEY_BYTES,
    MAX_STATE_MESSAGE_CHARS,
    MAX_TEXT_BYTES,
    MIN_INT,
    NAME_PATTERN,
)

#: Instants Cirrus accepts: far enough from datetime's limits that adding a schedule horizon (100
#: days, or a backfill window) can never overflow.
EARLIEST = datetime(1000, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def as_utc(value: datetime) -> datetime:
    """Naive datetimes are read as UTC (Prefect's rule); aware ones are converted to UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def supported_utc(value: datetime) -> datetime:
    """:func:`as_utc`, rejecting instants outside [year 1000, year 9000) (a 422 naming the field),
    including those whose offset takes them past datetime's own range (``0001-01-01T00:00:00+05:00``)."""
    try:
        value = as_utc(value)
    except OverflowError as exc:  # not a ValueError: pydantic would let it through as a 500
        raise ValueError("datetime must be between 1000-01-01 and 9000-01-01") from exc
    if not EARLIEST <= value < LATEST:
        raise ValueError("datetime must be between 1000-01-01 and 9000-01-01")
    return value


def iso_z(value: datetime) -> str:
    """``2024-03-10T07:00:00.123456Z``: ISO 8601 in UTC with a ``Z``."""
    text = as_utc(value).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


UtcDateTime = Annotated[datetime, AfterValidator(supported_utc), PlainSerializer(iso_z, when_used="json")]


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


# ------------------------------------------------------------------------ bounded field types
def utf8_size(text: str) -> int:
    """The UTF-8 size of ``text``; a lone surrogate (which cannot be stored) is a ValueError."""
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise ValueError("text must be valid Unicode (no lone surrogates)") from exc


def _max_bytes(limit: int) -> Any:
    def check(text: str) -> str:
        if utf8_size(text) > limit:
            raise ValueError(f"at most {limit} bytes of UTF-8")
        return text

    return AfterValidator(check)


def document_size(value: Any) -> int:
    """The size of ``value`` as compact JSON (what storage writes)."""
    try:
        return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8"))
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        raise ValueError("must be JSON with finite numbers and valid Unicode") from exc


def _document(value: Any) -> Any:
    if document_size(value) > MAX_DOCUMENT_BYTES:
        raise ValueError(f"at most {MAX_DOCUMENT_BYTES} bytes as JSON")
    return value


#: A value that becomes (part of) a key: non-empty, at most MAX_KEY_BYTES of UTF-8.
KeyText = Annotated[str, Strict(), Field(min_length=1), _max_bytes(MAX_KEY_BYTES)]
#: Prefect's ``Name``: a key text without ``/ % & > <`` (flows, deployments, work queues, pools).
Name = Annotated[str, Strict(), Field(pattern=NAME_PATTERN), _max_bytes(MAX_KEY_BYTES)]
#: Free text: at most MAX_TEXT_BYTES of UTF-8.
Text = Annotated[str, Strict(), _max_bytes(MAX_TEXT_BYTES)]
#: A tag: text short enough to be matched and stored in a set.
Tag = Annotated[str, Strict(), _max_bytes(MAX_KEY_BYTES)]
Tags = Annotated[list[Tag], AfterValidator(_document)]
#: A JSON object field (parameters, job variables, context, …), at most MAX_DOCUMENT_BYTES.
Document = Annotated[dict[str, Any], AfterValidator(_document)]
#: A JSON list of objects (pull steps), at most MAX_DOCUMENT_BYTES.
DocumentList = Annotated[list[dict[str, Any]], AfterValidator(_document)]
#: Any JSON value (state data), at most MAX_DOCUMENT_BYTES.
AnyDocument = Annotated[Any, AfterValidator(_document)]


def _none_is_empty(value: Any) -> Any:
    return {} if value is None else value


LabelValue = Annotated[bool, Strict()] | Annotated[int, Strict()] | Annotated[float, Strict()] | Text
#: Prefect's ``KeyValueLabels``: values are booleans, integers, floats or strings; ``null`` is ``{}``.
Labels = Annotated[dict[Tag, LabelValue], BeforeValidator(_none_is_empty), AfterValidator(_document)]

#: Strict scalars: ``"yes"`` is not a boolean, ``true`` and ``"1"`` are not integers.
Flag = Annotated[bool, Strict()]
Int = Annotated[int, Strict(), Field(ge=MIN_INT, le=MAX_INT)]
NonNegativeInt = Annotated[int, Strict(), Field(ge=0, le=MAX_INT)]
PositiveInt = Annotated[int, Strict(), Field(gt=0, le=MAX_INT)]
Number = Annotated[float, Strict(), Field(allow_inf_nan=False)]
