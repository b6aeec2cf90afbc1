"""The maintenance jobs' work lists: the sparse ``by-sweep`` index and the guarded writes.

A job reads one page at a time of ``sweep = <job> AND sweep_at < cutoff`` (one Query request per
page, then one BatchGetItem of its items, so requests follow the candidates, never the table) and
writes each decision back as a put conditioned on what it read: the state, the heartbeat and the
last update. A heartbeat, a set_state or a PATCH landing between the read and the write makes the
condition fail and the run is left alone; the next tick sees it afresh. The index (keys only) is
eventually consistent; the items are read consistently, and the condition makes a stale entry
harmless anyway: a stale copy cannot be written over a newer item.

Items that have expired (TTL passed, not yet deleted by DynamoDB) are never handed out.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from pynamodb.exceptions import AttributeDeserializationError, PutError, PynamoDBException, QueryError
from pynamodb.expressions.condition import Condition

from chalicelib.errors import StorageUnavailableError
from chalicelib.schemas.flow_runs import FlowRun
from chalicelib.schemas.states import State
from chalicelib.storage.errors import is_condition_failure
from chalicelib.storage.flow_runs import FlowRunRepository, unchanged_since
from chalicelib.storage.flow_runs._queries import BATCH_GET_KEYS
from chalicelib.storage.models import FlowRunModel

DEFAULT_PAGE_SIZE = 100


class SweepStorageError(StorageUnavailableError):
    """DynamoDB refused a sweep's request for a reason other than a failed condition (throttling…)."""


@dataclass(frozen=True)
class Candidate:
    """A run read from a work list, with the values its conditional write will insist on."""

    run: FlowRun
    #: States the write must make sure are recorded besides what it implies (none when read).
    history: list[State]
    state_id: str
    heartbeat: datetime | None
    updated: datetime


@dataclass(frozen=True)
class SweepPage:
    """One Query's worth of a work list. ``cursor`` is ``None`` after the last page."""

    candidates: list[Candidate]
    cursor: dict[str, Any] | None
    expired: int = 0
    #: Ids of items that could not be decoded (reported as failures, never fatal to the sweep).
    undecodable: list[str] = field(default_factory=list)


class SweepStore:
    """Reads the by-sweep index and writes transitions guarded by what was read."""

    def __init__(self, runs: FlowRunRepository) -> None:
        self.runs = runs

    def page(
        self,
        sweep: str,
        cutoff: datetime,
        *,
        now: datetime,
        inclusive: bool = False,
        cursor: dict[str, Any] | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
    ) -> SweepPage:
        """The next page of ``sweep``'s entries with ``sweep_at < cutoff`` (``<=`` when ``inclusive``),
        oldest first. One Query request (the index holds keys only), then one BatchGetItem of the
        entries' items (strongly consistent: what a job judges and conditions on is current)."""
        condition = FlowRunModel.sweep_at <= cutoff if inclusive else FlowRunModel.sweep_at < cutoff
        try:
            # The raw connection (not Model.query's iterator) so that one call is one request and a
            # single malformed item cannot abort the page while it is being decoded.
            response = FlowRunModel._get_connection().query(
                sweep,
                range_key_condition=condition,
                index_name=FlowRunModel.by_sweep.Meta.index_name,
                limit=limit,
                exclusive_start_key=cursor,
            )
        except QueryError as exc:
            raise SweepStorageError("Query by-sweep", sweep) from exc
        ids = [str(raw.get("id", {}).get("S", "?")) for raw in response.get("Items", [])]
        found = self.candidates(ids, now=now, source=sweep)
        return replace(found, cursor=response.get("LastEvaluatedKey"))

    def candidates(self, ids: list[str], *, now: datetime, source: str) -> SweepPage:
        """The runs of ``ids`` that exist and have not expired, read consistently (one BatchGetItem
        per 100) and in that order, as candidates (``cursor`` is ``None``)."""
        candidates: list[Candidate] = []
        undecodable: list[str] = []
        expired = 0
        try:
            items = _raw_items(ids)
        except PynamoDBException as exc:
            raise SweepStorageError("BatchGetItem", source) from exc
        for run_id in ids:
            raw = items.get(run_id)
            if raw is None:  # deleted since the index was written
                continue
            try:
                item = FlowRunModel.from_raw_data(raw)
                if item.expires_at is not None and item.expires_at <= now:
                    expired += 1
                    continue
                candidates.append(
                    Candidate(
                        run=self.runs.from_item(item),
                        history=[],
                        state_id=item.state_id,
                        heartbeat=item.heartbeat,
                        updated=item.updated,
                    )
                )
            except (ValueError, TypeError, AttributeDeserializationError):
                # A document this code cannot read (pydantic's ValidationError is a ValueError, so
                # is an unparsable timestamp): report it, and let the rest of the page be worked.
                undecodable.append(run_id)
        return SweepPage(candidates, None, expired, undecodable)

    def write(self, candidate: Candidate, run: FlowRun, history: list[State]) -> bool:
        """Put ``run`` (with ``history``) over the candidate's item if the item is unchanged since it was
        read: same state, same heartbeat, same ``updated``. ``False`` when it changed (or is gone)."""
        try:
            held = candidate.run.concurrency_slot  # a crash gives the deployment's slot back
            self.runs.write(
                run, unchanged_since_read(candidate), also=history, held_slot=held,
                held_overlap=candidate.run.overlap_slot,  # so does its schedule's overlap token
            )  # fmt: skip
        except PutError as exc:
            if is_condition_failure(exc):
                return False
            raise SweepStorageError("PutItem", run.id) from exc
        return True


def _raw_items(ids: list[str]) -> dict[str, dict[str, Any]]:
    """The stored items of ``ids`` as DynamoDB returns them (BatchGetItem, strongly consistent),
    undecoded, so that one malformed item cannot abort a page."""
    found: dict[str, dict[str, Any]] = {}
    keys = [FlowRunModel.raw_key(i) for i in dict.fromkeys(ids)]
    for start in range(0, len(keys), BATCH_GET_KEYS):
        pending: list[Any] | None = keys[start : start + BATCH_GET_KEYS]
        while pending:
            page, pending = FlowRunModel._batch_get_page(pending, True, None)
            for raw in page or []:
                found[str(raw.get("id", {}).get("S", "?"))] = raw
    return found


def unchanged_since_read(candidate: Candidate) -> Condition:
    """The item still holds the state, heartbeat and last update the candidate was read with.

    The state alone is the core's transition guard; the heartbeat is what saves a run from the
    zombie killer when one lands in between; ``updated`` catches any other write (a PATCH).
    """
    return unchanged_since(candidate.state_id, candidate.updated, candidate.heartbeat)
