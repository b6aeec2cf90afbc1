"""Lazarus: bounded rescheduling of zombie-crashed runs, then FAILED; races with set_state and itself."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain.orchestration import commit, orchestrate
from chalicelib.errors import ConcurrentUpdateError
from chalicelib.schemas.states import SetStateBody, State, StateCreate, StateType
from chalicelib.services import flow_runs
from chalicelib.services.maintenance import kill_zombies, revive_crashed_runs
from chalicelib.storage.models import FlowRunModel
from tests.jobs.maintenance_factories import BarrierStore, InterleavingStore, make_run, zombie_crashed

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)


def _insert(repos, *runs):
    for run in runs:
        assert repos.flow_runs.insert(run)
    return runs


def _set_state(repos, run_id, state_type, now, **fields):
    """POST /flow_runs/{id}/set_state, through the flow runs service."""
    body = SetStateBody(state=StateCreate(type=state_type, **fields))
    result = flow_runs.set_flow_run_state(repos, run_id, body, now)
    assert result.written, result


def test_a_zombie_crashed_run_is_rescheduled_now(repos, settings):
    (run,) = _insert(repos, zombie_crashed(NOW - timedelta(minutes=3)))
    report = revive_crashed_runs(repos, now=NOW, settings=settings)
    assert (report.candidates, report.changed, report.outcomes["rescheduled"]) == (1, 1, 1)
    revived, history = repos.flow_runs.get_with_history(run.id)
    assert (revived.state.type, revived.state.name) == (StateType.SCHEDULED, "Rescheduled")
    assert revived.state.message == "Rescheduled by Lazarus, attempt 1 of 3."
    assert revived.state.state_details.scheduled_time == NOW
    assert revived.next_scheduled_start_time == NOW
    assert revived.lazarus_attempts == 1
    assert revived.end_time is None
    assert [s.type for s in history][-2:] == [StateType.CRASHED, StateType.SCHEDULED]
    item = FlowRunModel.get(str(run.id))
    assert item.expires_at is None  # no longer finished: no TTL
    assert item.sweep is None  # "Rescheduled" is not marked late, and is on no other list


def test_only_runs_of_a_deployment_crashed_by_the_zombie_killer_are_revived(repos, settings):
    no_deployment = zombie_crashed(NOW - timedelta(minutes=1), deployment_id=None)
    crashed_by_client = make_run(
        State(type=StateType.CRASHED, timestamp=NOW - timedelta(minutes=1)), deployment_id=uuid.uuid4()
    )
    _insert(repos, no_deployment, crashed_by_client)
    assert revive_crashed_runs(repos, now=NOW, settings=settings).candidates == 0
    for run in (no_deployment, crashed_by_client):
        assert repos.flow_runs.get(run.id).state_type is StateType.CRASHED


def _run_until_crashed(repos, settings, run_id, start):
    """A worker picks the run up, it heartbeats once, then goes silent until the killer crashes it."""
    _set_state(repos, run_id, StateType.PENDING, start)
    _set_state(repos, run_id, StateType.RUNNING, start)
    # The previous attempt's heartbeat is forgotten: a new attempt is judged only once it beats.
    assert kill_zombies(repos, now=start + timedelta(days=1), settings=settings).candidates == 0
    flow_runs.record_heartbeat(repos, run_id, start)
    killed_at = start + timedelta(seconds=settings.zombie_threshold_s + 1)
    assert kill_zombies(repos, now=killed_at, settings=settings).changed == 1
    return killed_at


def test_attempts_are_bounded_then_the_run_fails_with_a_reason(repos, settings):
    (run,) = _insert(repos, zombie_crashed(NOW))
    clock = NOW
    for attempt in range(1, settings.lazarus_max_attempts + 1):
        clock += timedelta(minutes=5)
        assert revive_crashed_runs(repos, now=clock, settings=settings).outcomes["rescheduled"] == 1
        revived = repos.flow_runs.get(run.id)
        assert revived.state.message == f"Rescheduled by Lazarus, attempt {attempt} of 3."
        assert revived.lazarus_attempts == attempt
        clock = _run_until_crashed(repos, settings, run.id, clock + timedelta(seconds=1))
    clock += timedelta(minutes=5)
    report = revive_crashed_runs(repos, now=clock, settings=settings)
    assert (report.changed, report.outcomes["gave_up"]) == (1, 1)
    failed, history = repos.flow_runs.get_with_history(run.id)
    assert failed.state.type is StateType.FAILED
    assert failed.state.message.startswith("Lazarus gave up after 3 attempts")
    assert [s.name for s in history].count("Rescheduled") == 3
    assert FlowRunModel.get(str(run.id)).sweep is None
    assert FlowRunModel.get(str(run.id)).expires_at is not None
    # Nothing left to do.
    assert revive_crashed_runs(repos, now=clock + timedelta(minutes=5), settings=settings).candidates == 0


def test_the_limit_comes_from_the_settings(repos, settings):
    (run,) = _insert(repos, zombie_crashed(NOW, attempts=1))
    report = revive_crashed_runs(repos, now=NOW, settings=replace(settings, lazarus_max_attempts=1))
    assert report.outcomes["gave_up"] == 1
    assert repos.flow_runs.get(run.id).state.message.startswith("Lazarus gave up after 1 attempts")


def test_a_set_state_racing_lazarus_wins_and_lazarus_leaves_the_run_alone(repos, settings):
    (run,) = _insert(repos, zombie_crashed(NOW - timedelta(minutes=1)))

    def operator_fails_it(page):
        _set_state(repos, run.id, StateType.FAILED, NOW, message="given up by hand")

    store = InterleavingStore(repos.flow_runs, operator_fails_it)
    report = revive_crashed_runs(repos, now=NOW, settings=settings, store=store)
    assert (report.candidates, report.changed, report.raced) == (1, 0, 1)
    final = repos.flow_runs.get(run.id)
    assert (final.state.type, final.state.message, final.lazarus_attempts) == (StateType.FAILED, "given up by hand", 0)


def test_a_set_state_after_lazarus_acted_sees_the_rescheduled_run(repos, settings):
    (run,) = _insert(repos, zombie_crashed(NOW - timedelta(minutes=1)))
    crashed, history = repos.flow_runs.get_with_history(run.id)  # a client read the CRASHED run
    revive_crashed_runs(repos, now=NOW, settings=settings)
    stale_write = commit(crashed, orchestrate(crashed, State(type=StateType.FAILED), now=NOW), now=NOW)
    with pytest.raises(ConcurrentUpdateError):
        repos.flow_runs.replace(stale_write, [*history, stale_write.state], expected_state_id=crashed.state_id)
    assert repos.flow_runs.get(run.id).state_name == "Rescheduled"


def test_two_concurrent_lazarus_ticks_count_one_attempt(repos, settings):
    runs = _insert(repos, *(zombie_crashed(NOW - timedelta(minutes=m + 1)) for m in range(4)))
    barrier = threading.Barrier(2)
    with ThreadPoolExecutor(2) as pool:
        futures = [
            pool.submit(
                revive_crashed_runs, repos, now=NOW, settings=settings, store=BarrierStore(repos.flow_runs, barrier)
            )
            for _ in range(2)
        ]
        reports = [f.result() for f in futures]
    assert sum(r.changed for r in reports) == 4
    assert sum(r.raced for r in reports) == 4
    for run in runs:
        stored, history = repos.flow_runs.get_with_history(run.id)
        assert stored.lazarus_attempts == 1
        assert [s.name for s in history].count("Rescheduled") == 1
