"""The scheduler tick: Prefect's planning rule, the runs' shape, cost proportional to the work."""

from __future__ import annotations

import dataclasses
import json
import logging
import uuid
from datetime import timedelta

from chalicelib.domain.identity import scheduled_run_id
from chalicelib.schemas.states import StateType
from chalicelib.services.scheduler import schedule_deployment, schedule_due
from chalicelib.services.ticks import Deadline
from chalicelib.storage.instrumentation import count_requests
from chalicelib.storage.models import FlowRunModel, ScheduleModel
from tests.reliability.factories import (
    CRON_5,
    HOURLY,
    T0,
    add_schedule,
    auto_runs,
    expected_run_ids,
    make_deployment,
    make_flow,
    schedule_item,
    set_paused,
)

MINUTE = timedelta(minutes=1)


def ids(items) -> set[uuid.UUID]:
    return {uuid.UUID(item.id) for item in items}


def test_a_tick_inserts_each_due_schedules_runs_by_prefects_rule(repos, settings):
    cron = make_deployment("cron", specs=[CRON_5])
    hourly = make_deployment("hourly", specs=[HOURLY])
    report = schedule_due(repos, now=T0, settings=settings)
    # */5 from 00:00: 13 runs reach one hour ahead; hourly at :30: 3 runs (min_runs) reach 02:30.
    assert len(auto_runs(cron.deployment_id)) == 13 and len(auto_runs(hourly.deployment_id)) == 3
    assert ids(auto_runs()) == expected_run_ids(cron, settings, [T0]) | expected_run_ids(hourly, settings, [T0])
    assert (report.deployments_examined, report.schedules_examined, report.runs_inserted) == (2, 2, 16)
    assert (report.conflicts, report.errors, report.stopped_early) == (0, 0, False)


def test_auto_scheduled_runs_look_like_prefects(repos, settings):
    placed = make_deployment(
        "shaped",
        specs=[],
        tags=["etl"],
        parameters={"x": 1, "y": 1},
        version="7",
        work_queue_name="q",
        work_pool_name="pool",
    )
    slugged = add_schedule(placed.deployment_id, CRON_5, parameters={"y": 2}, slug="every-five")
    plain = add_schedule(placed.deployment_id, HOURLY)
    schedule_due(repos, now=T0, settings=settings)
    run = repos.flow_runs.get(scheduled_run_id(placed.flow_id, placed.deployment_id, slugged, T0 + 5 * MINUTE))
    assert run.state is not None and run.state.type is StateType.SCHEDULED
    assert (run.state.name, run.state.message) == ("Scheduled", "Flow run scheduled")
    assert run.state.state_details.scheduled_time == T0 + 5 * MINUTE
    assert run.expected_start_time == run.next_scheduled_start_time == T0 + 5 * MINUTE
    assert (run.state_type, run.state_name, run.state_id) == (StateType.SCHEDULED, "Scheduled", run.state.id)
    assert run.auto_scheduled and run.run_count == 0
    assert run.tags == ["auto-scheduled", "etl"] and run.parameters == {"x": 1, "y": 2}
    assert run.created_by is not None and (run.created_by.type, run.created_by.id) == ("SCHEDULE", slugged)
    assert run.created_by.display_value == "every-five"
    assert (run.deployment_id, run.deployment_version, run.schedule_id) == (placed.deployment_id, "7", slugged)
    assert (run.work_queue_name, run.work_pool_name, run.work_queue_id) == ("q", "pool", run.work_queue_id)
    assert run.work_queue_id is not None
    assert run.idempotency_key == f"scheduled {placed.deployment_id} {slugged} 2025-01-06T00:05:00.000000Z"
    assert run.name.count("-") == 1
    other = repos.flow_runs.get(scheduled_run_id(placed.flow_id, placed.deployment_id, plain, T0 + 30 * MINUTE))
    assert other.created_by is not None and other.created_by.display_value == "IntervalSchedule"


def test_a_tick_with_nothing_due_costs_one_query_whatever_the_deployments(repos, settings):
    flow = make_flow()
    for i in range(60):
        make_deployment(f"d{i}", flow_id=flow, specs=[CRON_5, HOURLY])
    schedule_due(repos, now=T0, settings=settings)
    with count_requests() as counter:
        report = schedule_due(repos, now=T0, settings=settings)
    assert counter.total <= 3 and counter.by_operation == {"Query": 1}
    assert report.requests == counter.total and report.runs_inserted == 0


def test_a_later_tick_inserts_only_the_new_runs_with_at_most_one_write_per_run(repos, settings):
    flow = make_flow()
    placed = [make_deployment(f"d{i}", flow_id=flow, specs=[CRON_5 if i % 2 else HOURLY]) for i in range(40)]
    schedule_due(repos, now=T0, settings=settings)
    with count_requests() as counter:
        report = schedule_due(repos, now=T0 + 5 * MINUTE, settings=settings)
    assert report.runs_inserted == 20 and report.conflicts == 0  # one per cron schedule, nothing regenerated
    assert counter.writes <= report.runs_inserted
    expected = set().union(*(expected_run_ids(p, settings, [T0, T0 + 5 * MINUTE]) for p in placed))
    assert ids(auto_runs()) == expected


