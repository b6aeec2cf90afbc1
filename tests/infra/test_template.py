"""The synthesized CloudFormation templates (``infra/``) against the code they deploy.

Synthesized once per session, offline (no AWS account, no cdk CLI), with the infra virtualenv
(``make infra-venv``); skipped with a reason when it is absent, unless ``CIRRUS_INFRA_PYTHON``
names it (``make test`` does), in which case a missing interpreter is a failure.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import zipfile
from pathlib import Path
from typing import Any

import boto3
import pytest
from chalice.app import ScheduledEventConfig

from chalicelib.config import Settings
from chalicelib.storage.models import ALL_MODELS
from chalicelib.storage.tables import create_tables, logical_name

ROOT = Path(__file__).resolve().parents[2]
STAGES = ("dev", "prod")
AUTHORIZER = "api_key_authorizer"
#: Every DynamoDB action the code may use (TransactWriteItems is authorised per item).
ALLOWED_TABLE_ACTIONS = {
    "dynamodb:BatchGetItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DeleteItem",
    "dynamodb:DescribeTable",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:Scan",
    "dynamodb:UpdateItem",
}
ALLOWED_INDEX_ACTIONS = {"dynamodb:Query", "dynamodb:Scan"}
#: The run counts' consumers read the runs tables' streams (and only those).
ALLOWED_STREAM_ACTIONS = {
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
}


def _infra_python() -> Path:
    named = os.environ.get("CIRRUS_INFRA_PYTHON")
    python = Path(named) if named else ROOT / "infra" / ".venv" / "bin" / "python"
    if not python.is_absolute():
        python = ROOT / python
    if not python.exists():
        if named:
            pytest.fail(f"CIRRUS_INFRA_PYTHON={named} does not exist: run `make infra-venv`")
        pytest.skip("infra/.venv is absent: `make infra-venv` builds it (make test does)")
    return python


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    python = _infra_python()
    outdir = tmp_path_factory.mktemp("cdk.out")
    env = {
        **os.environ,
        "CDK_OUTDIR": str(outdir),
        "CDK_CONTEXT_JSON": json.dumps({"stages": ",".join(STAGES)}),
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    }
    started = time.monotonic()
    done = subprocess.run(
        [str(python), str(ROOT / "infra" / "app.py")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    lines = done.stdout.strip().splitlines()
    return {
        "seconds": time.monotonic() - started,
        "stdout_lines": lines,
        "stderr": done.stderr,
        "outdir": outdir,
        "paths": {stage: outdir / f"{stage}.template.json" for stage in STAGES},
    }


@pytest.fixture(scope="session")
def templates(synth: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {stage: json.loads(path.read_text()) for stage, path in synth["paths"].items()}


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def tables_by_name(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["Properties"]["TableName"]: r for r in resources(template, "AWS::DynamoDB::Table").values()}


def the_app() -> Any:
    from app import app

    return app


# --------------------------------------------------------------------------- synth
def test_synth_prints_the_template_path_last_and_leaves_nothing_behind(synth):
    assert synth["stdout_lines"][-1] == str(synth["paths"]["prod"])
    assert str(synth["paths"]["dev"]) in synth["stdout_lines"]
    assert "end-of-life" not in synth["stderr"].lower()  # jsii's Node 20 banner is silenced
    assert not (ROOT / "chalice.out").exists()
    assert not (ROOT / "infra" / "chalice.out").exists()


# --------------------------------------------------------------------------- tables
def _described(settings: Settings) -> dict[str, dict[str, Any]]:
    """The tables ``create_tables`` makes from the models (moto), as DescribeTable reports them."""
    create_tables(settings)
    client = boto3.client("dynamodb", region_name=settings.region)
    out = {}
    for model in ALL_MODELS:
        name = f"{settings.tables_prefix}{logical_name(model)}"
        table = client.describe_table(TableName=name)["Table"]
        ttl = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        table["TTL"] = ttl.get("AttributeName") if ttl.get("TimeToLiveStatus") == "ENABLED" else None
        out[name] = table
    return out


def _keys(key_schema: list[dict[str, str]]) -> list[tuple[str, str]]:
    return sorted((k["KeyType"], k["AttributeName"]) for k in key_schema)


def _indexes(indexes: list[dict[str, Any]] | None) -> dict[str, Any]:
    return {
        i["IndexName"]: (
            _keys(i["KeySchema"]),
            i["Projection"]["ProjectionType"],
            sorted(i["Projection"].get("NonKeyAttributes", [])),
        )
        for i in indexes or []
    }


def _attributes(definitions: list[dict[str, str]]) -> set[tuple[str, str]]:
    return {(d["AttributeName"], d["AttributeType"]) for d in definitions}


@pytest.mark.parametrize("stage", STAGES)
def test_tables_are_the_models_tables(templates, aws, stage):
    expected = _described(Settings(stage=stage, region="us-east-1"))
    deployed = tables_by_name(templates[stage])
    assert set(deployed) == set(expected) == {f"cirrus-{stage}-{logical_name(m)}" for m in ALL_MODELS}
    for name, table in expected.items():
        props = deployed[name]["Properties"]
        assert _keys(props["KeySchema"]) == _keys(table["KeySchema"]), name
        assert _attributes(props["AttributeDefinitions"]) == _attributes(table["AttributeDefinitions"]), name
        assert _indexes(props.get("GlobalSecondaryIndexes")) == _indexes(table.get("GlobalSecondaryIndexes")), name
        assert _indexes(props.get("LocalSecondaryIndexes")) == _indexes(table.get("LocalSecondaryIndexes")), name
        ttl = props.get("TimeToLiveSpecification")
        assert (ttl["AttributeName"] if ttl and ttl["Enabled"] else None) == table["TTL"], name
    assert any(t["TTL"] for t in expected.values())  # flow runs expire


@pytest.mark.parametrize("stage", STAGES)
def test_tables_are_on_demand_with_point_in_time_recovery(templates, stage):
    for name, table in tables_by_name(templates[stage]).items():
        props = table["Properties"]
        assert props["BillingMode"] == "PAY_PER_REQUEST", name
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}, name


def test_prod_tables_are_retained_and_protected_dev_tables_are_not(templates):
    for table in tables_by_name(templates["prod"]).values():
        assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == ("Retain", "Retain")
        assert table["Properties"]["DeletionProtectionEnabled"] is True
    for table in tables_by_name(templates["dev"]).values():
        assert table["DeletionPolicy"] == "Delete"
        assert table["Properties"]["DeletionProtectionEnabled"] is False


# --------------------------------------------------------------------------- the app
def functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return resources(template, "AWS::Serverless::Function")


@pytest.mark.parametrize("stage", STAGES)
def test_every_app_schedule_is_an_eventbridge_schedule(templates, stage):
    app = the_app()
    by_handler = {f["Properties"]["Handler"]: f["Properties"] for f in functions(templates[stage]).values()}
    scheduled = [e for e in app.event_sources if isinstance(e, ScheduledEventConfig)]
    for source in scheduled:
        expression = source.schedule_expression
        expression = expression if isinstance(expression, str) else expression.to_string()
        events = by_handler[source.handler_string].get("Events", {}).values()
        assert [e["Properties"]["Schedule"] for e in events if e["Type"] == "Schedule"] == [expression]
    in_template = [e for f in functions(templates[stage]).values() for e in f["Properties"].get("Events", {}).values()]
    assert len([e for e in in_template if e["Type"] == "Schedule"]) == len(scheduled)


@pytest.mark.parametrize("stage", STAGES)
def test_every_route_but_health_goes_through_the_uncached_authorizer(templates, stage):
    app = the_app()
    api = resources(templates[stage], "AWS::Serverless::Api")["RestAPI"]["Properties"]
    assert api["StageName"] == "api"
    body = api["DefinitionBody"]
    authorizer = body["securityDefinitions"][AUTHORIZER]
    assert authorizer["x-amazon-apigateway-authorizer"]["authorizerResultTtlInSeconds"] == 0
    assert authorizer["name"] == "Authorization"
    deployed = {(path, method.upper()): op for path, ops in body["paths"].items() for method, op in ops.items()}
    assert set(deployed) == {(path, method) for path, methods in app.routes.items() for method in methods}
    for (path, method), op in deployed.items():
        expected = None if path == "/health" else [{AUTHORIZER: []}]
        assert op.get("security") == expected, f"{method} {path}"
    responses = body["x-amazon-apigateway-gateway-responses"]
    assert responses["UNAUTHORIZED"]["statusCode"] == 401
    assert responses["ACCESS_DENIED"]["statusCode"] == 403
    # A path no route matches: Prefect's 404, not the default 403 the client takes for a hard error.
    missing = responses["MISSING_AUTHENTICATION_TOKEN"]
    assert missing["statusCode"] == 404
    assert json.loads(missing["responseTemplates"]["application/json"]) == {"detail": "Not Found"}


@pytest.mark.parametrize("stage", STAGES)
def test_functions_get_the_stage_environment(templates, stage):
    for name, function in functions(templates[stage]).items():
        env = function["Properties"]["Environment"]["Variables"]
        assert env["CIRRUS_STAGE"] == stage, name
        assert env["CIRRUS_TABLE_PREFIX"] == f"cirrus-{stage}-", name
        assert env["CIRRUS_REGION"] == {"Ref": "AWS::Region"}, name
        assert env["CIRRUS_AUTH_REQUIRED"] == "true", name
        assert "CIRRUS_DYNAMODB_ENDPOINT" not in env, name
        (blocks_key,) = resources(templates[stage], "AWS::KMS::Key")
        assert env["CIRRUS_BLOCKS_KMS_KEY_ID"] == {"Fn::GetAtt": [blocks_key, "Arn"]}, name
    url = templates[stage]["Outputs"]["RestApiUrl"]["Value"]["Fn::Sub"]
    assert url == ["https://${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}/api", {"Api": {"Ref": "RestAPI"}}]


# --------------------------------------------------------------------------- /events/in
@pytest.mark.parametrize("stage", STAGES)
def test_one_cloudfront_host_serves_rest_and_the_events_websocket(templates, stage):
    template = templates[stage]
    ((distribution_id, distribution),) = resources(template, "AWS::CloudFront::Distribution").items()
    config = distribution["Properties"]["DistributionConfig"]
    origins = {o["Id"]: o for o in config["Origins"]}

    def api_of(origin_id: str) -> str:
        pattern, variables = origins[origin_id]["DomainName"]["Fn::Sub"]
        assert pattern == "${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}"
        assert origins[origin_id]["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
        return variables["Api"]["Ref"]

    # The REST API under /api/* (the default behavior is Prefect's UI: test_prefect_ui_is_the_root);
    # /api/events/in comes first, since CloudFront takes the first pattern that matches.
    events_in, events_out, task_subscriptions, rest = config["CacheBehaviors"]
    assert rest["PathPattern"] == "/api/*"
    assert api_of(rest["TargetOriginId"]) == "RestAPI"
    assert set(rest["AllowedMethods"]) == {"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"}
    assert events_in["PathPattern"] == "/api/events/in"  # <PREFECT_API_URL>/events/in
    assert api_of(events_in["TargetOriginId"]) == "WebsocketAPI"
    (association,) = events_in["FunctionAssociations"]
    assert association["EventType"] == "viewer-request"
    function = template["Resources"][association["FunctionARN"]["Fn::GetAtt"][0]]["Properties"]
    assert "request.uri = '/api'" in function["FunctionCode"]  # the WebSocket API's stage root

    # /api/events/out and the task workers' subscription: the same WebSocket API, path and policies.
    assert events_out["PathPattern"] == "/api/events/out"
    assert task_subscriptions["PathPattern"] == "/api/task_runs/subscriptions/scheduled"
    for other in (events_out, task_subscriptions):
        assert {k: v for k, v in other.items() if k != "PathPattern"} == {
            k: v for k, v in events_in.items() if k != "PathPattern"
        }
    for behavior in (rest, events_in):
        assert behavior["ViewerProtocolPolicy"] == "https-only"
        policy = template["Resources"][behavior["CachePolicyId"]["Ref"]]["Properties"]["CachePolicyConfig"]
        assert (policy["DefaultTTL"], policy["MinTTL"]) == (0, 0)  # never cached
        assert policy["ParametersInCacheKeyAndForwardedToOrigin"]["HeadersConfig"]["Headers"] == ["Authorization"]
        # AllViewerExceptHostHeader: the websocket handshake headers reach API Gateway, its Host does not.
        assert behavior["OriginRequestPolicyId"] == "b689b0a8-53d0-40ab-baf2-68738e2966ac"

    url = template["Outputs"]["PrefectApiUrl"]["Value"]["Fn::Sub"]
    assert url == ["https://${Host}/api", {"Host": {"Fn::GetAtt": [distribution_id, "DomainName"]}}]
    stage_resource = resources(template, "AWS::ApiGatewayV2::Stage")["WebsocketAPIStage"]["Properties"]
    assert stage_resource["StageName"] == "api"
    handlers = {f["Properties"]["Handler"] for f in functions(template).values()}
    assert {"app.events_connect", "app.events_message", "app.events_disconnect"} <= handlers


# --------------------------------------------------------------------------- IAM
def _arn_table(resource: Any, tables: dict[str, str]) -> tuple[str, str]:
    """``(table logical name, "table" | "index")`` for an ARN expression naming one of ``tables``."""
    if isinstance(resource, dict) and "Fn::GetAtt" in resource:
        logical_id, attribute = resource["Fn::GetAtt"]
        assert attribute in ("Arn", "StreamArn") and logical_id in tables, resource
        return tables[logical_id], "table" if attribute == "Arn" else "stream"
    if isinstance(resource, dict) and "Fn::Sub" in resource:
        pattern, variables = resource["Fn::Sub"]
        assert pattern == "${Table}/index/*", resource
        return _arn_table(variables["Table"], tables)[0], "index"
    raise AssertionError(f"not a table or index ARN: {resource!r}")


def _statements(template: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Every IAM statement, by the logical id of the role it applies to."""
    out: dict[str, list[dict[str, Any]]] = {}
    for policy in resources(template, "AWS::IAM::Policy").values():
        for role in policy["Properties"]["Roles"]:
            out.setdefault(role["Ref"], []).extend(policy["Properties"]["PolicyDocument"]["Statement"])
    for role_id, role in resources(template, "AWS::IAM::Role").items():
        for policy in role["Properties"].get("Policies", []):
            out.setdefault(role_id, []).extend(policy["PolicyDocument"]["Statement"])
        assert not role["Properties"].get("ManagedPolicyArns"), role_id
    return out


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize("stage", STAGES)
def test_iam_is_least_privilege(templates, stage):
    template = templates[stage]
    tables = {lid: t["Properties"]["TableName"] for lid, t in resources(template, "AWS::DynamoDB::Table").items()}
    statements = _statements(template)
    roles = {f["Properties"]["Role"]["Fn::GetAtt"][0] for f in functions(template).values()}
    # CDK's upload function of the UI's files (BucketDeployment) runs as our UiUploadRole.
    (upload,) = resources(template, "AWS::Lambda::Function").values()
    upload_role = upload["Properties"]["Role"]["Fn::GetAtt"][0]
    assert upload_role.startswith("UiUploadRole")
    assert roles | {upload_role} == set(resources(template, "AWS::IAM::Role")) == set(statements)  # ours, all used
    _check_ui_upload_role(template, statements.pop(upload_role))

    grants: dict[str, dict[tuple[str, str], set[str]]] = {}
    manages: dict[str, list[Any]] = {}
    key_grants: dict[str, list[dict[str, Any]]] = {}
    for role, role_statements in statements.items():
        for statement in role_statements:
            assert statement["Effect"] == "Allow"
            actions = set(_as_list(statement["Action"]))
            assert all("*" not in action for action in actions), statement
            for resource in _as_list(statement["Resource"]):
                assert resource != "*", statement
            if any(a.startswith("dynamodb:") for a in actions):
                assert all(a.startswith("dynamodb:") for a in actions), statement
                for resource in _as_list(statement["Resource"]):
                    grants.setdefault(role, {}).setdefault(_arn_table(resource, tables), set()).update(actions)
            elif actions == {"execute-api:ManageConnections"}:
                manages.setdefault(role, []).extend(_as_list(statement["Resource"]))
            elif any(a.startswith("kms:") for a in actions):
                key_grants.setdefault(role, []).append(statement)
            else:
                assert actions <= {"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"}, statement
                for resource in _as_list(statement["Resource"]):
                    assert "/aws/lambda/${AWS::StackName}-*" in resource["Fn::Sub"], statement

    api_role = next(r for r in roles if r.startswith("ApiRole"))
    authorizer_role = next(r for r in roles if r.startswith("AuthorizerRole"))
    indexed = {f"cirrus-{stage}-{logical_name(m)}" for m in ALL_MODELS if m._get_schema()["global_secondary_indexes"]}
    streamed = {f"cirrus-{stage}-{t}" for t in ("flow_runs_v2", "task_runs")}
    assert grants[api_role] == {
        **{(name, "table"): ALLOWED_TABLE_ACTIONS for name in tables.values()},
        **{(name, "index"): ALLOWED_INDEX_ACTIONS for name in indexed},
        **{(name, "stream"): ALLOWED_STREAM_ACTIONS for name in streamed},
    }
    assert grants[authorizer_role] == {(f"cirrus-{stage}-api_keys", "table"): {"dynamodb:GetItem"}}
    # Blocks: only the API (and jobs) role, only data keys of the blocks key, only under Cirrus's context.
    (blocks_key,) = resources(template, "AWS::KMS::Key")
    automations_role = next(r for r in roles if r.startswith("AutomationsRole"))
    assert set(key_grants) == {api_role, automations_role}
    assert key_grants[automations_role] == [  # reads a webhook block's secrets, never seals
        {
            "Action": "kms:Decrypt",
            "Condition": {"StringEquals": {"kms:EncryptionContext:cirrus": "block-document"}},
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [blocks_key, "Arn"]},
        }
    ]
    assert grants[automations_role] == {
        **{(name, "table"): ALLOWED_TABLE_ACTIONS for name in tables.values()},
        **{(name, "index"): ALLOWED_INDEX_ACTIONS for name in indexed},
        (f"cirrus-{stage}-events", "stream"): ALLOWED_STREAM_ACTIONS,
    }
    assert key_grants[api_role] == [
        {
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Condition": {"StringEquals": {"kms:EncryptionContext:cirrus": "block-document"}},
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [blocks_key, "Arn"]},
        }
    ]
    authorizer = next(f for f in functions(template).values() if f["Properties"]["Handler"].endswith(AUTHORIZER))
    assert authorizer["Properties"]["Role"] == {"Fn::GetAtt": [authorizer_role, "Arn"]}

    # /events/in: $connect only checks a key; a message writes as the API does and answers (POST) or
    # closes (DELETE) connections of this stage's WebSocket API only.
    events_role = next(r for r in roles if r.startswith("EventsRole"))
    by_handler = {
        f["Properties"]["Handler"]: f["Properties"]["Role"]["Fn::GetAtt"][0] for f in functions(template).values()
    }
    assert by_handler["app.events_connect"] == authorizer_role
    assert by_handler["app.events_message"] == events_role
    assert by_handler["app.events_disconnect"] == events_role  # forgets an /events/out subscription
    assert grants[events_role] == {k: v for k, v in grants[api_role].items() if k[1] != "stream"}
    connections = "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${Api}/api/%s/@connections/*"
    assert sorted(manages[events_role], key=str) == [
        {"Fn::Sub": [connections % verb, {"Api": {"Ref": "WebsocketAPI"}}]} for verb in ("DELETE", "POST")
    ]

    # The event feed's consumers: the emitter reads the runs stream and three tables by key and writes
    # events; the fan-out reads the events stream, scans and deletes subscriptions, and only posts.
    by_name = {handler.rsplit(".", 1)[-1]: role for handler, role in by_handler.items()}
    emit_role, fan_out_role = by_name["emit_flow_run_events"], by_name["fan_out_events"]
    assert emit_role.startswith("EmitEventsRole") and fan_out_role.startswith("FanOutRole")
    name = f"cirrus-{stage}-%s"
    assert grants[emit_role] == {
        **{(name % t, "table"): {"dynamodb:GetItem"} for t in ("flows", "deployments", "work_pools")},
        (name % "events", "table"): {"dynamodb:BatchWriteItem", "dynamodb:PutItem"},
        (name % "flow_runs_v2", "stream"): ALLOWED_STREAM_ACTIONS,
    }
    assert grants[fan_out_role] == {
        (name % "event_subscriptions", "table"): {"dynamodb:DeleteItem", "dynamodb:Scan"},
        (name % "events", "stream"): ALLOWED_STREAM_ACTIONS,
    }
    # Background tasks: the delivery reads the task runs stream, Queries the queue's index and hands
    # a run out (UpdateItem), reads and forgets task workers, and only posts.
    deliver_role = by_name["deliver_task_runs"]
    assert deliver_role.startswith("DeliverTaskRunsRole")
    assert grants[deliver_role] == {
        (name % "task_runs", "stream"): ALLOWED_STREAM_ACTIONS,
        (name % "task_runs", "table"): {"dynamodb:Query", "dynamodb:UpdateItem"},
        (name % "task_runs", "index"): {"dynamodb:Query", "dynamodb:UpdateItem"},
        (name % "task_workers", "table"): {"dynamodb:DeleteItem", "dynamodb:Query"},
    }
    assert set(manages) == {events_role, fan_out_role, deliver_role}
    for role in (fan_out_role, deliver_role):
        assert manages[role] == [{"Fn::Sub": [connections % "POST", {"Api": {"Ref": "WebsocketAPI"}}]}]


