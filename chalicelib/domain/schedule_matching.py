"""Which stored schedule an incoming schedule *is*: the rule that keeps schedule ids stable.

A run's identity is (deployment, schedule id, UTC instant), so a redeploy that handed a schedule a
new id would create a second run for every instant already planned (Prefect's defect). When a
deployment's schedules are replaced (upsert or PATCH with ``schedules``), each incoming schedule
keeps the id of

1. the stored schedule whose slug it ``replaces`` (Prefect's rename directive), if one matches; else
2. the stored schedule with the same slug, if it has a slug and one matches; else
3. the first unmatched stored schedule whose *plan* is identical: same spec (normalised JSON),
   parameters, ``active`` and ``max_scheduled_runs`` (everything that decides which runs exist).

Incoming schedules matching nothing are new; stored schedules matched by nothing are removed.
Pure functions over plain values: the services build the keys from their schemas.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


def plan_fingerprint(
    spec: dict[str, Any],
    parameters: dict[str, Any],
    active: bool,
    max_runs: int | None,
    policy: dict[str, Any] | None = None,
) -> str:
    """A canonical text of everything that decides a schedule's runs (equal text = equal runs);
    ``policy`` is Cirrus's schedule policies (``SchedulePolicy.to_json``)."""
    return json.dumps(
        {"spec": spec, "parameters": parameters, "active": active, "max_scheduled_runs": max_runs, "policy": policy},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )


@dataclass(frozen=True)
class ScheduleKey:
    """What matching looks at: the slug, the plan fingerprint, and the slug an incoming schedule
    ``replaces`` (a rename; stored schedules have none)."""

    slug: str | None
    plan: str
    replaces: str | None = None


class Change(StrEnum):
    """How a matched schedule differs from the stored one."""

    NEW = "new"  # no stored schedule: created
    REPLAN = "replan"  # its plan changed: its future runs are retired and it is planned afresh
    RELABEL = "relabel"  # only the slug changed: runs stay
    UNCHANGED = "unchanged"
    REMOVED = "removed"  # matched by nothing: deleted, its future runs retired


@dataclass(frozen=True)
class Matching:
    """``assigned[i]`` is the stored id incoming schedule ``i`` keeps (``None``: a new schedule)."""

    assigned: list[uuid.UUID | None]
    removed: list[uuid.UUID]


def match_schedules(stored: Sequence[tuple[uuid.UUID, ScheduleKey]], incoming: Sequence[ScheduleKey]) -> Matching:
    """Match ``incoming`` schedules to ``stored`` ones (replaced slug, then slug, then identical plan).

    Each stored schedule is matched at most once; ties go to the earliest stored schedule, so the
    result is deterministic for a given stored order.
    """
    assigned: list[uuid.UUID | None] = [None] * len(incoming)
    free = dict(stored)  # id -> key, insertion-ordered
    by_slug = {key.slug: id_ for id_, key in stored if key.slug is not None}
    for pick in (lambda k: k.replaces, lambda k: k.slug):
        for index, key in enumerate(incoming):
            slug = pick(key)
            if assigned[index] is None and slug is not None and by_slug.get(slug) in free:
                assigned[index] = by_slug[slug]
                del free[by_slug[slug]]
    for index, key in enumerate(incoming):
        if assigned[index] is not None:
            continue
        twin = next((id_ for id_, old in free.items() if old.plan == key.plan), None)
        if twin is not None:
            assigned[index] = twin
            del free[twin]
    return Matching(assigned=assigned, removed=list(free))


def classify(old: ScheduleKey | None, new: ScheduleKey) -> Change:
    """The kind of write that turns ``old`` (``None``: nothing stored) into ``new``."""
    if old is None:
        return Change.NEW
    if old.plan != new.plan:
        return Change.REPLAN
    if old.slug != new.slug:
        return Change.RELABEL
    return Change.UNCHANGED


def duplicate_slugs(slugs: Sequence[str | None]) -> list[str]:
    """Slugs used more than once (a deployment's slugs are unique), in first-seen order."""
    counts = Counter(s for s in slugs if s is not None)
    return [slug for slug, n in counts.items() if n > 1]
