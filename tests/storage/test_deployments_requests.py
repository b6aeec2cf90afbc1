"""DynamoDB request budgets of the deployments paths (counted with a botocore hook)."""

from datetime import UTC, datetime

import pytest

from chalicelib.schemas.deployments import (
    DeploymentCreate,
    DeploymentFlowRunCreate,
    GetScheduledFlowRunsBody,
)
from chalicelib.services import deployments
from chalicelib.storage.instrumentation import count_requests

SCHEDULES = [{"schedule": {"interval": 3600, "anchor_date": "2020-01-01T00:00:00Z"}, "slug": "h"}]


@pytest.fixture
def deployed(repos, settings):
    now = datetime.now(UTC)
    flow, _ = repos.flows.create_if_absent("f", [], {}, now)
    made = []
    for name in ("a", "b", "c"):
        body = DeploymentCreate(name=name, flow_id=flow.id, schedules=SCHEDULES)
        made.append(deployments.upsert_deployment(repos, settings, body, now).deployment)
    return made


def test_read_is_one_get_item(repos, deployed):
    with count_requests() as counter:
        read = deployments.read_deployment(repos, deployed[0].id, datetime.now(UTC))
    assert read.schedules and counter.snapshot() == {"GetItem": 1}


def test_create_flow_run_costs_at_most_three(repos, deployed):
    body = DeploymentFlowRunCreate(idempotency_key="k")
    with count_requests() as counter:
        deployments.create_flow_run(repos, deployed[0].id, body, datetime.now(UTC))
    assert counter.snapshot() == {"GetItem": 1, "PutItem": 1}
    with count_requests() as counter:
        _, created = deployments.create_flow_run(repos, deployed[0].id, body, datetime.now(UTC))
    assert not created and counter.total == 3


def test_poll_is_one_query_per_deployment_one_read_of_the_runs_and_one_write(repos, deployed):
    body = GetScheduledFlowRunsBody(deployment_ids=[d.id for d in deployed])
    # The first poll is a change of status (NOT_READY → READY): per deployment, its read and its
    # flow's, the event (claim, pointers, event) and the mark's move, after the write that failed.
    with count_requests() as counter:
        deployments.get_scheduled_flow_runs(repos, body, datetime.now(UTC))
    changed = {"Query": 3, "BatchGetItem": 1, "TransactWriteItems": 1, "GetItem": 6, "PutItem": 6}
    assert counter.snapshot() == {**changed, "BatchWriteItem": 3, "UpdateItem": 3}
    with count_requests() as counter:
        runs = deployments.get_scheduled_flow_runs(repos, body, datetime.now(UTC))
    assert len(runs) == 9
    # The index holds keys: one BatchGetItem reads the due runs of every deployment polled.
    assert counter.snapshot() == {"Query": 3, "BatchGetItem": 1, "TransactWriteItems": 1}
    one = GetScheduledFlowRunsBody(deployment_ids=[deployed[0].id])
    with count_requests() as counter:
        deployments.get_scheduled_flow_runs(repos, one, datetime.now(UTC))
    assert counter.snapshot() == {"Query": 1, "BatchGetItem": 1, "UpdateItem": 1}
    early = GetScheduledFlowRunsBody(deployment_ids=[deployed[0].id], scheduled_before=datetime(2000, 1, 1, tzinfo=UTC))
    with count_requests() as counter:
        assert deployments.get_scheduled_flow_runs(repos, early, datetime.now(UTC)) == []
    assert counter.snapshot() == {"Query": 1, "UpdateItem": 1}  # nothing due: no read of runs


def test_redeploy_without_changes_writes_one_transaction(repos, settings, deployed):
    body = DeploymentCreate(name="a", flow_id=deployed[0].flow_id, schedules=SCHEDULES)
    with count_requests() as counter:
        saved = deployments.upsert_deployment(repos, settings, body, datetime.now(UTC))
    assert not saved.created
    ops = counter.snapshot()
    # one read and one transaction here; the inline scheduler call adds its own reads
    assert ops.get("TransactWriteItems") == 1
    assert "DeleteItem" not in ops and "PutItem" not in ops  # no run retired, no queue re-created
