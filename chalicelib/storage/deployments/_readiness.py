"""A deployment's polls and its status marks (``prefect.deployment.ready|not-ready``).

Top-level attributes of the deployment item, beside ``last_polled``:

- ``status_mark``: the last status event emitted for it, ``"<STATUS>|<event id>"`` (absent: none);
- ``ready_shard``/``ready_until``: its entry in the sparse ``by-ready`` index, present exactly
  while the mark is READY (both are moved by one UpdateItem): ``ready_until`` is the earliest
  instant the deployment may be NOT_READY, so the maintenance tick queries only those;
- ``queue_id``/``queue_mark``: its entry in the sparse ``by-queue`` index, present while it is in a
  work pool's queue (``queue_id``, written with the deployment); ``queue_mark`` is its mark's status
  (``UNMARKED`` before the first), moved with the mark, so a tick finds a queue's deployments whose
  mark differs from what the queue's polls make them without reading the others.

A poll is one UpdateItem (one transaction per 100 deployments) of ``last_polled`` and
``ready_until``, conditioned on the entry existing (the mark is READY): nothing else to decide.
The deployments whose condition fails (never polled, NOT_READY, or missing) are returned: their
status may change, and the service reads them and moves their marks (:meth:`move_status_mark`,
conditioned on the mark it read).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from pynamodb.exceptions import UpdateError

from chalicelib.schemas.deployments import Deployment
from chalicelib.storage.deployments._items import to_deployment
from chalicelib.storage.errors import REASON_CONDITION_FAILED, is_condition_failure
from chalicelib.storage.labelled_transaction import MAX_ITEMS, LabelledTransaction
from chalicelib.storage.models import DeploymentModel

#: by-ready's one partition.
READY_SHARD = "ready"
#: The status a mark records when it is READY (``"READY|<event id>"``).
READY = "READY"


@dataclass(frozen=True)
class Readiness:
    """A deployment with its status mark and by-ready entry, as read."""

    deployment: Deployment
    mark: str | None
    ready_until: datetime | None
    queue_mark: str | None = None


def _readiness(item: DeploymentModel) -> Readiness:
    return Readiness(to_deployment(item), item.status_mark, item.ready_until, item.queue_mark)


def _stamp(now: datetime, ready_until: datetime) -> list:
    return [DeploymentModel.last_polled.set(now), DeploymentModel.ready_until.set(ready_until)]


class DeploymentReadiness:
    """Polls, status marks and the by-ready entries of deployments."""

    def stamp_polls(self, ids: list[uuid.UUID], now: datetime, ready_until: datetime) -> list[uuid.UUID]:
        """Record a poll (``last_polled = now``, ``ready_until``) on those of ``ids`` marked READY;
        return the others (not marked READY, or missing), whose status may change.

        One UpdateItem for one id, else one transaction per 100 ids (the ones whose condition
        failed are left out and the rest written again, once); a stamp lost to a concurrent
        transaction is skipped (the next poll writes it).
        """
        ids = list(dict.fromkeys(ids))
        if len(ids) == 1:
            try:
                DeploymentModel(str(ids[0])).update(
                    actions=_stamp(now, ready_until), condition=DeploymentModel.ready_until.exists()
                )
            except UpdateError as exc:
                if not is_condition_failure(exc):
                    raise
                return ids
            return []
        others: list[uuid.UUID] = []
        for start in range(0, len(ids), MAX_ITEMS):
            others += self._stamp_batch(ids[start : start + MAX_ITEMS], now, ready_until, retry=True)
        return others

    def _stamp_batch(
        self, ids: list[uuid.UUID], now: datetime, ready_until: datetime, *, retry: bool
    ) -> list[uuid.UUID]:
        tx = LabelledTransaction(DeploymentModel)
        marked_ready = DeploymentModel.ready_until.exists()
        for id_ in ids:
            tx.update(str(id_), DeploymentModel(str(id_)), _stamp(now, ready_until), condition=marked_ready)
        failures = tx.commit_or_failures()
        others = [i for i in ids if failures.get(str(i)) == REASON_CONDITION_FAILED]
        rest = [i for i in ids if str(i) not in failures]
        if failures and retry and rest:
            others += self._stamp_batch(rest, now, ready_until, retry=False)
        return others

    def readiness(self, id_: uuid.UUID) -> Readiness | None:
        """The deployment with its mark and entry (one strongly consistent GetItem), or None."""
        try:
            return _readiness(DeploymentModel.get(str(id_), consistent_read=True))
        except DeploymentModel.DoesNotExist:
            return None

    def readiness_many(self, ids: Iterable[uuid.UUID]) -> list[Readiness]:
        """:meth:`readiness` of those of ``ids`` that exist (BatchGetItem, strongly consistent)."""
        keys = [str(i) for i in dict.fromkeys(ids)]
        return [_readiness(item) for item in DeploymentModel.batch_get(keys, consistent_read=True)]

    def ready_entries_due(self, now: datetime, limit: int) -> list[uuid.UUID]:
        """Deployments marked READY that may be NOT_READY at ``now`` (by-ready, oldest first)."""
        query = DeploymentModel.by_ready.query(READY_SHARD, DeploymentModel.ready_until <= now, limit=limit)
        return [uuid.UUID(item.id) for item in query]

    def marked_otherwise_in_queue(self, queue_id: uuid.UUID, status: str, limit: int) -> list[uuid.UUID]:
        """Up to ``limit`` deployments of work queue ``queue_id`` whose mark is not ``status``
        (``READY``: those marked NOT_READY or not yet; ``NOT_READY``: those marked READY), from
        by-queue (one Query, keys only, eventually consistent: read them before acting)."""
        marked = DeploymentModel.queue_mark
        condition = marked < READY if status == READY else marked == READY
        query = DeploymentModel.by_queue.query(str(queue_id), condition, limit=limit)
        return [uuid.UUID(item.id) for item in query]

    def move_status_mark(
        self,
        id_: uuid.UUID,
        seen: str | None,
        mark: str,
        *,
        ready_until: datetime | None,
        polled: datetime | None = None,
    ) -> bool:
        """Replace the mark ``seen`` (None: no mark) by ``mark``, with the by-ready entry at
        ``ready_until`` (None: out of it) and, for a poll, ``last_polled = polled``. False when
        another writer moved the mark first, or the deployment is gone. One UpdateItem (its by-queue
        key moves with the mark's status)."""
        entry = DeploymentModel.ready_until
        actions = [DeploymentModel.status_mark.set(mark), DeploymentModel.queue_mark.set(mark.partition("|")[0])]
        if ready_until is None:
            actions += [DeploymentModel.ready_shard.remove(), entry.remove()]
        else:
            actions += [DeploymentModel.ready_shard.set(READY_SHARD), entry.set(ready_until)]
        if polled is not None:
            actions.append(DeploymentModel.last_polled.set(polled))
        mark_attr = DeploymentModel.status_mark
        unchanged = mark_attr.does_not_exist() if seen is None else mark_attr == seen
        return _conditional(id_, actions, DeploymentModel.id.exists() & unchanged)

    def move_ready_entry(self, id_: uuid.UUID, seen: datetime, ready_until: datetime) -> bool:
        """Move the by-ready entry from ``seen`` to ``ready_until`` (a deployment still READY);
        False when a poll or another tick moved it first."""
        return _conditional(id_, [DeploymentModel.ready_until.set(ready_until)], DeploymentModel.ready_until == seen)


def _conditional(id_: uuid.UUID, actions: list, condition: object) -> bool:
    try:
        DeploymentModel(str(id_)).update(actions=actions, condition=condition)  # type: ignore[arg-type]
    except UpdateError as exc:
        if not is_condition_failure(exc):
            raise
        return False
    return True
