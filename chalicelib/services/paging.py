"""Sorting and Prefect's paginate shape, shared by every ``/filter`` and ``/paginate`` route."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from chalicelib.errors import InvalidRequestError

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    results: list[T]
    count: int
    limit: int
    pages: int
    page: int


def apply_sort(
    items: Sequence[T],
    sorts: dict[str, tuple[Callable[[T], object], bool]],
    sort: str | None,
    default: str,
) -> list[T]:
    """Sort by one of ``sorts`` (name → (key, descending)); an unknown name is a 422 on ``sort``.

    ``None`` values sort last in either direction.
    """
    name = sort or default
    if name not in sorts:
        raise InvalidRequestError(("body", "sort"), f"Input should be one of {', '.join(sorts)}", "enum")
    key, descending = sorts[name]
    present = [i for i in items if key(i) is not None]
    missing = [i for i in items if key(i) is None]
    return sorted(present, key=key, reverse=descending) + missing  # type: ignore[arg-type]


def paginate(items: list[T], page: int, limit: int) -> Page[T]:
    count = len(items)
    start = (page - 1) * limit
    pages = math.ceil(count / limit) if limit else 0
    return Page(results=items[start : start + limit], count=count, limit=limit, pages=pages, page=page)
