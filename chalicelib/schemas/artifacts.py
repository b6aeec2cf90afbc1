"""Artifacts (Prefect's ``ArtifactCreate``/``ArtifactUpdate``/``Artifact``, filter and sorts)."""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any

from pydantic import AfterValidator

from chalicelib.schemas.common import ActionModel, AnyDocument, Flag, KeyText, ResponseModel, Text
from chalicelib.schemas.filters import IdFilter, PagedBody, Unsupported, _crit, _Criterion, _Group, _like

_KEY = re.compile(r"^[a-z0-9-]*$")


def _check_key(value: str) -> str:
    if not _KEY.match(value):
        raise ValueError("Artifact key must only contain lowercase letters, numbers, and dashes.")
    return value


ArtifactKey = Annotated[KeyText, AfterValidator(_check_key)]

#: Prefect's bound on a metadata value: longer ones are cut to 500 characters and "...".
METADATA_VALUE_CHARS = 500


def _cut_values(metadata: dict[str, str] | None) -> dict[str, str] | None:
    if metadata is None:
        return None
    return {k: v if len(v) <= METADATA_VALUE_CHARS else v[:METADATA_VALUE_CHARS] + "..." for k, v in metadata.items()}


#: ``metadata_`` as Prefect's models type it: string values only (Prefect's client refuses others).
Metadata = Annotated[dict[str, Text], AfterValidator(_cut_values)]


class ArtifactCreate(ActionModel):
    key: ArtifactKey | None = None
    type: Text | None = None
    description: Text | None = None
    data: AnyDocument = None
    metadata_: Metadata | None = None
    flow_run_id: uuid.UUID | None = None
    task_run_id: uuid.UUID | None = None


class ArtifactUpdate(ActionModel):
    data: AnyDocument = None
    description: Text | None = None
    metadata_: Metadata | None = None


class Artifact(ResponseModel):
    key: str | None = None
    type: str | None = None
    description: str | None = None
    data: Any = None
    metadata_: dict[str, Any] | None = None
    flow_run_id: uuid.UUID | None = None
    task_run_id: uuid.UUID | None = None


class ArtifactCollection(Artifact):
    """The newest artifact of a key, as Prefect's ``/artifacts/latest/filter`` answers it, with
    ``latest_id`` (what ``read_latest_artifacts()`` requires). Cirrus keeps no collection item: its
    ``id`` is the newest artifact's too (the UI's artifact pages open it by that id)."""

    latest_id: uuid.UUID


class _Key(_Criterion):
    any_: list[str] | None = None
    like_: str | None = None
    exists_: Flag | None = None
    checks = _crit(
        "key",
        any_=lambda actual, wanted: actual in set(wanted),
        like_=_like,
        exists_=lambda actual, wanted: (actual is not None) == wanted,
    )


class _AnyId(_Criterion):
    any_: list[uuid.UUID] | None = None


class _FlowRunId(_AnyId):
    checks = _crit("flow_run_id", any_=lambda actual, wanted: actual in set(wanted))


class _TaskRunId(_AnyId):
    checks = _crit("task_run_id", any_=lambda actual, wanted: actual in set(wanted))


class _Type(_Criterion):
    any_: list[str] | None = None
    not_any_: list[str] | None = None
    checks = _crit(
        "type",
        any_=lambda actual, wanted: actual in set(wanted),
        not_any_=lambda actual, wanted: actual not in set(wanted),
    )


class ArtifactFilter(_Group):
    id: IdFilter | None = None
    key: _Key | None = None
    flow_run_id: _FlowRunId | None = None
    task_run_id: _TaskRunId | None = None
    type: _Type | None = None


class ArtifactFilterBody(PagedBody):
    artifacts: ArtifactFilter | None = None
    flow_runs: Unsupported = None
    task_runs: Unsupported = None
    flows: Unsupported = None
    deployments: Unsupported = None


class ArtifactCountBody(ActionModel):
    artifacts: ArtifactFilter | None = None
    flow_runs: Unsupported = None
    task_runs: Unsupported = None
    flows: Unsupported = None
    deployments: Unsupported = None


SORTS = {
    "CREATED_DESC": (lambda a: a.created, True),
    "UPDATED_DESC": (lambda a: a.updated, True),
    "ID_DESC": (lambda a: a.id, True),
    "KEY_DESC": (lambda a: a.key, True),
    "KEY_ASC": (lambda a: a.key, False),
}
