"""``/work_pools``: pools and queues, every route and status code."""

import threading
import uuid

import pytest

from tests.helpers import call

TEMPLATE = {
    "job_configuration": {"command": "{{ command }}"},
    "variables": {"type": "object", "properties": {"command": {"type": "string"}}},
}


def _pool(client, name="pool", **fields):
    status, body = call(client, "POST", "/work_pools/", {"name": name, "type": "process", **fields})
    assert status == 201, body
    return body


def test_create_read_and_the_default_queue(client):
    pool = _pool(client, "my pool", base_job_template=TEMPLATE, description="d")
    assert pool["name"] == "my pool" and pool["type"] == "process" and pool["status"] == "NOT_READY"
    assert pool["base_job_template"] == TEMPLATE and pool["is_paused"] is False and pool["active_slots"] is None
    assert call(client, "GET", "/work_pools/my%20pool") == (200, pool)
    status, queues = call(client, "POST", "/work_pools/my%20pool/queues/filter", {})
    assert status == 200 and [q["name"] for q in queues] == ["default"]
    default = queues[0]
    assert default["id"] == pool["default_queue_id"] and default["work_pool_id"] == pool["id"]
    assert default["work_pool_name"] == "my pool" and default["priority"] == 1 and default["status"] == "NOT_READY"
    assert call(client, "GET", "/work_pools/my%20pool/queues/default") == (200, default)


def test_pool_errors(client):
    _pool(client, "p")
    assert call(client, "POST", "/work_pools/", {"name": "p", "type": "process"}) == (
        409,
        {"detail": "A work pool with this name already exists."},
    )
    assert call(client, "GET", "/work_pools/nope") == (404, {"detail": 'Work pool "nope" not found.'})
    assert call(client, "PATCH", "/work_pools/nope", {"is_paused": True})[0] == 404
    assert call(client, "DELETE", "/work_pools/nope")[0] == 404
    assert call(client, "POST", "/work_pools/", {"name": "prefect-x", "type": "process"})[0] == 403
    assert call(client, "DELETE", "/work_pools/Prefect-managed")[0] == 403
    assert call(client, "PATCH", "/work_pools/prefect-x", {"description": "x"})[0] == 403
    status, body = call(client, "POST", "/work_pools/", {"name": "a/b", "type": "process"})
    assert status == 422 and body["exception_detail"][0]["loc"] == ["body", "name"]
    status, body = call(client, "POST", "/work_pools/", {"name": "t", "base_job_template": {"x": 1}})
    assert status == 422 and body["exception_detail"][0]["loc"] == ["body", "base_job_template"]
    status, body = call(client, "POST", "/work_pools/", {"name": "t", "concurrency_limit": -1})
    assert status == 422 and body["exception_detail"][0]["loc"] == ["body", "concurrency_limit"]
    assert call(client, "POST", "/work_pools/", {"name": "t", "bogus": 1})[0] == 422
    assert call(client, "PATCH", "/work_pools/p", {"name": "renamed"})[0] == 422
    assert call(client, "GET", "/work_pools/p/workers/connect") == (404, {"detail": "Not Found"})


def test_update_filter_count_delete(client):
    _pool(client, "a")
    _pool(client, "b", concurrency_limit=2)
    assert call(client, "PATCH", "/work_pools/a", {"is_paused": True, "description": "x"}) == (204, None)
    a = call(client, "GET", "/work_pools/a")[1]
    assert a["is_paused"] is True and a["status"] == "PAUSED" and a["description"] == "x"
    assert call(client, "PATCH", "/work_pools/b", {"concurrency_limit": None}) == (204, None)
    assert call(client, "GET", "/work_pools/b")[1]["concurrency_limit"] is None
    assert [p["name"] for p in call(client, "POST", "/work_pools/filter", {})[1]] == ["a", "b"]
    named = call(client, "POST", "/work_pools/filter", {"work_pools": {"name": {"any_": ["b"]}}, "limit": None})
    assert [p["name"] for p in named[1]] == ["b"]
    typed = call(client, "POST", "/work_pools/filter", {"work_pools": {"type": {"any_": ["docker"]}}})
    assert typed == (200, [])
    assert call(client, "POST", "/work_pools/count", {}) == (200, 2)
    assert call(client, "POST", "/work_pools/count", {"work_pools": {"name": {"any_": ["a"]}}}) == (200, 1)
    assert call(client, "DELETE", "/work_pools/a") == (204, None)
    assert call(client, "GET", "/work_pools/a")[0] == 404
    assert call(client, "POST", "/work_pools/count", {}) == (200, 1)
    assert call(client, "POST", "/work_pools/filter", {"limit": 500})[0] == 422


