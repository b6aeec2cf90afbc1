"""What every table shares, for model modules other than ``models.py``."""

from __future__ import annotations

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.models import Model

from chalicelib.storage.attributes import TimestampAttribute


class TableMeta:
    """Base of a model's ``Meta``: on-demand billing; region and table name are bound at run time."""

    billing_mode = "PAY_PER_REQUEST"
    region = "us-east-1"


def index_meta(name: str, projection: object) -> type:
    """The ``Meta`` of a global secondary index called ``name``."""
    return type("Meta", (), {"index_name": name, "projection": projection})


class DocumentModel(Model):
    """The attributes every simple resource's item has (``chalicelib.storage.documents``);
    subclasses add a ``Meta`` and the top-level attributes their keys and indexes need."""

    id = UnicodeAttribute(hash_key=True)
    rev = NumberAttribute(default=0)
    created = TimestampAttribute()
    updated = TimestampAttribute()
    doc = JSONAttribute(default=dict)
