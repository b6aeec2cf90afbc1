"""The zombie killer: thresholds at their edges, the heartbeat race, concurrent sweeps, isolation, budget."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain.sweeps import ZOMBIE_CRASH_MARK, ZOMBIE_MESSAGE
from chalicelib.errors import ConflictError
from chalicelib.schemas.states import StateType
from chalicelib.services import flow_runs
from chalicelib.services.maintenance import Budget, kill_zombies
from chalicelib.storage.models import FlowRunModel
from chalicelib.storage.sweeps import SweepStorageError, SweepStore
from tests.jobs.maintenance_factories import BarrierStore, InterleavingStore, cancelling, running

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
US = timedelta(microseconds=1)


@pytest.fixture
def threshold(settings):
    return timedelta(seconds=settings.zombie_threshold_s)


def _insert(repos, *runs):
    for run in runs:
        assert repos.flow_runs.insert(run)
    return runs


def _zombie(threshold, by=timedelta(minutes=1), **fields):
    return running(NOW - timedelta(hours=1), heartbeat=NOW - threshold - by, **fields)


def test_a_silent_run_is_crashed_with_the_message_and_the_lazarus_mark(repos, settings, threshold):
    (run,) = _insert(repos, _zombie(threshold))
    report = kill_zombies(repos, now=NOW, settings=settings)
    assert (report.candidates, report.changed, report.outcomes["crashed"]) == (1, 1, 1)
    crashed, history = repos.flow_runs.get_with_history(run.id)
    assert crashed.state.type is StateType.CRASHED
    assert crashed.state.message == ZOMBIE_MESSAGE
    assert crashed.state.state_details.model_extra[ZOMBIE_CRASH_MARK] is True
    assert (crashed.end_time, crashed.state.timestamp) == (NOW, NOW)
    assert crashed.total_run_time == 3600.0
    assert [s.type for s in history] == [StateType.RUNNING, StateType.CRASHED]
    item = FlowRunModel.get(str(run.id))
    assert item.sweep == "lazarus"  # a deployment's run: Lazarus' candidate now
    assert item.expires_at == (NOW + timedelta(days=settings.retention_days)).replace(microsecond=0)


def test_threshold_edges_and_runs_that_never_sent_a_heartbeat(repos, settings, threshold):
    at_threshold = running(NOW - timedelta(hours=1), heartbeat=NOW - threshold)
    just_past = running(NOW - timedelta(hours=1), heartbeat=NOW - threshold - US)
    never_beat = running(NOW - timedelta(days=3), heartbeat=None)
    fresh = running(NOW - timedelta(hours=1), heartbeat=NOW - timedelta(seconds=5))
    _insert(repos, at_threshold, just_past, never_beat, fresh)
    report = kill_zombies(repos, now=NOW, settings=settings)
    assert (report.candidates, report.changed) == (1, 1)
    states = {r.id: repos.flow_runs.get(r.id).state_type for r in (at_threshold, just_past, never_beat, fresh)}
    assert states == {
        at_threshold.id: StateType.RUNNING,
        just_past.id: StateType.CRASHED,
        never_beat.id: StateType.RUNNING,
        fresh.id: StateType.RUNNING,
    }


def test_a_heartbeat_landing_between_read_and_write_saves_the_run(repos, settings, threshold):
    (run,) = _insert(repos, _zombie(threshold))

    def heartbeat(page):
        # The client's heartbeat (POST /flow_runs/{id}/heartbeat), after the killer's read, before its write.
        flow_runs.record_heartbeat(repos, run.id, NOW)

    store = InterleavingStore(repos.flow_runs, heartbeat)
    report = kill_zombies(repos, now=NOW, settings=settings, store=store)
    assert (report.candidates, report.changed, report.raced) == (1, 0, 1)
    saved = repos.flow_runs.get(run.id)
    assert (saved.state_type, saved.heartbeat) == (StateType.RUNNING, NOW)
    # ... and the next tick leaves it alone: its heartbeat is fresh.
    assert kill_zombies(repos, now=NOW, settings=settings).candidates == 0


def test_a_heartbeat_after_the_crash_tells_the_worker_its_run_was_crashed(repos, settings, threshold):
    (run,) = _insert(repos, _zombie(threshold))
    kill_zombies(repos, now=NOW, settings=settings)
    with pytest.raises(ConflictError) as raised:
        flow_runs.record_heartbeat(repos, run.id, NOW + timedelta(seconds=1))
    assert raised.value.data["state"].type is StateType.CRASHED


def test_a_run_stuck_in_cancelling_is_cancelled_after_the_timeout(repos, settings):
    timeout = timedelta(seconds=settings.cancelling_timeout_s)
    at_timeout = cancelling(NOW - timeout)
    past = cancelling(NOW - timeout - US)
    _insert(repos, at_timeout, past)
    report = kill_zombies(repos, now=NOW, settings=settings)
    assert (report.changed, report.outcomes["cancelled"], report.outcomes["crashed"]) == (1, 1, 0)
    assert repos.flow_runs.get(at_timeout.id).state_type is StateType.CANCELLING
    cancelled = repos.flow_runs.get(past.id)
    assert cancelled.state_type is StateType.CANCELLED
    assert "CANCELLING for more than 300 seconds" in cancelled.state.message
    assert FlowRunModel.get(str(past.id)).expires_at is not None


def test_two_concurrent_sweeps_never_act_twice_on_a_run(repos, settings, threshold):
    runs = _insert(repos, *(_zombie(threshold, by=timedelta(seconds=i + 1)) for i in range(6)))
    barrier = threading.Barrier(2)
    with ThreadPoolExecutor(2) as pool:
        futures = [
            pool.submit(kill_zombies, repos, now=NOW, settings=settings, store=BarrierStore(repos.flow_runs, barrier))
            for _ in range(2)
        ]
        reports = [f.result() for f in futures]
    assert [r.candidates for r in reports] == [6, 6]
    assert sum(r.changed for r in reports) == 6
    assert sum(r.raced for r in reports) == 6
    for run in runs:
        _, history = repos.flow_runs.get_with_history(run.id)
        assert [s.type for s in history] == [StateType.RUNNING, StateType.CRASHED]


class _FailingStore(SweepStore):
    def __init__(self, runs, bad_id):
        super().__init__(runs)
        self.bad_id = bad_id

    def write(self, candidate, run, history):
        if run.id == self.bad_id:
            raise SweepStorageError("PutItem", run.id)
        return super().write(candidate, run, history)


def test_a_failure_on_one_run_does_not_stop_the_sweep(repos, settings, threshold, caplog):
    runs = _insert(repos, *(_zombie(threshold, by=timedelta(seconds=i + 1)) for i in range(3)))
    store = _FailingStore(repos.flow_runs, runs[1].id)
    # The jobs module may have stopped propagation (bare JSON lines on stdout): listen on the logger.
    logging.getLogger("cirrus.maintenance").addHandler(caplog.handler)
    try:
        report = kill_zombies(repos, now=NOW, settings=settings, store=store)
    finally:
        logging.getLogger("cirrus.maintenance").removeHandler(caplog.handler)
    assert (report.candidates, report.changed, report.errors) == (3, 2, 1)
    assert repos.flow_runs.get(runs[1].id).state_type is StateType.RUNNING
    assert str(runs[1].id) in caplog.text


def test_the_sweep_stops_before_the_lambda_runs_out_of_time(repos, settings, threshold):
    _insert(repos, *(_zombie(threshold, by=timedelta(seconds=i + 1)) for i in range(4)))
    left = iter([60.0, 60.0, 60.0, 5.0])  # seconds left at each check; margin is 10 s
    budget = Budget(settings, remaining_s=lambda: next(left, 5.0))
    report = kill_zombies(repos, now=NOW, settings=settings, budget=budget)
    assert (report.changed, report.stopped_early) == (2, True)
    # The next tick picks up the rest.
    assert kill_zombies(repos, now=NOW, settings=settings).changed == 2


def test_pages_are_capped_per_tick(repos, settings, threshold):
    _insert(repos, *(_zombie(threshold, by=timedelta(seconds=i + 1)) for i in range(5)))
    budget = replace(Budget(settings), page_size=2, max_pages=2)
    first = kill_zombies(repos, now=NOW, settings=settings, budget=budget)
    assert (first.changed, first.pages, first.stopped_early) == (4, 4, True)  # 2 zombie pages + cancelling + pending
    second = kill_zombies(repos, now=NOW, settings=settings, budget=budget)
    assert (second.changed, second.stopped_early) == (1, False)
