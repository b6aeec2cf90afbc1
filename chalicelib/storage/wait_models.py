"""Tables of runs that wait: deployment concurrency slots and flow-run inputs (pause/suspend)."""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.models import Model

from chalicelib.storage.model_meta import TableMeta


class DeploymentSlotsModel(Model):
    """How many runs of a deployment hold a slot of its concurrency limit
    (:mod:`chalicelib.storage.deployment_slots`)."""

    class Meta(TableMeta):
        table_name = "deployment_slots"

    deployment_id = UnicodeAttribute(hash_key=True)
    active = NumberAttribute(default=0)


WAIT_MODELS: tuple[type[Model], ...] = (DeploymentSlotsModel,)