def _check_ui_upload_role(template: dict[str, Any], statements: list[dict[str, Any]]) -> None:
    """The UI upload may write its logs, read CDK's asset bucket, write the UI's bucket and invalidate
    the distribution's cache (an action CloudFront does not scope to a resource)."""
    (bucket,) = resources(template, "AWS::S3::Bucket")
    ui_bucket = [{"Fn::GetAtt": [bucket, "Arn"]}, {"Fn::Join": ["", [{"Fn::GetAtt": [bucket, "Arn"]}, "/*"]]}]
    seen = set()
    for statement in statements:
        assert statement["Effect"] == "Allow"
        actions = set(_as_list(statement["Action"]))
        resources_ = _as_list(statement["Resource"])
        if actions <= {"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"}:
            assert all("/aws/lambda/${AWS::StackName}-*" in r["Fn::Sub"] for r in resources_), statement
            seen.add("logs")
        elif actions == {"cloudfront:GetInvalidation", "cloudfront:CreateInvalidation"}:
            seen.add("invalidation")
        elif all(a.startswith("s3:") for a in actions) and resources_ == ui_bucket:
            assert not actions & {"s3:PutBucketPolicy", "s3:DeleteBucket", "s3:PutBucketAcl"}, statement
            seen.add("ui bucket")
        else:
            assert actions == {"s3:GetObject*", "s3:GetBucket*", "s3:List*"}, statement  # read only
            assert all("cdk-hnb659fds-assets-" in json.dumps(r) for r in resources_), statement
            seen.add("assets")
    assert seen == {"logs", "invalidation", "ui bucket", "assets"}


