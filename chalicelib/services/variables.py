"""Variables: the shared simple-resource use cases; names unique, values up to 5,000 characters."""

from __future__ import annotations

from chalicelib.schemas import variables as schemas
from chalicelib.services.resources import SimpleResource

RESOURCE = SimpleResource(
    repository=lambda repos: repos.variables,
    create_schema=schemas.VariableCreate,
    update_schema=schemas.VariableUpdate,
    filter_schema=schemas.VariableFilterBody,
    count_schema=schemas.VariableCountBody,
    filter_group="variables",
    sorts=schemas.SORTS,
    default_sort="NAME_ASC",
    nullable_updates=frozenset({"value"}),
)
