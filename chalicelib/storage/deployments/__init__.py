"""Deployments and their schedules in DynamoDB.

- ``_repository``: the deployments table (one item per deployment, schedules copied into ``doc``);
- ``_schedules``: the schedules table and its slug claims;
- ``_items``: mapping a deployment to and from its item;
- ``_writes``: one deployment change as one TransactWriteItems;
- ``_readiness``: polls, status marks and the by-ready entries (deployment status events).
"""

from chalicelib.storage.deployments._items import filter_view, to_item
from chalicelib.storage.deployments._repository import DeploymentRepository
from chalicelib.storage.deployments._schedules import ScheduleRepository, slug_claim_key
from chalicelib.storage.deployments._writes import (
    DeploymentChange,
    ScheduleWrite,
    slugs_of,
    transaction_items,
)

__all__ = [
    "DeploymentChange",
    "DeploymentRepository",
    "ScheduleRepository",
    "ScheduleWrite",
    "filter_view",
    "slug_claim_key",
    "slugs_of",
    "to_item",
    "transaction_items",
]
