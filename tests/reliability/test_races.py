"""A pause, a resume or a schedule change landing in the middle of a tick leaves no stale run.

The deterministic cases run the other client's call from a botocore hook, just before the tick's
transaction (or its deployment read) is sent. The last case lets threads race freely.
"""

from __future__ import annotations

import itertools
import random
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from chalicelib.domain.identity import scheduled_run_id
from chalicelib.services.scheduler import schedule_due
from chalicelib.storage.models import ScheduleModel
from tests.reliability import api_driver as api
from tests.reliability.factories import CRON_5, T0, auto_runs, expected_instants, schedule_item, stored
from tests.reliability.faults import Interleave, interleaved

pytestmark = pytest.mark.slow

LATER = T0 + timedelta(minutes=5)
TEN = {"cron": "*/10 * * * *", "timezone": "America/New_York"}


def scheduled_auto(deployment_id: uuid.UUID) -> list:
    return [r for r in auto_runs(deployment_id) if r.state_type == "SCHEDULED"]


def only_schedule(deployment_id: uuid.UUID) -> uuid.UUID:
    [schedule_id] = stored(deployment_id).schedules
    return schedule_id


def deployed(repos, settings, spec: dict = CRON_5) -> uuid.UUID:
    flow = api.create_flow(repos, "racing", T0)
    return api.upsert(repos, settings, flow, "d", [{"schedule": spec}], T0)  # planned inline at T0


def test_a_pause_just_before_the_ticks_commit_leaves_no_auto_scheduled_run(repos, settings):
    deployment = deployed(repos, settings)
    race = Interleave("TransactWriteItems", lambda: api.pause(repos, deployment, LATER))
    with interleaved(race):
        report = schedule_due(repos, now=LATER, settings=settings)
    assert race.fired and report.runs_inserted == 0 and report.conflicts >= 1
    assert scheduled_auto(deployment) == []
    assert schedule_item(deployment, only_schedule(deployment)).due_shard is None


def test_a_pause_just_before_the_ticks_deployment_read_leaves_no_auto_scheduled_run(repos, settings):
    deployment = deployed(repos, settings)
    race = Interleave("BatchGetItem", lambda: api.pause(repos, deployment, LATER))
    with interleaved(race):
        report = schedule_due(repos, now=LATER, settings=settings)
    assert race.fired and report.runs_inserted == 0
    assert scheduled_auto(deployment) == []


def test_a_resume_just_before_a_park_keeps_the_schedule_planned(repos, settings):
    deployment = deployed(repos, settings)
    api.pause(repos, deployment, T0 + timedelta(minutes=1))
    schedule_id = only_schedule(deployment)
    schedule_item(deployment, schedule_id).update(  # a stale due entry: the tick will try to park it
        actions=[ScheduleModel.due_shard.set("due"), ScheduleModel.due_at.set(T0)]
    )
    race = Interleave("TransactWriteItems", lambda: api.resume(repos, settings, deployment, LATER))
    with interleaved(race):
        schedule_due(repos, now=LATER, settings=settings)
    assert race.fired
    placed = stored(deployment)
    want = {
        scheduled_run_id(placed.flow_id, deployment, schedule_id, t)
        for t in expected_instants(CRON_5, settings, [LATER])
    }
    assert {uuid.UUID(r.id) for r in scheduled_auto(deployment)} == want
    assert schedule_item(deployment, schedule_id).due_shard == "due"


@pytest.mark.parametrize("slug", [None, "main"])
def test_a_schedule_change_just_before_the_ticks_commit_leaves_no_stale_run(repos, settings, slug):
    """Without a slug the new plan is a new schedule (the old one deleted); with one it keeps the
    schedule's id and bumps its rev."""
    flow = api.create_flow(repos, "racing", T0)
    deployment = api.upsert(repos, settings, flow, "d", [{"schedule": CRON_5, "slug": slug}], T0)
    old = only_schedule(deployment)
    body = [{"schedule": TEN, "slug": slug}]
    change = Interleave("TransactWriteItems", lambda: api.patch(repos, settings, deployment, LATER, schedules=body))
    with interleaved(change):
        report = schedule_due(repos, now=LATER, settings=settings)
    assert change.fired and report.runs_inserted == 0
    schedule_due(repos, now=LATER, settings=settings)
    new = only_schedule(deployment)
    assert (new == old) == (slug is not None)
    kept = {scheduled_run_id(flow, deployment, old, T0)}  # the past run stays
    planned = {scheduled_run_id(flow, deployment, new, t) for t in expected_instants(TEN, settings, [LATER])}
    assert {uuid.UUID(r.id) for r in auto_runs(deployment)} == kept | planned


def test_pauses_and_schedule_changes_racing_ticks_leave_no_stale_run(repos, settings):
    deployment = deployed(repos, settings)
    ticks = itertools.count(1)
    lock = threading.Lock()
    stop = threading.Event()
    failures: list[BaseException] = []

    def clock() -> datetime:
        with lock:  # one strictly increasing clock for every client, like the real one
            return T0 + timedelta(seconds=17 * next(ticks))

    def ticker() -> None:
        while not stop.wait(0.002):
            schedule_due(repos, now=clock(), settings=settings)

    def toggler(seed: int) -> None:
        rng = random.Random(seed)
        for i in range(8):
            if i % 2 == 0:
                api.pause(repos, deployment, clock())
            else:
                api.resume(repos, settings, deployment, clock())
            stop.wait(rng.random() / 50)

    def changer(seed: int) -> None:
        rng = random.Random(seed)
        for i in range(8):
            api.patch(repos, settings, deployment, clock(), schedules=[{"schedule": TEN if i % 2 else CRON_5}])
            stop.wait(rng.random() / 50)

    def guarded(work: Callable[[], None]) -> threading.Thread:
        def run() -> None:
            try:
                work()
            except BaseException as exc:  # noqa: BLE001  (reported by the main thread)
                failures.append(exc)

        return threading.Thread(target=run)

    tickers = [guarded(ticker) for _ in range(2)]
    clients = [guarded(lambda: toggler(1)), guarded(lambda: changer(2))]
    for thread in tickers + clients:
        thread.start()
    for thread in clients:
        thread.join(timeout=120)
    api.pause(repos, deployment, clock())  # while the tickers still run
    for _ in range(3):
        schedule_due(repos, now=clock(), settings=settings)
    stop.set()
    for thread in tickers:
        thread.join(timeout=120)
    assert not failures, failures
    assert scheduled_auto(deployment) == []  # paused: no tick after the pause added anything

    resumed = clock()
    api.resume(repos, settings, deployment, resumed)
    schedule_due(repos, now=resumed, settings=settings)
    placed = stored(deployment)
    [(schedule_id, spec)] = placed.schedules.items()
    want = {
        scheduled_run_id(placed.flow_id, deployment, schedule_id, t)
        for t in expected_instants(spec, settings, [resumed])
    }
    assert {uuid.UUID(r.id) for r in scheduled_auto(deployment)} == want
