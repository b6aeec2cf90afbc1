"""Deployment schedules in DynamoDB (hash ``deployment_id``, range ``id``) and their slug claims.

The deployments work writes ``spec``, ``active``, ``max_scheduled_runs``, ``parameters``, ``slug``,
``created``, ``updated`` and ``rev``; the scheduler writes ``planned_through`` and the due-index
attributes (``due_shard``/``due_at``). ``rev`` grows by one on every change of what the schedule
plans (spec, active, parameters, max_scheduled_runs), never on a slug-only change, and such a
change removes ``planned_through`` and makes the schedule due now (if active and its deployment
unpaused): the scheduler's transaction is conditioned on the ``rev`` it planned with, so a plan
made from an old spec can never be written after the change.

Writes that belong to a deployment change are added to that change's transaction by
:mod:`chalicelib.storage.deployments._writes` through the ``add_*`` functions here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from chalicelib.domain.schedule_policy import SchedulePolicy
from chalicelib.schemas.deployments import DeploymentSchedule
from chalicelib.schemas.schedules import parse_schedule, schedule_to_json
from chalicelib.storage.errors import is_condition_failure
from chalicelib.storage.labelled_transaction import LabelledTransaction
from chalicelib.storage.models import ScheduleModel, UniqueModel

DUE_SHARD = "due"


@dataclass(frozen=True)
class StoredSchedule:
    """A schedule with the bookkeeping a conditional write needs."""

    schedule: DeploymentSchedule
    rev: int
    planned_through: datetime | None
    due: bool


def slug_claim_key(deployment_id: uuid.UUID, slug: str) -> str:
    """The ``uniques`` key that makes ``slug`` unique within its deployment."""
    return f"schedule-slug/{deployment_id}/{slug}"


def to_schedule(item: ScheduleModel) -> DeploymentSchedule:
    policy = SchedulePolicy.from_json(item.policy)
    return DeploymentSchedule(
        id=uuid.UUID(item.id),
        deployment_id=uuid.UUID(item.deployment_id),
        schedule=parse_schedule(item.spec),
        active=bool(item.active),
        max_scheduled_runs=int(item.max_scheduled_runs) if item.max_scheduled_runs is not None else None,
        parameters=dict(item.parameters or {}),
        slug=item.slug,
        start_at=policy.start_at,
        end_at=policy.end_at,
        catchup_window=policy.catchup_window.total_seconds() if policy.catchup_window is not None else None,
        pause_on_failure=policy.pause_on_failure,
        jitter=policy.jitter.total_seconds() if policy.jitter is not None else None,
        overlap=policy.overlap,
        paused_by_failure=policy.paused_by_failure,
        created=item.created,
        updated=item.updated,
    )


def _stored(item: ScheduleModel) -> StoredSchedule:
    return StoredSchedule(
        schedule=to_schedule(item),
        rev=int(item.rev or 0),
        planned_through=item.planned_through,
        due=item.due_shard is not None,
    )


class ScheduleRepository:
    """Reads schedules, and moves them on and off the scheduler's due index."""

    def list_for_deployment(self, deployment_id: uuid.UUID) -> list[DeploymentSchedule]:
        """The deployment's schedules in creation order (one strongly consistent Query)."""
        return [s.schedule for s in self.stored_for_deployment(deployment_id)]

    def stored_for_deployment(self, deployment_id: uuid.UUID) -> list[StoredSchedule]:
        """The deployment's schedules with ``rev``/``planned_through`` (one consistent Query)."""
        items = ScheduleModel.query(str(deployment_id), consistent_read=True)
        return sorted((_stored(item) for item in items), key=lambda s: (s.schedule.created, str(s.schedule.id)))

    def remove_due(self, deployment_id: uuid.UUID, schedule_id: uuid.UUID) -> None:
        """Take a schedule off the due index (its deployment was paused); a missing one is ignored."""
        self._update_existing(
            deployment_id, schedule_id, [ScheduleModel.due_shard.remove(), ScheduleModel.due_at.remove()]
        )

    def make_due(self, deployment_id: uuid.UUID, schedule_id: uuid.UUID, now: datetime) -> None:
        """Plan a schedule afresh from ``now`` (its deployment was resumed): due now, nothing planned."""
        self._update_existing(
            deployment_id,
            schedule_id,
            [
                ScheduleModel.due_shard.set(DUE_SHARD),
                ScheduleModel.due_at.set(now),
                ScheduleModel.planned_through.remove(),
            ],
        )

    @staticmethod
    def _update_existing(deployment_id: uuid.UUID, schedule_id: uuid.UUID, actions: list[Action]) -> None:
        try:
            ScheduleModel(str(deployment_id), str(schedule_id)).update(
                actions=actions, condition=ScheduleModel.id.exists()
            )
        except UpdateError as exc:
            if not is_condition_failure(exc):  # deleted meanwhile: nothing to do
                raise


