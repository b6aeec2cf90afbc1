"""The use cases every simple resource shares: create, read (by id or unique name), update, delete,
filter, count. A resource's service module states only what is its own, as a :class:`SimpleResource`
(its repository, schemas, filter group, sorts) plus any extra use cases.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from chalicelib.services.paging import apply_sort
from chalicelib.storage import DocumentRepository, Repositories

R = TypeVar("R", bound=BaseModel)


@dataclass(frozen=True)
class SimpleResource(Generic[R]):
    """What makes a resource: how to reach its repository, its request schemas, how a filter body
    names its group (``"variables"``), its sorts and default sort, and which fields an update may
    set to null."""

    repository: Callable[[Repositories], DocumentRepository[R]]
    create_schema: type[BaseModel]
    update_schema: type[BaseModel]
    filter_schema: type[BaseModel]
    count_schema: type[BaseModel]
    filter_group: str
    sorts: dict[str, tuple[Callable[[Any], object], bool]]
    default_sort: str
    nullable_updates: frozenset[str] = field(default_factory=frozenset)


def create(resource: SimpleResource[R], repos: Repositories, body: BaseModel, now: datetime) -> R:
    """Insert a new object (a taken unique value is a ``ConflictError``)."""
    repo = resource.repository(repos)
    fresh = {**body.model_dump(), "id": uuid.uuid4(), "created": now, "updated": now}
    return repo.create(repo.schema.model_validate(fresh))


def read(resource: SimpleResource[R], repos: Repositories, id_: uuid.UUID) -> R:
    return resource.repository(repos).get(id_)


def read_by_name(resource: SimpleResource[R], repos: Repositories, name: str) -> R:
    return resource.repository(repos).get_by_unique(name)


def changes(resource: SimpleResource[R], body: BaseModel) -> dict[str, Any]:
    """The fields the body sets; an explicit null only for fields that may be null."""
    return {
        k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None or k in resource.nullable_updates
    }


def update(resource: SimpleResource[R], repos: Repositories, id_: uuid.UUID | str, body: BaseModel, now: datetime) -> R:
    """Apply the fields ``body`` sets (a conditional write; a new unique value is claimed)."""
    fields = changes(resource, body)
    return resource.repository(repos).update(id_, lambda current: current.model_copy(update=fields), now)


def update_by_name(resource: SimpleResource[R], repos: Repositories, name: str, body: BaseModel, now: datetime) -> R:
    return update(resource, repos, read_by_name(resource, repos, name).id, body, now)  # type: ignore[attr-defined]


def delete(resource: SimpleResource[R], repos: Repositories, id_: uuid.UUID | str) -> R:
    return resource.repository(repos).delete(id_)


def delete_by_name(resource: SimpleResource[R], repos: Repositories, name: str) -> R:
    return delete(resource, repos, read_by_name(resource, repos, name).id)  # type: ignore[attr-defined]


def matching(resource: SimpleResource[R], repos: Repositories, body: BaseModel) -> list[R]:
    """Every object the body's filter group accepts (a scan: simple resources are few)."""
    group = getattr(body, resource.filter_group, None)
    return [obj for obj in resource.repository(repos).scan() if group is None or group.matches(obj)]


def filter_objects(resource: SimpleResource[R], repos: Repositories, body: BaseModel) -> list[R]:
    """Matching objects, sorted (``body.sort`` or the default), ``offset``/``limit`` applied."""
    found = apply_sort(matching(resource, repos, body), resource.sorts, body.sort, resource.default_sort)  # type: ignore[attr-defined]
    return found[body.offset : body.offset + body.limit]  # type: ignore[attr-defined]


def count(resource: SimpleResource[R], repos: Repositories, body: BaseModel) -> int:
    return len(matching(resource, repos, body))
