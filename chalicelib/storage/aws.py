"""The one boto3 session the Lambda edges need outside DynamoDB: API Gateway's management API,
through which the websocket Lambda answers a connection (``app.websocket_api``)."""

from __future__ import annotations

from typing import Any


def boto3_session() -> Any:
    """A new boto3 session (credentials and region from the Lambda's environment)."""
    import boto3

    return boto3.session.Session()