# ---------------------------------------------------------------------------------- transaction parts
def _due_actions(due: bool, now: datetime) -> list[Action]:
    if due:
        return [ScheduleModel.due_shard.set(DUE_SHARD), ScheduleModel.due_at.set(now)]
    return [ScheduleModel.due_shard.remove(), ScheduleModel.due_at.remove()]


def _unchanged_since(expected: StoredSchedule) -> Condition:
    """The schedule still has the ``rev`` and ``planned_through`` that were read (runs retired from)."""
    condition = ScheduleModel.rev == expected.rev
    if expected.planned_through is None:
        return condition & ScheduleModel.planned_through.does_not_exist()
    return condition & (ScheduleModel.planned_through == expected.planned_through)


def add_create(tx: LabelledTransaction, schedule: DeploymentSchedule, *, now: datetime, due: bool) -> None:
    item = ScheduleModel(
        str(schedule.deployment_id),
        str(schedule.id),
        spec=schedule_to_json(schedule.schedule),
        active=schedule.active,
        max_scheduled_runs=schedule.max_scheduled_runs,
        parameters=schedule.parameters,
        slug=schedule.slug,
        policy=schedule.policy().to_json(),
        rev=0,
        created=schedule.created,
        updated=schedule.updated,
    )
    if due:
        item.due_shard, item.due_at = DUE_SHARD, now
    tx.put(f"schedule {schedule.id}", item, condition=ScheduleModel.id.does_not_exist())


def add_replan(
    tx: LabelledTransaction, schedule: DeploymentSchedule, expected: StoredSchedule, *, now: datetime, due: bool
) -> None:
    """Rewrite what the schedule plans: ``rev`` + 1, ``planned_through`` removed, due now if ``due``."""
    actions = [
        ScheduleModel.spec.set(schedule_to_json(schedule.schedule)),
        ScheduleModel.active.set(schedule.active),
        ScheduleModel.parameters.set(schedule.parameters),
        _policy_action(schedule.policy().to_json()),
        ScheduleModel.updated.set(schedule.updated),
        ScheduleModel.rev.add(1),
        ScheduleModel.planned_through.remove(),
        _slug_action(schedule.slug),
        *_due_actions(due, now),
    ]
    if schedule.max_scheduled_runs is None:
        actions.append(ScheduleModel.max_scheduled_runs.remove())
    else:
        actions.append(ScheduleModel.max_scheduled_runs.set(schedule.max_scheduled_runs))
    item = ScheduleModel(str(schedule.deployment_id), str(schedule.id))
    tx.update(f"schedule {schedule.id}", item, actions, condition=_unchanged_since(expected))


def add_relabel(tx: LabelledTransaction, schedule: DeploymentSchedule) -> None:
    """A slug-only change: runs stay, ``rev`` stays."""
    item = ScheduleModel(str(schedule.deployment_id), str(schedule.id))
    actions = [_slug_action(schedule.slug), ScheduleModel.updated.set(schedule.updated)]
    tx.update(f"schedule {schedule.id}", item, actions, condition=ScheduleModel.id.exists())


def add_delete(
    tx: LabelledTransaction, deployment_id: uuid.UUID, expected: StoredSchedule | None, id_: uuid.UUID
) -> None:
    """Delete a schedule; with ``expected``, only while unchanged since its runs were retired."""
    condition = _unchanged_since(expected) if expected is not None else None
    tx.delete(f"schedule {id_}", ScheduleModel(str(deployment_id), str(id_)), condition=condition)


def add_slug_claims(
    tx: LabelledTransaction, deployment_id: uuid.UUID, old: dict[str, uuid.UUID], new: dict[str, uuid.UUID]
) -> None:
    """Move the deployment's slug claims from ``old`` (slug → schedule id) to ``new``: one item per
    slug whose owner changes. A claim is taken only if free (or already this schedule's)."""
    for slug, owner in new.items():
        if old.get(slug) == owner:
            continue
        claim = UniqueModel(slug_claim_key(deployment_id, slug), owner=str(owner))
        free = UniqueModel.key.does_not_exist() | (UniqueModel.owner == str(owner))
        if slug in old:
            free = free | (UniqueModel.owner == str(old[slug]))
        tx.put(f"slug {slug}", claim, condition=free)
    for slug in old.keys() - new.keys():
        tx.delete(f"slug {slug}", UniqueModel(slug_claim_key(deployment_id, slug)))


def _policy_action(policy: dict[str, object] | None) -> Action:
    return ScheduleModel.policy.remove() if policy is None else ScheduleModel.policy.set(policy)


def _slug_action(slug: str | None) -> Action:
    return ScheduleModel.slug.remove() if slug is None else ScheduleModel.slug.set(slug)
