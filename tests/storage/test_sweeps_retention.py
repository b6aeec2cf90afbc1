"""Retention: finished runs (with their history, in the same item) expire through DynamoDB TTL, and no
read — by id, by deployment, or a maintenance sweep — returns an expired item before DynamoDB deletes it."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from chalicelib.domain.run_bookkeeping import apply_state
from chalicelib.domain.sweeps import LAZARUS
from chalicelib.errors import FlowRunNotFoundError
from chalicelib.schemas.states import State, StateType
from chalicelib.storage.flow_runs import FlowRunRepository
from chalicelib.storage.models import FlowRunModel, run_shard
from chalicelib.storage.sweeps import SweepStore
from tests.jobs.maintenance_factories import cancelling, completed, make_run, running, scheduled, zombie_crashed

T0 = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)


def test_the_runs_table_has_ttl_on_expires_at(settings):
    client = boto3.client("dynamodb", region_name=settings.region, endpoint_url=settings.dynamodb_endpoint)
    ttl = client.describe_time_to_live(TableName=FlowRunModel.Meta.table_name)["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expires_at")


@pytest.mark.parametrize("kind", [StateType.COMPLETED, StateType.FAILED, StateType.CANCELLED, StateType.CRASHED])
def test_every_terminal_state_sets_the_ttl_from_the_end_time(repos, settings, kind):
    run = make_run(State(type=kind, timestamp=T0), start_time=T0 - timedelta(minutes=1), end_time=T0)
    expected = T0 + timedelta(days=settings.retention_days)
    assert repos.flow_runs.to_item(run).expires_at == expected


def test_a_run_cancelled_before_it_started_expires_from_its_state_time(repos, settings):
    run = make_run(State(type=StateType.CANCELLED, timestamp=T0))
    assert repos.flow_runs.to_item(run).expires_at == T0 + timedelta(days=settings.retention_days)


@pytest.mark.parametrize(
    "run",
    [
        pytest.param(scheduled(T0), id="scheduled"),
        pytest.param(running(T0, heartbeat=T0), id="running"),
        pytest.param(cancelling(T0), id="cancelling"),
        pytest.param(make_run(State(type=StateType.PENDING, timestamp=T0)), id="pending"),
        pytest.param(make_run(State(type=StateType.PAUSED, timestamp=T0)), id="paused"),
    ],
)
def test_unfinished_runs_never_expire(repos, run):
    assert repos.flow_runs.to_item(run).expires_at is None


def test_the_retention_is_a_setting(settings):
    runs = FlowRunRepository(replace(settings, retention_days=7))
    assert runs.to_item(completed(T0)).expires_at == T0 + timedelta(days=7)


def test_leaving_a_terminal_state_removes_the_ttl_from_the_stored_item(repos):
    run = zombie_crashed(T0)
    repos.flow_runs.insert(run)
    assert FlowRunModel.get(str(run.id)).expires_at is not None
    state = State(type=StateType.SCHEDULED, name="Rescheduled", timestamp=T0)
    moved = apply_state(run, state, now=T0)
    assert moved.end_time is None
    repos.flow_runs.replace(moved, [run.state, state], expected_state_id=run.state.id)
    assert FlowRunModel.get(str(run.id)).expires_at is None


def test_expired_items_are_invisible_to_every_read(repos, settings):
    now = datetime.now(UTC)
    deployment = uuid.uuid4()
    ended = now - timedelta(days=settings.retention_days, seconds=5)
    expired = zombie_crashed(ended, deployment_id=deployment)
    alive = zombie_crashed(now - timedelta(minutes=1), deployment_id=deployment)
    for run in (expired, alive):
        repos.flow_runs.insert(run)
    # DynamoDB (and moto) may keep the item well past its TTL; it is still stored...
    assert FlowRunModel.count(run_shard(str(expired.id)), FlowRunModel.id == str(expired.id)) == 1
    # ... but no read returns it.
    with pytest.raises(FlowRunNotFoundError):
        repos.flow_runs.get(expired.id)
    with pytest.raises(FlowRunNotFoundError):
        repos.flow_runs.get_with_history(expired.id)
    assert [r.id for r in repos.flow_runs.by_deployment(deployment)] == [alive.id]
    page = SweepStore(repos.flow_runs).page(LAZARUS, now, now=now, inclusive=True)
    assert ([c.run.id for c in page.candidates], page.expired) == ([alive.id], 1)
