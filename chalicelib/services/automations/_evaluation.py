"""Evaluating triggers: each new event against the reactive triggers that may cover it
(:func:`evaluate_events`, the ``events`` stream's consumer) and proactive triggers on a tick
(:func:`evaluate_proactive`), as Prefect's ``triggers.py`` does, with the state in DynamoDB.

The automations come from a per-process catalog, reloaded only when the catalog's version changes
(one GetItem per batch of events), indexed by the event names triggers expect: an event no trigger
expects costs nothing more. A covered event reads its bucket (one GetItem), and the change is one
conditional transaction with the firing it causes; a lost race reads again. A firing of a child of
a compound or sequence trigger updates the parent's state in that same transaction, and the
parent's firing is put when it is ready. Each new firing's actions are then performed
(:mod:`._actions`); a firing whose evaluator died is finished by the next tick.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from chalicelib.domain.automation_buckets import Bucket, Fired, occurred, react, tick
from chalicelib.schemas.automations import Automation, CompoundTrigger, EventTrigger, Posture, SequenceTrigger
from chalicelib.schemas.common import iso_z
from chalicelib.storage import Repositories, StateWrite, bucket_doc, bucket_from, bucket_sk

log = logging.getLogger("chalicelib.automations")
#: Attempts of one evaluation against concurrent writers.
ATTEMPTS = 10
_NAMESPACE = uuid.UUID("6f1c1b8e-3b7a-4c55-9a5e-a3c1f2d4e5b6")


def derived_id(*parts: object) -> str:
    """A deterministic id: the same firing computed twice has the same id (written once)."""
    return str(uuid.uuid5(_NAMESPACE, "|".join(str(p) for p in parts)))


# --------------------------------------------------------------------------------- the catalog
@dataclass
class Catalog:
    version: str | None = None
    automations: list[Automation] = field(default_factory=list)
    #: Exact event names → (automation, trigger); triggers with a wildcard or no ``expect`` apart.
    by_name: dict[str, list[tuple[Automation, EventTrigger]]] = field(default_factory=dict)
    by_pattern: list[tuple[Automation, EventTrigger]] = field(default_factory=list)
    parents: dict[str, Any] = field(default_factory=dict)

    def interested(self, name: str) -> list[tuple[Automation, EventTrigger]]:
        found = list(self.by_name.get(name, ()))
        found += [(a, t) for a, t in self.by_pattern if t.expects(name) or t.starts_after(name)]
        return found


_catalog = Catalog()
_catalog_lock = threading.Lock()


def catalog(repos: Repositories) -> Catalog:
    """The enabled automations, reloaded when the stored catalog version moved (one GetItem)."""
    global _catalog
    version = repos.automations.version()
    with _catalog_lock:
        if version != _catalog.version:
            _catalog = _build(version, repos.automations.all())
        return _catalog


def _build(version: str, automations: list[Automation]) -> Catalog:
    built = Catalog(version=version, automations=automations)
    for automation in automations:
        if not automation.enabled:
            continue
        for trigger in automation.triggers():
            for child in getattr(trigger, "triggers", ()):
                built.parents[str(child.id)] = trigger
            if not isinstance(trigger, EventTrigger):
                continue
            names = [*trigger.expect, *trigger.after] if trigger.expect else ["*"]
            if any("*" in name for name in names):
                built.by_pattern.append((automation, trigger))
            else:
                for name in set(names):
                    built.by_name.setdefault(name, []).append((automation, trigger))
    return built


# --------------------------------------------------------------------------------- reactive
@dataclass
class Report:
    events: int = 0
    covered: int = 0
    firings: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    retries: int = 0

    def counts(self) -> dict[str, int]:
        return {"events": self.events, "covered": self.covered, "firings": len(self.firings), "retries": self.retries}


def evaluate_events(repos: Repositories, events: Iterable[dict[str, Any]], now: datetime) -> Report:
    """Every reactive and proactive event trigger that covers each event, in order."""
    report = Report()
    current = catalog(repos)
    for event in events:
        report.events += 1
        for automation, trigger in current.interested(event["event"]):
            if trigger.covers(event):
                report.covered += 1
                _react(repos, current, automation, trigger, event, now, report)
    return report


def _stateless(trigger: EventTrigger) -> bool:
    """Fires on every covered event: no window to keep (the firing's id is the event's)."""
    return trigger.immediate and trigger.threshold == 1 and not trigger.after


def _react(
    repos: Repositories,
    current: Catalog,
    automation: Automation,
    trigger: EventTrigger,
    event: dict[str, Any],
    now: datetime,
    report: Report,
) -> None:
    key = trigger.bucketing_key(event)
    pk, sk = f"b#{trigger.id}", bucket_sk(key)
    for _ in range(ATTEMPTS):
        writes: list[StateWrite] = []
        if _stateless(trigger):
            if not trigger.expects(event["event"]):
                return
            at = occurred(event)
            fired = [Fired(key, at, at, event)]
            ids = [derived_id(trigger.id, event["id"])]
        else:
            value, rev = repos.automations.state(pk, sk)
            stored = bucket_from(value) if value is not None else None
            after, fired, changed = react(trigger, key, stored, event)
            if not changed:
                return
            if after is not None or rev is not None:
                writes.append(
                    StateWrite(pk, sk, rev, bucket_doc(after) if after else None, after.end if after else now)
                )
            ids = [derived_id(trigger.id, key, f.start.isoformat(), f.end.isoformat(), event["id"]) for f in fired]
        if _commit(repos, current, automation, trigger, zip(fired, ids, strict=True), writes, now, report):
            return
        if _stateless(trigger) and not writes:
            return  # the firing exists: this event was evaluated already
    log.warning("automation %s trigger %s: gave up after %d attempts", automation.id, trigger.id, ATTEMPTS)


def _commit(
    repos: Repositories,
    current: Catalog,
    automation: Automation,
    trigger: Any,
    fired: Iterable[tuple[Fired, str]],
    writes: list[StateWrite],
    now: datetime,
    report: Report,
) -> bool:
    """Write the state changes with the firings they cause (a composite parent's state included),
    in one conditional transaction; ``False`` (counted as a retry) when something changed since read."""
    firings: list[tuple[str, dict[str, Any]]] = []
    for one, firing_id in fired:
        more_writes, more = _propagate(repos, current, automation, trigger, one, firing_id, now)
        writes = [*writes, *more_writes]
        firings += more
    if repos.automations.commit(writes, firings, now):
        report.firings += firings
        return True
    report.retries += 1
    return False


def _firing(automation: Automation, trigger: Any, fired: Fired, firing_id: str, now: datetime) -> dict[str, Any]:
    labels = dict(zip(sorted(getattr(trigger, "for_each", [])), fired.key, strict=False))
    return {
        "id": firing_id,
        "automation": automation.model_dump(mode="json"),
        "trigger_id": str(trigger.id),
        "triggered": iso_z(now),
        "triggering_labels": labels,
        "triggering_event": fired.event,
    }


def _propagate(
    repos: Repositories,
    current: Catalog,
    automation: Automation,
    trigger: Any,
    fired: Fired,
    firing_id: str,
    now: datetime,
) -> tuple[list[StateWrite], list[tuple[str, dict[str, Any]]]]:
    """A trigger fired: the automation's firing, or the composite parent's state change."""
    parent = current.parents.get(str(trigger.id))
    if parent is None:
        return [], [(firing_id, _firing(automation, trigger, fired, firing_id, now))]
    assert isinstance(parent, CompoundTrigger | SequenceTrigger)
    if parent.num_expected_firings == 1:
        return _propagate(repos, current, automation, parent, fired, derived_id(parent.id, firing_id), now)
    pk = f"c#{parent.id}"
    value, rev = repos.automations.state(pk, "-")
    children = list((value or {}).get("children", []))
    if any(child["firing"] == firing_id for child in children):
        return [], []  # this child firing was counted already
    if parent.within is not None:
        horizon = (now - parent.within).timestamp()
        children = [child for child in children if child["triggered"] >= horizon]
    children = [child for child in children if child["trigger"] != str(trigger.id)]
    children.append({"trigger": str(trigger.id), "firing": firing_id, "triggered": now.timestamp()})
    order = [child["trigger"] for child in sorted(children, key=lambda c: c["triggered"])]
    if isinstance(parent, SequenceTrigger):
        ready = order == [str(t.id) for t in parent.triggers]
    else:
        ready = parent.ready_to_fire(order)
    expires = now + (parent.within or timedelta(days=1))
    if not ready:
        return [StateWrite(pk, "-", rev, {"children": children}, expires)], []
    parent_id = derived_id(parent.id, *sorted(child["firing"] for child in children))
    writes, firings = _propagate(repos, current, automation, parent, fired, parent_id, now)
    return [StateWrite(pk, "-", rev, None, now), *writes], firings


# --------------------------------------------------------------------------------- proactive
def evaluate_proactive(repos: Repositories, now: datetime) -> Report:
    """Every proactive trigger's windows as of ``now``: one Query of each trigger's buckets."""
    report = Report()
    current = catalog(repos)
    for automation in current.automations:
        if not automation.enabled:
            continue
        for trigger in automation.triggers():
            if isinstance(trigger, EventTrigger) and trigger.posture is Posture.Proactive:
                _tick(repos, current, automation, trigger, now, report)
    return report


def _tick(
    repos: Repositories, current: Catalog, automation: Automation, trigger: EventTrigger, now: datetime, report: Report
) -> None:
    pk = f"b#{trigger.id}"
    for _ in range(ATTEMPTS):
        stored = {
            bucket_sk(b.key): (b, rev)
            for b, rev in ((bucket_from(v), rev) for _, v, rev in repos.automations.states(pk))
        }
        changes, fired = tick(trigger, [b for b, _ in stored.values()], now)
        writes = []
        for old, new in changes:
            key = (new or old).key  # type: ignore[union-attr]
            rev = stored[bucket_sk(key)][1] if old is not None and bucket_sk(key) in stored else None
            writes.append(
                StateWrite(pk, bucket_sk(key), rev, bucket_doc(new) if new else None, new.end if new else now)
            )
        ids = [derived_id(trigger.id, one.key, one.start.isoformat(), one.end.isoformat()) for one in fired]
        if _commit(repos, current, automation, trigger, zip(fired, ids, strict=True), writes, now, report):
            return


def bucket_of(repos: Repositories, trigger_id: uuid.UUID, key: tuple[str, ...] = ()) -> Bucket | None:
    """A trigger's stored window (tests, diagnostics)."""
    value, _ = repos.automations.state(f"b#{trigger_id}", bucket_sk(key))
    return bucket_from(value) if value is not None else None