# --------------------------------------------------------------------------- Prefect's UI
@pytest.mark.parametrize("stage", STAGES)
def test_prefect_ui_is_the_root_of_the_distribution(templates, synth, stage):
    template = templates[stage]
    ((distribution_id, distribution),) = resources(template, "AWS::CloudFront::Distribution").items()
    config = distribution["Properties"]["DistributionConfig"]
    ((bucket_id, bucket),) = resources(template, "AWS::S3::Bucket").items()
    access = bucket["Properties"]["PublicAccessBlockConfiguration"]
    assert all(access[k] for k in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"))
    assert bucket["DeletionPolicy"] == ("Retain" if stage == "prod" else "Delete")

    # The default behavior: the bucket through origin access control, the SPA's routes to index.html.
    default = config["DefaultCacheBehavior"]
    origin = next(o for o in config["Origins"] if o["Id"] == default["TargetOriginId"])
    assert origin["DomainName"] == {"Fn::GetAtt": [bucket_id, "RegionalDomainName"]}
    assert "OriginAccessControlId" in origin and origin["S3OriginConfig"]["OriginAccessIdentity"] == ""
    assert set(default["AllowedMethods"]) == {"GET", "HEAD"}
    assert config["DefaultRootObject"] == "index.html"
    (association,) = default["FunctionAssociations"]
    code = template["Resources"][association["FunctionARN"]["Fn::GetAtt"][0]]["Properties"]["FunctionCode"]
    assert "request.uri = '/index.html'" in code and "'/ui-settings'" in code
    policy = resources(template, "AWS::S3::BucketPolicy")
    (statement,) = [
        s
        for p in policy.values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Principal") == {"Service": "cloudfront.amazonaws.com"}
    ]
    assert statement["Action"] == "s3:GetObject"
    assert statement["Condition"]["StringEquals"]["AWS:SourceArn"]["Fn::Join"][1][-1] == {"Ref": distribution_id}

    # The files of `make ui`, and /ui-settings pointing the UI at /api on the same host, with a key.
    deployments = resources(template, "Custom::CDKBucketDeployment")
    files = next(d["Properties"] for d in deployments.values() if d["Properties"].get("Prune"))
    settings = next(d["Properties"] for d in deployments.values() if not d["Properties"].get("Prune"))
    assert files["Exclude"] == ["ui-settings"] and files["DistributionPaths"] == ["/*"]
    assert files["RetainOnDelete"] is (stage == "prod") and settings["RetainOnDelete"] is (stage == "prod")
    (asset,) = files["SourceObjectKeys"]
    assert (synth["outdir"] / f"asset.{asset.removesuffix('.zip')}" / "index.html").is_file()
    assert settings["SystemMetadata"]["content-type"] == "application/json"
    (settings_asset,) = settings["SourceObjectKeys"]
    document = (synth["outdir"] / f"asset.{settings_asset.removesuffix('.zip')}" / "ui-settings").read_text()
    ((marker, value),) = settings["SourceMarkers"][0].items()
    document = json.loads(document.replace(marker, '"https://d.example/api"'))
    assert document == {**document, "api_url": "https://d.example/api", "auth": "BASIC", "csrf_enabled": False}
    assert value["Fn::Join"][1][1] == {
        "Fn::Sub": ["https://${Host}/api", {"Host": {"Fn::GetAtt": [distribution_id, "DomainName"]}}]
    }
    ui_url = template["Outputs"]["UiUrl"]["Value"]["Fn::Sub"]
    assert ui_url == ["https://${Host}/", {"Host": {"Fn::GetAtt": [distribution_id, "DomainName"]}}]


# --------------------------------------------------------------------------- cfn-lint
def test_cfn_lint_has_no_findings(synth):
    cfn_lint = _infra_python().parent / "cfn-lint"
    paths = [str(p) for p in synth["paths"].values()]
    done = subprocess.run(
        [str(cfn_lint), "--include-checks", "I", "--", *paths], capture_output=True, text=True, timeout=300
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


@pytest.mark.parametrize("stage", STAGES)
def test_runs_tables_stream_into_their_count_consumers(templates, stage):
    """flow_runs and task_runs have NEW_AND_OLD_IMAGES streams, each mapped to its consumer
    (app.count_flow_runs / count_task_runs) one batch per shard at a time, from the start."""
    template = templates[stage]
    tables = {t["Properties"]["TableName"]: lid for lid, t in resources(template, "AWS::DynamoDB::Table").items()}
    mappings = resources(template, "AWS::Lambda::EventSourceMapping")
    handlers = {lid: f["Properties"]["Handler"] for lid, f in functions(template).items()}
    by_source = {
        m["Properties"]["EventSourceArn"]["Fn::GetAtt"][0]: m["Properties"]
        for m in mappings.values()
        if ".count_" in handlers[m["Properties"]["FunctionName"]["Ref"]]
    }  # the flow_runs stream also feeds the event emitter (below)
    for table, handler in (("flow_runs_v2", "count_flow_runs"), ("task_runs", "count_task_runs")):
        lid = tables[f"cirrus-{stage}-{table}"]
        spec = resources(template, "AWS::DynamoDB::Table")[lid]["Properties"]["StreamSpecification"]
        assert spec == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
        mapping = by_source[lid]
        assert handlers[mapping["FunctionName"]["Ref"]].endswith(handler)
        assert mapping["ParallelizationFactor"] == 1 and mapping["StartingPosition"] == "TRIM_HORIZON"
    assert len(mappings) == 6  # and the event feed's two, the task runs' delivery, the automations' one


@pytest.mark.parametrize("stage", STAGES)
def test_the_event_feed_consumes_the_runs_and_events_streams(templates, stage):
    """flow_runs' stream also feeds the flow-run events emitter; the events table's NEW_IMAGE stream
    feeds the /events/out fan-out, filtered to new events, which knows its WebSocket API."""
    template = templates[stage]
    tables = {t["Properties"]["TableName"]: lid for lid, t in resources(template, "AWS::DynamoDB::Table").items()}
    handlers = {lid: f["Properties"]["Handler"] for lid, f in functions(template).items()}
    by_name = {
        handlers[m["Properties"]["FunctionName"]["Ref"]].rsplit(".", 1)[-1]: m["Properties"]
        for m in resources(template, "AWS::Lambda::EventSourceMapping").values()
    }
    emit, fan_out = by_name["emit_flow_run_events"], by_name["fan_out_events"]
    assert emit["EventSourceArn"] == {"Fn::GetAtt": [tables[f"cirrus-{stage}-flow_runs_v2"], "StreamArn"]}
    assert emit["MaximumBatchingWindowInSeconds"] == 0 and emit["ParallelizationFactor"] == 1
    events = tables[f"cirrus-{stage}-events"]
    spec = resources(template, "AWS::DynamoDB::Table")[events]["Properties"]
    assert spec["StreamSpecification"] == {"StreamViewType": "NEW_IMAGE"}
    assert spec["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert fan_out["EventSourceArn"] == {"Fn::GetAtt": [events, "StreamArn"]}
    (pattern,) = fan_out["FilterCriteria"]["Filters"]
    assert json.loads(pattern["Pattern"]) == {
        "eventName": ["INSERT"], "dynamodb": {"Keys": {"pk": {"S": [{"prefix": "t#"}]}}},
    }  # fmt: skip
    for handler in ("fan_out_events", "deliver_task_runs"):
        function = next(f for f in functions(template).values() if f["Properties"]["Handler"].endswith(handler))
        env = function["Properties"]["Environment"]["Variables"]
        assert env["CIRRUS_EVENTS_OUT_API_ID"] == {"Ref": "WebsocketAPI"}


@pytest.mark.parametrize("stage", STAGES)
def test_waiting_background_task_runs_reach_the_delivery(templates, stage):
    """task_runs' stream also feeds deliver_task_runs, filtered to new images on a task key's queue
    (``qk``: a task run Scheduled with ``deferred``), from the latest records, without batching window."""
    template = templates[stage]
    tables = {t["Properties"]["TableName"]: lid for lid, t in resources(template, "AWS::DynamoDB::Table").items()}
    handlers = {lid: f["Properties"]["Handler"] for lid, f in functions(template).items()}
    mappings = [
        m["Properties"]
        for m in resources(template, "AWS::Lambda::EventSourceMapping").values()
        if handlers[m["Properties"]["FunctionName"]["Ref"]].endswith(".deliver_task_runs")
    ]
    (deliver,) = mappings
    assert deliver["EventSourceArn"] == {"Fn::GetAtt": [tables[f"cirrus-{stage}-task_runs"], "StreamArn"]}
    assert deliver["StartingPosition"] == "LATEST" and deliver["MaximumBatchingWindowInSeconds"] == 0
    (pattern,) = deliver["FilterCriteria"]["Filters"]
    assert json.loads(pattern["Pattern"]) == {"dynamodb": {"NewImage": {"qk": {"S": [{"exists": True}]}}}}
    spec = resources(template, "AWS::DynamoDB::Table")[tables[f"cirrus-{stage}-task_runs"]]["Properties"]
    (queue,) = [i for i in spec["GlobalSecondaryIndexes"] if i["IndexName"] == "by-task-key"]
    assert queue["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    assert [k["AttributeName"] for k in queue["KeySchema"]] == ["qk", "qt"]


@pytest.mark.parametrize("stage", STAGES)
def test_functions_have_the_measured_memory_and_timeouts(templates, stage):
    """The API's functions get room for the heaviest UI call (bench/reads.py) within API Gateway's
    29 s; no function runs on Chalice's defaults (128 MB, 60 s)."""
    for function in functions(templates[stage]).values():
        props = function["Properties"]
        assert props["MemorySize"] >= 256 and props["Timeout"] <= 120, props["Handler"]
        if props["Handler"] == "app.app":
            assert (props["MemorySize"], props["Timeout"]) == (1024, 29)


def test_the_lambda_package_holds_the_product_and_not_the_dev_stack(synth):
    """What CloudFormation deploys as the functions' code (Chalice's package, a CDK asset): app.py and
    chalicelib/, with its runtime requirements; never the dev stack, the tests or the benchmarks."""
    packages = []
    for path in Path(synth["outdir"]).glob("asset.*.zip"):
        names = zipfile.ZipFile(path).namelist()
        if "app.py" in names:
            packages.append(names)
    (names,) = packages
    assert any(n.startswith("chalicelib/storage/") for n in names)
    assert any(n.startswith("pynamodb/") for n in names)
    assert not [n for n in names if n.split("/", 1)[0] in {"devstack", "tests", "bench", "infra"}]


@pytest.mark.parametrize("stage", STAGES)
def test_block_documents_key_rotates_and_prod_keeps_it(templates, stage):
    from chalicelib.storage.blocks.sealing import CONTEXT

    # The grant's condition (test_iam_is_least_privilege) is the context the code sends.
    assert CONTEXT == {"cirrus": "block-document"}
    ((_, key),) = resources(templates[stage], "AWS::KMS::Key").items()
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == ("Retain" if stage == "prod" else "Delete")


@pytest.mark.parametrize("stage", STAGES)
def test_automations_are_evaluated_from_the_events_stream(templates, stage):
    """The events stream's new events also feed the automations' evaluator, under its own role:
    the API's tables, the blocks key (webhook secrets) and that one stream, no other stream."""
    template = templates[stage]
    tables = {t["Properties"]["TableName"]: lid for lid, t in resources(template, "AWS::DynamoDB::Table").items()}
    handlers = {lid: f["Properties"]["Handler"] for lid, f in functions(template).items()}
    by_name = {
        handlers[m["Properties"]["FunctionName"]["Ref"]].rsplit(".", 1)[-1]: m["Properties"]
        for m in resources(template, "AWS::Lambda::EventSourceMapping").values()
    }
    mapping = by_name["evaluate_automations"]
    events = tables[f"cirrus-{stage}-events"]
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [events, "StreamArn"]}
    assert mapping["StartingPosition"] == "LATEST" and mapping["MaximumRecordAgeInSeconds"] == 3600
    (pattern,) = mapping["FilterCriteria"]["Filters"]
    assert json.loads(pattern["Pattern"])["eventName"] == ["INSERT"]
    assert f"cirrus-{stage}-automations" in tables
    function = next(
        f for f in functions(template).values() if f["Properties"]["Handler"].endswith(".evaluate_automations")
    )
    role = function["Properties"]["Role"]["Fn::GetAtt"][0]
    assert role.startswith("AutomationsRole")
    policies = [
        p for p in resources(template, "AWS::IAM::Policy").values() if {"Ref": role} in p["Properties"]["Roles"]
    ]
    statements = [s for p in policies for s in p["Properties"]["PolicyDocument"]["Statement"]]
    streams = [
        s
        for s in statements
        if "dynamodb:GetRecords" in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    ]
    assert [s["Resource"] for s in streams] == [{"Fn::GetAtt": [events, "StreamArn"]}]
    assert any(h.endswith(".evaluate_proactive_automations") for h in handlers.values())
