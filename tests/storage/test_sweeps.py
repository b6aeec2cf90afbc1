"""The by-sweep work lists: what a page holds, paging, expiry, and the guarded write."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain.sweeps import CANCELLING, LATE, LAZARUS, ZOMBIE
from chalicelib.schemas.states import State, StateType
from chalicelib.storage.instrumentation import count_requests
from chalicelib.storage.models import FlowRunModel
from chalicelib.storage.sweeps import SweepStore
from tests.jobs.maintenance_factories import cancelling, completed, running, scheduled, zombie_crashed

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
US = timedelta(microseconds=1)


@pytest.fixture
def store(repos):
    return SweepStore(repos.flow_runs)


def _insert(repos, *runs):
    for run in runs:
        assert repos.flow_runs.insert(run)
    return runs


def test_each_run_is_on_its_own_list_and_a_page_holds_only_entries_before_the_cutoff(repos, store):
    late = scheduled(NOW - timedelta(seconds=20))
    future = scheduled(NOW + timedelta(hours=1))
    zombie = running(NOW - timedelta(hours=1), heartbeat=NOW - timedelta(minutes=11))
    never_beat = running(NOW - timedelta(hours=1), heartbeat=None)
    stuck = cancelling(NOW - timedelta(minutes=6))
    crashed = zombie_crashed(NOW - timedelta(minutes=1))
    done = completed(NOW - timedelta(minutes=1))
    _insert(repos, late, future, zombie, never_beat, stuck, crashed, done)

    def ids(sweep, cutoff, **kw):
        return [c.run.id for c in store.page(sweep, cutoff, now=NOW, **kw).candidates]

    assert ids(LATE, NOW) == [late.id]
    assert ids(LATE, NOW + timedelta(days=1)) == [late.id, future.id]
    assert ids(ZOMBIE, NOW) == [zombie.id]
    assert ids(CANCELLING, NOW) == [stuck.id]
    assert ids(LAZARUS, NOW) == [crashed.id]
    # Never-heartbeating and finished runs are on no list at all.
    for run in (never_beat, done):
        assert FlowRunModel.get(str(run.id)).sweep is None


def test_cutoff_is_strict_unless_inclusive(repos, store):
    (run,) = _insert(repos, scheduled(NOW))
    assert store.page(LATE, NOW, now=NOW).candidates == []
    assert len(store.page(LATE, NOW + US, now=NOW).candidates) == 1
    assert len(store.page(LATE, NOW, now=NOW, inclusive=True).candidates) == 1


def test_pages_follow_the_cursor_one_request_each(repos, store):
    runs = _insert(repos, *(scheduled(NOW - timedelta(minutes=m)) for m in range(1, 8)))
    seen, cursor, pages = [], None, 0
    with count_requests() as counter:
        while True:
            page = store.page(LATE, NOW, now=NOW, cursor=cursor, limit=3)
            pages += 1
            seen += [c.run.id for c in page.candidates]
            cursor = page.cursor
            if cursor is None:
                break
    assert seen == [r.id for r in reversed(runs)]  # oldest first
    assert counter.by_operation.get("Query") == pages <= 3 + 1


def test_expired_entries_are_never_handed_out(repos, store, settings):
    old_crash = NOW - timedelta(days=settings.retention_days, seconds=1)
    fresh_crash = NOW - timedelta(days=settings.retention_days) + timedelta(seconds=1)
    expired, live = _insert(repos, zombie_crashed(old_crash), zombie_crashed(fresh_crash))
    page = store.page(LAZARUS, NOW, now=NOW, inclusive=True)
    assert [c.run.id for c in page.candidates] == [live.id]
    assert page.expired == 1


def test_an_undecodable_item_is_reported_not_fatal(repos, store):
    good, bad = _insert(repos, scheduled(NOW - timedelta(minutes=1)), scheduled(NOW - timedelta(minutes=2)))
    item = FlowRunModel.get(str(bad.id))
    item.doc = {**(item.doc or {}), "parameters": "not a dict"}  # a compact item may have no doc
    item.save()
    page = store.page(LATE, NOW, now=NOW)
    assert [c.run.id for c in page.candidates] == [good.id]
    assert page.undecodable == [str(bad.id)]


def _crash(candidate):
    state = State(type=StateType.CRASHED, timestamp=NOW)
    run = candidate.run.model_copy(
        update={"state": state, "state_id": state.id, "state_type": state.type, "state_name": state.name}
    )
    return run, [*candidate.history, state]


def test_write_succeeds_only_while_the_item_is_as_read(repos, store):
    base = running(NOW - timedelta(hours=1), heartbeat=NOW - timedelta(minutes=11))
    _insert(repos, base)
    (candidate,) = store.page(ZOMBIE, NOW, now=NOW).candidates
    assert store.write(candidate, *_crash(candidate)) is True
    assert repos.flow_runs.get(base.id).state_type is StateType.CRASHED
    # The same read again: the state moved on, so the condition fails.
    assert store.write(candidate, *_crash(candidate)) is False


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"heartbeat": NOW}, id="heartbeat"),
        pytest.param({"updated": NOW, "name": "renamed"}, id="patch"),
        pytest.param({"heartbeat": None}, id="heartbeat-removed"),
    ],
)
def test_write_loses_to_any_change_since_the_read(repos, store, change):
    base = running(NOW - timedelta(hours=1), heartbeat=NOW - timedelta(minutes=11))
    _insert(repos, base)
    (candidate,) = store.page(ZOMBIE, NOW, now=NOW).candidates
    moved = base.model_copy(update=change)
    repos.flow_runs.replace(moved, candidate.history, expected_state_id=base.state.id)
    assert store.write(candidate, *_crash(candidate)) is False
    assert repos.flow_runs.get(base.id).state_type is StateType.RUNNING


def test_write_never_resurrects_a_deleted_run(repos, store):
    (base,) = _insert(repos, running(NOW - timedelta(hours=1), heartbeat=NOW - timedelta(minutes=11)))
    (candidate,) = store.page(ZOMBIE, NOW, now=NOW).candidates
    repos.flow_runs.delete(base.id)
    assert store.write(candidate, *_crash(candidate)) is False
    assert FlowRunModel.count(str(base.id)) == 0
