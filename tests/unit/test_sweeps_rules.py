"""The maintenance rules as pure functions: work lists, predicates, proposed states and their messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain import sweeps
from chalicelib.schemas.states import StateType
from tests.jobs.maintenance_factories import cancelling, completed, running, scheduled, zombie_crashed

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
THRESHOLD = timedelta(minutes=10)
offsets = st.integers(min_value=-(10**10), max_value=10**10).map(lambda us: timedelta(microseconds=us))


@given(offsets)
def test_the_zombie_predicate_agrees_with_the_index_cutoff(offset):
    """The job queries ``sweep_at < now - threshold``; the predicate must say yes to exactly those."""
    heartbeat = NOW - THRESHOLD + offset
    run = running(NOW - timedelta(days=1), heartbeat=heartbeat)
    entry = sweeps.sweep_for(run)
    assert entry == (sweeps.ZOMBIE, heartbeat)
    assert sweeps.is_zombie(run, NOW, THRESHOLD) is (entry[1] < NOW - THRESHOLD)


@given(offsets)
def test_the_late_predicate_agrees_with_the_index_cutoff(offset):
    after = timedelta(seconds=15)
    run = scheduled(NOW - after + offset)
    entry = sweeps.sweep_for(run)
    assert entry is not None and entry[0] == sweeps.LATE
    assert sweeps.is_late(run, NOW, after) is (entry[1] < NOW - after)


def test_work_lists():
    assert sweeps.sweep_for(scheduled(NOW))[0] == sweeps.LATE
    assert sweeps.sweep_for(scheduled(NOW, name="Late")) is None
    assert sweeps.sweep_for(running(NOW, heartbeat=None)) is None
    assert sweeps.sweep_for(cancelling(NOW)) == (sweeps.CANCELLING, NOW)
    assert sweeps.sweep_for(zombie_crashed(NOW)) == (sweeps.LAZARUS, NOW)
    assert sweeps.sweep_for(zombie_crashed(NOW, deployment_id=None)) is None
    assert sweeps.sweep_for(completed(NOW)) is None


def test_messages_and_names():
    crash = sweeps.zombie_crash_state(NOW)
    assert (crash.type, crash.name) == (StateType.CRASHED, "Crashed")
    assert crash.message == "No heartbeat detected from the flow run; marked as crashed by the zombie killer."
    late = sweeps.late_state(scheduled(NOW), NOW)
    assert (late.type, late.name, late.state_details.scheduled_time) == (StateType.SCHEDULED, "Late", NOW)
    first = sweeps.lazarus_state(zombie_crashed(NOW), NOW, 3)
    assert (first.type, first.name, first.message) == (
        StateType.SCHEDULED,
        "Rescheduled",
        "Rescheduled by Lazarus, attempt 1 of 3.",
    )
    third = sweeps.lazarus_state(zombie_crashed(NOW, attempts=2), NOW, 3)
    assert third.message == "Rescheduled by Lazarus, attempt 3 of 3."
    gave_up = sweeps.lazarus_state(zombie_crashed(NOW, attempts=3), NOW, 3)
    assert gave_up.type is StateType.FAILED
    assert gave_up.message.startswith("Lazarus gave up after 3 attempts")
    cancelled = sweeps.cancelled_state(NOW, timedelta(minutes=5))
    assert cancelled.type is StateType.CANCELLED and "300 seconds" in cancelled.message
