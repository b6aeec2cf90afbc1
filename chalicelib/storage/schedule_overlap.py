"""Schedule overlap counters (:mod:`chalicelib.domain.schedule_overlap`): one item per schedule
with an overlap policy, in the ``deployment_slots`` table under the key ``schedule/<id>``.

``active`` counts the schedule's active run (at most 1) and ``waiting`` BUFFER_ONE's waiting run
(at most 1); ``holder``/``waiter`` name the run that took each. A token is taken by an ADD of 1
conditioned on the count being 0, given back by an ADD of -1, always in the same TransactWriteItems
as the run's state (:mod:`chalicelib.storage.flow_runs._transacted`): the state and the token move
together or not at all, so racing runners, workers and ticks cannot both start.

A run that is deleted or expires while holding a token (a retired schedule's waiting run, a
deleted run) would keep it forever; :func:`release_stale` gives such a token back, conditioned on
the counter still naming that run, once a reader has seen the run gone or ended.

Cost: only runs of schedules with a policy (other than ALLOW_ALL) move a counter, on their start
and on their end: those two writes are two-item transactions (each unit counted twice).
"""

from __future__ import annotations

import uuid

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from chalicelib.domain.schedule_overlap import ACTIVE, WAITING
from chalicelib.storage.errors import is_condition_failure
from chalicelib.storage.labelled_transaction import LabelledTransaction
from chalicelib.storage.wait_models import DeploymentSlotsModel

#: The counter's label in a transaction (its failed condition means: the token is taken).
LABEL = "schedule overlap"
_M = DeploymentSlotsModel


def counter_key(schedule_id: uuid.UUID | str) -> str:
    return f"schedule/{schedule_id}"


def _fields(token: str) -> tuple[object, object]:
    return (_M.active, _M.holder) if token == ACTIVE else (_M.waiting, _M.waiter)


def move_token(
    tx: LabelledTransaction, schedule_id: uuid.UUID | str, run_id: str, *, before: str | None, after: str | None
) -> None:
    """Add to ``tx`` the counter's move of a run going from token ``before`` to ``after``: taking
    ``after`` only while nobody holds it, giving ``before`` back."""
    actions: list[Action] = []
    condition: Condition | None = None
    if after is not None:
        count, name = _fields(after)
        actions += [count.add(1), name.set(run_id)]  # type: ignore[attr-defined]
        condition = count.does_not_exist() | (count < 1)  # type: ignore[attr-defined]
    if before is not None:
        count, name = _fields(before)
        actions += [count.add(-1), name.remove()]  # type: ignore[attr-defined]
    tx.update(LABEL, _M(counter_key(schedule_id)), actions, condition=condition)


class ScheduleOverlapStore:
    """The counters as set_state reads them after a taken token (who holds it, and repairs)."""

    def holders(self, schedule_id: uuid.UUID | str) -> dict[str, str | None]:
        return holders(schedule_id)

    def release_stale(self, schedule_id: uuid.UUID | str, token: str, run_id: str) -> bool:
        return release_stale(schedule_id, token, run_id)


def holders(schedule_id: uuid.UUID | str) -> dict[str, str | None]:
    """``{"active": run id or None, "waiting": run id or None}`` (strongly consistent)."""
    try:
        item = _M.get(counter_key(schedule_id), consistent_read=True)
    except _M.DoesNotExist:
        return {ACTIVE: None, WAITING: None}
    return {
        ACTIVE: item.holder if int(item.active or 0) > 0 else None,
        WAITING: item.waiter if int(item.waiting or 0) > 0 else None,
    }


def release_stale(schedule_id: uuid.UUID | str, token: str, run_id: str) -> bool:
    """Give back ``token`` that ``run_id`` took and can no longer give back (it is gone, or ended
    without moving the counter); ``False`` when the counter no longer names it as taken."""
    count, name = _fields(token)
    try:
        _M(counter_key(schedule_id)).update(
            [count.add(-1), name.remove()],  # type: ignore[attr-defined]
            condition=(name == run_id) & (count > 0),  # type: ignore[operator]
        )
    except UpdateError as exc:
        if is_condition_failure(exc):
            return False
        raise
    return True
