"""A scheduler pass builds a schedule's runs from the first one (build_scheduled_runs): the runs must
be exactly those build_scheduled_run gives for each occurrence, and so must the items stored."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain.schedule_policy import SchedulePolicy
from chalicelib.services.scheduler import build_scheduled_run, build_scheduled_runs
from chalicelib.storage.flow_runs import _items as flow_run_items
from chalicelib.storage.scheduler import DeploymentRecord

NOW = datetime(2026, 3, 8, 6, 0, tzinfo=UTC)


@pytest.mark.parametrize("pool", [None, "pool"])
def test_runs_built_from_the_first_are_the_runs_built_one_by_one(pool):
    deployment = DeploymentRecord(
        id=uuid.uuid4(),
        flow_id=uuid.uuid4(),
        paused=False,
        version="7",
        tags=["etl"],
        parameters={"x": 1, "nested": {"a": [1, 2]}},
        work_queue_name="default",
        work_pool_name=pool,
    )
    schedule = uuid.uuid4()
    instants = [NOW + timedelta(minutes=7 * i) for i in range(12)]  # across the DST change in New York
    options = {"display_value": "every-seven", "schedule_parameters": {"y": 2}, "now": NOW}
    together = build_scheduled_runs(deployment, schedule, instants, **options)
    one_by_one = [build_scheduled_run(deployment, schedule, t, **options) for t in instants]
    assert together == one_by_one
    assert len({run.id for run in together}) == len(instants)
    retention = timedelta(days=30)
    for a, b in zip(together, one_by_one, strict=True):
        stored_a = flow_run_items.to_item(a, retention, history_pending=True).serialize()
        stored_b = flow_run_items.to_item(b, retention, history_pending=True).serialize()
        assert stored_a == stored_b
    assert build_scheduled_runs(deployment, schedule, [], **options) == []


@pytest.mark.parametrize(
    ("pool", "policy"),
    [
        (None, SchedulePolicy()),
        ("pool", SchedulePolicy()),
        (None, SchedulePolicy(catchup_window=timedelta(minutes=10))),
        ("pool", SchedulePolicy(catchup_window=timedelta(minutes=10), jitter=timedelta(minutes=7))),
    ],
)
def test_a_planned_runs_stored_form_from_the_first_is_its_own(pool, policy):
    """The planning transaction writes a schedule's runs from the first one's stored form (with a
    catch-up window, each run's work-list entry is its own deadline)."""
    deployment = DeploymentRecord(
        id=uuid.uuid4(), flow_id=uuid.uuid4(), paused=False, tags=["t"], work_queue_name="q", work_pool_name=pool
    )
    instants = [NOW + timedelta(hours=i) for i in range(30)]
    runs = build_scheduled_runs(
        deployment,
        uuid.uuid4(),
        instants,
        display_value="x",
        schedule_parameters={},
        now=NOW,
        policy=policy,
    )
    retention = timedelta(days=30)
    first = flow_run_items.to_item(runs[0], retention, history_pending=True, late_list=False).serialize()
    assert ("qs" in first) == (pool is not None)
    assert ("sweep_at" in first) == (policy.catchup_window is not None)
    for run in runs:
        own = flow_run_items.to_item(run, retention, history_pending=True, late_list=False).serialize()
        assert flow_run_items.moved_item(first, run) == own