def test_paused_deployments_get_no_runs_and_leave_the_due_index(repos, settings):
    placed = make_deployment("d", specs=[CRON_5])
    set_paused(placed.deployment_id, True, T0)
    schedule_id = next(iter(placed.schedules))
    # A stale due entry (as if the pause's second step had not landed yet).
    schedule_item(placed.deployment_id, schedule_id).update(
        actions=[ScheduleModel.due_shard.set("due"), ScheduleModel.due_at.set(T0)]
    )
    report = schedule_due(repos, now=T0, settings=settings)
    assert auto_runs() == [] and report.runs_inserted == 0
    assert schedule_item(placed.deployment_id, schedule_id).due_at is None
    assert schedule_deployment(repos, placed.deployment_id, now=T0, settings=settings).runs_inserted == 0


def test_inactive_schedules_get_no_runs_and_leave_the_due_index(repos, settings):
    placed = make_deployment("d", specs=[])
    schedule_id = add_schedule(placed.deployment_id, CRON_5, active=False)
    schedule_item(placed.deployment_id, schedule_id).update(
        actions=[ScheduleModel.due_shard.set("due"), ScheduleModel.due_at.set(T0)]
    )
    schedule_due(repos, now=T0, settings=settings)
    assert auto_runs() == [] and schedule_item(placed.deployment_id, schedule_id).due_at is None


def test_max_scheduled_runs_caps_the_runs_a_schedule_holds(repos, settings):
    placed = make_deployment("d", specs=[])
    add_schedule(placed.deployment_id, CRON_5, max_scheduled_runs=2)
    schedule_due(repos, now=T0, settings=settings)
    assert len(auto_runs()) == 2
    schedule_due(repos, now=T0 + MINUTE, settings=settings)  # the 00:00 run is past: one more
    assert len(auto_runs()) == 3


def test_a_finite_schedule_leaves_the_due_index_when_exhausted(repos, settings):
    placed = make_deployment("d", specs=[{"rrule": "DTSTART:20250106T001000\nRRULE:FREQ=MINUTELY;COUNT=2"}])
    schedule_due(repos, now=T0, settings=settings)
    assert len(auto_runs()) == 2
    assert schedule_item(placed.deployment_id, next(iter(placed.schedules))).due_shard is None


def test_a_plan_longer_than_a_transaction_is_committed_in_steps(repos, settings):
    wide = dataclasses.replace(settings, scheduler_min_runs=150, scheduler_max_runs=300)
    placed = make_deployment("d", specs=[{"cron": "* * * * *"}])
    report = schedule_due(repos, now=T0, settings=wide)
    assert report.runs_inserted == 150 and len(auto_runs()) == 150
    assert schedule_item(placed.deployment_id, next(iter(placed.schedules))).planned_through == T0 + 149 * MINUTE


def test_one_bad_schedule_is_logged_and_skipped(repos, settings, caplog):
    good = make_deployment("good", specs=[CRON_5])
    bad = make_deployment("bad", specs=[{"cron": "not a cron"}])
    with caplog.at_level(logging.WARNING, logger="cirrus.scheduler"):
        report = schedule_due(repos, now=T0, settings=settings)
    assert report.errors == 1 and report.runs_inserted == 13
    assert {r.deployment_id for r in auto_runs()} == {str(good.deployment_id)}
    [line] = [json.loads(r.message) for r in caplog.records]
    assert line["deployment_id"] == str(bad.deployment_id) and "cron" in line["error"].lower()


def test_runs_inserted_by_others_are_not_duplicated(repos, settings):
    placed = make_deployment("d", specs=[CRON_5])
    schedule_id = next(iter(placed.schedules))
    from chalicelib.services.scheduler import backfill

    assert backfill(repos, placed.deployment_id, start=T0, end=T0 + 10 * MINUTE, now=T0, settings=settings) == 3
    report = schedule_due(repos, now=T0, settings=settings)
    assert report.runs_inserted == 10 and report.conflicts == 3
    assert ids(auto_runs()) == expected_run_ids(placed, settings, [T0])
    assert schedule_item(placed.deployment_id, schedule_id).planned_through == T0 + 60 * MINUTE


def test_a_tick_past_its_deadline_does_nothing_and_the_next_does_the_work(repos, settings):
    make_deployment("d", specs=[CRON_5])
    report = schedule_due(repos, now=T0, settings=settings, deadline=Deadline(lambda: 5.0, 10.0))
    assert report.stopped_early and report.runs_inserted == 0 and auto_runs() == []
    assert schedule_due(repos, now=T0, settings=settings).runs_inserted == 13


def test_schedule_deployment_is_idempotent(repos, settings):
    placed = make_deployment("d", specs=[CRON_5, HOURLY])
    first = schedule_deployment(repos, placed.deployment_id, now=T0, settings=settings)
    second = schedule_deployment(repos, placed.deployment_id, now=T0, settings=settings)
    assert (first.runs_inserted, second.runs_inserted) == (16, 0)
    assert second.requests == 2  # the deployment and its schedules: nothing to write
    assert ids(auto_runs()) == expected_run_ids(placed, settings, [T0])
    assert schedule_deployment(repos, uuid.uuid4(), now=T0, settings=settings).runs_inserted == 0


def test_runs_of_a_schedule_are_never_regenerated_after_deletion(repos, settings):
    placed = make_deployment("d", specs=[CRON_5])
    schedule_due(repos, now=T0, settings=settings)
    victim = auto_runs()[0]
    FlowRunModel(victim.id).delete()  # a user deleted one run
    assert schedule_due(repos, now=T0, settings=settings).runs_inserted == 0
    assert len(auto_runs(placed.deployment_id)) == 12
