"""Deployments in DynamoDB (skeleton: extended by the deployments work)."""

from __future__ import annotations

import uuid
from datetime import datetime

from chalicelib.schemas.filters import DeploymentFilter
from chalicelib.storage.models import DeploymentModel


class DeploymentRepository:
    def delete_for_flow(self, flow_id: uuid.UUID, now: datetime) -> None:
        for item in DeploymentModel.by_flow.query(str(flow_id)):
            item.delete()

    def flow_ids_matching(self, flt: DeploymentFilter) -> set[uuid.UUID]:
        return set()
