"""Property tests of the schedule policies (issue 28) against brute-force models.

- bounds: the runs planned under ``start_at``/``end_at`` are exactly the occurrences an independent
  minute walk (:func:`oracle_occurrences`, cron in DST-changing zones) finds between the bounds;
- catch-up window: a planned run is past its window exactly when ``now > scheduled time + window``;
- jitter: every run lies in ``[occurrence, occurrence + jitter)``, keeps its occurrence's id, and a
  re-plan at another time (or the cheap copy path) gives the same times;
- overlap: random interleavings of starts and ends of a schedule's runs, through set_state on the
  test's backend, match a model that applies each policy's rule sequentially.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from chalicelib.domain import sweeps
from chalicelib.domain.planning import plan_runs
from chalicelib.domain.schedule_policy import SchedulePolicy
from chalicelib.schemas.states import SetStateBody
from chalicelib.services import flow_runs
from chalicelib.services.scheduler import build_scheduled_run, build_scheduled_runs
from tests.api.deployments_support import deploy, make_flow, runs_of
from tests.property.test_schedule_properties import (
    FAST,
    cron_expressions,
    oracle_occurrences,
    windows_around_changes,
)

BIG = 10_000


class _Deployment:
    """The few fields a planned run takes from its deployment."""

    id = uuid.UUID("00000000-0000-4000-8000-000000000001")
    flow_id = uuid.UUID("00000000-0000-4000-8000-000000000002")
    version = None
    parameters: dict[str, Any] = {}
    tags: list[str] = []
    work_queue_name = None
    work_pool_name = None
    infrastructure_document_id = None


@FAST
@given(cron_expressions, windows_around_changes(max_hours=48), st.data())
def test_bounded_plans_are_the_oracle_occurrences_between_the_bounds(expression: str, window: Any, data) -> None:
    zone, now, end = window
    span = end - now
    start_at = now + span * data.draw(st.floats(-0.5, 0.6))
    end_at = start_at + span * data.draw(st.floats(0, 1))
    policy = SchedulePolicy(start_at=start_at, end_at=end_at)
    schedule = _cron(expression, zone)
    lo, hi = policy.window(now, span)
    planned = plan_runs(schedule, start=lo, end=hi, min_runs=BIG, max_runs=BIG, min_time=span, max_time=span).new
    last = min(end_at, max(now, start_at) + span)  # the rolling window starts at start_at
    expected = [
        o for o in oracle_occurrences(expression, True, zone, now - timedelta(hours=1), last) if o >= max(now, start_at)
    ]
    assert planned == expected


def _cron(expression: str, zone: str):
    from chalicelib.schemas.schedules import parse_schedule

    return parse_schedule({"cron": expression, "timezone": zone, "day_or": True})


@FAST
@given(
    st.datetimes(datetime(2024, 1, 1), datetime(2026, 1, 1), timezones=st.just(UTC)),
    st.floats(1.5, 86400),
    st.floats(-172800, 172800),
)
def test_a_run_is_past_its_catchup_window_exactly_after_its_deadline(at: datetime, window_s: float, offset_s: float):
    policy = SchedulePolicy(catchup_window=timedelta(seconds=window_s))
    run = build_scheduled_run(
        _Deployment(), uuid.uuid4(), at, display_value="x", schedule_parameters={}, now=at, policy=policy
    )
    now = at + timedelta(seconds=offset_s)
    assert sweeps.is_past_catchup(run, now) == (now > at + timedelta(seconds=window_s))


@FAST
@given(
    cron_expressions,
    windows_around_changes(max_hours=30),
    st.floats(0.001, 86400),
    st.uuids(),
    st.timedeltas(timedelta(0), timedelta(hours=6)),
)
def test_jitter_stays_within_bounds_and_is_stable_across_replans(expression, window, jitter_s, schedule_id, later):
    zone, start, end = window
    instants = oracle_occurrences(expression, True, zone, start, end)[:30]
    policy = SchedulePolicy(jitter=timedelta(seconds=jitter_s))

    def plan(now: datetime):
        return build_scheduled_runs(
            _Deployment(), schedule_id, instants, display_value="x", schedule_parameters={}, now=now, policy=policy
        )

    first, again = plan(start), plan(start + later)
    for instant, run, rerun in zip(instants, first, again, strict=True):
        at = run.next_scheduled_start_time
        assert instant <= at < instant + timedelta(seconds=jitter_s)
        assert (rerun.id, rerun.next_scheduled_start_time) == (run.id, at)
        alone = build_scheduled_run(
            _Deployment(), schedule_id, instant, display_value="x", schedule_parameters={}, now=start, policy=policy
        )
        assert (alone.id, alone.next_scheduled_start_time) == (run.id, at)


# --- overlap: set_state against a sequential model -------------------------------------------------

RUNS = 4
steps = st.lists(st.tuples(st.sampled_from(["start", "end"]), st.integers(0, RUNS - 1)), min_size=1, max_size=10)
LATER = datetime.now(UTC) + timedelta(days=5)


class OverlapModel:
    """Each policy's rule applied one step at a time: who is active, who waits, who was skipped."""

    def __init__(self, policy: str) -> None:
        self.policy = policy
        self.active: int | None = None
        self.cancelling: set[int] = set()
        self.waiting: set[int] = set()
        self.token_waiter: int | None = None  # BUFFER_ONE's one waiting run
        self.ended: set[int] = set()
        self.skipped: set[int] = set()

    def start(self, i: int) -> None:
        if i in self.ended or i == self.active or i in self.cancelling:
            return
        holder = self.active if self.active is not None else next(iter(self.cancelling), None)
        if holder is None:
            self.active = i
            self.waiting.discard(i)
            if self.token_waiter == i:
                self.token_waiter = None
            return
        if self.policy == "SKIP":
            self.skip(i)
        elif self.policy == "BUFFER_ONE":
            if self.token_waiter in (None, i):
                self.token_waiter = i
                self.waiting.add(i)
            else:
                self.skip(i)
        else:
            self.waiting.add(i)
            if self.policy == "CANCEL_OTHER" and self.active is not None:
                self.cancelling.add(self.active)
                self.active = None

    def skip(self, i: int) -> None:
        self.ended.add(i)
        self.skipped.add(i)

    def end(self, i: int) -> None:
        """The active run COMPLETES (Prefect lets such a run be started again: it is not ended);
        a cancelling one is CANCELLED (for good)."""
        if i in self.cancelling:
            self.cancelling.discard(i)
            self.ended.add(i)
        elif i == self.active:
            self.active = None


