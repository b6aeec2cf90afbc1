"""An emulator deploy: the synthesized stack created by moto's CloudFormation, as far as it goes.

Nothing here reaches AWS, and LocalStack needs Docker for its runtime, so the highest-fidelity deploy
that runs on this machine is moto's server: its CloudFormation implements the resource types most of
the stack is made of. The template goes through the steps ``cdk deploy`` takes: the code asset is
uploaded to the bootstrap bucket under the key the template names (the layer and UI assets as
placeholders), the bootstrap version parameter is set, the SAM transform is expanded (by AWS's own
translator, pinned: ``sam_translate.py``; moto has no transforms) and the stack is created.

Then each resource is checked where it landed, through the service's own API: the tables (keys, GSIs,
streams), the functions (handler, runtime, code from the package), the EventBridge rules and their
schedules, the stream mappings, the roles, the REST and WebSocket APIs. The resource types moto cannot
create (it skips them, and so they are absent from the stack's resources) must be exactly those of
:data:`MOTO_CANNOT_CREATE`; the report lands in ``build/package/<stage>/emulator-report.json``.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import time
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from devstack.processes import free_port, http_get
from tests.package.conftest import PACKAGE_DIR, _interpreter, tool_venv

SAM_TRANSLATOR = "aws-sam-translator==1.115.0"
ACCOUNT, REGION = "123456789012", "us-east-1"
#: What moto 5.2.5 cannot create of this stack, found when this test was written: resource types its
#: CloudFormation does not implement (it skips them, and a reference to one fails the whole stack),
#: CDK's BucketDeployment, a custom resource whose provider Lambda moto could only run in Docker, and
#: the REST API's deployment: moto's RestApi ignores its OpenAPI ``Body``, so it has no methods to deploy
#: (nor can moto import the body afterwards: PutRestApi takes OpenAPI 3 only, Chalice writes Swagger 2.0).
MOTO_CANNOT_CREATE = {
    "AWS::ApiGateway::Deployment", "AWS::ApiGateway::Stage", "AWS::S3::BucketPolicy",
    "AWS::ApiGatewayV2::Api", "AWS::ApiGatewayV2::Deployment", "AWS::ApiGatewayV2::Integration",
    "AWS::ApiGatewayV2::Route", "AWS::ApiGatewayV2::Stage",
    "AWS::CloudFront::CachePolicy", "AWS::CloudFront::Distribution", "AWS::CloudFront::Function",
    "AWS::CloudFront::OriginAccessControl",
    "Custom::CDKBucketDeployment",
}  # fmt: skip


def _references(node: Any) -> set[str]:
    """The logical ids ``node`` refers to (Ref, Fn::GetAtt, ${...} in Fn::Sub, DependsOn)."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                found.add(value[0] if isinstance(value, list) else value.split(".", 1)[0])
            elif key == "Fn::Sub":
                pattern = value[0] if isinstance(value, list) else value
                found.update(m.split(".", 1)[0] for m in re.findall(r"\$\{([^}!]+)\}", pattern))
            elif key == "DependsOn":
                found.update([value] if isinstance(value, str) else value)
            found |= _references(value)
    elif isinstance(node, list):
        for value in node:
            found |= _references(value)
    return found


