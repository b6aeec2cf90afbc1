"""Deployment concurrency slots: one counter item per deployment (``deployment_slots``), moved in
the same TransactWriteItems as the state that takes or gives back the slot.

Taking a slot is an ADD of 1 conditioned on ``active < limit`` (the limit as read with the
proposal), next to the run's Put conditioned on the state, ``updated`` and heartbeat it was read
with: either both are written or neither, so at most ``limit`` runs hold a slot whatever the
number of racing runners, workers and Lambda retries. Giving one back is an ADD of -1 with the
Put of the state that leaves PENDING/RUNNING/CANCELLING. The run records that it holds a slot
(``FlowRun.concurrency_slot``), so the count moves exactly once per take and once per release.

Cost: a take or a release is a transaction of two items (the run, ~1 KB with its index entry,
and the ~60-byte counter), each write unit counted twice; every other write of a run is the
plain PutItem it always was.
"""

from __future__ import annotations

from botocore.exceptions import ClientError
from pynamodb.exceptions import PutError, TransactWriteError
from pynamodb.expressions.condition import Condition

from chalicelib.errors import SlotsUnavailableError
from chalicelib.storage.errors import CONDITION_FAILED, REASON_CONDITION_FAILED
from chalicelib.storage.labelled_transaction import LabelledTransaction
from chalicelib.storage.models import FlowRunModel
from chalicelib.storage.wait_models import DeploymentSlotsModel

_RUN = "flow run"
_SLOTS = "deployment slots"


def active_slots(deployment_id: str) -> int:
    """The deployment's taken slots (strongly consistent; 0 before the first take)."""
    try:
        return int(DeploymentSlotsModel.get(deployment_id, consistent_read=True).active or 0)
    except DeploymentSlotsModel.DoesNotExist:
        return 0


def put_moving_slot(item: FlowRunModel, condition: Condition, *, take: bool, limit: int | None) -> FlowRunModel | None:
    """Put the run ``item`` on ``condition`` and take (``take``) or give back one slot of its
    deployment, in one transaction; returns the item replaced.

    The replaced item is read first (strongly consistent): ``condition`` holds the values the
    caller read, so when the transaction lands the item read is the one it replaced. A failed
    ``condition`` (or a transaction conflict: nothing was decided) raises the PutError a plain
    conditional put would, so every caller handles both paths alike; a full limit raises
    :class:`SlotsUnavailableError`.
    """
    try:
        old: FlowRunModel | None = FlowRunModel.get(item.id, consistent_read=True)
    except FlowRunModel.DoesNotExist:
        old = None
    counter = DeploymentSlotsModel(item.deployment_id)
    tx = LabelledTransaction(FlowRunModel)
    tx.put(_RUN, item, condition)
    if take:
        room = DeploymentSlotsModel.active.does_not_exist() | (DeploymentSlotsModel.active < (limit or 0))
        tx.update(_SLOTS, counter, [DeploymentSlotsModel.active.add(1)], condition=room)
    else:
        tx.update(_SLOTS, counter, [DeploymentSlotsModel.active.add(-1)])
    try:
        tx.commit()
    except TransactWriteError as exc:
        failures = tx.failures(exc)
        if not failures:  # throttled, timed out: not decided by a condition
            raise
        if _RUN not in failures and failures.get(_SLOTS) == REASON_CONDITION_FAILED:
            raise SlotsUnavailableError([f"deployment:{item.deployment_id}"], 0) from exc
        # The run changed, or a TransactionConflict (another transaction held an item): re-read.
        raise _lost_race() from exc
    return old


def _lost_race() -> PutError:
    error = {"Error": {"Code": CONDITION_FAILED, "Message": "The conditional request failed"}}
    return PutError("Flow run changed concurrently", cause=ClientError(error, "TransactWriteItems"))  # type: ignore[arg-type]
