"""Prefect's event-trigger evaluation (``prefect/server/events/triggers.py``), as pure functions over
one bucket value: what a trigger's window holds for one bucketing key.

:func:`react` is one event's effect (``reactive_evaluation`` + ``evaluate``), :func:`tick` a proactive
evaluation (``proactive_evaluation``). Each returns the bucket to store (``None``: none) and the
firings. The caller stores the result conditionally on the bucket it read, so concurrent
evaluations settle by retrying; ``seen`` keeps the ids of recent events counted here, so an event
delivered twice (a stream retry) is counted once.

A reactive trigger fires as soon as its count reaches the threshold; a proactive one only when its
window has ended with fewer events than the threshold. Prefect's "held events" refinement (counting
``expect`` events that arrived before their ``after`` event) is not reproduced.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

#: Prefect's ``PRECEDING_EVENT_LOOKBACK``: a new reactive bucket opens this far before its event.
LOOKBACK = timedelta(minutes=15)
#: Event ids a bucket remembers (to count a redelivered event once): at most this many, and only
#: events that occurred within :data:`LOOKBACK` of the newest.
SEEN_LIMIT = 100


class Trigger(Protocol):  # what :class:`chalicelib.schemas.automations.EventTrigger` offers
    after: list[str]
    for_each: list[str]
    within: timedelta

    @property
    def immediate(self) -> bool: ...
    @property
    def posture(self) -> Any: ...
    def expects(self, event: str) -> bool: ...
    def starts_after(self, event: str) -> bool: ...
    def meets_threshold(self, count: int) -> bool: ...


@dataclass(frozen=True)
class Bucket:
    key: tuple[str, ...]
    start: datetime
    end: datetime
    count: int = 0
    last_event: dict[str, Any] | None = None
    seen: dict[str, float] = field(default_factory=dict)
    #: ``False``: no window is open (Prefect would have deleted it); kept for ``seen`` alone.
    open: bool = True


@dataclass(frozen=True)
class Fired:
    """One firing: the window that fired and the event to act on (the last one seen)."""

    key: tuple[str, ...]
    start: datetime
    end: datetime
    event: dict[str, Any] | None


def _reactive(trigger: Trigger) -> bool:
    return str(getattr(trigger.posture, "value", trigger.posture)) == "Reactive"


def occurred(event: dict[str, Any]) -> datetime:
    value = event["occurred"]
    at = datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def evaluate(
    trigger: Trigger, bucket: Bucket, now: datetime, event: dict[str, Any] | None
) -> tuple[Bucket | None, list[Fired]]:
    """Prefect's ``evaluate``: spend the event (if any) in the bucket, fire if ready, and roll the
    window. ``now`` is the event's time (reactive) or the tick's (proactive)."""
    count = 1 if event is not None else 0
    if now < bucket.start:  # a late event for a window that already fired or expired
        return bucket, []
    previous_last = bucket.last_event
    if count and (trigger.immediate or bucket.start <= now < bucket.end):
        bucket = replace(bucket, count=bucket.count + 1, last_event=event)
        count = 0
    ready = _reactive(trigger) or bucket.end <= now
    meets = trigger.meets_threshold(bucket.count)
    fired: list[Fired] = []
    if ready and meets:
        fired.append(Fired(bucket.key, bucket.start, bucket.end, event or bucket.last_event))
    elif now < bucket.end:
        if (
            event is not None
            and not _reactive(trigger)
            and not meets
            and trigger.starts_after(event["event"])
            and trigger.expects(event["event"])
        ):  # e.g. heartbeats: each one opens a fresh window expecting the next
            last = event
            if (
                previous_last is not None
                and trigger.expects(previous_last["event"])
                and not trigger.starts_after(previous_last["event"])
                and occurred(previous_last) >= occurred(event)
            ):
                last = previous_last
            start = occurred(event)
            return Bucket(bucket.key, start, start + trigger.within, 0, last, bucket.seen), fired
        return bucket, fired
    if trigger.after or trigger.within == timedelta(0):
        return None, fired
    start = max(bucket.end, now)
    end = start + trigger.within
    if _reactive(trigger) and count > 0:  # an event past the window: it opens the next one
        nxt, more = evaluate(trigger, Bucket(bucket.key, start, end, 0, None, bucket.seen), now, event)
        return nxt, fired + more
    return Bucket(bucket.key, start, end, count, None, bucket.seen), fired


def react(
    trigger: Trigger, key: tuple[str, ...], stored: Bucket | None, event: dict[str, Any]
) -> tuple[Bucket | None, list[Fired], bool]:
    """One covered event against its bucketing ``key``'s stored bucket: (bucket to store, firings, whether the
    event changed anything). An event this bucket has counted already changes nothing."""
    event_id = str(event["id"])
    if stored is not None and event_id in stored.seen:
        return stored, [], False
    seen = stored.seen if stored is not None else {}
    if stored is not None and not stored.open:
        stored = None
    name = event["event"]
    at = occurred(event)
    bucket = None
    if trigger.after and trigger.starts_after(name):
        initial = -1 if trigger.expects(name) else 0
        bucket = stored or Bucket(key, at, at + trigger.within, initial, event, seen)
    if bucket is None and not trigger.after and trigger.expects(name):
        bucket = stored or Bucket(key, at - LOOKBACK, at + trigger.within, 0, event, seen)
    if not trigger.expects(name):
        changed = bucket is not None and bucket is not stored
        return (_remember(bucket, event_id, at) if changed else stored), [], changed
    bucket = bucket or stored
    if bucket is None:
        return None, [], False
    after, fired = evaluate(trigger, bucket, at, event)
    if after is None:  # no window stays open; the event ids do, so a redelivery is recognised
        after = Bucket(key, at, at, 0, None, bucket.seen, open=False)
    return _remember(after, event_id, at), fired, True


def _remember(bucket: Bucket, event_id: str, at: datetime) -> Bucket:
    seen = {**bucket.seen, event_id: at.timestamp()}
    horizon = max(seen.values()) - LOOKBACK.total_seconds()
    kept = sorted(((t, i) for i, t in seen.items() if t >= horizon), reverse=True)[:SEEN_LIMIT]
    return replace(bucket, seen={i: t for t, i in kept})


def tick(
    trigger: Trigger, stored: list[Bucket], as_of: datetime
) -> tuple[list[tuple[Bucket | None, Bucket | None]], list[Fired]]:
    """A proactive evaluation at ``as_of``: ((old bucket or None, new bucket or None) for every
    bucket that changes, firings). Without ``for_each`` a window is opened if none is."""
    changes: list[tuple[Bucket | None, Bucket | None]] = []
    fired: list[Fired] = []
    buckets = list(stored)
    existing = next((b for b in buckets if b.key == ()), None)
    if not trigger.for_each and (existing is None or not existing.open):
        opened = Bucket((), as_of, as_of + trigger.within, seen=existing.seen if existing else {})
        changes.append((existing, opened))
        buckets = [b for b in buckets if b is not existing] + [opened]
    for bucket in buckets:
        if not bucket.open:
            continue
        if bucket.count >= getattr(trigger, "threshold", 1) and not _reactive(trigger):
            changes.append((bucket, None))  # can never fire: Prefect deletes it up front
            continue
        after, more = evaluate(trigger, bucket, as_of, None)
        fired += more
        if after != bucket:
            old = next((c[0] for c in changes if c[1] is bucket), bucket)
            changes = [c for c in changes if c[1] is not bucket]
            changes.append((old, after))
    return changes, fired
