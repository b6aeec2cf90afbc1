"""The scheduler's storage: due-index paging, the planning transaction's outcomes, parking."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from chalicelib.services.scheduler import build_scheduled_run
from chalicelib.storage.instrumentation import count_requests
from chalicelib.storage.models import DeploymentModel, FlowRunModel, ScheduleModel
from chalicelib.storage.scheduler import (
    Outcome,
    PlanCommit,
    PlanCommitter,
    ScheduledRunStore,
    SchedulingStore,
    schedule_record,
)
from tests.reliability.factories import CRON_5, HOURLY, T0, Placed, make_deployment, schedule_item, set_paused

MINUTE = timedelta(minutes=1)


@pytest.fixture
def committer(repos) -> PlanCommitter:
    return PlanCommitter(repos.flow_runs)


def record(placed: Placed, index: int = 0):
    return schedule_record(schedule_item(placed.deployment_id, list(placed.schedules)[index]))


def commit_for(repos, placed: Placed, minutes: list[int], *, index: int = 0, next_due=T0 + MINUTE) -> PlanCommit:
    schedule = record(placed, index)
    deployment = ScheduledRunStore(repos.flow_runs).deployment(placed.deployment_id)
    runs = [
        build_scheduled_run(
            deployment, schedule.id, T0 + m * MINUTE, display_value="CronSchedule", schedule_parameters={}, now=T0
        )
        for m in minutes
    ]
    return PlanCommit(schedule, runs, runs[-1].expected_start_time if runs else None, next_due)


def run_ids() -> set[str]:
    return {item.id for item in FlowRunModel.scan(consistent_read=True)}


# ---------------------------------------------------------------------------------- due index
def test_due_page_reads_only_due_schedules_earliest_first_one_query_per_page(settings):
    due = [make_deployment(f"due-{i}", specs=[CRON_5], now=T0 + i * MINUTE) for i in range(5)]
    make_deployment("later", specs=[CRON_5], now=T0 + timedelta(hours=1))
    make_deployment("paused", specs=[CRON_5], paused=True)
    store = SchedulingStore()
    seen, cursor, pages = [], None, 0
    with count_requests() as counter:
        while True:
            page = store.due_page(T0 + 10 * MINUTE, cursor, limit=2)
            pages += 1
            seen += [s.deployment_id for s in page.schedules]
            cursor = page.cursor
            if cursor is None:
                break
    assert seen == [p.deployment_id for p in due]
    assert counter.by_operation == {"Query": pages}


def test_a_malformed_schedule_item_is_reported_not_fatal_to_its_page(settings):
    good = make_deployment("good", specs=[CRON_5])
    ScheduleModel("not-a-uuid", "also-not", spec={}, due_shard="due", due_at=T0, created=T0, updated=T0).save()
    page = SchedulingStore().due_page(T0)
    assert [s.deployment_id for s in page.schedules] == [good.deployment_id]
    assert page.undecodable == ["not-a-uuid/also-not"]


# ---------------------------------------------------------------------------------- planning transaction
def test_commit_inserts_runs_and_advances_the_schedule_atomically(repos, committer):
    placed = make_deployment("d", specs=[CRON_5])
    commit = commit_for(repos, placed, [0, 5, 10])
    with count_requests() as counter:
        [result] = committer.commit([commit])
    assert result.outcome is Outcome.COMMITTED and len(result.inserted) == 3
    assert counter.by_operation == {"TransactWriteItems": 1}
    item = schedule_item(placed.deployment_id, commit.schedule.id)
    assert (item.planned_through, item.due_at, item.due_shard) == (T0 + 10 * MINUTE, T0 + MINUTE, "due")
    assert run_ids() == {str(i) for i in result.inserted}


def test_commit_without_next_due_takes_the_schedule_off_the_index(repos, committer):
    placed = make_deployment("d", specs=[CRON_5])
    [result] = committer.commit([commit_for(repos, placed, [0], next_due=None)])
    assert result.outcome is Outcome.COMMITTED
    item = schedule_item(placed.deployment_id, list(placed.schedules)[0])
    assert item.due_shard is None and item.due_at is None


def test_runs_that_exist_are_dropped_and_the_rest_committed(repos, committer):
    placed = make_deployment("d", specs=[CRON_5])
    commit = commit_for(repos, placed, [0, 5, 10])
    assert repos.flow_runs.insert(commit.runs[1])  # e.g. a backfill got there first
    with count_requests() as counter:
        [result] = committer.commit([commit])
    assert result.outcome is Outcome.COMMITTED
    assert set(result.inserted) == {commit.runs[0].id, commit.runs[2].id} and result.existing == 1
    assert counter.by_operation == {"TransactWriteItems": 2}
    assert schedule_item(placed.deployment_id, commit.schedule.id).planned_through == T0 + 10 * MINUTE


@pytest.mark.parametrize("change", ["paused", "deleted"])
def test_a_paused_or_deleted_deployment_writes_nothing(repos, committer, change):
    placed = make_deployment("d", specs=[CRON_5])
    commit = commit_for(repos, placed, [0, 5])
    if change == "paused":
        set_paused(placed.deployment_id, True, T0)
    else:
        DeploymentModel(str(placed.deployment_id)).delete()
    [result] = committer.commit([commit])
    assert result.outcome is Outcome.DEPLOYMENT_INACTIVE
    assert run_ids() == set()
    assert schedule_item(placed.deployment_id, commit.schedule.id).planned_through is None


@pytest.mark.parametrize("race", ["rev", "planned_through"])
def test_a_schedule_changed_or_planned_since_it_was_read_writes_nothing(repos, committer, race):
    placed = make_deployment("d", specs=[CRON_5])
    commit = commit_for(repos, placed, [0, 5])
    item = schedule_item(placed.deployment_id, commit.schedule.id)
    if race == "rev":
        item.update(actions=[ScheduleModel.rev.add(1)])
    else:  # another tick committed a plan first
        item.update(actions=[ScheduleModel.planned_through.set(T0 + 5 * MINUTE)])
    [result] = committer.commit([commit])
    assert result.outcome is Outcome.SCHEDULE_CHANGED
    assert run_ids() == set()


def test_one_transaction_carries_many_schedules_and_settles_each(repos, committer):
    live = [make_deployment(f"live-{i}", specs=[CRON_5, HOURLY]) for i in range(3)]
    paused = make_deployment("paused", specs=[CRON_5])
    commits = [commit_for(repos, p, [0, 5], index=i) for p in live for i in range(2)]
    commits.append(commit_for(repos, paused, [0, 5]))
    set_paused(paused.deployment_id, True, T0)
    with count_requests() as counter:
        results = committer.commit(commits)
    assert [r.outcome for r in results] == [Outcome.COMMITTED] * 6 + [Outcome.DEPLOYMENT_INACTIVE]
    assert counter.by_operation == {"TransactWriteItems": 2}  # the first cancelled by the paused deployment
    assert len(run_ids()) == 12


def test_a_commit_refused_for_its_content_fails_alone(repos, committer):
    ok, bad = make_deployment("ok", specs=[CRON_5]), make_deployment("bad", specs=[CRON_5])
    good_commit, bad_commit = commit_for(repos, ok, [0]), commit_for(repos, bad, [0])
    huge = bad_commit.runs[0].model_copy(update={"parameters": {"blob": "x" * 500_000}})
    bad_commit = PlanCommit(bad_commit.schedule, [huge], bad_commit.planned_through, bad_commit.next_due)
    results = committer.commit([good_commit, bad_commit])
    assert [r.outcome for r in results] == [Outcome.COMMITTED, Outcome.FAILED]
    assert results[1].error is not None and results[1].error.code == "ValidationException"
    assert run_ids() == {str(good_commit.runs[0].id)}


def test_commit_refuses_more_than_one_transaction_or_a_schedule_twice(repos, committer):
    placed = make_deployment("d", specs=[CRON_5])
    with pytest.raises(ValueError):
        committer.commit([commit_for(repos, placed, list(range(99)))])
    commit = commit_for(repos, placed, [0])
    with pytest.raises(ValueError):
        committer.commit([commit, commit])


# ---------------------------------------------------------------------------------- parking
def test_park_takes_a_paused_deployments_schedule_off_the_index(settings):
    placed = make_deployment("d", specs=[CRON_5])
    schedule = record(placed)
    store = SchedulingStore()
    assert not store.park(schedule)  # live deployment: refused
    set_paused(placed.deployment_id, True, T0)
    item = schedule_item(placed.deployment_id, schedule.id)
    item.update(actions=[ScheduleModel.due_shard.set("due"), ScheduleModel.due_at.set(T0)])  # a stale entry
    assert store.park(schedule)
    assert schedule_item(placed.deployment_id, schedule.id).due_at is None


def test_park_never_undoes_a_resume(settings):
    placed = make_deployment("d", specs=[CRON_5])
    schedule = record(placed)
    set_paused(placed.deployment_id, True, T0)
    set_paused(placed.deployment_id, False, T0 + MINUTE)  # resumed after the tick read the entry
    assert not SchedulingStore().park(schedule)
    assert schedule_item(placed.deployment_id, schedule.id).due_at == T0 + MINUTE


def test_unschedule_respects_the_schedule_rev(settings):
    placed = make_deployment("d", specs=[CRON_5])
    schedule = record(placed)
    schedule_item(placed.deployment_id, schedule.id).update(actions=[ScheduleModel.rev.add(1)])
    assert not SchedulingStore().unschedule(schedule)
    assert SchedulingStore().unschedule(record(placed))
    assert schedule_item(placed.deployment_id, schedule.id).due_shard is None


# ---------------------------------------------------------------------------------- runs for backfill and retirement
def test_insert_runs_skips_existing_and_delete_keeps_runs_that_left_scheduled(repos):
    placed = make_deployment("d", specs=[CRON_5])
    runs = commit_for(repos, placed, [0, 5, 10, 15]).runs
    store = ScheduledRunStore(repos.flow_runs)
    assert repos.flow_runs.insert(runs[0])
    assert set(store.insert_runs(runs)) == {r.id for r in runs[1:]}
    started = FlowRunModel.get(str(runs[1].id))
    started.update(actions=[FlowRunModel.state_type.set("RUNNING")])
    assert store.delete_scheduled([r.id for r in runs] + [uuid.uuid4()]) == 3
    assert run_ids() == {str(runs[1].id)}


def test_scheduled_run_ids_are_the_schedules_from_since(repos):
    placed = make_deployment("d", specs=[CRON_5, HOURLY])
    first, second = commit_for(repos, placed, [0, 5, 10]), commit_for(repos, placed, [0], index=1)
    store = ScheduledRunStore(repos.flow_runs)
    store.insert_runs([*first.runs, *second.runs])
    schedule_id = first.schedule.id
    assert store.scheduled_run_ids(placed.deployment_id, schedule_id, None) == {r.id for r in first.runs}
    assert store.scheduled_run_ids(placed.deployment_id, schedule_id, T0 + 5 * MINUTE) == {r.id for r in first.runs[1:]}
