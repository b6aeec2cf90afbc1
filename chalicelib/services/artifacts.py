"""Artifacts: the shared simple-resource use cases, plus the latest version of a key."""

from __future__ import annotations

from chalicelib.schemas import artifacts as schemas
from chalicelib.services import resources
from chalicelib.services.paging import apply_sort
from chalicelib.services.resources import SimpleResource
from chalicelib.storage import Repositories

RESOURCE = SimpleResource(
    repository=lambda repos: repos.artifacts,
    create_schema=schemas.ArtifactCreate,
    update_schema=schemas.ArtifactUpdate,
    filter_schema=schemas.ArtifactFilterBody,
    count_schema=schemas.ArtifactCountBody,
    filter_group="artifacts",
    sorts=schemas.SORTS,
    default_sort="CREATED_DESC",
    nullable_updates=frozenset({"data", "description", "metadata_"}),
)


def latest(repos: Repositories, key: str) -> schemas.Artifact:
    return repos.artifacts.latest(key)


def _latest_matching(repos: Repositories, body: schemas.ArtifactFilterBody | schemas.ArtifactCountBody) -> list:
    """The newest artifact of each key, among those the filter accepts (a Scan: operator path)."""
    newest: dict[str, schemas.Artifact] = {}
    for artifact in resources.matching(RESOURCE, repos, body):
        if artifact.key is not None and (artifact.key not in newest or artifact.created > newest[artifact.key].created):
            newest[artifact.key] = artifact
    return list(newest.values())


def filter_latest(repos: Repositories, body: schemas.ArtifactFilterBody) -> list[schemas.ArtifactCollection]:
    found = apply_sort(_latest_matching(repos, body), RESOURCE.sorts, body.sort, RESOURCE.default_sort)
    return [_collection(a) for a in found[body.offset : body.offset + body.limit]]


def _collection(artifact: schemas.Artifact) -> schemas.ArtifactCollection:
    return schemas.ArtifactCollection.model_validate({**artifact.model_dump(), "latest_id": artifact.id})


def count_latest(repos: Repositories, body: schemas.ArtifactCountBody) -> int:
    return len(_latest_matching(repos, body))
