"""Eight threads: scheduler ticks racing API upserts and create_flow_run calls on the same deployments.

Three phases (clocks T0, T0+5 min, T0+10 min) start on a barrier. In each, four threads tick
repeatedly, two upsert every deployment (phase 1 creates them, later phases change their tags and
plan them inline) and two create manual runs (shared idempotency keys, and keys of their own).
Afterwards every occurrence the three clocks plan exists exactly once as an auto-scheduled run,
nothing else auto-scheduled exists, and each manual idempotency key has exactly one run.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import pytest

from chalicelib.services.scheduler import SchedulingReport, schedule_due
from chalicelib.storage.models import FlowRunModel
from tests.reliability import api_driver as api
from tests.reliability.factories import CRON_5, HOURLY, T0, expected_run_ids, schedule_item, stored

pytestmark = pytest.mark.slow

CLOCKS = [T0, T0 + timedelta(minutes=5), T0 + timedelta(minutes=10)]
DEPLOYMENTS = 6
TICKS_PER_PHASE = 4
SCHEDULES = [{"schedule": CRON_5}, {"schedule": HOURLY, "slug": "hourly"}]


def test_ticks_upserts_and_manual_runs_racing_create_each_occurrence_once(repos, settings):
    flow = api.create_flow(repos, "racing", T0)
    ids: dict[int, uuid.UUID] = {}
    barrier = threading.Barrier(8, timeout=60)
    failures: list[BaseException] = []
    reports: list[SchedulingReport] = []

    def ticker() -> None:
        for clock in CLOCKS:
            barrier.wait()
            for _ in range(TICKS_PER_PHASE):
                reports.append(schedule_due(repos, now=clock, settings=settings))
            barrier.wait()

    def upserter() -> None:
        for phase, clock in enumerate(CLOCKS):
            barrier.wait()
            for i in range(DEPLOYMENTS):
                ids[i] = api.upsert(repos, settings, flow, f"d{i}", SCHEDULES, clock, tags=[f"phase-{phase}"])
            barrier.wait()

    def runner(me: int) -> Callable[[], None]:
        def create() -> None:
            for phase, clock in enumerate(CLOCKS):
                barrier.wait()
                pending = list(range(DEPLOYMENTS))
                for _ in range(2000):  # deployments appear while phase 1 runs
                    for i in list(pending):
                        if i in ids:
                            api.create_flow_run(repos, ids[i], f"shared-{phase}-{i}", clock)
                            api.create_flow_run(repos, ids[i], f"own-{me}-{phase}-{i}", clock)
                            pending.remove(i)
                    if not pending:
                        break
                    time.sleep(0.005)
                barrier.wait()

        return create

    def guarded(work: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                work()
            except BaseException as exc:  # noqa: BLE001  (reported by the main thread)
                failures.append(exc)
                barrier.abort()

        return run

    workers = [ticker] * 4 + [upserter] * 2 + [runner(0), runner(1)]
    threads = [threading.Thread(target=guarded(w)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures
    assert not any(t.is_alive() for t in threads)
    assert sum(r.errors for r in reports) == 0

    # One more tick per clock settles whatever a lost race left due (nothing is lost, only late).
    for clock in CLOCKS:
        schedule_due(repos, now=clock, settings=settings)
    items = list(FlowRunModel.scan(consistent_read=True))
    auto = [i for i in items if i.auto_scheduled]
    manual = [i for i in items if not i.auto_scheduled]

    placed = [stored(ids[i]) for i in range(DEPLOYMENTS)]
    assert all(len(p.schedules) == 2 for p in placed)  # concurrent upserts kept the schedule ids
    expected = set().union(*(expected_run_ids(p, settings, CLOCKS) for p in placed))
    assert {uuid.UUID(i.id) for i in auto} == expected
    read = repos.flow_runs.from_item  # compact items imply an auto-scheduled run's key and state name
    keys = Counter(read(i).idempotency_key for i in auto)
    assert all(count == 1 for count in keys.values()) and len(keys) == len(auto)
    assert all(i.state_type == "SCHEDULED" and read(i).state_name == "Scheduled" for i in auto)

    manual_keys = Counter(read(i).idempotency_key for i in manual)
    assert set(manual_keys.values()) == {1}
    assert len(manual_keys) == DEPLOYMENTS * len(CLOCKS) * 3  # one shared and two own keys each

    for p in placed:  # the schedules' progress agrees with the runs
        for schedule_id in p.schedules:
            planned = [uuid.UUID(i.id) for i in auto if i.schedule_id == str(schedule_id)]
            latest = max(FlowRunModel.get(str(r)).expected_start_time for r in planned)
            assert schedule_item(p.deployment_id, schedule_id).planned_through == latest
