"""A tick that runs out of Lambda time stops cleanly; the next tick finishes the work, once."""

from __future__ import annotations

import dataclasses
import itertools
import uuid
from datetime import timedelta

import pytest

from chalicelib.services.scheduler import schedule_due
from chalicelib.services.ticks import Deadline
from tests.reliability.factories import CRON_5, HOURLY, T0, auto_runs, expected_run_ids, make_deployment, make_flow

pytestmark = pytest.mark.slow


def running_out(checks: int) -> Deadline:
    """A Lambda with time for ``checks`` more checks of its clock, then inside the margin."""
    left = itertools.count(checks, -1)
    return Deadline(lambda: float(next(left)), margin_s=0.5)


@pytest.mark.parametrize("checks", [0, 1, 7, 25])
def test_a_tick_out_of_time_stops_and_the_next_completes_exactly_once(repos, settings, checks):
    flow = make_flow()
    placed = [make_deployment(f"d{i}", flow_id=flow, specs=[CRON_5, HOURLY]) for i in range(20)]
    first = schedule_due(repos, now=T0, settings=settings, deadline=running_out(checks))
    assert first.stopped_early and first.errors == 0
    assert first.schedules_examined < 40
    second = schedule_due(repos, now=T0, settings=settings)
    assert not second.stopped_early and second.conflicts == 0
    expected = set().union(*(expected_run_ids(p, settings, [T0]) for p in placed))
    assert {uuid.UUID(r.id) for r in auto_runs()} == expected
    assert first.runs_inserted + second.runs_inserted == len(expected)


def test_a_long_plan_cut_short_resumes_where_it_stopped(repos, settings):
    wide = dataclasses.replace(settings, scheduler_min_runs=250, scheduler_max_runs=300)
    placed = make_deployment("d", specs=[{"cron": "* * * * *"}])
    # Time for the page and one step of the plan (98 runs), then out.
    first = schedule_due(repos, now=T0, settings=wide, deadline=running_out(2))
    assert first.stopped_early and first.runs_inserted == 98
    second = schedule_due(repos, now=T0, settings=wide)
    assert second.runs_inserted == 152 and second.conflicts == 0
    assert {uuid.UUID(r.id) for r in auto_runs()} == expected_run_ids(placed, wide, [T0])
    assert max(r.expected_start_time for r in auto_runs()) == T0 + timedelta(minutes=249)
