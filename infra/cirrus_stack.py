"""One Cirrus stage in AWS: its DynamoDB tables, the Chalice app (API Gateway stage ``api``, the
EventBridge schedules of its ``@app.schedule`` jobs) and the least-privilege IAM roles it runs as.

The tables are generated from the pynamodb models (``ALL_MODELS``): keys, indexes, projections and
TTL come from the very schema ``create_tables`` sends to DynamoDB in tests and the local stack, so
the deployed tables cannot drift from the code (``tests/infra`` compares them as well).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aws_cdk import Aws, CfnOutput, Duration, Fn, RemovalPolicy, Stack
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from chalice.cdk import Chalice
from constructs import Construct
from pynamodb.models import Model

from chalicelib.api.auth import INVALID_KEY, NOT_AUTHENTICATED
from chalicelib.storage.models import ALL_MODELS, ApiKeyModel
from chalicelib.storage.tables import logical_name
from infra.ui_site import UiSite

#: The stages that are deployed to AWS (``local`` and ``test`` run on moto).
DEPLOYED_STAGES = ("dev", "prod")

#: Every DynamoDB action the code performs through pynamodb, and no other. Transactions
#: (TransactWriteItems) are authorised item by item as PutItem/UpdateItem/DeleteItem/
#: ConditionCheckItem; DescribeTable backs ``Model.exists()`` and a table-wide ``count()``.
TABLE_ACTIONS = (
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
)
#: Indexes are only read, with Query (and Scan).
INDEX_ACTIONS = ("dynamodb:Query", "dynamodb:Scan")
#: Block documents: a data key per write, its unwrapping per read, under this encryption context.
BLOCKS_KEY_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey")
#: ``chalicelib.storage.blocks.sealing.CONTEXT`` (a template test compares them).
BLOCKS_CONTEXT_KEY, BLOCKS_CONTEXT_VALUE = "cirrus", "block-document"
#: The authorizer only looks a key up by its hash.
AUTHORIZER_ACTIONS = ("dynamodb:GetItem",)

AUTHORIZER_FUNCTION = "ApiKeyAuthorizer"  # the SAM resource of chalicelib.api.auth.api_key_authorizer
#: The SAM resources of the /events/in websocket (app.py's events_connect / events_message).
WEBSOCKET_CONNECT_FUNCTION = "WebsocketConnect"
WEBSOCKET_MESSAGE_FUNCTION = "WebsocketMessage"
#: What the message Lambda does to its connection: answer it (POST) and close it (DELETE).
MANAGE_CONNECTIONS = "execute-api:ManageConnections"
#: Where Prefect's client opens its events websocket: <PREFECT_API_URL>/events/in.
EVENTS_IN_PATH = "/api/events/in"
#: The REST API on the distribution (its API Gateway stage is ``api``); the rest is the UI.
API_PATHS = "/api/*"
#: API Gateway serves a WebSocket API only at its stage's root: CloudFront rewrites the path.
EVENTS_IN_REWRITE = """function handler(event) {
    var request = event.request;
    request.uri = '/api';
    return request;
}"""

_ATTRIBUTE_TYPES = {
    "S": dynamodb.AttributeType.STRING,
    "N": dynamodb.AttributeType.NUMBER,
    "B": dynamodb.AttributeType.BINARY,
}
_STREAM_VIEWS = {
    "NEW_AND_OLD_IMAGES": dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
    "NEW_IMAGE": dynamodb.StreamViewType.NEW_IMAGE,
}
#: The run counts' stream consumers (chalicelib/jobs/run_counts.py), by the table they consume.
STREAM_CONSUMERS = {"flow_runs_v2": "CountFlowRuns", "task_runs": "CountTaskRuns"}
#: What a consumer may do with its stream (and nothing else with it).
STREAM_ACTIONS = (
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
)
#: The event feed's stream consumers (chalicelib/jobs/event_streams.py) and what each may touch.
EMIT_FUNCTION = "EmitFlowRunEvents"
FAN_OUT_FUNCTION = "FanOutEvents"
WEBSOCKET_DISCONNECT_FUNCTION = "WebsocketDisconnect"
#: The automations' evaluator (chalicelib/jobs/automations.py): new events → triggers → actions.
AUTOMATIONS_FUNCTION = "EvaluateAutomations"
#: The emitter reads a run's flow, deployment and work pool (GetItem) and stores the event.
EMIT_READS = {"flows": ("dynamodb:GetItem",), "deployments": ("dynamodb:GetItem",), "work_pools": ("dynamodb:GetItem",)}
EMIT_WRITES = ("dynamodb:BatchWriteItem", "dynamodb:PutItem")
#: The fan-out reads the open subscriptions and deletes those of connections that are gone.
FAN_OUT_SUBSCRIPTIONS = ("dynamodb:DeleteItem", "dynamodb:Scan")
#: Where Prefect's subscriber opens its socket: <PREFECT_API_URL>/events/out.
EVENTS_OUT_PATH = "/api/events/out"
#: Where a task worker (``task.serve()``) subscribes: the same WebSocket API.
TASK_SUBSCRIPTIONS_PATH = "/api/task_runs/subscriptions/scheduled"
#: Background task runs that start waiting → the subscribed task workers.
DELIVER_FUNCTION = "DeliverTaskRuns"
#: It hands a run out (UpdateItem conditional on its place in the queue, which it Queries) and reads
#: the task workers (Query), forgetting those whose connection is gone (DeleteItem).
DELIVER_TASK_RUNS = ("dynamodb:Query", "dynamodb:UpdateItem")
DELIVER_WORKERS = ("dynamodb:DeleteItem", "dynamodb:Query")
#: Memory and timeouts, from bench/reads.py (heap and seconds of the heaviest UI call at 100k runs)
#: and the jobs' own budgets: API Gateway gives a route 29 s at most.
API_MEMORY_MB = 1024
API_TIMEOUT_S = 29
#: The functions that are not API routes: (memory MB, timeout s). A scheduled job stops itself
#: ``job_time_margin_s`` before its timeout; a stream consumer's batch is at most 1,000 records.
FUNCTION_SIZES = {
    **{job: (512, 60) for job in ("ScheduleDeployments", "ScheduleRecentDeployments", "KillZombies",
                                  "ReviveCrashedRuns", "MarkLateRuns", "EvaluateProactiveAutomations")},
    **{consumer: (512, 120) for consumer in STREAM_CONSUMERS.values()},
    "ApiKeyAuthorizer": (256, 10),
    "WebsocketConnect": (256, 10),
    "WebsocketDisconnect": (256, 10),
    EMIT_FUNCTION: (512, 120),
    FAN_OUT_FUNCTION: (512, 60),
    DELIVER_FUNCTION: (512, 60),
    AUTOMATIONS_FUNCTION: (512, 120),
}  # fmt: skip

_PROJECTIONS = {
    "ALL": dynamodb.ProjectionType.ALL,
    "KEYS_ONLY": dynamodb.ProjectionType.KEYS_ONLY,
    "INCLUDE": dynamodb.ProjectionType.INCLUDE,
}


def table_schema(model: type[Model]) -> dict[str, Any]:
    """The CreateTable schema pynamodb derives from ``model`` (what ``create_tables`` sends)."""
    return model._get_schema()


def _keys(key_schema: list[dict[str, str]], types: dict[str, str]) -> dict[str, dynamodb.Attribute]:
    keys = {}
    for element in key_schema:
        name = element["AttributeName"]
        role = "partition_key" if element["KeyType"] == "HASH" else "sort_key"
        keys[role] = dynamodb.Attribute(name=name, type=_ATTRIBUTE_TYPES[types[name]])
    return keys


def _projection(index: dict[str, Any]) -> dict[str, Any]:
    projection = index["projection"]
    options: dict[str, Any] = {"projection_type": _PROJECTIONS[projection["ProjectionType"]]}
    if projection.get("NonKeyAttributes"):
        options["non_key_attributes"] = list(projection["NonKeyAttributes"])
    return options


class CirrusStack(Stack):
    """The stack of one stage: ``cirrus-<stage>``, tables ``cirrus-<stage>-<logical name>``."""

    def __init__(self, scope: Construct, stage: str, *, source_dir: Path, ui_dir: Path, **kwargs: Any) -> None:
        # The construct id is the stage: the Chalice construct takes its stage name from it, so
        # .chalice/config.json's stage of that name applies (under the settings given below).
        super().__init__(scope, stage, stack_name=f"cirrus-{stage}", **kwargs)
        self.stage = stage
        self.table_prefix = f"cirrus-{stage}-"
        self.protected = stage == "prod"
        self.tables = {logical_name(model): self._table(model) for model in ALL_MODELS}

        api_role = self._role("ApiRole", "Cirrus API and jobs: its tables and indexes, its logs")
        self._grant_tables(api_role)
        blocks_key = self._blocks_key(api_role)
        authorizer_role = self._role("AuthorizerRole", "Cirrus API-key authorizer: reads api_keys")
        authorizer_role.add_to_policy(
            iam.PolicyStatement(
                actions=list(AUTHORIZER_ACTIONS), resources=[self.tables[logical_name(ApiKeyModel)].table_arn]
            )
        )

        self.chalice = Chalice(
            self,
            "App",
            source_dir=str(source_dir),
            stage_config={
                "api_gateway_stage": "api",
                "autogen_policy": False,
                "manage_iam_role": False,
                "iam_role_arn": api_role.role_arn,
                "environment_variables": {
                    "CIRRUS_STAGE": stage,
                    "CIRRUS_TABLE_PREFIX": self.table_prefix,
                    "CIRRUS_REGION": Aws.REGION,
                    "CIRRUS_AUTH_REQUIRED": "true",
                    "CIRRUS_STREAMS": "lambda",
                    "CIRRUS_BLOCKS_KMS_KEY_ID": blocks_key.key_arn,
                },
                "lambda_memory_size": API_MEMORY_MB,
                "lambda_timeout": API_TIMEOUT_S,
            },
        )
        # Per-function settings cannot be given through stage_config (see below): set them here.
        for function, (memory, timeout) in FUNCTION_SIZES.items():
            resource = self.chalice.get_resource(function)
            resource.add_property_override("MemorySize", memory)
            resource.add_property_override("Timeout", timeout)
        # One role per function cannot be given through stage_config (chalice reads per-function
        # settings from config.json only): give the authorizer its narrower role here.
        self.chalice.get_resource(AUTHORIZER_FUNCTION).add_property_override("Role", authorizer_role.role_arn)
        self._gateway_responses()
        self._events_websocket(authorizer_role)
        self._stream_consumers(api_role)
        self._event_feed_consumers()
        self._task_run_delivery()
        self._automations_consumer(blocks_key)
        self.ui = UiSite(self, "Ui", ui_dir=ui_dir, protected=self.protected)
        self.distribution = self._front_door()
        # Every deployed stage requires an API key: the UI asks for it (Basic auth carries the key).
        self.ui.publish(
            self.distribution, auth="BASIC", role=self._role("UiUploadRole", "Cirrus UI upload: its bucket, its logs")
        )

        CfnOutput(
            self,
            "PrefectApiUrl",
            description="PREFECT_API_URL for this stage: REST and the /events/in websocket behind one CloudFront "
            "host (send PREFECT_API_KEY, and PREFECT_API_AUTH_STRING for the websocket, from `cirrus api-key create`)",
            value=Fn.sub("https://${Host}/api", {"Host": self.distribution.distribution_domain_name}),
        )
        CfnOutput(
            self,
            "UiUrl",
            description="Prefect's UI for this stage (it asks once for an API key from `cirrus api-key create`)",
            value=Fn.sub("https://${Host}/", {"Host": self.distribution.distribution_domain_name}),
        )
        CfnOutput(
            self,
            "RestApiUrl",
            description="The REST API's own API Gateway URL (no /events/in)",
            value=Fn.sub("https://${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}/api", {"Api": self._api_id()}),
        )

    # ------------------------------------------------------------------ tables
    def _table(self, model: type[Model]) -> dynamodb.Table:
        logical = logical_name(model)
        schema = table_schema(model)
        types = {d["AttributeName"]: d["AttributeType"] for d in schema["attribute_definitions"]}
        ttl = model._ttl_attribute()
        table = dynamodb.Table(
            self,
            "".join(part.title() for part in logical.split("_")) + "Table",
            table_name=f"{self.table_prefix}{logical}",
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=self.protected,
            removal_policy=RemovalPolicy.RETAIN if self.protected else RemovalPolicy.DESTROY,
            time_to_live_attribute=ttl.attr_name if ttl is not None else None,
            stream=_STREAM_VIEWS.get(getattr(model.Meta, "stream_view_type", "")),
            **_keys(schema["key_schema"], types),
        )
        for index in schema["global_secondary_indexes"]:
            table.add_global_secondary_index(
                index_name=index["index_name"], **_keys(index["key_schema"], types), **_projection(index)
            )
        for index in schema["local_secondary_indexes"]:
            keys = _keys(index["key_schema"], types)
            table.add_local_secondary_index(
                index_name=index["index_name"], sort_key=keys["sort_key"], **_projection(index)
            )
        return table

    # ------------------------------------------------------------------ IAM
    def _role(self, construct_id: str, description: str) -> iam.Role:
        """A Lambda role that may write its own logs and nothing else (yet)."""
        role = iam.Role(
            self,
            construct_id,
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{description} ({self.stage})",
        )
        # Lambda names CloudFormation generates start with the stack name.
        log_groups = (
            "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws/lambda/${AWS::StackName}-*"
        )
        role.add_to_policy(iam.PolicyStatement(actions=["logs:CreateLogGroup"], resources=[Fn.sub(log_groups)]))
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[Fn.sub(log_groups + ":*")]
            )
        )
        return role

    def _grant_tables(self, role: iam.Role) -> None:
        """The data actions on this stage's tables, and reads on the indexes of those that have some."""
        tables, indexes = [], []
        for model in ALL_MODELS:
            table = self.tables[logical_name(model)]
            tables.append(table.table_arn)
            schema = table_schema(model)
            if schema["global_secondary_indexes"] or schema["local_secondary_indexes"]:
                indexes.append(Fn.sub("${Table}/index/*", {"Table": table.table_arn}))
        role.add_to_policy(iam.PolicyStatement(actions=list(TABLE_ACTIONS), resources=tables))
        if indexes:
            role.add_to_policy(iam.PolicyStatement(actions=list(INDEX_ACTIONS), resources=indexes))

    # ------------------------------------------------------------------ run counts
    def _stream_consumers(self, role: iam.Role) -> None:
        """Each runs table's stream → its consumer Lambda: batches of up to 1,000 records or 5 s,
        one batch per shard at a time (a run's changes in order), from the stream's start,
        retried until applied (re-applying is harmless). The consumers run as the API's role,
        which may read these streams and no others."""
        for table_name, function in STREAM_CONSUMERS.items():
            table = self.tables[table_name]
            lambda_.CfnEventSourceMapping(
                self,
                "".join(part.title() for part in table_name.split("_")) + "Counts",
                function_name=self.chalice.get_resource(function).ref,
                event_source_arn=table.table_stream_arn,
                starting_position="TRIM_HORIZON",
                batch_size=1000,
                maximum_batching_window_in_seconds=5,
                parallelization_factor=1,
                bisect_batch_on_function_error=False,
            )
            role.add_to_policy(iam.PolicyStatement(actions=list(STREAM_ACTIONS), resources=[table.table_stream_arn]))

    # ------------------------------------------------------------------ blocks
    def _blocks_key(self, role: iam.Role) -> kms.Key:
        """The key that wraps block documents' data keys (envelope encryption,
        ``chalicelib/storage/blocks/sealing.py``). ``role`` may only ask for a data key and decrypt
        one, and only under Cirrus's encryption context: the key cannot decrypt anything else for it."""
        key = kms.Key(
            self,
            "BlocksKey",
            description=f"Cirrus {self.stage}: wraps the data keys of block documents' data",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN if self.protected else RemovalPolicy.DESTROY,
        )
        # CDK writes the default key policy's account principal with Fn::Join (cfn-lint's I1022).
        key.node.default_child.add_metadata("cfn-lint", {"config": {"ignore_checks": ["I1022"]}})
        role.add_to_policy(
            iam.PolicyStatement(
                actions=list(BLOCKS_KEY_ACTIONS),
                resources=[key.key_arn],
                conditions={"StringEquals": {f"kms:EncryptionContext:{BLOCKS_CONTEXT_KEY}": BLOCKS_CONTEXT_VALUE}},
            )
        )
        return key

    # ------------------------------------------------------------------ the event feed
    def _event_feed_consumers(self) -> None:
        """The ``flow_runs`` stream → the flow-run events emitter, and the ``events`` stream (new
        events only: a filter on INSERTs of ``t#`` items) → the ``/events/out`` fan-out. No batching
        window: a run's CANCELLING reaches its runner within about a second. Each runs as its own
        role: the emitter reads three tables by key and writes ``events``; the fan-out reads and
        deletes subscriptions and posts to this stage's WebSocket API connections."""
        emit_role = self._role("EmitEventsRole", "Cirrus flow-run events: the runs stream, three tables read, events")
        fan_out_role = self._role("FanOutRole", "Cirrus /events/out fan-out: the events stream, subscriptions")
        flow_runs, events = self.tables["flow_runs_v2"], self.tables["events"]
        for table_name, actions in EMIT_READS.items():
            emit_role.add_to_policy(
                iam.PolicyStatement(actions=list(actions), resources=[self.tables[table_name].table_arn])
            )
        emit_role.add_to_policy(iam.PolicyStatement(actions=list(EMIT_WRITES), resources=[events.table_arn]))
        emit_role.add_to_policy(
            iam.PolicyStatement(actions=list(STREAM_ACTIONS), resources=[flow_runs.table_stream_arn])
        )
        fan_out_role.add_to_policy(
            iam.PolicyStatement(
                actions=list(FAN_OUT_SUBSCRIPTIONS), resources=[self.tables["event_subscriptions"].table_arn]
            )
        )
        fan_out_role.add_to_policy(
            iam.PolicyStatement(actions=list(STREAM_ACTIONS), resources=[events.table_stream_arn])
        )
        self._may_post_to_connections(fan_out_role)
        emit = self.chalice.get_resource(EMIT_FUNCTION)
        emit.add_property_override("Role", emit_role.role_arn)
        fan_out = self.chalice.get_resource(FAN_OUT_FUNCTION)
        fan_out.add_property_override("Role", fan_out_role.role_arn)
        fan_out.add_property_override("Environment.Variables.CIRRUS_EVENTS_OUT_API_ID", self._api_id("WebsocketAPI"))
        new_events = {"eventName": ["INSERT"], "dynamodb": {"Keys": {"pk": {"S": [{"prefix": "t#"}]}}}}
        only_new = lambda_.CfnEventSourceMapping.FilterCriteriaProperty(
            filters=[lambda_.CfnEventSourceMapping.FilterProperty(pattern=json.dumps(new_events))]
        )
        for construct_id, function, table, start, criteria in (
            ("FlowRunsEvents", emit, flow_runs, "TRIM_HORIZON", None),
            ("EventsFanOut", fan_out, events, "LATEST", only_new),
        ):
            lambda_.CfnEventSourceMapping(
                self,
                construct_id,
                function_name=function.ref,
                event_source_arn=table.table_stream_arn,
                starting_position=start,
                batch_size=100,
                maximum_batching_window_in_seconds=0,
                parallelization_factor=1,
                filter_criteria=criteria,
            )

    def _may_post_to_connections(self, role: iam.Role) -> None:
        """``role`` may post to this stage's WebSocket API connections (and nothing else there)."""
        connections = (
            "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${Api}/api/POST/@connections/*"
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=[MANAGE_CONNECTIONS], resources=[Fn.sub(connections, {"Api": self._api_id("WebsocketAPI")})]
            )
        )

    # ------------------------------------------------------------------ background tasks
    def _task_run_delivery(self) -> None:
        """The ``task_runs`` stream, filtered to new images on a task key's queue (``qk``: a run
        created or set Scheduled with ``deferred``) → ``deliver_task_runs``, which hands each run to
        one subscribed task worker and posts it to that connection. Its own role: the stream, the
        queue's index and conditional updates of ``task_runs``, the ``task_workers`` partition, and
        posting to this stage's WebSocket API connections."""
        role = self._role("DeliverTaskRunsRole", "Cirrus background tasks: the task runs stream, task workers")
        task_runs, workers = self.tables["task_runs"], self.tables["task_workers"]
        role.add_to_policy(iam.PolicyStatement(actions=list(STREAM_ACTIONS), resources=[task_runs.table_stream_arn]))
        index = Fn.sub("${Table}/index/*", {"Table": task_runs.table_arn})
        role.add_to_policy(iam.PolicyStatement(actions=list(DELIVER_TASK_RUNS), resources=[task_runs.table_arn, index]))
        role.add_to_policy(iam.PolicyStatement(actions=list(DELIVER_WORKERS), resources=[workers.table_arn]))
        self._may_post_to_connections(role)
        deliver = self.chalice.get_resource(DELIVER_FUNCTION)
        deliver.add_property_override("Role", role.role_arn)
        deliver.add_property_override("Environment.Variables.CIRRUS_EVENTS_OUT_API_ID", self._api_id("WebsocketAPI"))
        waiting = {"dynamodb": {"NewImage": {"qk": {"S": [{"exists": True}]}}}}
        lambda_.CfnEventSourceMapping(
            self,
            "TaskRunsDelivery",
            function_name=deliver.ref,
            event_source_arn=task_runs.table_stream_arn,
            starting_position="LATEST",
            batch_size=100,
            maximum_batching_window_in_seconds=0,
            parallelization_factor=1,
            filter_criteria=lambda_.CfnEventSourceMapping.FilterCriteriaProperty(
                filters=[lambda_.CfnEventSourceMapping.FilterProperty(pattern=json.dumps(waiting))]
            ),
        )

    # ------------------------------------------------------------------ automations
    def _automations_consumer(self, blocks_key: kms.Key) -> None:
        """The ``events`` stream (new events only, as the fan-out) → the automations' evaluator.
        Its actions do what the API does (create runs, change states, pause deployments, pools and
        queues, read a webhook block's secrets), so its role has the API's tables, this one stream,
        and only Decrypt with the blocks key. A failed batch is retried (a firing is written once);
        records older than an hour are dropped (a bucket remembers events for 15 minutes)."""
        role = self._role("AutomationsRole", "Cirrus automations: the events stream, the API's tables")
        self._grant_tables(role)
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["kms:Decrypt"],
                resources=[blocks_key.key_arn],
                conditions={"StringEquals": {f"kms:EncryptionContext:{BLOCKS_CONTEXT_KEY}": BLOCKS_CONTEXT_VALUE}},
            )
        )
        events = self.tables["events"]
        role.add_to_policy(iam.PolicyStatement(actions=list(STREAM_ACTIONS), resources=[events.table_stream_arn]))
        function = self.chalice.get_resource(AUTOMATIONS_FUNCTION)
        function.add_property_override("Role", role.role_arn)
        new_events = {"eventName": ["INSERT"], "dynamodb": {"Keys": {"pk": {"S": [{"prefix": "t#"}]}}}}
        lambda_.CfnEventSourceMapping(
            self,
            "EventsAutomations",
            function_name=function.ref,
            event_source_arn=events.table_stream_arn,
            starting_position="LATEST",
            batch_size=100,
            maximum_batching_window_in_seconds=0,
            parallelization_factor=1,
            maximum_record_age_in_seconds=3600,
            filter_criteria=lambda_.CfnEventSourceMapping.FilterCriteriaProperty(
                filters=[lambda_.CfnEventSourceMapping.FilterProperty(pattern=json.dumps(new_events))]
            ),
        )

    # ------------------------------------------------------------------ /events/in
    def _api_id(self, resource: str = "RestAPI") -> str:
        return self.chalice.get_resource(resource).ref

    def _events_websocket(self, authorizer_role: iam.Role) -> None:
        """The websocket Lambdas' roles: ``$connect`` only checks an API key (the authorizer's role);
        a message may write what the API writes and answer or close its own API's connections."""
        self.chalice.get_resource(WEBSOCKET_CONNECT_FUNCTION).add_property_override("Role", authorizer_role.role_arn)
        events_role = self._role("EventsRole", "Cirrus /events/in websocket: its tables, its connections")
        self._grant_tables(events_role)
        connections = "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${Api}/api/%s/@connections/*"
        api = {"Api": self._api_id("WebsocketAPI")}
        events_role.add_to_policy(
            iam.PolicyStatement(
                actions=[MANAGE_CONNECTIONS], resources=[Fn.sub(connections % verb, api) for verb in ("POST", "DELETE")]
            )
        )
        self.chalice.get_resource(WEBSOCKET_MESSAGE_FUNCTION).add_property_override("Role", events_role.role_arn)
        # $disconnect forgets an /events/out subscription: the same role.
        self.chalice.get_resource(WEBSOCKET_DISCONNECT_FUNCTION).add_property_override("Role", events_role.role_arn)

    def _front_door(self) -> cloudfront.Distribution:
        """One host for both APIs, since the client derives the websocket URL from PREFECT_API_URL and
        API Gateway cannot put a REST and a WebSocket API under one custom domain: CloudFront sends
        ``/api/events/in`` to the WebSocket API (path rewritten to its stage, ``/api``) and the rest of
        ``/api/*`` to the REST API (whose stage is ``api``). Nothing of the API is cached (TTL 0); the
        Authorization header is forwarded (CloudFront forwards it only as part of a cache key, hence
        the 1-second maximum TTL that allows one). Everything else is Prefect's UI (``infra/ui_site.py``)."""

        def origin(api: str) -> origins.HttpOrigin:
            domain = Fn.sub("${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}", {"Api": self._api_id(api)})
            return origins.HttpOrigin(domain, protocol_policy=cloudfront.OriginProtocolPolicy.HTTPS_ONLY)

        no_cache = cloudfront.CachePolicy(
            self,
            "ApiNoCache",
            cache_policy_name=Fn.sub("${AWS::StackName}-${AWS::Region}-api-no-cache"),
            comment="Cirrus API: never cached; Authorization forwarded",
            default_ttl=Duration.seconds(0),
            min_ttl=Duration.seconds(0),
            max_ttl=Duration.seconds(1),
            header_behavior=cloudfront.CacheHeaderBehavior.allow_list("Authorization"),
            query_string_behavior=cloudfront.CacheQueryStringBehavior.all(),
            cookie_behavior=cloudfront.CacheCookieBehavior.none(),
        )
        common: dict[str, Any] = {
            "cache_policy": no_cache,
            "origin_request_policy": cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
            "viewer_protocol_policy": cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
        }
        rewrite = cloudfront.Function(
            self,
            "EventsInPath",
            function_name=Fn.sub("${AWS::StackName}-${AWS::Region}-events-in-path"),
            code=cloudfront.FunctionCode.from_inline(EVENTS_IN_REWRITE),
            runtime=cloudfront.FunctionRuntime.JS_2_0,
            comment="/api/events/in and /out -> the WebSocket API stage /api",
        )
        websocket = cloudfront.BehaviorOptions(
            origin=origin("WebsocketAPI"),
            allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
            function_associations=[
                cloudfront.FunctionAssociation(function=rewrite, event_type=cloudfront.FunctionEventType.VIEWER_REQUEST)
            ],
            **common,
        )
        return cloudfront.Distribution(
            self,
            "Api",
            comment=f"Cirrus {self.stage}: Prefect's UI, the REST API and /events/in",
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
            default_root_object="index.html",
            default_behavior=self.ui.behavior(),
            additional_behaviors={
                EVENTS_IN_PATH: websocket,
                EVENTS_OUT_PATH: websocket,
                TASK_SUBSCRIPTIONS_PATH: websocket,
                # After the websockets: CloudFront takes the first pattern that matches.
                API_PATHS: cloudfront.BehaviorOptions(
                    origin=origin("RestAPI"), allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL, **common
                ),
            },
        )

    # ------------------------------------------------------------------ API Gateway
    def _gateway_responses(self) -> None:
        """API Gateway's own answers in Prefect's shapes: the authorizer's 401/403 like the app's own
        gate, and a path no route matches (``MISSING_AUTHENTICATION_TOKEN``, by default a 403 that
        Prefect's client takes for a hard error) as 404 ``Not Found``. A known path with another
        method reaches the app's 405 view (chalicelib/api/fallbacks.py)."""

        def body(detail: str) -> dict[str, str]:
            escaped = detail.replace("\\", "\\\\").replace('"', '\\"')
            return {"application/json": f'{{"detail": "{escaped}"}}'}

        self.chalice.get_resource("RestAPI").add_property_override(
            "DefinitionBody.x-amazon-apigateway-gateway-responses",
            {
                "UNAUTHORIZED": {
                    "statusCode": 401,
                    "responseParameters": {"gatewayresponse.header.WWW-Authenticate": "'Bearer'"},
                    "responseTemplates": body(NOT_AUTHENTICATED),
                },
                "ACCESS_DENIED": {"statusCode": 403, "responseTemplates": body(INVALID_KEY)},
                "MISSING_AUTHENTICATION_TOKEN": {"statusCode": 404, "responseTemplates": body("Not Found")},
            },
        )