def _set(repos, run_id, type_: str):
    body = SetStateBody.model_validate({"state": {"type": type_}})
    return flow_runs.set_flow_run_state(repos, run_id, body, LATER)


@settings(
    max_examples=15,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # shrinking through the API takes minutes
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.sampled_from(["SKIP", "BUFFER_ONE", "BUFFER_ALL", "CANCEL_OTHER"]), steps)
def test_overlap_policies_match_the_sequential_model(client, repos, policy: str, plan) -> None:
    schedule = {"schedule": {"interval": 900, "anchor_date": "2020-01-01T00:00:00Z"}, "overlap": policy}
    d = deploy(client, make_flow(client), name=f"p-{uuid.uuid4().hex[:8]}", schedules=[schedule])
    runs = runs_of(repos, d["id"], "SCHEDULED")[:RUNS]
    model = OverlapModel(policy)
    for action, i in plan:
        run = repos.flow_runs.get(runs[i].id)
        if action == "start":
            model.start(i)
            _set(repos, run.id, "PENDING")
        elif run.state_type.value == "CANCELLING":
            model.end(i)
            _set(repos, run.id, "CANCELLED")
        elif run.state_type.value in ("PENDING", "RUNNING"):
            model.end(i)
            _set(repos, run.id, "RUNNING")
            _set(repos, run.id, "COMPLETED")
        stored = [repos.flow_runs.get(r.id) for r in runs]
        types = [r.state_type.value for r in stored]
        active = {n for n, t in enumerate(types) if t in ("PENDING", "RUNNING")}
        assert active == ({model.active} if model.active is not None else set()), (plan, types)
        assert {n for n, t in enumerate(types) if t == "CANCELLING"} == model.cancelling, (plan, types)
        assert {n for n, r in enumerate(stored) if r.state.name == "AwaitingConcurrencySlot"} == model.waiting, (
            plan,
            types,
        )
        assert {n for n, r in enumerate(stored) if r.state.name == "Skipped"} == model.skipped, (plan, types)
