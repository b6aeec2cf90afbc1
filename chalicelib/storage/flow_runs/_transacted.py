"""A run's conditional Put together with what must change with it, in one TransactWriteItems:
a deployment concurrency slot taken or given back (:mod:`chalicelib.storage.deployment_slots`)
and items written only with the state (a resume's response input); and the Delete of a run that
holds a slot, with the slot given back. Every other write of a run is a plain PutItem or
DeleteItem (:class:`FlowRunRepository`)."""

from __future__ import annotations

from collections.abc import Sequence

from botocore.exceptions import ClientError
from pynamodb.exceptions import PutError, TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.models import Model

from chalicelib.errors import OverlapTokenTakenError, SlotsUnavailableError
from chalicelib.storage import deployment_slots, schedule_overlap
from chalicelib.storage.errors import CONDITION_FAILED, REASON_CONDITION_FAILED
from chalicelib.storage.labelled_transaction import LabelledTransaction
from chalicelib.storage.models import FlowRunModel

_RUN = "flow run"


def put_transacted(
    item: FlowRunModel,
    condition: Condition,
    *,
    take_slot: bool | None = None,
    limit: int | None = None,
    companions: Sequence[Model] = (),
    overlap: tuple[str | None, str | None] | None = None,
) -> FlowRunModel | None:
    """Put the run ``item`` on ``condition`` with, in the same transaction, its deployment's slot
    taken (``take_slot=True``, at most ``limit``) or given back (``False``), and ``companions``
    put as they are, and with ``overlap=(before, after)`` its schedule's overlap token moved
    (:mod:`chalicelib.storage.schedule_overlap`). Returns the item replaced.

    The replaced item is read first (strongly consistent): ``condition`` holds the values the
    caller read, so when the transaction lands the item read is the one it replaced. A failed
    ``condition`` (or a transaction conflict: nothing was decided) raises the PutError a plain
    conditional put would, so every caller handles both paths alike; a full limit raises
    :class:`SlotsUnavailableError`, a taken overlap token :class:`OverlapTokenTakenError`.
    """
    try:
        old: FlowRunModel | None = FlowRunModel.get(item.id, consistent_read=True)
    except FlowRunModel.DoesNotExist:
        old = None
    tx = LabelledTransaction(FlowRunModel)
    tx.put(_RUN, item, condition)
    if take_slot is not None:
        deployment_slots.move_slot(tx, str(item.deployment_id), take=take_slot, limit=limit)
    if overlap is not None:
        before, after = overlap
        schedule_overlap.move_token(tx, str(item.schedule_id), str(item.id), before=before, after=after)
    for index, companion in enumerate(companions):
        tx.put(f"companion {index}", companion)
    try:
        tx.commit()
    except TransactWriteError as exc:
        failures = tx.failures(exc)
        if not failures:  # throttled, timed out: not decided by a condition
            raise
        if _RUN not in failures and failures.get(schedule_overlap.LABEL) == REASON_CONDITION_FAILED:
            raise OverlapTokenTakenError(str(item.schedule_id), str(overlap[1] if overlap else "")) from exc
        if _RUN not in failures and failures.get(deployment_slots.LABEL) == REASON_CONDITION_FAILED:
            raise SlotsUnavailableError([f"deployment:{item.deployment_id}"], 0) from exc
        # The run changed, or a TransactionConflict (another transaction held an item): re-read.
        error = {"Error": {"Code": CONDITION_FAILED, "Message": "The conditional request failed"}}
        raise PutError("Flow run changed concurrently", cause=ClientError(error, "TransactWriteItems")) from exc  # type: ignore[arg-type]
    return old


def delete_releasing_slot(run_id: str, condition: Condition, deployment_id: str) -> bool:
    """Delete the run on ``condition`` and give its deployment's slot back, in one transaction;
    ``False`` when the condition failed (or another transaction held an item: nothing was done)."""
    tx = LabelledTransaction(FlowRunModel)
    tx.delete(_RUN, FlowRunModel(run_id), condition)
    deployment_slots.move_slot(tx, deployment_id, take=False, limit=None)
    try:
        tx.commit()
    except TransactWriteError as exc:
        if not tx.failures(exc):
            raise
        return False
    return True
