"""Mapping between :class:`Deployment` and its DynamoDB item (see :mod:`chalicelib.storage.deployments._repository`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.schemas.deployments import Deployment
from chalicelib.storage.models import DeploymentModel

_TOP_LEVEL = {
    "id", "flow_id", "name", "paused", "work_queue_name", "work_pool_name", "created", "updated",
    "last_polled", "status",
}  # fmt: skip


#: ``queue_mark`` of a deployment without a status mark yet (sorts before ``NOT_READY`` and ``READY``).
UNMARKED = "-"


def queue_key(deployment: Deployment) -> str | None:
    """The deployment's by-queue partition: its work pool queue's id (None outside a work pool)."""
    if deployment.work_pool_name is None or deployment.work_queue_id is None:
        return None
    return str(deployment.work_queue_id)


@dataclass(frozen=True)
class StoredDeployment:
    """A deployment and the ``rev`` a conditional write of it must name."""

    deployment: Deployment
    rev: int


def to_item(deployment: Deployment, rev: int) -> DeploymentModel:
    data = deployment.model_dump(mode="json")
    return DeploymentModel(
        str(deployment.id),
        flow_id=str(deployment.flow_id),
        name=deployment.name,
        paused=deployment.paused,
        rev=rev,
        work_queue_name=deployment.work_queue_name,
        work_pool_name=deployment.work_pool_name,
        created=deployment.created,
        updated=deployment.updated,
        last_polled=deployment.last_polled,
        queue_id=queue_key(deployment),
        queue_mark=UNMARKED,
        doc={k: v for k, v in data.items() if k not in _TOP_LEVEL},
    )


def document(deployment: Deployment) -> dict[str, Any]:
    """The ``doc`` attribute of ``deployment`` (everything not kept top-level)."""
    return {k: v for k, v in deployment.model_dump(mode="json").items() if k not in _TOP_LEVEL}


def to_deployment(item: DeploymentModel) -> Deployment:
    data = dict(item.doc or {})
    data.update(
        id=item.id,
        flow_id=item.flow_id,
        name=item.name,
        paused=bool(item.paused),
        work_queue_name=item.work_queue_name,
        work_pool_name=item.work_pool_name,
        created=item.created,
        updated=item.updated,
        last_polled=item.last_polled,
    )
    return Deployment.model_validate(data)


def to_stored(item: DeploymentModel) -> StoredDeployment:
    return StoredDeployment(to_deployment(item), int(item.rev or 0))


def filter_view(deployment: Deployment, flow_name: str | None) -> dict[str, Any]:
    """What a :class:`DeploymentFilter` evaluates: the deployment's fields and its flow's name."""
    return {**deployment.model_dump(), "flow_name": flow_name}
