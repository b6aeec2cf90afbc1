"""Fault injection: 10% of DynamoDB attempts throttled, failed (before or after applying) or timed out.

Repeated ticks converge to exactly the expected runs: none missing, none duplicated, each one
exactly as a faultless tick would have written it, and the schedules' progress consistent.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from botocore.retries.standard import ExponentialBackoff

from chalicelib.domain.identity import scheduled_run_id
from chalicelib.domain.planning import plan_runs
from chalicelib.schemas.schedules import parse_schedule
from chalicelib.services.scheduler import SchedulingReport, build_scheduled_run, schedule_due
from chalicelib.storage.models import FlowRunModel, ScheduleModel
from chalicelib.storage.scheduler import ScheduledRunStore
from tests.reliability.factories import (
    CRON_5,
    HOURLY,
    T0,
    add_schedule,
    expected_instants,
    make_deployment,
    make_flow,
    schedule_item,
    set_paused,
)
from tests.reliability.faults import MODES, FaultInjector, injected

pytestmark = pytest.mark.slow

#: Every minute for an hour, then a jump: each clock finds some cron schedules due (their
#: minutes are staggered), so every tick reads, batch-gets and writes.
CLOCKS = [T0 + timedelta(minutes=i) for i in range(61)] + [T0 + timedelta(hours=3)]
STAGGERED = [{"cron": f"{k}-59/5 * * * *", "timezone": "America/New_York"} for k in range(5)]
MAX_TICKS = 40


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """botocore's retry sleeps (up to seconds for throttling) are not what this test is about."""
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0.0)
    yield


def still_due(clock: datetime) -> int:
    return sum(1 for _ in ScheduleModel.by_due.query("due", ScheduleModel.due_at <= clock))


def converge(repos, settings, clock: datetime, injector: FaultInjector) -> list[SchedulingReport]:
    reports: list[SchedulingReport] = []
    for _ in range(MAX_TICKS):
        with injected(injector):
            reports.append(schedule_due(repos, now=clock, settings=settings))
        if still_due(clock) == 0:
            return reports
    raise AssertionError(f"not converged after {MAX_TICKS} ticks: {reports[-1]}")


def test_ticks_under_faults_converge_to_exactly_the_expected_runs(repos, settings):
    flow = make_flow()
    live = [make_deployment(f"d{i}", flow_id=flow, specs=[STAGGERED[i % 5], HOURLY], tags=["t"]) for i in range(15)]
    capped = make_deployment("capped", flow_id=flow, specs=[])
    cap_id = add_schedule(capped.deployment_id, CRON_5, max_scheduled_runs=2, slug="capped")
    paused = make_deployment("paused", flow_id=flow, specs=[CRON_5])
    set_paused(paused.deployment_id, True, T0)
    stale = next(iter(paused.schedules))  # a due entry the pause did not remove yet
    schedule_item(paused.deployment_id, stale).update(
        actions=[ScheduleModel.due_shard.set("due"), ScheduleModel.due_at.set(T0)]
    )
    schedules = [(p, sid, spec, None, None) for p in live for sid, spec in p.schedules.items()]
    schedules.append((capped, cap_id, CRON_5, 2, "capped"))

    injector = FaultInjector(rate=0.1, seed=20250106)
    ticks = [converge(repos, settings, clock, injector) for clock in CLOCKS]

    assert sum(injector.injected.values()) >= 3 * len(MODES)
    assert injector.operations["TransactWriteItems"] >= 3
    assert sum(r.errors for phase in ticks for r in phase) > 0  # the faults did reach the scheduler
    records = ScheduledRunStore(repos.flow_runs).deployments({p.deployment_id for p in live + [capped]})
    expected: dict[uuid.UUID, object] = {}
    for placed, schedule_id, spec, cap, slug in schedules:
        planned = expected_instants(spec, settings, CLOCKS, cap)
        display = slug or type(parse_schedule(spec)).__name__
        for instant, clock in planned.items():
            run = build_scheduled_run(
                records[placed.deployment_id], schedule_id, instant, display_value=display, schedule_parameters={},
                now=clock,
            )  # fmt: skip
            expected[run.id] = run
        item = schedule_item(placed.deployment_id, schedule_id)
        assert item.planned_through == max(planned)
        plan = plan_runs(
            parse_schedule(spec),
            start=CLOCKS[-1],
            min_runs=settings.scheduler_min_runs,
            max_runs=settings.scheduler_max_runs,
            min_time=settings.min_scheduled_time,
            max_time=settings.max_scheduled_time,
            max_scheduled_runs=cap,
            planned_through=max(planned),
        )
        assert (item.due_shard, item.due_at) == ("due", plan.next_due)

    items = list(FlowRunModel.scan(consistent_read=True))
    assert len(items) == len(expected)
    for item in items:  # every run exactly as a faultless tick writes it, in its first state
        run = repos.flow_runs.from_item(item)
        assert run.model_dump() == expected[run.id].model_dump()
        assert [s.id for s in repos.flow_runs.history_of(item)] == [run.state_id]
    assert schedule_item(paused.deployment_id, stale).due_shard is None
    assert not any(i.deployment_id == str(paused.deployment_id) for i in items)
    assert scheduled_run_id(flow, capped.deployment_id, cap_id, CLOCKS[-1] + timedelta(minutes=5)) in expected
