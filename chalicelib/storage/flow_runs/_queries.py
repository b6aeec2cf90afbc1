"""Choosing how to read the flow runs a filter may match: keys, an index, or (last) a Scan.

:func:`plan` looks at the criteria that every matching run must satisfy (those of an ``and_`` group,
or the single criterion of an ``or_`` group) and picks the narrowest access path:

=====================================================  ==========================================
criterion (plus ids handed in from other filter groups)  access path
=====================================================  ==========================================
``id.any_``                                             BatchGetItem by key (strongly consistent)
``idempotency_key.any_`` with known flow ids            BatchGetItem (id = uuid5(flow, key))
``deployment_id.any_`` + ``state.type.any_`` within     Query by-owner-state per deployment and
SCHEDULED/CANCELLING [+ ``next_scheduled_start_time``]  state type (``os`` range ``<TYPE>#<time>``)
``deployment_id.any_`` (other or no states)             Query by-owner-state per deployment (whole)
flow ids (``flows`` group)                              Query by-owner-state per flow (its runs
                                                        without a deployment) and per deployment
``next_scheduled_start_time`` / type SCHEDULED          Scan (no index holds every scheduled run:
                                                        planned runs are on no global list)
``state.type.any_`` = CANCELLING                        Query by-sweep ``cancelling``
(work queue ids: by these paths or a Scan; the runs of a queue without a work pool are not in
by-queue, which serves only a worker's poll and count: ``FlowRunRepository.scheduled_in_queue``)
anything else                                           Scan (an operator's query, never a worker's)
=====================================================  ==========================================

The indexes project keys (by-owner-state two immutable attributes more), so each Query is followed
by a BatchGetItem (strongly consistent, 100 keys a request) of the items it names.

The plan only narrows: the service applies the whole filter to what comes back. Paths a worker
or runner polls (runs by id, a deployment's scheduled runs, a work queue's cancelling runs) are
all served without a Scan; tests assert it by counting requests.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.domain.identity import flow_run_id, utc_key
from chalicelib.schemas.filters import FlowRunFilter, Operator
from chalicelib.schemas.states import StateType
from chalicelib.storage.models import POLLED_STATES, DeploymentModel, FlowRunModel

KEYS = "keys"
BY_DEPLOYMENT = "by-deployment"
BY_FLOW = "by-flow"
BY_SWEEP = "by-sweep"
#: A deployment's runs in any state (by-owner-state, the whole partition).
BY_OWNER = "by-owner"
SCAN = "scan"
#: The work list of by-sweep that the planner reads (sweeps.CANCELLING).
_CANCELLING = "cancelling"

#: Above this many keys a by-key plan is not worth it (each BatchGetItem reads ≤ 100).
_MAX_KEYS = 1000


@dataclass(frozen=True)
class AccessPath:
    """One way of reading candidates: ``index`` queried once per hash key and range (``None``: whole
    partition), or the item keys of a BatchGetItem, or a Scan."""

    index: str
    hash_keys: tuple[str, ...] = ()
    ranges: tuple[tuple[Any, Any] | None, ...] = (None,)

    @property
    def scans(self) -> bool:
        return self.index == SCAN


@dataclass
class _Bounds:
    """What every matching run must satisfy, as far as keys and indexes can tell."""

    ids: set[str] | None = None
    idempotency_keys: set[str] | None = None
    deployment_ids: set[str] | None = None
    state_types: set[str] | None = None
    next_after: datetime | None = None
    next_before: datetime | None = None


def _checks(group: Any) -> int:
    """How many checks a filter group combines with its operator."""
    count = 0
    for name in type(group).model_fields:
        value = getattr(group, name)
        if name == "operator" or value is None:
            continue
        if hasattr(value, "operator"):
            count += 1
        else:
            count += sum(1 for sub in type(value).model_fields if getattr(value, sub) is not None)
    return count


def is_conjunctive(group: Any) -> bool:
    """Whether every check of ``group`` must hold (``and_``, or a single check under ``or_``)."""
    return group.operator is Operator.and_ or _checks(group) <= 1


def _narrow(current: set[str] | None, values: Iterable[Any] | None) -> set[str] | None:
    if values is None:
        return current
    new = {str(v) for v in values}
    return new if current is None else current & new


def _bounds(flt: FlowRunFilter | None) -> _Bounds:
    bounds = _Bounds()
    if flt is None or not is_conjunctive(flt):
        return bounds
    if flt.id is not None:
        bounds.ids = _narrow(None, flt.id.any_)
    if flt.idempotency_key is not None:
        bounds.idempotency_keys = _narrow(None, flt.idempotency_key.any_)
    if flt.deployment_id is not None:
        bounds.deployment_ids = _narrow(None, flt.deployment_id.any_)
    if flt.state is not None and flt.state.type is not None and is_conjunctive(flt.state):
        bounds.state_types = _narrow(None, flt.state.type.any_)
    window = flt.next_scheduled_start_time
    if window is not None and (window.after_ is not None or window.before_ is not None):
        bounds.next_after, bounds.next_before = window.after_, window.before_
        # Only SCHEDULED runs have a next scheduled start time.
        bounds.state_types = _narrow(bounds.state_types, [StateType.SCHEDULED.value])
    return bounds


def _state_ranges(bounds: _Bounds) -> tuple[tuple[str, str] | None, ...]:
    """``os`` ranges (``<TYPE>#<time>``) of by-owner-state for the polled states."""
    if bounds.state_types is None:
        return (None,)
    ranges = []
    for state_type in sorted(bounds.state_types):
        low, high = f"{state_type}#", f"{state_type}#~"
        if state_type == StateType.SCHEDULED.value:  # its time is next_scheduled_start_time
            if bounds.next_after is not None:
                low = f"{state_type}#{utc_key(bounds.next_after)}"
            if bounds.next_before is not None:
                high = f"{state_type}#{utc_key(bounds.next_before)}"
        ranges.append((low, high))
    return tuple(ranges)


def _no_run_can_match(flt: FlowRunFilter | None) -> bool:
    """A criterion every match must satisfy and no stored run does: ``parent_flow_run_id.any_``
    (Cirrus keeps no link from a subflow run to its parent flow run); nothing is read then."""
    return (
        flt is not None
        and is_conjunctive(flt)
        and flt.parent_flow_run_id is not None
        and flt.parent_flow_run_id.any_ is not None
    )


def plan(
    flt: FlowRunFilter | None,
    *,
    flow_ids: Iterable[uuid.UUID] | None = None,
    deployment_ids: Iterable[uuid.UUID] | None = None,
) -> list[AccessPath]:
    """The access paths whose union holds every run matching ``flt`` and the given id sets (each set
    being a criterion of another filter group that every match must also satisfy)."""
    if _no_run_can_match(flt):
        return []
    bounds = _bounds(flt)
    bounds.deployment_ids = _narrow(bounds.deployment_ids, deployment_ids)
    flows = _narrow(None, flow_ids)
    if bounds.ids is not None and len(bounds.ids) <= _MAX_KEYS:
        return [AccessPath(KEYS, tuple(sorted(bounds.ids)))]
    if bounds.idempotency_keys is not None and flows is not None:
        keys = {str(flow_run_id(uuid.UUID(f), k)) for f in flows for k in bounds.idempotency_keys}
        if len(keys) <= _MAX_KEYS:
            return [AccessPath(KEYS, tuple(sorted(keys)))]
    polled = bounds.state_types is not None and bounds.state_types <= set(POLLED_STATES)
    if bounds.deployment_ids is not None:
        deployments = tuple(sorted(bounds.deployment_ids))
        if polled:
            return [AccessPath(BY_DEPLOYMENT, deployments, _state_ranges(bounds))]
        return [AccessPath(BY_OWNER, deployments)]
    if flows is not None:
        return [AccessPath(BY_FLOW, tuple(sorted(flows)))]
    if bounds.state_types == {StateType.CANCELLING.value}:
        return [AccessPath(BY_SWEEP, (_CANCELLING,))]
    return [AccessPath(SCAN)]


_INDEXES = {
    BY_DEPLOYMENT: (FlowRunModel.by_owner, FlowRunModel.owner_sort),
    BY_OWNER: (FlowRunModel.by_owner, FlowRunModel.owner_sort),
    BY_SWEEP: (FlowRunModel.by_sweep, FlowRunModel.sweep_at),
}
#: Keys per BatchGetItem (DynamoDB's limit).
BATCH_GET_KEYS = 100


def read(paths: Iterable[AccessPath]) -> Iterator[FlowRunModel]:
    """The items the paths reach, each once (expired ones included: the repository drops them)."""
    seen: set[str] = set()
    for path in paths:
        for item in _read_path(path):
            if item.id not in seen:
                seen.add(item.id)
                yield item


def _read_path(path: AccessPath) -> Iterator[FlowRunModel]:
    if path.index == SCAN:
        yield from FlowRunModel.scan()
        return
    if path.index == KEYS:
        if path.hash_keys:
            yield from FlowRunModel.batch_get(list(path.hash_keys), consistent_read=True)
        return
    if path.index == BY_FLOW:
        yield from _flows_runs(path.hash_keys)
        return
    index, range_attribute = _INDEXES[path.index]
    for hash_key in path.hash_keys:
        for bounds in path.ranges:
            condition = None if bounds is None else range_attribute.between(*bounds)
            entries = index.query(hash_key, condition)
            yield from fetch([e.id for e in entries])


def fetch(ids: Iterable[str]) -> Iterator[FlowRunModel]:
    """The items of ``ids`` that exist, in that order (BatchGetItem, strongly consistent)."""
    wanted = list(dict.fromkeys(ids))
    for start in range(0, len(wanted), BATCH_GET_KEYS):
        chunk = wanted[start : start + BATCH_GET_KEYS]
        found = {item.id: item for item in FlowRunModel.batch_get(chunk, consistent_read=True)}
        yield from (found[i] for i in chunk if i in found)


def _flows_runs(flow_ids: tuple[str, ...]) -> Iterator[FlowRunModel]:
    """Runs of the flows: their by-owner entries, then those of each of their deployments."""
    for flow in flow_ids:
        owners = [flow] + [d.id for d in DeploymentModel.by_flow.query(flow)]
        for owner in owners:
            yield from fetch([entry.id for entry in FlowRunModel.by_owner.query(owner)])
