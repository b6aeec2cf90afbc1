"""A deployment change as one TransactWriteItems: nothing is ever half-written.

A change carries the deployment document after the change, the ``rev`` it was computed from
(``None`` for a creation) and one write per schedule that changes. The transaction holds

- a creation: a ConditionCheck that the flow exists and a Put of the deployment on
  ``attribute_not_exists(id)``; an update: an Update of the deployment on ``rev = <read rev>``
  (``rev`` + 1, the document including its copy of the schedule list);
- per new schedule a Put on ``attribute_not_exists``; per re-planned schedule an Update (``rev`` + 1,
  ``planned_through`` removed) and per removed schedule a Delete, both conditioned on the
  ``rev``/``planned_through`` read when its runs were retired (a scheduler tick that planned in
  between fails the transaction, and the caller retires again); per slug-only change an Update;
- per slug whose owner changes, the claim ``schedule-slug/<deployment>/<slug>`` (Put if free,
  Delete when released).

Failures are told apart by the cancellation reason of each item: a missing flow is
:class:`FlowNotFoundError`, a taken slug :class:`ConflictError`, a lost optimistic lock (or a
concurrent transaction) :class:`ConcurrentUpdateError`, after which the caller re-reads and retries.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.update import Action

from chalicelib.domain.schedule_matching import Change
from chalicelib.errors import ConcurrentUpdateError, ConflictError, FlowNotFoundError
from chalicelib.schemas.deployments import Deployment, DeploymentSchedule
from chalicelib.storage.deployments import _schedules as schedule_items
from chalicelib.storage.deployments._items import UNMARKED, StoredDeployment, document, queue_key, to_item
from chalicelib.storage.deployments._schedules import StoredSchedule
from chalicelib.storage.errors import REASON_CONDITION_FAILED
from chalicelib.storage.labelled_transaction import (
    MAX_ITEMS,
    LabelledTransaction,
    only_conflicts,
)
from chalicelib.storage.models import DeploymentModel, FlowModel, ScheduleModel


@dataclass(frozen=True)
class ScheduleWrite:
    """One schedule's part of a change (``schedule`` is the new state; the old one for REMOVED)."""

    schedule: DeploymentSchedule
    change: Change
    expected: StoredSchedule | None = None  # what REPLAN/REMOVED writes are conditioned on


@dataclass(frozen=True)
class DeploymentChange:
    deployment: Deployment  # the whole document after the change
    expected_rev: int | None  # the rev it was computed from; None: a creation
    now: datetime
    schedules: list[ScheduleWrite] = field(default_factory=list)
    old_slugs: dict[str, uuid.UUID] = field(default_factory=dict)  # slug -> schedule id before the change


def slugs_of(schedules: list[DeploymentSchedule]) -> dict[str, uuid.UUID]:
    return {s.slug: s.id for s in schedules if s.slug is not None}


def transaction_items(change: DeploymentChange) -> int:
    """How many items the change's transaction holds (at most 100)."""
    new = slugs_of(change.deployment.schedules)
    moved = sum(1 for slug, owner in new.items() if change.old_slugs.get(slug) != owner)
    released = len(change.old_slugs.keys() - new.keys())
    changed = sum(1 for w in change.schedules if w.change is not Change.UNCHANGED)
    return 1 + (change.expected_rev is None) + changed + moved + released


class DeploymentWrites:
    """The transactional writes of :class:`~chalicelib.storage.deployments._repository.DeploymentRepository`."""

    def commit(self, change: DeploymentChange) -> None:
        """Write ``change`` atomically (see the module docstring for what it holds and raises)."""
        deployment = change.deployment
        tx = LabelledTransaction(DeploymentModel)
        if change.expected_rev is None:
            tx.check("flow", FlowModel, str(deployment.flow_id), FlowModel.id.exists())
            tx.put("deployment", to_item(deployment, rev=1), condition=DeploymentModel.id.does_not_exist())
        else:
            tx.update(
                "deployment",
                DeploymentModel(str(deployment.id)),
                _document_actions(deployment),
                condition=DeploymentModel.rev == change.expected_rev,
            )
        for write in change.schedules:
            _add_schedule_write(tx, deployment, write, change.now)
        schedule_items.add_slug_claims(tx, deployment.id, change.old_slugs, slugs_of(deployment.schedules))
        if len(tx) > MAX_ITEMS:
            raise ValueError(f"a deployment change of {len(tx)} items exceeds one transaction")
        try:
            tx.commit()
        except TransactWriteError as exc:
            failures = tx.failures(exc)
            if failures.get("flow") == REASON_CONDITION_FAILED:
                raise FlowNotFoundError(deployment.flow_id) from exc
            if not only_conflicts(failures):
                raise
            lost_lock = any(label == "deployment" or label.startswith("schedule ") for label in failures)
            if not lost_lock:
                slug = next(label for label in failures).removeprefix("slug ")
                raise ConflictError(
                    f"A schedule with slug {slug!r} already exists for this deployment.", slug=slug
                ) from exc
            raise ConcurrentUpdateError("Deployment", deployment.id) from exc

    def delete(self, stored: StoredDeployment) -> None:
        """Delete the deployment (if still at ``stored.rev``), its schedules and its slug claims."""
        deployment = stored.deployment
        tx = LabelledTransaction(DeploymentModel)
        tx.delete("deployment", DeploymentModel(str(deployment.id)), condition=DeploymentModel.rev == stored.rev)
        for schedule in deployment.schedules:
            tx.delete(f"schedule {schedule.id}", ScheduleModel(str(deployment.id), str(schedule.id)))
        schedule_items.add_slug_claims(tx, deployment.id, slugs_of(deployment.schedules), {})
        try:
            tx.commit()
        except TransactWriteError as exc:
            if only_conflicts(tx.failures(exc)):
                raise ConcurrentUpdateError("Deployment", deployment.id) from exc
            raise


def _document_actions(deployment: Deployment) -> list[Action]:
    actions: list[Action] = [
        DeploymentModel.paused.set(deployment.paused),
        DeploymentModel.updated.set(deployment.updated),
        DeploymentModel.doc.set(document(deployment)),
        DeploymentModel.rev.add(1),
        # by-queue: the mark's status is kept (an item older than the index gets UNMARKED: the tick
        # aligns it); an unchanged queue_id rewrites no entry.
        DeploymentModel.queue_mark.set(DeploymentModel.queue_mark | UNMARKED),
    ]
    for attribute, value in (
        (DeploymentModel.work_queue_name, deployment.work_queue_name),
        (DeploymentModel.work_pool_name, deployment.work_pool_name),
        (DeploymentModel.queue_id, queue_key(deployment)),
    ):
        actions.append(attribute.remove() if value is None else attribute.set(value))
    return actions


def _add_schedule_write(tx: LabelledTransaction, deployment: Deployment, write: ScheduleWrite, now: datetime) -> None:
    due = write.schedule.active and not deployment.paused
    if write.change is Change.NEW:
        schedule_items.add_create(tx, write.schedule, now=now, due=due)
    elif write.change is Change.REPLAN:
        if write.expected is None:
            raise ValueError("a re-planned schedule needs the state its runs were retired from")
        schedule_items.add_replan(tx, write.schedule, write.expected, now=now, due=due)
    elif write.change is Change.RELABEL:
        schedule_items.add_relabel(tx, write.schedule)
    elif write.change is Change.REMOVED:
        schedule_items.add_delete(tx, deployment.id, write.expected, write.schedule.id)
