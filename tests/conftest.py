"""Shared fixtures: moto for storage, the Chalice test client for routes, an injected clock."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from moto import mock_aws

from chalicelib.config import Settings, override_settings, reset_settings
from chalicelib.storage import Repositories, open_repositories
from chalicelib.storage.tables import create_tables
from tests.moto_shim import installed

for _name, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}.items():
    os.environ[_name] = _value


@pytest.fixture
def aws() -> Iterator[None]:
    """moto's DynamoDB, made atomic per request like DynamoDB (see tests/moto_shim.py)."""
    with mock_aws(), installed():
        yield


@pytest.fixture
def settings(aws: None) -> Iterator[Settings]:
    current = override_settings(Settings(stage="test", region="us-east-1"))
    create_tables(current)
    yield current
    reset_settings()


@pytest.fixture
def repos(settings: Settings) -> Repositories:
    return open_repositories(settings)


@pytest.fixture
def client(settings: Settings) -> Iterator[object]:
    from chalice.test import Client

    from app import app

    with Client(app, stage_name="test") as test_client:
        yield test_client
