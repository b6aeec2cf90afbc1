"""Late runs: Scheduled runs more than 15 s past their time become Late, once, and only from Scheduled."""

from __future__ import annotations

import threading
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain.orchestration import commit, orchestrate
from chalicelib.domain.sweeps import late_state
from chalicelib.schemas.states import SetStateBody, State, StateType
from chalicelib.services import flow_runs
from chalicelib.services.maintenance import _late_runs as late_runs
from chalicelib.services.maintenance import mark_late_runs, transition
from chalicelib.services.scheduler import schedule_due
from chalicelib.storage.models import FlowRunModel
from chalicelib.storage.sweeps import Candidate
from tests.jobs.maintenance_factories import InterleavingStore, running, scheduled
from tests.reliability.factories import CRON_5, T0, auto_runs, make_deployment

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
US = timedelta(microseconds=1)


def _insert(repos, *runs):
    for run in runs:
        assert repos.flow_runs.insert(run)
    return runs


def test_threshold_edges(repos, settings):
    after = timedelta(seconds=settings.late_runs_after_s)
    at_threshold, just_past, future = _insert(
        repos, scheduled(NOW - after), scheduled(NOW - after - US), scheduled(NOW + timedelta(minutes=1))
    )
    report = mark_late_runs(repos, now=NOW, settings=settings)
    assert (report.candidates, report.changed, report.outcomes["marked_late"]) == (1, 1, 1)
    assert repos.flow_runs.get(at_threshold.id).state_name == "Scheduled"
    assert repos.flow_runs.get(future.id).state_name == "Scheduled"
    late, history = repos.flow_runs.get_with_history(just_past.id)
    assert (late.state.type, late.state.name, late.state_name) == (StateType.SCHEDULED, "Late", "Late")
    assert late.state.state_details.scheduled_time == just_past.next_scheduled_start_time
    assert late.next_scheduled_start_time == just_past.next_scheduled_start_time  # still picked up by workers
    assert [s.name for s in history] == ["Scheduled", "Late"]


def test_a_late_run_is_marked_once_and_other_scheduled_names_never(repos, settings):
    (run,) = _insert(repos, scheduled(NOW - timedelta(minutes=5)))
    retrying, rescheduled = _insert(
        repos,
        scheduled(NOW - timedelta(minutes=5), name="AwaitingRetry"),
        scheduled(NOW - timedelta(minutes=5), name="Rescheduled"),
    )
    assert mark_late_runs(repos, now=NOW, settings=settings).changed == 1
    assert FlowRunModel.get(str(run.id)).sweep is None  # off the list once Late
    again = mark_late_runs(repos, now=NOW + timedelta(minutes=1), settings=settings)
    assert (again.candidates, again.changed) == (0, 0)
    assert repos.flow_runs.get(retrying.id).state_name == "AwaitingRetry"
    assert repos.flow_runs.get(rescheduled.id).state_name == "Rescheduled"


def test_a_run_picked_up_between_read_and_write_is_not_marked(repos, settings):
    (run,) = _insert(repos, scheduled(NOW - timedelta(minutes=1)))

    def worker_picks_it_up(page):
        stored, history = repos.flow_runs.get_with_history(run.id)
        decision = orchestrate(stored, State(type=StateType.PENDING, timestamp=NOW), now=NOW)
        moved = commit(stored, decision, now=NOW)
        repos.flow_runs.replace(moved, [*history, moved.state], expected_state_id=stored.state_id)

    store = InterleavingStore(repos.flow_runs, worker_picks_it_up)
    report = mark_late_runs(repos, now=NOW, settings=settings, store=store)
    assert (report.changed, report.raced) == (0, 1)
    assert repos.flow_runs.get(run.id).state_type is StateType.PENDING


def test_the_threshold_comes_from_the_settings(repos, settings):
    (run,) = _insert(repos, scheduled(NOW - timedelta(seconds=20)))
    assert mark_late_runs(repos, now=NOW, settings=replace(settings, late_runs_after_s=30)).changed == 0
    assert mark_late_runs(repos, now=NOW, settings=replace(settings, late_runs_after_s=19)).changed == 1


