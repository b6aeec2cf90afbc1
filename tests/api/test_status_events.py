"""Work-pool and work-queue status events (``services/status_events.py``): one event per change of
status, in Prefect's shape, whoever observes it and however many observers race."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.services import status_events
from tests.helpers import call


def _status_events(client: Any) -> list[dict]:
    until = (datetime.now(UTC) + timedelta(minutes=30)).isoformat()  # the watches "later" are ahead of now
    prefixes = ["prefect.work-pool.", "prefect.work-queue."]
    body = {"filter": {"event": {"prefix": prefixes}, "occurred": {"until": until}, "order": "ASC"}}
    status, page = call(client, "POST", "/events/filter", body)
    assert status == 200, page
    return page["events"]


def _names(client: Any) -> list[str]:
    return [e["event"] for e in _status_events(client)]


def test_a_pools_and_queues_statuses_become_events_once_each(client, repos):
    _, pool = call(client, "POST", "/work_pools/", {"name": "pool", "type": "process"})
    call(client, "POST", "/work_pools/pool/queues/", {"name": "fast"})
    now = datetime.now(UTC)
    status_events.watch_work_pools(repos, repos.settings, now)
    assert _names(client) == []  # first seen NOT_READY: a mark, no event (as Prefect on creation)

    # A worker's heartbeat makes the pool READY; a poll of one queue makes that queue READY.
    call(client, "POST", "/work_pools/pool/workers/heartbeat", {"name": "w1", "heartbeat_interval_seconds": 30})
    call(client, "POST", "/work_pools/pool/get_scheduled_flow_runs", {"work_queue_names": ["fast"]})
    counts = status_events.watch_work_pools(repos, repos.settings, datetime.now(UTC))
    assert counts[status_events.EMITTED] == 2
    status_events.watch_work_pools(repos, repos.settings, datetime.now(UTC))  # nothing changed: nothing emitted
    events = _status_events(client)
    assert sorted(e["event"] for e in events) == ["prefect.work-pool.ready", "prefect.work-queue.ready"]
    ready = next(e for e in events if e["event"] == "prefect.work-pool.ready")
    assert ready["resource"] == {
        "prefect.resource.id": f"prefect.work-pool.{pool['id']}",
        "prefect.resource.name": "pool",
        "prefect.work-pool.type": "process",
    }
    queue_ready = next(e for e in events if e["event"] == "prefect.work-queue.ready")
    assert queue_ready["resource"]["prefect.resource.name"] == "fast"
    assert queue_ready["related"][0]["prefect.resource.role"] == "work-pool"

    # Pausing is an event at once (no tick); so is the resume.
    assert call(client, "PATCH", "/work_pools/pool", {"is_paused": True})[0] == 204
    assert _names(client)[-1] == "prefect.work-pool.paused"
    assert call(client, "PATCH", "/work_pools/pool/queues/fast", {"is_paused": True})[0] == 204
    assert _names(client)[-1] == "prefect.work-queue.paused"
    call(client, "PATCH", "/work_pools/pool", {"is_paused": False})
    assert _names(client)[-1] == "prefect.work-pool.ready"

    # The worker goes quiet: at the next watch after its threshold, the pool is NOT_READY.
    later = datetime.now(UTC) + timedelta(minutes=10)
    status_events.watch_work_pools(repos, repos.settings, later)
    events = _status_events(client)
    not_ready = events[-1]
    assert not_ready["event"] == "prefect.work-pool.not-ready"
    assert not_ready["follows"] == events[-2]["id"]  # the resume's ready
    assert _names(client).count("prefect.work-pool.not-ready") == 1


@pytest.mark.both_backends
def test_racing_watchers_emit_each_change_once(client, repos):
    call(client, "POST", "/work_pools/", {"name": "raced", "type": "process"})
    status_events.watch_work_pools(repos, repos.settings, datetime.now(UTC))
    call(client, "POST", "/work_pools/raced/workers/heartbeat", {"name": "w1", "heartbeat_interval_seconds": 30})
    now = datetime.now(UTC)
    with ThreadPoolExecutor(8) as pool:
        counts = list(pool.map(lambda _: status_events.watch_work_pools(repos, repos.settings, now), range(8)))
    assert sum(c[status_events.EMITTED] for c in counts) == 1  # one mark moved
    assert _names(client) == ["prefect.work-pool.ready"]
    later = now + timedelta(minutes=10)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: status_events.watch_work_pools(repos, repos.settings, later), range(8)))
    assert _names(client) == ["prefect.work-pool.ready", "prefect.work-pool.not-ready"]


def test_a_crash_between_the_event_and_the_mark_is_repaired_without_a_second_event(client, repos, monkeypatch):
    call(client, "POST", "/work_pools/", {"name": "fragile", "type": "process"})
    status_events.watch_work_pools(repos, repos.settings, datetime.now(UTC))
    call(client, "POST", "/work_pools/fragile/workers/heartbeat", {"name": "w1", "heartbeat_interval_seconds": 30})
    store = repos.events
    real = store.advance_status_mark

    def crash(*args: Any) -> bool:
        raise RuntimeError("the Lambda died here")

    monkeypatch.setattr(store, "advance_status_mark", crash)
    try:
        status_events.watch_work_pools(repos, repos.settings, datetime.now(UTC))
    except RuntimeError:
        pass
    monkeypatch.setattr(store, "advance_status_mark", real)
    status_events.watch_work_pools(repos, repos.settings, datetime.now(UTC))
    assert _names(client) == ["prefect.work-pool.ready"]
