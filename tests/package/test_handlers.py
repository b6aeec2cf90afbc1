"""Every function of the template, unzipped from the package, on the events AWS really sends it.

Each function runs in the clean runtime of ``conftest.invoke`` (python -I, the package first, the
runtime's boto3 behind it, the function's template environment) against DynamoDB Local holding the
tables *as the template defines them*; the websocket function answers through a stand-in of API
Gateway's management API over HTTPS. The functions are found in the template: one that no test here
knows (a new Lambda, a new stream consumer, a new CloudFront Function) fails
:func:`test_every_function_of_the_template_is_rehearsed` until it gets its events.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from typing import Any

import pytest

from chalicelib.config import Settings
from chalicelib.services.api_keys import create_api_key
from chalicelib.storage import open_repositories
from infra.package import functions
from tests.package import aws_events as aws
from tests.package.conftest import dynamodb_client
from tests.package.management_api import ManagementApi
from tests.package.template_tables import create_template_tables

#: Lambda's limit on a synchronous invocation's request and response payloads (6 MB).
LAMBDA_PAYLOAD_LIMIT = 6 * 1024 * 1024
FLOW = "artifact-rehearsal"
REHEARSED: set[str] = set()  # the functions the tests below invoked (logical ids)


@pytest.fixture(scope="module")
def stack(artifact, ddb_endpoint, tmp_path_factory) -> Any:
    """The template's tables on DynamoDB Local, an API key, the management API; the env to run with."""
    from datetime import UTC, datetime

    template = artifact["template"]
    create_template_tables(dynamodb_client(ddb_endpoint), template)
    settings = Settings(stage="dev", region="us-east-1", dynamodb_endpoint=ddb_endpoint)
    issued = create_api_key(open_repositories(settings), f"rehearsal-{uuid.uuid4().hex[:6]}", datetime.now(UTC))
    host = f"{aws.WEBSOCKET_API_ID}.execute-api.{aws.REGION}.amazonaws.com"
    with ManagementApi(tmp_path_factory.mktemp("management-api"), host) as management:
        env = {"CIRRUS_DYNAMODB_ENDPOINT": ddb_endpoint, **management.env}
        yield {"template": template, "key": issued.key, "prefix": issued.record.prefix, "env": env,
               "management": management, "endpoint": ddb_endpoint}  # fmt: skip


@pytest.fixture(scope="module")
def run(invoke, stack):
    def call(function: str, events: list[Any]) -> list[dict[str, Any]]:
        REHEARSED.add(function)
        answer = invoke(function, events, stack["env"])
        for event, result in zip(events, answer["results"], strict=True):
            assert result["ok"], f"{function} failed on {json.dumps(event)[:300]}:\n{result['trace']}"
            assert len(json.dumps(result["value"])) < LAMBDA_PAYLOAD_LIMIT, f"{function}: answer over 6 MB"
        return [r["value"] for r in answer["results"]]

    return call


def by_handler(template: dict[str, Any], suffix: str) -> str:
    (name,) = [n for n, p in functions(template).items() if p["Handler"].endswith(suffix)]
    return name


def authorized(stack: dict[str, Any]) -> dict[str, Any]:
    return aws.authorizer_context(stack["prefix"], api_key_prefix=stack["prefix"])


