"""Schedule matching: slug first, then identical plan; each stored schedule matched once."""

import uuid

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.schedule_matching import (
    Change,
    ScheduleKey,
    classify,
    duplicate_slugs,
    match_schedules,
    plan_fingerprint,
)

A, B, C = (uuid.UUID(int=i) for i in (1, 2, 3))


def _key(slug, plan):
    return ScheduleKey(slug=slug, plan=plan)


def test_identical_plans_keep_their_ids_whatever_the_order():
    stored = [(A, _key(None, "p1")), (B, _key(None, "p2"))]
    result = match_schedules(stored, [_key(None, "p2"), _key(None, "p1"), _key(None, "p3")])
    assert result.assigned == [B, A, None] and result.removed == []


def test_slug_wins_over_plan_and_unmatched_are_removed():
    stored = [(A, _key("s", "p1")), (B, _key(None, "p2")), (C, _key("t", "p3"))]
    result = match_schedules(stored, [_key("s", "changed"), _key(None, "p1")])
    assert result.assigned == [A, None] and result.removed == [B, C]


def test_a_stored_schedule_is_matched_once():
    stored = [(A, _key(None, "p")), (B, _key(None, "p"))]
    assert match_schedules(stored, [_key(None, "p")] * 3).assigned == [A, B, None]


def test_classify_and_fingerprint():
    assert classify(None, _key("s", "p")) is Change.NEW
    assert classify(_key("s", "p"), _key("s", "q")) is Change.REPLAN
    assert classify(_key("s", "p"), _key("t", "p")) is Change.RELABEL
    assert classify(_key("s", "p"), _key("s", "p")) is Change.UNCHANGED
    assert plan_fingerprint({"b": 1, "a": 2}, {}, True, None) == plan_fingerprint({"a": 2, "b": 1}, {}, True, None)
    assert plan_fingerprint({}, {}, True, None) != plan_fingerprint({}, {}, False, None)
    assert duplicate_slugs(["a", None, "b", "a", None]) == ["a"]


keys = st.builds(_key, st.none() | st.sampled_from("xyz"), st.sampled_from(["p", "q", "r"]))


@given(st.lists(keys, max_size=6), st.lists(keys, max_size=6))
def test_matching_is_a_partial_injection(stored_keys, incoming):
    stored = [(uuid.UUID(int=i + 1), k) for i, k in enumerate(stored_keys)]
    result = match_schedules(stored, incoming)
    kept = [a for a in result.assigned if a is not None]
    assert len(kept) == len(set(kept))
    assert set(kept) | set(result.removed) == {id_ for id_, _ in stored}
    assert not set(kept) & set(result.removed)
    slugs = [k.slug for _, k in stored if k.slug is not None]
    if len(slugs) == len(set(slugs)):  # a deployment's slugs are unique
        assert match_schedules(stored, [k for _, k in stored]).assigned == [id_ for id_, _ in stored]


def test_replaces_matches_the_renamed_slug_first():
    stored = [(A, _key("old", "p")), (B, _key("new", "q"))]
    incoming = [ScheduleKey(slug="new", plan="p", replaces="old"), _key("other", "q")]
    assert match_schedules(stored, incoming).assigned == [A, B]