def test_a_proposal_the_rules_refuse_is_never_written(repos):
    """The jobs propose through Prefect's rules: Late from anything but Scheduled is refused."""
    run = running(NOW - timedelta(minutes=5), heartbeat=None)
    candidate = Candidate(run, [run.state], str(run.state_id), None, run.updated)
    assert transition(candidate, late_state(run, NOW), now=NOW, outcome="marked_late") is None


# ---------------------------------------------------------------------------- the scheduler's runs
@pytest.fixture
def ten_minute_window(monkeypatch):
    """The planned-runs window at 10 minutes, so that a few */5 runs span several ticks."""
    monkeypatch.setattr(late_runs, "MAX_WINDOW", timedelta(minutes=10))


def _planned(repos, settings):
    """A */5 deployment planned at T0 (runs at 00:00, 00:05, … one hour ahead), by the scheduler."""
    placed = make_deployment("planned", specs=[CRON_5])
    schedule_due(repos, now=T0, settings=settings)
    return {item.next_scheduled_start_time: uuid.UUID(item.id) for item in auto_runs(placed.deployment_id)}


def _names(repos, runs):
    return {at: repos.flow_runs.get(run_id).state_name for at, run_id in sorted(runs.items())}


def test_planned_runs_are_marked_from_their_schedules_not_a_work_list(repos, settings, ten_minute_window):
    runs = _planned(repos, settings)
    assert all(item.sweep is None for item in auto_runs())  # the scheduler's insert wrote no list entry
    minute = timedelta(minutes=1)
    report = mark_late_runs(repos, now=T0 + 12 * minute, settings=settings)
    # The first tick looks back MAX_WINDOW from 00:11:45: the 00:05 and 00:10 runs.
    assert (report.candidates, report.changed, report.outcomes["marked_late"]) == (2, 2, 2)
    names = _names(repos, runs)
    assert [names[T0 + k * 5 * minute] for k in (1, 2, 3)] == ["Late", "Late", "Scheduled"]
    _, history = repos.flow_runs.get_with_history(runs[T0 + 5 * minute])
    assert [s.name for s in history] == ["Scheduled", "Late"]
    # A run a worker picked up is no candidate; the next tick reads only what became late since.
    started = runs[T0 + 15 * minute]
    body = SetStateBody.model_validate({"state": {"type": "PENDING"}})
    flow_runs.set_flow_run_state(repos, started, body, T0 + 15 * minute)
    again = mark_late_runs(repos, now=T0 + 17 * minute, settings=settings)
    assert (again.candidates, again.changed) == (0, 0)
    assert repos.flow_runs.get(started).state_type is StateType.PENDING
    assert mark_late_runs(repos, now=T0 + 17 * minute, settings=settings).candidates == 0


def test_a_marker_behind_catches_up_a_window_per_tick(repos, settings, ten_minute_window):
    runs = _planned(repos, settings)
    minute = timedelta(minutes=1)
    mark_late_runs(repos, now=T0 + 2 * minute, settings=settings)  # cursor at 00:01:45
    now = T0 + 42 * minute
    first = mark_late_runs(repos, now=now, settings=settings)  # (00:01:45, 00:11:45]
    assert first.stopped_early and first.changed == 2
    while mark_late_runs(repos, now=now, settings=settings).stopped_early:
        pass
    names = _names(repos, runs)
    assert all(names[at] == "Late" for at in runs if at <= T0 + 41 * minute)
    assert all(names[at] == "Scheduled" for at in runs if at > T0 + 42 * minute)


def test_racing_ticks_mark_each_planned_run_once(repos, settings, ten_minute_window):
    runs = _planned(repos, settings)
    assert mark_late_runs(repos, now=T0 + timedelta(seconds=30), settings=settings).changed == 1  # 00:00
    now = T0 + timedelta(minutes=11)
    reports = []
    threads = [
        threading.Thread(target=lambda: reports.append(mark_late_runs(repos, now=now, settings=settings)))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sum(r.changed for r in reports) == 2  # 00:05 and 00:10, each once
    for at in (T0 + timedelta(minutes=5), T0 + timedelta(minutes=10)):
        _, history = repos.flow_runs.get_with_history(runs[at])
        assert [s.name for s in history] == ["Scheduled", "Late"]