# --------------------------------------------------------------------------- REST (API Gateway proxy)
def test_rest_proxy_requests(stack, run):
    api = by_handler(stack["template"], "app.app")
    auth = authorized(stack)
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe"
    big = json.dumps({"name": "x" * (5 * 1024 * 1024)})  # under Lambda's 6 MB request limit
    # Invalid JSON whose echo (Prefect's 422 repeats the body) would be 6x its size once escaped.
    escaped_body = '{"name": "' + "\x01" * (2 * 1024 * 1024) + '"}'
    events = [
        aws.rest_request("GET", "/health"),
        aws.rest_request("HEAD", "/health"),
        aws.rest_request("POST", "/flows", body=json.dumps({"name": FLOW}), authorizer=auth,
                         headers={"Content-Type": "application/json"}),
        aws.rest_request("GET", "/flows/name/{name}", f"/flows/name/{FLOW}", path_parameters={"name": FLOW},
                         authorizer=auth),
        aws.rest_request("HEAD", "/flows/name/{name}", f"/flows/name/{FLOW}", path_parameters={"name": FLOW},
                         authorizer=auth),
        # No authorizer ran (e.g. a misconfigured gateway): the app's own gate still refuses.
        aws.rest_request("POST", "/flows/filter", body="{}", headers={"Content-Type": "application/json"}),
        aws.rest_request("POST", "/flows/filter", body="{}",
                         headers={"Content-Type": "application/json", "Authorization": "Bearer nope"}),
        aws.rest_request("POST", "/flows/filter", body="{}",
                         headers={"Content-Type": "application/json", "Authorization": f"Bearer {stack['key']}"}),
        aws.rest_request("POST", "/flows", body=png, authorizer=auth,
                         headers={"Content-Type": "application/octet-stream"}),
        aws.rest_request("POST", "/flows", body=png, authorizer=auth, headers={"Content-Type": "application/json"}),
        aws.rest_request("POST", "/flows", body=big, authorizer=auth, headers={"Content-Type": "application/json"}),
        aws.rest_request("DELETE", "/health"),
        aws.rest_request("POST", "/flows", body=escaped_body, authorizer=auth,
                         headers={"Content-Type": "application/json"}),
    ]  # fmt: skip
    (health, head, created, read, head_read, anonymous, bad_key, with_key, binary, binary_json, oversized,
     wrong_method, escaped) = run(api, events)  # fmt: skip

    assert health["statusCode"] == 200
    assert head["statusCode"] == 200
    assert created["statusCode"] in (200, 201) and aws.json_body(created)["name"] == FLOW
    assert read["statusCode"] == 200 and aws.json_body(read)["id"] == aws.json_body(created)["id"]
    assert head_read["statusCode"] == 200
    assert anonymous["statusCode"] == 401 and anonymous["headers"].get("WWW-Authenticate") == "Bearer"
    assert bad_key["statusCode"] == 403
    assert with_key["statusCode"] == 200 and [f["name"] for f in aws.json_body(with_key)] == [FLOW]
    # Binary and oversized bodies: a 4xx with a JSON body, never a crash. (A content type Chalice does
    # not accept gets Chalice's own 415 {"Code", "Message"} before any view runs, not Prefect's shape.)
    assert binary["statusCode"] == 415 and aws.json_body(binary)["Code"] == "UnsupportedMediaType"
    for answer in (binary_json, oversized, escaped):
        assert 400 <= answer["statusCode"] < 500, answer
        assert {"detail"} <= set(aws.json_body(answer)) or {"exception_detail"} <= set(aws.json_body(answer))
    assert wrong_method["statusCode"] == 405 and "GET" in wrong_method["headers"]["Allow"]


def test_a_path_no_route_matches_never_reaches_the_function(stack, run):
    """API Gateway answers an unknown path itself (the template's MISSING_AUTHENTICATION_TOKEN response,
    404); were a stale route's request to reach the function, it must still answer cleanly, not crash."""
    responses = next(
        r["Properties"]["DefinitionBody"]["x-amazon-apigateway-gateway-responses"]
        for r in stack["template"]["Resources"].values()
        if r["Type"] == "AWS::Serverless::Api"
    )
    assert responses["MISSING_AUTHENTICATION_TOKEN"]["statusCode"] == 404
    api = by_handler(stack["template"], "app.app")
    (stale,) = run(api, [aws.rest_request("GET", "/no/such/route", authorizer=authorized(stack))])
    assert 400 <= stale["statusCode"] < 600 and stale["statusCode"] != 502, stale


# --------------------------------------------------------------------------- the authorizer
def test_the_token_authorizer(stack, run):
    import base64

    authorizer = by_handler(stack["template"], "api_key_authorizer")
    basic = base64.b64encode(stack["key"].encode()).decode()
    allowed, allowed_basic, denied, garbage = run(
        authorizer,
        [
            aws.token_authorizer(f"Bearer {stack['key']}"),
            aws.token_authorizer(f"Basic {basic}"),
            aws.token_authorizer("Bearer not-a-key"),
            aws.token_authorizer("Bearer"),
        ],
    )
    for answer in (allowed, allowed_basic):
        (statement,) = answer["policyDocument"]["Statement"]
        assert statement["Effect"] == "Allow" and answer["principalId"]
        assert answer["context"] == {"api_key_prefix": stack["prefix"]}
    for answer in (denied, garbage):
        (statement,) = answer["policyDocument"]["Statement"]
        assert statement["Effect"] == "Deny"


