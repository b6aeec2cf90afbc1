"""Properties of event-trigger evaluation (chalicelib/domain/automation_buckets.py, Prefect's
``triggers.py`` semantics) over random event streams (hypothesis), with dated examples."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.automation_buckets import Bucket, react, tick
from chalicelib.schemas.automations import EventTrigger

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def trigger(**fields) -> EventTrigger:
    return EventTrigger.model_validate({"posture": "Reactive", "expect": ["go"], **fields})


def event(seconds: float, key: str = "a", name: str = "go") -> dict:
    return {
        "id": str(uuid.uuid4()),
        "occurred": (T0 + timedelta(seconds=seconds)).isoformat(),
        "event": name,
        "resource": {"prefect.resource.id": f"thing.{key}"},
    }


def run(t: EventTrigger, events: list[dict]) -> list:
    """Feed ``events`` in order, keeping each key's bucket; every firing, in order."""
    buckets: dict[tuple, Bucket | None] = {}
    fired = []
    for e in events:
        key = t.bucketing_key(e)
        after, more, _ = react(t, key, buckets.get(key), e)
        buckets[key] = after
        fired += more
    return fired


times = st.lists(st.floats(min_value=0, max_value=600, allow_nan=False), min_size=1, max_size=30).map(sorted)


def test_immediate_trigger_fires_on_every_event():
    assert len(run(trigger(), [event(s) for s in (0, 1, 1, 50)])) == 4


def test_threshold_within_a_window():
    t = trigger(threshold=3, within=60)
    assert len(run(t, [event(0), event(10)])) == 0
    assert len(run(t, [event(0), event(10), event(59)])) == 1
    # after firing, the next window starts where this one ends: events before it are late
    assert len(run(t, [event(0), event(1), event(2), event(3), event(4), event(5)])) == 1
    assert len(run(t, [event(0), event(1), event(2), event(60), event(61), event(62)])) == 2


def test_after_opens_the_window():
    t = trigger(after=["start"], expect=["go"], threshold=1, within=30)
    assert run(t, [event(0)]) == []  # no window without its start event
    fired = run(t, [event(0, name="start"), event(5)])
    assert len(fired) == 1 and fired[0].event["event"] == "go"


@settings(max_examples=150, deadline=None)
@given(times, st.integers(min_value=1, max_value=5), st.integers(min_value=0, max_value=120))
def test_a_redelivered_event_is_counted_once(seconds, threshold, within):
    """A stream retry delivers events again: the firings are those of a single delivery."""
    t = trigger(threshold=threshold, within=within)
    events = [event(s) for s in seconds]
    twice = [e for e in events for _ in range(2)]
    assert len(run(t, twice)) == len(run(t, events))


@settings(max_examples=150, deadline=None)
@given(times, st.integers(min_value=1, max_value=5), st.integers(min_value=1, max_value=120))
def test_firings_never_outnumber_the_threshold(seconds, threshold, within):
    t = trigger(threshold=threshold, within=within)
    assert len(run(t, [event(s) for s in seconds])) <= len(seconds) // threshold


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 600, allow_nan=False), st.sampled_from("abc")), max_size=30).map(sorted))
def test_for_each_buckets_are_independent(stream):
    t = trigger(threshold=2, within=60, for_each=["prefect.resource.id"])
    events = [event(s, key) for s, key in stream]
    together = sorted((f.key, f.start) for f in run(t, events))
    apart = sorted(
        (f.key, f.start)
        for key in "abc"
        for f in run(t, [e for e in events if e["resource"]["prefect.resource.id"].endswith(key)])
    )
    assert together == apart


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0, 29.9, allow_nan=False), max_size=5), st.integers(1, 3))
def test_proactive_fires_once_per_window_only_when_short(seconds, threshold):
    t = EventTrigger.model_validate({"posture": "Proactive", "expect": ["go"], "threshold": threshold, "within": 30})
    changes, fired = tick(t, [], T0)
    (opened,) = [new for _, new in changes]
    assert fired == [] and opened.start == T0 and opened.end == T0 + timedelta(seconds=30)
    bucket = opened
    for s in sorted(seconds):
        bucket, more, _ = react(t, (), bucket, event(s))
        assert more == []  # a proactive trigger never fires on an event
    changes, fired = tick(t, [bucket], T0 + timedelta(seconds=31))
    assert len(fired) == (1 if len(seconds) < threshold else 0)
    if fired:
        again = [new for _, new in changes if new is not None]
        assert again and again[0].start >= T0 + timedelta(seconds=30)  # the next window, not this one
        assert tick(t, again, T0 + timedelta(seconds=31))[1] == []
