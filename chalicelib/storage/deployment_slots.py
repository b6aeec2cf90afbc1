"""Deployment concurrency slots: one counter item per deployment (``deployment_slots``), moved in
the same TransactWriteItems as the state that takes or gives back the slot
(:mod:`chalicelib.storage.flow_runs._transacted`).

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

from chalicelib.storage.labelled_transaction import LabelledTransaction
from chalicelib.storage.wait_models import DeploymentSlotsModel

#: The counter's label in a transaction (its failed condition means: no free slot).
LABEL = "deployment slots"
_M = DeploymentSlotsModel


def active_slots(deployment_id: str) -> int:
    """The deployment's taken slots (strongly consistent; 0 before the first take)."""
    try:
        return int(_M.get(deployment_id, consistent_read=True).active or 0)
    except _M.DoesNotExist:
        return 0


def move_slot(tx: LabelledTransaction, deployment_id: str, *, take: bool, limit: int | None) -> None:
    """Add to ``tx`` the counter's move: take one slot if fewer than ``limit`` are taken, or give
    one back."""
    if take:
        room = _M.active.does_not_exist() | (_M.active < (limit or 0))
        tx.update(LABEL, _M(deployment_id), [_M.active.add(1)], condition=room)
    else:
        tx.update(LABEL, _M(deployment_id), [_M.active.add(-1)])