# --------------------------------------------------------------------------- the /events/in websocket
def _routes(template: dict[str, Any]) -> dict[str, str]:
    """WebSocket route key → the function its integration invokes."""
    integrations = {
        name: r["Properties"]["IntegrationUri"]["Fn::Sub"][1]["WebsocketHandler"]["Ref"]
        for name, r in template["Resources"].items()
        if r["Type"] == "AWS::ApiGatewayV2::Integration"
    }
    return {
        r["Properties"]["RouteKey"]: integrations[r["Properties"]["Target"]["Fn::Join"][1][1]["Ref"]]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::ApiGatewayV2::Route"
    }


def test_websocket_connect_message_and_disconnect(stack, run):
    routes = _routes(stack["template"])
    management = stack["management"]
    domain, key = management.host, stack["key"]
    # $disconnect drops the connection's /events/out subscriptions.
    assert set(routes) == {"$connect", "$default", "$disconnect"}

    ok, anonymous, bad = run(
        routes["$connect"],
        [
            aws.websocket("$connect", "c1", domain=domain, headers={"Authorization": f"Bearer {key}"}),
            aws.websocket("$connect", "c2", domain=domain),
            aws.websocket("$connect", "c3", domain=domain, headers={"Authorization": "Bearer nope"}),
        ],
    )
    assert (ok["statusCode"], anonymous["statusCode"], bad["statusCode"]) == (200, 401, 403)

    flow_run_id = new_flow_run(stack, run)
    task_run_id = str(uuid.uuid4())
    management.calls.clear()
    run(
        routes["$default"],
        [
            aws.websocket("$default", "c1", domain=domain, body=json.dumps({"type": "auth", "token": key})),
            aws.websocket("$default", "c1", domain=domain, body=json.dumps(task_run_event(task_run_id, flow_run_id))),
            aws.websocket("$default", "c4", domain=domain, body=json.dumps({"type": "auth", "token": "nope"})),
        ],
    )
    assert management.calls == [
        ("POST", "/api/@connections/c1", b'{"type": "auth_success"}'),
        ("DELETE", "/api/@connections/c4", b""),
    ]
    (gone,) = run(routes["$disconnect"], [aws.websocket("$disconnect", "c1", domain=domain)])
    assert gone is None or gone.get("statusCode", 200) == 200, gone
    api = by_handler(stack["template"], "app.app")
    read = aws.rest_request("GET", "/task_runs/{id}", f"/task_runs/{task_run_id}", path_parameters={"id": task_run_id},
                            authorizer=authorized(stack))  # fmt: skip
    (found,) = run(api, [read])
    assert found["statusCode"] == 200, found
    assert aws.json_body(found)["flow_run_id"] == flow_run_id and aws.json_body(found)["state"]["type"] == "RUNNING"


def new_flow_run(stack: dict[str, Any], run: Any) -> str:
    """A flow run of the rehearsal's flow, created through the API function; its id."""
    api, auth = by_handler(stack["template"], "app.app"), authorized(stack)
    json_type = {"Content-Type": "application/json"}
    (flow,) = run(api, [aws.rest_request("POST", "/flows", body=json.dumps({"name": FLOW}), authorizer=auth,
                                         headers=json_type)])  # fmt: skip
    body = json.dumps({"flow_id": aws.json_body(flow)["id"], "name": f"run-{uuid.uuid4().hex[:6]}"})
    (created,) = run(api, [aws.rest_request("POST", "/flow_runs", body=body, authorizer=auth, headers=json_type)])
    assert created["statusCode"] in (200, 201), created
    return aws.json_body(created)["id"]