@pytest.mark.both_backends
def test_racing_creates_of_one_pool_make_one_pool(client):
    results: list[int] = []

    def create() -> None:
        results.append(call(client, "POST", "/work_pools/", {"name": "race", "type": "process"})[0])

    threads = [threading.Thread(target=create) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [201, 409]
    assert call(client, "POST", "/work_pools/count", {}) == (200, 1)


def test_queues(client):
    _pool(client, "p")
    status, q = call(client, "POST", "/work_pools/p/queues/", {"name": "high", "priority": 1, "concurrency_limit": 3})
    assert status == 201 and q["priority"] == 1 and q["concurrency_limit"] == 3 and q["active_slots"] == 0
    status, low = call(client, "POST", "/work_pools/p/queues/", {"name": "low"})
    assert status == 201 and low["priority"] == 3
    by_priority = [(q["name"], q["priority"]) for q in call(client, "POST", "/work_pools/p/queues/filter", {})[1]]
    assert by_priority == [("high", 1), ("default", 2), ("low", 3)]
    assert call(client, "POST", "/work_pools/p/queues/", {"name": "low"}) == (
        409,
        {"detail": "A work queue with this name already exists in work pool 'p'."},
    )
    assert call(client, "POST", "/work_pools/nope/queues/", {"name": "x"})[0] == 404
    assert call(client, "POST", "/work_pools/p/queues/", {"name": "x", "priority": 0})[0] == 422
    patch = {"is_paused": True, "description": "slow", "priority": 1}
    assert call(client, "PATCH", "/work_pools/p/queues/low", patch) == (204, None)
    low = call(client, "GET", "/work_pools/p/queues/low")[1]
    assert low["is_paused"] and low["status"] == "PAUSED" and low["description"] == "slow" and low["priority"] == 1
    by_priority = [(q["name"], q["priority"]) for q in call(client, "POST", "/work_pools/p/queues/filter", {})[1]]
    assert by_priority == [("low", 1), ("high", 2), ("default", 3)]
    named = call(client, "POST", "/work_pools/p/queues/filter", {"work_queues": {"name": {"any_": ["high"]}}})
    assert [q["name"] for q in named[1]] == ["high"]
    assert call(client, "PATCH", "/work_pools/p/queues/low", {"name": "other"})[0] == 422
    assert call(client, "PATCH", "/work_pools/p/queues/nope", {"is_paused": True}) == (
        404,
        {"detail": "Work pool queue 'p/nope' not found."},
    )
    assert call(client, "GET", "/work_pools/p/queues/nope")[0] == 404
    assert call(client, "GET", "/work_pools/nope/queues/default")[0] == 404
    assert call(client, "POST", "/work_pools/nope/queues/filter", {})[0] == 404
    assert call(client, "DELETE", "/work_pools/p/queues/default")[0] == 409
    assert call(client, "DELETE", "/work_pools/p/queues/low") == (204, None)
    assert call(client, "DELETE", "/work_pools/p/queues/low")[0] == 404
    assert [q["name"] for q in call(client, "POST", "/work_pools/p/queues/filter", {})[1]] == ["high", "default"]


@pytest.mark.both_backends
def test_racing_creates_of_one_queue_make_one_queue(client):
    _pool(client, "p")
    results: list[int] = []

    def create() -> None:
        results.append(call(client, "POST", "/work_pools/p/queues/", {"name": "q"})[0])

    threads = [threading.Thread(target=create) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [201, 409, 409]
    assert [q["name"] for q in call(client, "POST", "/work_pools/p/queues/filter", {})[1]] == ["default", "q"]


def test_ids_derive_from_names(client):
    pool = _pool(client, "p")
    assert uuid.UUID(pool["id"]) and uuid.UUID(pool["default_queue_id"])
    call(client, "DELETE", "/work_pools/p")
    assert _pool(client, "p")["id"] == pool["id"]
