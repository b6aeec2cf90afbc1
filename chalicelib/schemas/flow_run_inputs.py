"""Flow run inputs (Prefect's ``FlowRunInput``) and the bodies of the input and resume routes."""

from __future__ import annotations

import re
import uuid
from typing import Annotated

from pydantic import AfterValidator, Field, Strict

from chalicelib.schemas.common import ActionModel, Document, KeyText, ResponseModel, utf8_size
from chalicelib.schemas.limits import MAX_DOCUMENT_BYTES, MAX_KEY_BYTES

_KEY = re.compile(r"^[a-z0-9-]*$")


def _check_key(value: str) -> str:
    if not _KEY.match(value):
        raise ValueError("value must only contain lowercase letters, numbers, and dashes")
    if utf8_size(value) > MAX_KEY_BYTES:
        raise ValueError(f"value must be at most {MAX_KEY_BYTES} bytes")
    return value


def _check_value(value: str) -> str:
    if utf8_size(value) > MAX_DOCUMENT_BYTES:
        raise ValueError(f"value must be at most {MAX_DOCUMENT_BYTES} bytes")
    return value


#: Prefect's ``raise_on_name_alphanumeric_dashes_only`` (lowercase letters, digits, dashes).
InputKey = Annotated[str, Strict(), Field(min_length=1), AfterValidator(_check_key)]
InputValue = Annotated[str, Strict(), AfterValidator(_check_value)]


class FlowRunInputCreate(ActionModel):
    key: InputKey
    value: InputValue
    sender: KeyText | None = None


class FlowRunInputFilter(ActionModel):
    prefix: Annotated[str, Strict(), AfterValidator(_check_value)]
    limit: Annotated[int, Strict(), Field(ge=0, le=200)] = 1
    exclude_keys: list[KeyText] = Field(default_factory=list)


class ResumeBody(ActionModel):
    run_input: Document | None = None


class FlowRunInput(ResponseModel):
    flow_run_id: uuid.UUID
    key: str
    value: str
    sender: str | None = None