def task_run_event(task_run_id: str, flow_run_id: str) -> dict[str, Any]:
    """A ``prefect.task-run.Running`` event as Prefect 3.9.1's engine sends it over /events/in."""
    from datetime import UTC, datetime

    return {
        "id": str(uuid.uuid4()),
        "occurred": datetime.now(UTC).isoformat(),
        "event": "prefect.task-run.Running",
        "resource": {"prefect.resource.id": f"prefect.task-run.{task_run_id}"},
        "related": [{"prefect.resource.id": f"prefect.flow-run.{flow_run_id}", "prefect.resource.role": "flow-run"}],
        "payload": {
            "validated_state": {"type": "RUNNING", "name": "Running", "message": "", "state_details": {}},
            "task_run": {"name": "count-3cf", "task_key": "count-a2e1e31b", "dynamic_key": "3cf", "run_count": 1},
        },
    }


# --------------------------------------------------------------------------- EventBridge schedules
def test_every_scheduled_function_on_an_eventbridge_event(stack, run):
    template = stack["template"]
    api = by_handler(template, "app.app")
    auth = authorized(stack)
    (flow,) = run(api, [aws.rest_request("GET", "/flows/name/{name}", f"/flows/name/{FLOW}",
                                         path_parameters={"name": FLOW}, authorizer=auth)])  # fmt: skip
    if flow["statusCode"] == 404:  # this test alone
        (flow,) = run(api, [aws.rest_request("POST", "/flows", body=json.dumps({"name": FLOW}), authorizer=auth)])
    # Monthly: the scheduler's floor of 3 runs ahead, and few writes (an hourly one plans 100).
    deployment = {"name": "monthly", "flow_id": aws.json_body(flow)["id"], "paused": True,
                  "schedules": [{"schedule": {"interval": 30 * 86400}, "active": True}]}  # fmt: skip
    (created,) = run(api, [aws.rest_request("POST", "/deployments", body=json.dumps(deployment), authorizer=auth,
                                            headers={"Content-Type": "application/json"})])  # fmt: skip
    assert created["statusCode"] in (200, 201), created
    deployment_id = aws.json_body(created)["id"]
    (resumed,) = run(api, [aws.rest_request("POST", "/deployments/{id}/resume_deployment",
                                            f"/deployments/{deployment_id}/resume_deployment",
                                            path_parameters={"id": deployment_id}, authorizer=auth)])  # fmt: skip
    assert resumed["statusCode"] < 300, resumed

    scheduled = {
        name: [e["Properties"]["Schedule"] for e in props.get("Events", {}).values() if e["Type"] == "Schedule"]
        for name, props in functions(template).items()
    }
    scheduled = {name: rules for name, rules in scheduled.items() if rules}
    assert len(scheduled) >= 5
    for function in scheduled:
        (report,) = run(function, [aws.scheduled(f"cirrus-dev-{function}")])
        assert isinstance(report, dict), (function, report)

    query = json.dumps({"deployments": {"id": {"any_": [deployment_id]}}})
    (runs,) = run(api, [aws.rest_request("POST", "/flow_runs/filter", body=query, authorizer=auth,
                                         headers={"Content-Type": "application/json"})])  # fmt: skip
    assert len(aws.json_body(runs)) >= 3  # the scheduler's minimum of runs ahead, Prefect's rule


# --------------------------------------------------------------------------- DynamoDB Streams
def _stream_records(endpoint: str, table: str) -> tuple[str, list[dict[str, Any]]]:
    """The stream ARN of ``table`` and every record on it, read as Lambda's poller reads them."""
    streams = dynamodb_client(endpoint, "dynamodbstreams")
    arn = dynamodb_client(endpoint).describe_table(TableName=table)["Table"]["LatestStreamArn"]
    records = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]  # fmt: skip
        while iterator:
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            records.extend(page["Records"])
            iterator = page.get("NextShardIterator") if page["Records"] else None
    return arn, records


