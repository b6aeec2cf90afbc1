"""Binding the models to a stage's tables, and creating them (local stack, tests)."""

from __future__ import annotations

import time

from pynamodb.models import Model

from chalicelib.config import Settings
from chalicelib.storage.models import ALL_MODELS

_LOGICAL = {model: model.Meta.table_name for model in ALL_MODELS}
_bound_to: tuple[str, str | None, str] | None = None


def logical_name(model: type[Model]) -> str:
    """The table's name without the stage prefix (``flows``, ``flow_runs``, …)."""
    return _LOGICAL[model]


def table_name(settings: Settings, model: type[Model]) -> str:
    return f"{settings.tables_prefix}{logical_name(model)}"


def bind(settings: Settings) -> None:
    """Point every model at ``settings``' tables, endpoint and region (cheap when unchanged)."""
    global _bound_to
    target = (settings.tables_prefix, settings.dynamodb_endpoint, settings.region)
    if _bound_to == target:
        return
    for model in ALL_MODELS:
        model.Meta.table_name = table_name(settings, model)
        model.Meta.host = settings.dynamodb_endpoint
        model.Meta.region = settings.region
        # pynamodb caches the connection per model; drop it so the new endpoint is used.
        model._connection = None
    _bound_to = target


def create_tables(settings: Settings) -> list[str]:
    """Create every missing table (on-demand billing, indexes, TTL, stream) and bring existing ones
    up to the models' indexes and stream (:func:`upgrade_table`); return the names created."""
    bind(settings)
    created = []
    for model in ALL_MODELS:
        if not model.exists():
            model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
            created.append(model.Meta.table_name)
        else:
            upgrade_table(model)
    return created


def _index_spec(index: dict) -> tuple:
    projection = index["projection"] if "projection" in index else index["Projection"]
    keys = index["key_schema"] if "key_schema" in index else index["KeySchema"]
    return (
        tuple(sorted((k["AttributeName"], k["KeyType"]) for k in keys)),
        projection["ProjectionType"],
        tuple(sorted(projection.get("NonKeyAttributes", ()))),
    )


def upgrade_table(model: type[Model]) -> list[str]:
    """Make an existing table (the local stack's kept data) match ``model``: indexes it lacks are
    created, indexes whose keys or projection changed are dropped and created again, one change at
    a time (DynamoDB's rule), and its stream is turned on. Returns what it did. Deployed stacks are
    upgraded by CloudFormation instead (README: deploying)."""
    client = model._get_connection().connection.client
    name = model.Meta.table_name
    schema = model._get_schema()
    wanted = {i["index_name"]: i for i in schema["global_secondary_indexes"]}
    types = {d["AttributeName"]: d["AttributeType"] for d in schema["attribute_definitions"]}
    done: list[str] = []

    def describe() -> dict:
        return client.describe_table(TableName=name)["Table"]

    def wait() -> None:
        for _ in range(600):
            table = describe()
            busy = [i for i in table.get("GlobalSecondaryIndexes", []) if i.get("IndexStatus") != "ACTIVE"]
            if table.get("TableStatus") == "ACTIVE" and not busy:
                return
            time.sleep(0.2)

    table = describe()
    existing = {i["IndexName"]: i for i in table.get("GlobalSecondaryIndexes", [])}
    for index_name, index in existing.items():
        if index_name not in wanted or _index_spec(index) != _index_spec(wanted[index_name]):
            client.update_table(TableName=name, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": index_name}}])
            wait()
            done.append(f"dropped {index_name}")
            existing.pop(index_name)
    for index_name, index in wanted.items():
        if index_name in existing:
            continue
        keys = sorted(index["key_schema"], key=lambda k: k["KeyType"] != "HASH")
        projection = {"ProjectionType": index["projection"]["ProjectionType"]}
        if index["projection"].get("NonKeyAttributes"):
            projection["NonKeyAttributes"] = index["projection"]["NonKeyAttributes"]
        client.update_table(
            TableName=name,
            AttributeDefinitions=[
                {"AttributeName": k["AttributeName"], "AttributeType": types[k["AttributeName"]]} for k in keys
            ],
            GlobalSecondaryIndexUpdates=[
                {"Create": {"IndexName": index_name, "KeySchema": keys, "Projection": projection}}
            ],
        )
        wait()
        done.append(f"created {index_name}")
    view = getattr(model.Meta, "stream_view_type", None)
    if view and not describe().get("StreamSpecification", {}).get("StreamEnabled"):
        client.update_table(TableName=name, StreamSpecification={"StreamEnabled": True, "StreamViewType": view})
        wait()
        done.append("stream on")
    return done


def delete_tables(settings: Settings) -> None:
    bind(settings)
    for model in ALL_MODELS:
        if model.exists():
            model.delete_table()
