"""Tables of runs that wait: deployment concurrency slots and flow-run inputs (pause/suspend)."""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.models import Model

from chalicelib.storage.attributes import TimestampAttribute
from chalicelib.storage.model_meta import TableMeta


class DeploymentSlotsModel(Model):
    """How many runs of a deployment hold a slot of its concurrency limit
    (:mod:`chalicelib.storage.deployment_slots`)."""

    class Meta(TableMeta):
        table_name = "deployment_slots"

    deployment_id = UnicodeAttribute(hash_key=True)
    active = NumberAttribute(default=0)
    # A schedule's overlap counter (key ``schedule/<id>``, :mod:`chalicelib.storage.schedule_overlap`)
    # also counts its one waiting run and names the last runs that took each token.
    waiting = NumberAttribute(null=True)
    holder = UnicodeAttribute(null=True)
    waiter = UnicodeAttribute(null=True)


class FlowRunInputModel(Model):
    """A flow run's input (a paused run's schema, its response, ``send_input`` messages): unique
    per (run, key); a run's inputs are one partition, so a key-prefix filter is one Query."""

    class Meta(TableMeta):
        table_name = "flow_run_inputs"

    flow_run_id = UnicodeAttribute(hash_key=True)
    key = UnicodeAttribute(range_key=True)
    id = UnicodeAttribute()
    value = UnicodeAttribute()
    sender = UnicodeAttribute(null=True)
    created = TimestampAttribute()


WAIT_MODELS: tuple[type[Model], ...] = (DeploymentSlotsModel, FlowRunInputModel)
