"""The template is the schema: storage and API tests run on tables made from the synthesized template.

The tables are created on a DynamoDB Local of this test's own from the template's definitions
(``template_tables``: names, keys, attribute types, GSIs/LSIs and projections, billing, streams, TTL),
renamed to the test stage's prefix, and a representative subset of the storage and API suites runs
against them in a subprocess (``--dynamodb local``, pointed at that instance through
``CIRRUS_TEST_DYNAMODB_ENDPOINT``). ``create_tables`` then finds every table present and would only
*upgrade* one that differs from the models, so afterwards every table must still be exactly what the
template defined and none may have been added: a model whose table, index, projection or stream the
template lacks fails here, as does a query the template's tables cannot serve.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from typing import Any

from chalicelib.config import Settings
from tests.package.conftest import ROOT, dynamodb_client
from tests.package.template_tables import create_template_tables, tables

#: The suites' files that run on the template's tables: the runs, deployments and API-key storage, and
#: the API's reads at scale (every call of the UI, client, runner and worker over a seeded store, so
#: every index of the runs tables and the kept counts).
SUBSET = (
    "tests/storage/test_flow_runs_queries.py",
    "tests/storage/test_deployments_storage.py",
    "tests/storage/test_api_keys.py",
    "tests/api/test_reads_without_scans.py",
)


def _indexes(indexes: list[dict[str, Any]] | None) -> dict[str, Any]:
    """Indexes by name: keys, projection type, projected attributes (DescribeTable and the template alike)."""
    return {
        i["IndexName"]: (sorted(map(str, i["KeySchema"])), i["Projection"]["ProjectionType"],
                         sorted(i["Projection"].get("NonKeyAttributes", [])))
        for i in indexes or []
    }  # fmt: skip


def _described(client: Any, name: str) -> dict[str, Any]:
    """The schema DynamoDB reports for ``name``, in the template's terms."""
    table = client.describe_table(TableName=name)["Table"]
    ttl = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]

    stream = table.get("StreamSpecification") or {}
    return {
        "keys": sorted(map(str, table["KeySchema"])),
        "attributes": sorted(map(str, table["AttributeDefinitions"])),
        "gsis": _indexes(table.get("GlobalSecondaryIndexes")),
        "lsis": _indexes(table.get("LocalSecondaryIndexes")),
        "stream": stream.get("StreamViewType") if stream.get("StreamEnabled") else None,
        "billing": (table.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED"),
        "ttl": ttl.get("AttributeName") if ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING") else None,
    }


def _declared(props: dict[str, Any]) -> dict[str, Any]:
    """The same view of one template table's properties."""

    ttl = props.get("TimeToLiveSpecification") or {}
    return {
        "keys": sorted(map(str, props["KeySchema"])),
        "attributes": sorted(map(str, props["AttributeDefinitions"])),
        "gsis": _indexes(props.get("GlobalSecondaryIndexes")),
        "lsis": _indexes(props.get("LocalSecondaryIndexes")),
        "stream": (props.get("StreamSpecification") or {}).get("StreamViewType"),
        "billing": props.get("BillingMode", "PROVISIONED"),
        "ttl": ttl.get("AttributeName") if ttl.get("Enabled") else None,
    }


def test_storage_and_api_suites_pass_on_the_templates_tables(artifact, ddb_endpoint):
    template = artifact["template"]
    deployed_prefix = f"cirrus-{artifact['manifest']['stage']}-"
    test_prefix = Settings(stage="test").tables_prefix
    client = dynamodb_client(ddb_endpoint)
    for name in client.list_tables()["TableNames"]:
        if name.startswith(test_prefix):
            client.delete_table(TableName=name)

    def rename(name: str) -> str:
        assert name.startswith(deployed_prefix), name
        return test_prefix + name.removeprefix(deployed_prefix)

    expected = {rename(name): _declared(props) for name, props in tables(template).items()}
    created = create_template_tables(client, template, rename)
    assert sorted(created) == sorted(expected)
    assert {name: _described(client, name) for name in created} == expected  # DynamoDB Local took them as given

    env = {**os.environ, "CIRRUS_TEST_DYNAMODB_ENDPOINT": ddb_endpoint}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *SUBSET, "--dynamodb", "local", "-q", "-p", "no:cacheprovider", "-x",
         "-o", "addopts="],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    passed = re.search(r"(\d+) passed", done.stdout)
    assert passed and int(passed.group(1)) >= 40, done.stdout[-2000:]

    now = sorted(n for n in client.list_tables()["TableNames"] if n.startswith(test_prefix))
    assert now == sorted(expected), f"the models needed tables the template lacks: {sorted(set(now) - set(expected))}"
    changed = {name: _described(client, name) for name in now if _described(client, name) != expected[name]}
    assert not changed, f"the models needed a schema the template lacks (create_tables upgraded): {changed}"