def test_stream_consumers_on_their_tables_records(stack, run):
    template = stack["template"]
    tables = {lid: r["Properties"]["TableName"] for lid, r in template["Resources"].items()
              if r["Type"] == "AWS::DynamoDB::Table"}  # fmt: skip
    mappings = [
        r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::EventSourceMapping"
    ]
    assert mappings
    api = by_handler(template, "app.app")
    auth = authorized(stack)
    flow_run_id = new_flow_run(stack, run)
    (message,) = [f for key, f in _routes(template).items() if key == "$default"]
    event = task_run_event(str(uuid.uuid4()), flow_run_id)
    run(message, [aws.websocket("$default", "c9", domain="x", body=json.dumps(event))])  # a task run, streamed too
    count = aws.rest_request("POST", "/flow_runs/count", body="{}", authorizer=auth,
                             headers={"Content-Type": "application/json"})  # fmt: skip
    listed = aws.rest_request("POST", "/flow_runs/filter", body="{}", authorizer=auth,
                              headers={"Content-Type": "application/json"})  # fmt: skip

    for mapping in mappings:
        table = tables[mapping["EventSourceArn"]["Fn::GetAtt"][0]]
        arn, records = _stream_records(stack["endpoint"], table)
        batch = records[: mapping.get("BatchSize", 100)]
        assert batch, f"{table}: no stream records"
        (report,) = run(mapping["FunctionName"]["Ref"], [aws.stream_event(batch, arn)])
        assert report is None or isinstance(report, dict)
    counted, runs = run(api, [count, listed])
    assert aws.json_body(counted) == len(aws.json_body(runs)) >= 1


# --------------------------------------------------------------------------- CloudFront Functions
#: What each viewer-request function must make of a request, by the behavior it is associated with.
VIEWER_REQUESTS = {
    "/api/events/in": [("/api/events/in", "/api")],
    "/api/events/out": [("/api/events/out", "/api")],
    "/api/task_runs/subscriptions/scheduled": [("/api/task_runs/subscriptions/scheduled", "/api")],
    "default": [("/", "/index.html"), ("/flows", "/index.html"), ("/flow-runs/flow-run/abc", "/index.html"),
                ("/ui-settings", "/ui-settings"), ("/assets/index-abc123.js", "/assets/index-abc123.js"),
                ("/favicon.ico", "/favicon.ico")],
}  # fmt: skip


def test_cloudfront_viewer_request_functions_under_node(stack, tmp_path):
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is needed to run the CloudFront Functions (apt-get install nodejs)")
    template = stack["template"]
    (distribution,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::CloudFront::Distribution"]
    config = distribution["Properties"]["DistributionConfig"]
    behaviors = {"default": config["DefaultCacheBehavior"]} | {b["PathPattern"]: b for b in config["CacheBehaviors"]}
    associated = {}
    for pattern, behavior in behaviors.items():
        for association in behavior.get("FunctionAssociations", []):
            assert association["EventType"] == "viewer-request"
            associated[association["FunctionARN"]["Fn::GetAtt"][0]] = pattern
    cloudfront_functions = {n: r for n, r in template["Resources"].items() if r["Type"] == "AWS::CloudFront::Function"}
    assert set(associated) == set(cloudfront_functions)
    for name, pattern in associated.items():
        props = cloudfront_functions[name]["Properties"]
        assert props["FunctionConfig"]["Runtime"] == "cloudfront-js-2.0"
        cases = VIEWER_REQUESTS[pattern]
        script = tmp_path / f"{name}.js"
        events = [aws.viewer_request(uri) for uri, _ in cases]
        script.write_text(
            props["FunctionCode"]
            + f"\nconst events = {json.dumps(events)};\n"
            + "console.log(JSON.stringify(events.map(e => handler(e))));\n"
        )
        done = subprocess.run([node, str(script)], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        for (uri, expected), request in zip(cases, json.loads(done.stdout), strict=True):
            assert request["uri"] == expected, (pattern, uri, request)
            assert request["method"] == "GET" and "headers" in request  # a request goes on, not a response
        REHEARSED.add(name)


# --------------------------------------------------------------------------- coverage of the template
def test_every_function_of_the_template_is_rehearsed(stack):
    """Last in this module: every Lambda function and CloudFront Function of the template was invoked."""
    template = stack["template"]
    everything = set(functions(template)) | {
        n for n, r in template["Resources"].items() if r["Type"] == "AWS::CloudFront::Function"
    }
    missing = everything - REHEARSED
    assert not missing, f"never invoked here (run the whole module; or add their events): {sorted(missing)}"
