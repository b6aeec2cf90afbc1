"""Slot decay (Prefect's ``slot_decay_per_second``, what ``rate_limit()`` relies on), as pure
functions of one stored instant.

Prefect's server keeps ``active_slots`` and lets it decay by ``slot_decay_per_second`` per second
since the limit's last write. Cirrus keeps, for a limit with decay ``r``, only ``drained_at``: the
instant (epoch seconds) at which every held slot will have decayed. The slots held at ``now`` are
``(drained_at - now) * r`` (never below zero), so taking ``n`` slots of a limit ``L`` is allowed
iff ``drained_at <= now + (L - n) / r``, and moves ``drained_at`` to ``max(drained_at, now) + n / r``
(the generic cell rate algorithm). Both are a comparison of the stored attribute with a value the
caller computes from ``now``, and an addition to the stored attribute: DynamoDB evaluates them in
the condition and the update expression of one write, so racing callers never hold more than
``L`` slots and no read decides a write.
"""

from __future__ import annotations

import math


def held_slots(drained_at: float | None, decay: float, now: float) -> int:
    """Slots still held at ``now`` (rounded up, as a slot is held until it has wholly decayed)."""
    if drained_at is None or drained_at <= now:
        return 0
    return math.ceil(round((drained_at - now) * decay, 9))


def drained_at_holding(slots: int, decay: float, now: float) -> float:
    """The ``drained_at`` of a limit that holds ``slots`` at ``now``."""
    return now + slots / decay


def room_bound(limit: int, slots: int, decay: float, now: float) -> float:
    """The latest ``drained_at`` at which ``slots`` more fit under ``limit`` at ``now``."""
    return now + (limit - slots) / decay


def seconds_until_room(drained_at: float | None, limit: int, slots: int, decay: float, now: float) -> float:
    """How long until ``slots`` fit (0 when they fit now)."""
    if drained_at is None:
        return 0.0
    return max(0.0, drained_at - room_bound(limit, slots, decay, now))