def for_moto(template: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The template moto can take, and what was taken out: the resources moto cannot create (types it
    does not implement, custom resources) and, transitively, every resource and output that refers to
    one. One gap is filled as AWS fills it: a REST API's name is its OpenAPI body's title."""
    from moto.cloudformation.parsing import get_model_map

    implemented = set(get_model_map())
    resources = dict(template["Resources"])

    def unsupported(kind: str) -> bool:
        return kind not in implemented or kind.startswith("Custom::") or kind == "AWS::ApiGateway::Deployment"

    removed = {n for n, r in resources.items() if unsupported(r["Type"])}
    while True:
        dependent = {n for n, r in resources.items() if n not in removed and _references(r) & removed}
        if not dependent:
            break
        removed |= dependent
    adapted = json.loads(
        json.dumps({**template, "Resources": {n: r for n, r in resources.items() if n not in removed}})
    )
    outputs = {n: o for n, o in template.get("Outputs", {}).items() if not _references(o) & removed}
    adapted["Outputs"] = outputs
    for resource in adapted["Resources"].values():
        props = resource["Properties"]
        if resource["Type"] == "AWS::ApiGateway::RestApi" and "Name" not in props:
            props["Name"] = props["Body"]["info"]["title"]
    lacking = {n for n in removed if unsupported(resources[n]["Type"])}
    return adapted, {
        "unsupported": sorted(lacking),
        "dependents": sorted(removed - lacking),
        "outputs": sorted(set(template.get("Outputs", {})) - set(outputs)),
    }


@pytest.fixture(scope="module")
def expanded(artifact, tmp_path_factory) -> dict[str, Any]:
    """The template with its SAM transform expanded by AWS's translator."""
    python = tool_venv(f"{SAM_TRANSLATOR.replace('==', '-')}", _interpreter("3.11") or Path(sys.executable),
                       [SAM_TRANSLATOR])  # fmt: skip
    done = subprocess.run(
        [str(python), str(Path(__file__).with_name("sam_translate.py"))],
        input=json.dumps(artifact["template"]), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def moto_server() -> Any:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while http_get(f"http://127.0.0.1:{port}/moto-api/data.json") is None:
            assert time.monotonic() < deadline and process.poll() is None, "moto server did not start"
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _client(endpoint: str, service: str) -> Any:
    import boto3

    return boto3.client(service, endpoint_url=endpoint, region_name=REGION, aws_access_key_id="testing",
                        aws_secret_access_key="testing")  # fmt: skip


def _placeholder_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("placeholder.txt", "an asset this rehearsal does not need")
    return buffer.getvalue()


def _asset_keys(template: dict[str, Any]) -> set[str]:
    """Every S3 key of the bootstrap bucket the template names (code, layers, UI files)."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key in ("S3Key", "Key"):
                if isinstance(node.get(key), str) and node[key].endswith(".zip"):
                    found.add(node[key])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
            if all(isinstance(v, str) for v in node):
                found.update(v for v in node if v.endswith(".zip") and "/" not in v)

    walk(template["Resources"])
    return found


@pytest.fixture(scope="module")
def deployed(artifact, expanded, moto_server) -> dict[str, Any]:
    """Deploy the expanded template to moto as ``cdk deploy`` would; the stack's resources."""
    template = artifact["template"]
    (code_key,) = {p["Properties"]["CodeUri"]["Key"] for p in template["Resources"].values()
                   if p["Type"] == "AWS::Serverless::Function"}  # fmt: skip
    s3 = _client(moto_server, "s3")
    bucket = f"cdk-hnb659fds-assets-{ACCOUNT}-{REGION}"
    s3.create_bucket(Bucket=bucket)
    placeholder = _placeholder_zip()
    for key in _asset_keys(expanded):
        body = artifact["zip"].read_bytes() if key == code_key else placeholder
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    _client(moto_server, "ssm").put_parameter(Name="/cdk-bootstrap/hnb659fds/version", Value="30", Type="String")

    adapted, taken_out = for_moto(expanded)
    cloudformation = _client(moto_server, "cloudformation")
    stack = f"cirrus-{artifact['manifest']['stage']}"
    started = time.monotonic()
    capabilities = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
    cloudformation.create_stack(StackName=stack, TemplateBody=json.dumps(adapted), Capabilities=capabilities)
    status = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
    while status["StackStatus"].endswith("IN_PROGRESS") and time.monotonic() - started < 300:
        time.sleep(1)
        status = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
    resources = cloudformation.list_stack_resources(StackName=stack)["StackResourceSummaries"]
    created = {r["LogicalResourceId"]: r for r in resources}
    wanted = {name: r["Type"] for name, r in expanded["Resources"].items()}
    report = {
        "stack_status": status["StackStatus"],
        "seconds": round(time.monotonic() - started, 1),
        "created": dict(sorted(Counter(wanted[n] for n in created if n in wanted).items())),
        "not_created": dict(sorted(Counter(t for n, t in wanted.items() if n not in created).items())),
        "taken_out_for_moto": taken_out,
    }
    (PACKAGE_DIR / "emulator-report.json").write_text(json.dumps(report, indent=1) + "\n")
    return {"endpoint": moto_server, "status": status, "created": created, "wanted": wanted, "report": report,
            "code_size": artifact["zip"].stat().st_size}  # fmt: skip


def test_the_stack_creates_on_moto_except_what_moto_lacks(deployed):
    report = deployed["report"]
    assert report["stack_status"] == "CREATE_COMPLETE", deployed["status"]
    unsupported = {deployed["wanted"][n] for n in report["taken_out_for_moto"]["unsupported"]}
    assert unsupported == MOTO_CANNOT_CREATE, report
    needed = {"AWS::DynamoDB::Table", "AWS::Lambda::Function", "AWS::Events::Rule", "AWS::Lambda::EventSourceMapping",
              "AWS::IAM::Role", "AWS::ApiGateway::RestApi"}  # fmt: skip
    assert set(report["created"]) >= needed, report
    # Everything else of the stack was created: only what depends on the unsupported parts is missing.
    missing = {n for n in deployed["wanted"] if n not in deployed["created"]}
    taken = report["taken_out_for_moto"]
    assert missing == set(taken["unsupported"]) | set(taken["dependents"]), report


def test_the_tables_land_as_the_template_defines_them(deployed, expanded):
    dynamodb = _client(deployed["endpoint"], "dynamodb")
    declared = {r["Properties"]["TableName"]: r["Properties"] for r in expanded["Resources"].values()
                if r["Type"] == "AWS::DynamoDB::Table"}  # fmt: skip
    assert sorted(dynamodb.list_tables()["TableNames"]) == sorted(declared)
    for name, props in declared.items():
        table = dynamodb.describe_table(TableName=name)["Table"]
        assert table["KeySchema"] == props["KeySchema"], name
        assert {i["IndexName"] for i in table.get("GlobalSecondaryIndexes", [])} == {
            i["IndexName"] for i in props.get("GlobalSecondaryIndexes", [])
        }, name
        assert bool(table.get("StreamSpecification", {}).get("StreamEnabled")) == ("StreamSpecification" in props)


def test_the_functions_schedules_and_stream_mappings_land(deployed, expanded, artifact):
    endpoint = deployed["endpoint"]
    lambdas = {f["Handler"]: f for f in _client(endpoint, "lambda").list_functions()["Functions"]}
    taken_out = set(deployed["report"]["taken_out_for_moto"]["dependents"])  # e.g. the fan-out: the WebSocket API
    for name, handler in artifact["manifest"]["handlers"].items():
        if name in taken_out:
            continue
        function = lambdas[handler]
        assert function["Runtime"] in artifact["manifest"]["runtime"], name
        assert function["CodeSize"] == deployed["code_size"], name  # the package, as uploaded
    rules = _client(endpoint, "events").list_rules()["Rules"]
    declared = sorted(r["Properties"]["ScheduleExpression"] for r in expanded["Resources"].values()
                      if r["Type"] == "AWS::Events::Rule")  # fmt: skip
    assert sorted(r["ScheduleExpression"] for r in rules) == declared and len(declared) >= 5
    mappings = _client(endpoint, "lambda").list_event_source_mappings()["EventSourceMappings"]
    assert len(mappings) == sum(1 for n, r in expanded["Resources"].items()
                                if r["Type"] == "AWS::Lambda::EventSourceMapping" and n not in taken_out)  # fmt: skip
    assert all(m["EventSourceArn"].startswith(f"arn:aws:dynamodb:{REGION}:") for m in mappings)
