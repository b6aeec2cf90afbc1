"""DynamoDB tables made from a synthesized CloudFormation template's own definitions.

:func:`create_request` turns an ``AWS::DynamoDB::Table`` resource into the CreateTable request
CloudFormation would make (names, keys, attribute types, GSIs and LSIs with their projections,
billing, streams, deletion protection); :func:`create_template_tables` sends them and then turns on
TTL as the template asks. A property this module does not know fails loudly: a table feature added
to ``infra/`` must be rehearsed here too, or at least named in :data:`NOT_REHEARSED`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: Table properties CloudFormation applies after creation (or that DynamoDB Local does not model):
#: point-in-time recovery is a backup setting, not a schema, and DynamoDB Local has no backups.
NOT_REHEARSED = {"PointInTimeRecoverySpecification"}
#: Properties copied as they are into CreateTable.
_AS_IS = ("TableName", "KeySchema", "AttributeDefinitions", "BillingMode", "DeletionProtectionEnabled")
_INDEX_FIELDS = ("IndexName", "KeySchema", "Projection")
_KNOWN = set(_AS_IS) | {"GlobalSecondaryIndexes", "LocalSecondaryIndexes", "StreamSpecification"}
_KNOWN |= {"TimeToLiveSpecification"} | NOT_REHEARSED


def tables(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The template's tables' properties, by table name."""
    found = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::DynamoDB::Table"]
    return {props["TableName"]: props for props in found}


def _index(index: dict[str, Any]) -> dict[str, Any]:
    unknown = set(index) - set(_INDEX_FIELDS)
    assert not unknown, f"{index['IndexName']}: index properties not rehearsed: {sorted(unknown)}"
    return {field: index[field] for field in _INDEX_FIELDS}


def create_request(props: dict[str, Any], rename: Callable[[str], str] = str) -> dict[str, Any]:
    """The CreateTable request of one template table (``rename`` maps its name, e.g. to a test stage)."""
    unknown = set(props) - _KNOWN
    assert not unknown, f"{props['TableName']}: table properties not rehearsed: {sorted(unknown)}"
    request = {field: props[field] for field in _AS_IS if field in props}
    request["TableName"] = rename(props["TableName"])
    for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if props.get(kind):
            request[kind] = [_index(index) for index in props[kind]]
    if "StreamSpecification" in props:
        request["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
    return request


def create_template_tables(client: Any, template: dict[str, Any], rename: Callable[[str], str] = str) -> list[str]:
    """Create every table of ``template`` through ``client`` (a boto3 DynamoDB client); their names."""
    names = []
    for props in tables(template).values():
        request = create_request(props, rename)
        client.create_table(**request)
        client.get_waiter("table_exists").wait(TableName=request["TableName"])
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            client.update_time_to_live(
                TableName=request["TableName"],
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
            )
        names.append(request["TableName"])
    return names
