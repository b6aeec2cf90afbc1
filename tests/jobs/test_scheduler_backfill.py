"""Backfill (Prefect's /schedule rule) and the retirement of a changed schedule's runs."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from chalicelib.domain.identity import scheduled_run_id
from chalicelib.errors import DeploymentNotFoundError
from chalicelib.schemas.schedules import parse_schedule
from chalicelib.services.scheduler import backfill, retire_runs, schedule_due
from chalicelib.storage.instrumentation import count_requests
from chalicelib.storage.models import FlowRunModel
from tests.reliability.factories import (
    CRON_5,
    HOURLY,
    T0,
    add_schedule,
    auto_runs,
    make_deployment,
    schedule_item,
    set_paused,
)

MINUTE = timedelta(minutes=1)


def instants(deployment_id: uuid.UUID | None = None) -> list:
    return sorted(r.expected_start_time for r in auto_runs(deployment_id))


def test_backfill_follows_prefects_rule_from_now_by_default(repos, settings):
    placed = make_deployment("d", specs=[CRON_5])
    assert backfill(repos, placed.deployment_id, now=T0, settings=settings) == 13
    assert instants() == [T0 + 5 * i * MINUTE for i in range(13)]


def test_backfill_window_bounds_are_inclusive_and_counts_cap_it(repos, settings):
    placed = make_deployment("d", specs=[CRON_5])
    start, end = T0 - timedelta(hours=2), T0 - timedelta(hours=1)
    assert backfill(repos, placed.deployment_id, start=start, end=end, min_runs=100, now=T0, settings=settings) == 13
    assert instants()[0] == start and instants()[-1] == end
    later = T0 + timedelta(days=1)
    assert backfill(repos, placed.deployment_id, start=later, max_runs=2, min_runs=5, now=T0, settings=settings) == 2
    assert backfill(repos, placed.deployment_id, start=later, min_time=0, min_runs=1, now=T0, settings=settings) == 0


def test_backfill_is_idempotent_ignores_paused_and_leaves_the_scheduler_alone(repos, settings):
    placed = make_deployment("d", specs=[CRON_5, HOURLY])
    add_schedule(placed.deployment_id, CRON_5, active=False)
    set_paused(placed.deployment_id, True, T0)
    before = [schedule_item(placed.deployment_id, s).attribute_values for s in placed.schedules]
    with count_requests() as counter:
        assert backfill(repos, placed.deployment_id, now=T0, settings=settings) == 16
    assert counter.writes == 2  # one transaction per schedule
    assert backfill(repos, placed.deployment_id, now=T0, settings=settings) == 0
    assert [schedule_item(placed.deployment_id, s).attribute_values for s in placed.schedules] == before


def test_backfill_of_an_unknown_deployment_is_not_found(repos, settings):
    with pytest.raises(DeploymentNotFoundError):
        backfill(repos, uuid.uuid4(), now=T0, settings=settings)


def test_a_tick_after_a_backfill_inserts_only_what_is_missing(repos, settings):
    placed = make_deployment("d", specs=[CRON_5])
    backfill(repos, placed.deployment_id, start=T0 + 30 * MINUTE, min_runs=20, now=T0, settings=settings)
    report = schedule_due(repos, now=T0, settings=settings)
    assert report.runs_inserted == 6 and report.conflicts == 7  # 00:00-00:25 new; 00:30-01:00 existed
    assert len(instants()) == 26


def test_retire_deletes_the_schedules_scheduled_runs_from_since(repos, settings):
    placed = make_deployment("d", specs=[CRON_5, HOURLY])
    retired, other = placed.schedules
    schedule_due(repos, now=T0, settings=settings)
    backfill(repos, placed.deployment_id, start=T0 + timedelta(hours=2), end=T0 + timedelta(hours=2), now=T0,
             settings=settings)  # fmt: skip
    started = scheduled_run_id(placed.flow_id, placed.deployment_id, retired, T0 + 20 * MINUTE)
    FlowRunModel.get(str(started)).update(actions=[FlowRunModel.state_type.set("RUNNING")])
    old = schedule_item(placed.deployment_id, retired)
    deleted = retire_runs(
        repos,
        placed.deployment_id,
        retired,
        old_spec=dict(old.spec),
        old_planned_through=old.planned_through,
        since=T0 + 12 * MINUTE,
    )
    # 00:15..01:00 (10 runs) less the one that started, plus the backfilled 02:00 run.
    assert deleted == 10
    left = {r.expected_start_time for r in auto_runs() if r.schedule_id == str(retired)}
    assert left == {T0, T0 + 5 * MINUTE, T0 + 10 * MINUTE, T0 + 20 * MINUTE}
    assert len([r for r in auto_runs() if r.schedule_id == str(other)]) == 3  # untouched (none at 02:00)


def test_retire_finds_runs_the_index_does_not_show_yet(repos, settings):
    placed = make_deployment("d", specs=[CRON_5])
    [schedule_id] = placed.schedules
    schedule_due(repos, now=T0, settings=settings)
    # Stand-in for index lag: runs whose by-owner-state entry the query cannot match.
    for item in FlowRunModel.scan():
        item.update(actions=[FlowRunModel.schedule_id.remove()])
    old = schedule_item(placed.deployment_id, schedule_id)
    deleted = retire_runs(
        repos,
        placed.deployment_id,
        schedule_id,
        old_spec=parse_schedule(dict(old.spec)),
        old_planned_through=old.planned_through,
        since=T0,
    )
    assert deleted == 13 and auto_runs() == []


def test_retire_without_since_deletes_past_runs_too(repos, settings):
    placed = make_deployment("d", specs=[CRON_5])
    [schedule_id] = placed.schedules
    backfill(repos, placed.deployment_id, start=T0 - timedelta(hours=1), min_runs=30, now=T0, settings=settings)
    schedule_due(repos, now=T0, settings=settings)
    old = schedule_item(placed.deployment_id, schedule_id)
    deleted = retire_runs(
        repos, placed.deployment_id, schedule_id, old_spec=dict(old.spec), old_planned_through=old.planned_through,
        since=None,
    )  # fmt: skip
    assert deleted == 30 and auto_runs() == []  # 23:00 to 01:25: 30 runs, 12 of them past
