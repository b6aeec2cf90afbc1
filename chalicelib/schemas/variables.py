"""Variables (Prefect's ``VariableCreate``/``VariableUpdate``/``Variable``, their filter and sort)."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, StrictBool, StrictFloat, StrictInt, StrictStr

from chalicelib.schemas.common import ActionModel, Flag, NonNegativeInt, ResponseModel, Tags
from chalicelib.schemas.filters import IdFilter, NameFilter, PagedBody, _crit, _Criterion, _Group, _is_null

MAX_NAME_LENGTH = 255
MAX_VALUE_LENGTH = 5000
_NAME = re.compile(r"^[a-z0-9_-]*$")


def _check_name(value: str) -> str:
    if not _NAME.match(value):
        raise ValueError("Variable name must only contain lowercase letters, numbers, and dashes or underscores.")
    return value


def _check_value(value: object) -> object:
    try:
        text = json.dumps(value, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError("Variable value must be serializable to JSON") from exc
    if value is not None and len(text) > MAX_VALUE_LENGTH:
        raise ValueError(f"Variable value must be less than {MAX_VALUE_LENGTH} characters")
    return value


VariableName = Annotated[str, Field(max_length=MAX_NAME_LENGTH), AfterValidator(_check_name)]
VariableValue = Annotated[
    StrictStr | StrictInt | StrictBool | StrictFloat | None | dict[str, Any] | list[Any],
    BeforeValidator(_check_value),
]


class VariableCreate(ActionModel):
    name: VariableName
    value: VariableValue
    tags: Tags = Field(default_factory=list)


class VariableUpdate(ActionModel):
    name: VariableName | None = None
    value: VariableValue = None
    tags: Tags | None = None


class Variable(ResponseModel):
    name: str
    value: VariableValue = None
    tags: list[str] = Field(default_factory=list)


class _VariableTags(_Criterion):
    all_: list[str] | None = None
    is_null_: Flag | None = None
    checks = _crit("tags", all_=lambda actual, wanted: set(wanted) <= set(actual or []), is_null_=_is_null)


class VariableFilter(_Group):
    id: IdFilter | None = None
    name: NameFilter | None = None
    tags: _VariableTags | None = None


class VariableFilterBody(PagedBody):
    variables: VariableFilter | None = None


class VariableCountBody(ActionModel):
    variables: VariableFilter | None = None
    # Prefect's UI sends its list's paging with the count; Prefect's server ignores them, as here.
    sort: str | None = None
    offset: NonNegativeInt | None = None
    limit: NonNegativeInt | None = None


SORTS = {
    "NAME_ASC": (lambda v: v.name, False),
    "NAME_DESC": (lambda v: v.name, True),
    "CREATED_DESC": (lambda v: v.created, True),
    "UPDATED_DESC": (lambda v: v.updated, True),
}
