"""Property: whatever the schedule and however irregularly the ticks come, the runs that exist are
exactly the union of Prefect's plan at each tick's clock -- the due index never makes a tick skip
work it should do, and planned_through never lets it insert anything twice or anything else."""

from __future__ import annotations

import itertools
import uuid
from datetime import timedelta

from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from chalicelib.services.scheduler import schedule_due
from chalicelib.storage.models import ScheduleModel
from tests.reliability.factories import T0, auto_runs, expected_run_ids, make_deployment

SPECS = st.one_of(
    st.sampled_from(["*/5 * * * *", "0 * * * *", "30 2 * * *", "*/7 9-17 * * 1-5", "0 0 1 * *"]).flatmap(
        lambda cron: st.sampled_from(["UTC", "America/New_York", "Australia/Lord_Howe"]).map(
            lambda tz: {"cron": cron, "timezone": tz}
        )
    ),
    st.integers(min_value=60, max_value=3 * 86400).map(
        lambda seconds: {"interval": float(seconds), "anchor_date": "2024-11-03T05:17:00Z", "timezone": "UTC"}
    ),
    st.just({"rrule": "DTSTART:20250105T230000\nRRULE:FREQ=HOURLY;INTERVAL=2;COUNT=9"}),
)
#: Gaps between ticks: often shorter than a minute, sometimes hours.
GAPS = st.lists(st.integers(min_value=0, max_value=4 * 3600), min_size=1, max_size=6)


@hypothesis_settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(specs=st.lists(SPECS, min_size=1, max_size=3), gaps=GAPS, cap=st.none() | st.integers(1, 5))
def test_runs_are_the_union_of_the_plans_at_each_ticks_clock(repos, settings, specs, gaps, cap):
    placed = make_deployment(f"d-{uuid.uuid4()}", specs=specs)
    capped = dict.fromkeys(placed.schedules, cap) if cap else {}
    for schedule_id in capped:
        ScheduleModel(str(placed.deployment_id), str(schedule_id)).update(
            actions=[ScheduleModel.max_scheduled_runs.set(cap)]
        )
    clocks = list(itertools.accumulate((timedelta(seconds=g) for g in gaps), initial=T0))
    try:
        for clock in clocks:
            schedule_due(repos, now=clock, settings=settings)
        got = {uuid.UUID(r.id) for r in auto_runs(placed.deployment_id)}
        assert got == expected_run_ids(placed, settings, clocks, capped)
    finally:  # the tables outlive the example: later examples' ticks must not see these schedules
        for schedule_id in placed.schedules:
            ScheduleModel(str(placed.deployment_id), str(schedule_id)).delete()
