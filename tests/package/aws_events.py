"""The events AWS sends Cirrus's functions, in AWS's documented shapes (each builder cites its page).

Values are AWS's sample values except those a case needs (path, method, body, key, connection).
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

ACCOUNT = "123456789012"
REGION = "us-east-1"
REST_API_ID = "1234567890"
WEBSOCKET_API_ID = "abcdef1234"
STAGE = "api"


# https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html
# ("Input format of a Lambda function for proxy integration"), REST API, payload format 1.0.
def rest_request(
    method: str,
    resource: str,
    path: str | None = None,
    *,
    path_parameters: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    body: str | bytes | None = None,
    authorizer: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A REST proxy request for the route ``resource`` (``/flows/{id}``), as API Gateway sends it."""
    path = path or resource
    headers = {
        "Accept": "application/json",
        "Host": f"{REST_API_ID}.execute-api.{REGION}.amazonaws.com",
        "User-Agent": "prefect/3.9.1 (API 0.8.4)",
        "X-Amzn-Trace-Id": "Root=1-5e66d96f-7491f09xmpl79d18acf3d050",
        "X-Forwarded-For": "192.0.2.1",
        "X-Forwarded-Port": "443",
        "X-Forwarded-Proto": "https",
        **(headers or {}),
    }
    binary = isinstance(body, bytes)
    now = time.time()
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": REST_API_ID,
            "authorizer": authorizer,
            "domainName": f"{REST_API_ID}.execute-api.{REGION}.amazonaws.com",
            "domainPrefix": REST_API_ID,
            "extendedRequestId": "BQGojGkBPHcFZ_g=",
            "httpMethod": method,
            "identity": {
                "accessKey": None,
                "accountId": None,
                "caller": None,
                "cognitoIdentityId": None,
                "sourceIp": "192.0.2.1",
                "user": None,
                "userAgent": headers["User-Agent"],
                "userArn": None,
            },
            "path": f"/{STAGE}{path}",
            "protocol": "HTTP/1.1",
            "requestId": str(uuid.uuid4()),
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "requestTimeEpoch": int(now * 1000),
            "resourceId": "2gxmpl",
            "resourcePath": resource,
            "stage": STAGE,
        },
        "body": base64.b64encode(body).decode() if binary else body,
        "isBase64Encoded": binary,
    }


# The ``requestContext.authorizer`` API Gateway adds after a Lambda (TOKEN) authorizer allowed a request:
# principalId, the authorizer's context values, integrationLatency.
# https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-lambda-authorizer-output.html
def authorizer_context(principal: str, **context: str) -> dict[str, Any]:
    return {"principalId": principal, "integrationLatency": 12, **context}


# https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-lambda-authorizer-input.html
# (TOKEN authorizer input).
def token_authorizer(token: str | None, method: str = "GET", path: str = "/flows/filter") -> dict[str, Any]:
    arn = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{REST_API_ID}/{STAGE}/{method}{path}"
    return {"type": "TOKEN", "authorizationToken": token, "methodArn": arn}


# https://docs.aws.amazon.com/apigateway/latest/developerguide/websocket-api-develop-integrations.html and
# the Lambda proxy input of WebSocket APIs (``requestContext`` of $connect/$default/$disconnect), as in
# https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-websocket-api-mapping-template-reference.html
def websocket(route: str, connection_id: str, *, domain: str, headers: dict[str, str] | None = None,
              body: str | None = None) -> dict[str, Any]:  # fmt: skip
    event_type = {"$connect": "CONNECT", "$disconnect": "DISCONNECT"}.get(route, "MESSAGE")
    now = time.time()
    context: dict[str, Any] = {
        "routeKey": route,
        "eventType": event_type,
        "extendedRequestId": "OAuCxxmplYQFxsQ=",
        "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
        "messageDirection": "IN",
        "stage": STAGE,
        "connectedAt": int(now * 1000) - 1000,
        "requestTimeEpoch": int(now * 1000),
        "identity": {"sourceIp": "192.0.2.1", "userAgent": "Python/3.11 websockets/15.0"},
        "requestId": "OAuCxxmplYQFxsQ=",
        "domainName": domain,
        "connectionId": connection_id,
        "apiId": WEBSOCKET_API_ID,
    }
    event: dict[str, Any] = {"requestContext": context, "isBase64Encoded": False}
    if event_type == "MESSAGE":
        context["messageId"] = "OAuC1xmplYQCF-A="
        event["body"] = body
    if event_type == "CONNECT":
        headers = {
            "Host": domain,
            "Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version": "13",
            "X-Forwarded-For": "192.0.2.1",
            "X-Forwarded-Port": "443",
            "X-Forwarded-Proto": "https",
            **(headers or {}),
        }
        event["headers"] = headers
        event["multiValueHeaders"] = {name: [value] for name, value in headers.items()}
    if event_type == "DISCONNECT":
        context["disconnectStatusCode"] = 1000
        context["disconnectReason"] = "Client-side close frame status code"
        event["headers"] = {"Host": domain, "x-api-key": "", "X-Forwarded-For": ""}
    return event


# https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-run-lambda-schedule.html (sample event)
def scheduled(rule: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{rule}"],
        "detail": {},
    }


# https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html (example DynamoDB Streams event): what
# Lambda's event source mapping wraps around each record that DynamoDB Streams' GetRecords returns.
def stream_event(records: list[dict[str, Any]], stream_arn: str) -> dict[str, Any]:
    wrapped = []
    for record in records:
        wrapped.append(
            {
                "eventID": record["eventID"],
                "eventName": record["eventName"],
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": REGION,
                "dynamodb": {**record["dynamodb"], "ApproximateCreationDateTime": _epoch(record["dynamodb"])},
                "eventSourceARN": stream_arn,
            }
        )
    return {"Records": wrapped}


def _epoch(image: dict[str, Any]) -> float:
    # GetRecords (boto3) returns a datetime; Lambda's event carries epoch seconds.
    value = image.get("ApproximateCreationDateTime")
    return value.timestamp() if hasattr(value, "timestamp") else float(value or time.time())


# https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/functions-event-structure.html
def viewer_request(uri: str, method: str = "GET", headers: dict[str, str] | None = None) -> dict[str, Any]:
    headers = {"host": "d111111abcdef8.cloudfront.net", "user-agent": "Mozilla/5.0", **(headers or {})}
    return {
        "version": "1.0",
        "context": {
            "distributionDomainName": "d111111abcdef8.cloudfront.net",
            "distributionId": "EDFDVBD6EXAMPLE",
            "eventType": "viewer-request",
            "requestId": "EXAMPLEntjQpEXAMPLE_SG5Z-EXAMPLEPmPfEXAMPLEu3EqEXAMPLE==",
        },
        "viewer": {"ip": "198.51.100.11"},
        "request": {
            "method": method,
            "uri": uri,
            "querystring": {},
            "headers": {name: {"value": value} for name, value in headers.items()},
            "cookies": {},
        },
    }


def json_body(answer: dict[str, Any]) -> Any:
    """The JSON a REST proxy answer carries (base64-decoded when flagged)."""
    body = answer.get("body") or ""
    if answer.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    return json.loads(body) if body else None
