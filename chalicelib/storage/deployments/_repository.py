"""Deployments in DynamoDB: one item per deployment, id = uuid5(flow_id, name).

Top-level attributes are the ones keys, indexes and conditions use (``id``, ``flow_id``, ``name``,
``paused``, ``rev``, work queue and pool, ``created``, ``updated``, ``updated_shard``,
``last_polled``); the rest of the response lives in ``doc`` -- including a copy of the deployment's
schedules, written in the same transactions as the schedule items, so reading a deployment with
its schedules is one GetItem. ``rev`` grows with every write of the document: writers read it and
condition their write on it (optimistic locking). ``status`` is not stored: the services derive it
from ``last_polled``; ``status_mark`` and the ``by-ready`` entry record the last status event
(:mod:`chalicelib.storage.deployments._readiness`).

Writes of a whole change (deployment + schedules + slug claims) are in
:mod:`chalicelib.storage.deployments._writes`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime

from pynamodb.exceptions import DeleteError, UpdateError

from chalicelib.errors import DeploymentNotFoundError
from chalicelib.schemas.deployments import Deployment
from chalicelib.schemas.filters import DeploymentFilter
from chalicelib.schemas.states import StateType
from chalicelib.storage.deployments._items import (
    UNMARKED,
    StoredDeployment,
    filter_view,
    queue_key,
    to_deployment,
    to_stored,
)
from chalicelib.storage.deployments._readiness import DeploymentReadiness
from chalicelib.storage.deployments._writes import DeploymentWrites
from chalicelib.storage.errors import is_condition_failure
from chalicelib.storage.flow_runs import never_ran_scheduled
from chalicelib.storage.models import DeploymentModel, FlowModel, FlowRunModel

#: Attempts of a cascade delete against concurrent writers before giving up.


class DeploymentRepository(DeploymentWrites, DeploymentReadiness):
    """Reads deployments; writes live in :class:`~chalicelib.storage.deployments._writes.DeploymentWrites`,
    polls and status marks in :class:`~chalicelib.storage.deployments._readiness.DeploymentReadiness`.

    Missing deployments raise :class:`DeploymentNotFoundError` (or give ``None`` from ``find``).
    """

    def find(self, id_: uuid.UUID) -> StoredDeployment | None:
        """The deployment and its ``rev`` (one strongly consistent GetItem), or ``None``."""
        try:
            return to_stored(DeploymentModel.get(str(id_), consistent_read=True))
        except DeploymentModel.DoesNotExist:
            return None

    def get_stored(self, id_: uuid.UUID) -> StoredDeployment:
        stored = self.find(id_)
        if stored is None:
            raise DeploymentNotFoundError(id_)
        return stored

    def get(self, id_: uuid.UUID) -> Deployment:
        """The deployment with its schedules: one GetItem."""
        return self.get_stored(id_).deployment

    def get_many(self, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Deployment]:
        """The deployments of ``ids`` that exist (BatchGetItem, 100 keys a request)."""
        keys = [str(i) for i in dict.fromkeys(ids)]
        return {d.id: d for d in map(to_deployment, DeploymentModel.batch_get(keys))}

    def scan(self) -> Iterator[Deployment]:
        """Every deployment: a Scan. Only the operator paths (filter, count, paginate) use it."""
        for item in DeploymentModel.scan():
            yield to_deployment(item)

    def enter_queue_index(self) -> tuple[int, int]:
        """Give every deployment of a work pool's queue stored before the ``by-queue`` index its
        entry (``queue_id``, and ``queue_mark`` unmarked), so the queue's status events reach it
        without waiting for its next update (``cirrus migrate-runs``). Each an UpdateItem on the
        ``rev`` read and on having no ``queue_id``: a deployment written since keeps what that
        write gave it; idempotent. Returns (entered, left as they were)."""
        entered = kept = 0
        for item in DeploymentModel.scan():
            key = queue_key(to_deployment(item))
            if key is None or item.queue_id is not None:
                kept += 1
                continue
            condition = (DeploymentModel.rev == item.rev) & DeploymentModel.queue_id.does_not_exist()
            try:
                item.update(
                    actions=[DeploymentModel.queue_id.set(key), DeploymentModel.queue_mark.set(UNMARKED)],
                    condition=condition,
                )
            except UpdateError as exc:
                if not is_condition_failure(exc):
                    raise
                kept += 1
                continue
            entered += 1
        return entered, kept

    def ids_for_flow(self, flow_id: uuid.UUID) -> list[uuid.UUID]:
        """A flow's deployments' ids, by name (the by-flow-keys index: eventually consistent)."""
        return [uuid.UUID(item.id) for item in DeploymentModel.by_flow.query(str(flow_id))]

    def set_paused(self, id_: uuid.UUID, paused: bool, now: datetime) -> StoredDeployment | None:
        """Set ``paused`` (bumping ``rev`` and ``updated``) unless it already has that value.

        Returns the deployment as written, or ``None`` when nothing changed. One conditional
        UpdateItem (plus a GetItem to tell "unchanged" from "missing" when its condition fails).
        """
        item = DeploymentModel(str(id_))
        try:
            actions = [DeploymentModel.paused.set(paused), DeploymentModel.updated.set(now), DeploymentModel.rev.add(1)]
            item.update(
                actions=actions,
                condition=DeploymentModel.id.exists() & (DeploymentModel.paused != paused),
            )
        except UpdateError as exc:
            if not is_condition_failure(exc):
                raise
            if self.find(id_) is None:
                raise DeploymentNotFoundError(id_) from exc
            return None
        return to_stored(item)

    @staticmethod
    def delete_unstarted_runs(deployment_id: uuid.UUID, *, auto_scheduled_only: bool = False) -> int:
        """Delete the deployment's runs still SCHEDULED with run_count 0 (optionally only the
        auto-scheduled ones) found in its ``SCHEDULED#`` range of by-owner-state; each delete is
        conditional on both, so a run that starts meanwhile stays. Returns how many were deleted."""
        deleted = 0
        prefix = f"{StateType.SCHEDULED.value}#"
        only_auto = FlowRunModel.auto_scheduled == True if auto_scheduled_only else None  # noqa: E712
        items = FlowRunModel.by_owner.query(
            str(deployment_id), FlowRunModel.owner_sort.startswith(prefix), filter_condition=only_auto
        )
        for item in items:
            try:
                FlowRunModel(item.id).delete(condition=never_ran_scheduled())
            except DeleteError as exc:
                if not is_condition_failure(exc):
                    raise
                continue
            deleted += 1
        return deleted

    def flow_ids_matching(self, flt: DeploymentFilter) -> set[uuid.UUID]:
        """Flows having a deployment that passes ``flt`` (flows' ``deployments`` filter; a Scan)."""
        deployments = list(self.scan())
        names = self._flow_names({d.flow_id for d in deployments}) if _needs_flow_name(flt) else {}
        return {d.flow_id for d in deployments if flt.matches(filter_view(d, names.get(d.flow_id)))}

    @staticmethod
    def _flow_names(flow_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
        return {uuid.UUID(item.id): item.name for item in FlowModel.batch_get([str(i) for i in flow_ids])}


def _needs_flow_name(flt: DeploymentFilter | None) -> bool:
    return flt is not None and flt.flow_or_deployment_name is not None
