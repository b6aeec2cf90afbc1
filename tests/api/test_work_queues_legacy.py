"""Prefect's legacy ``/work_queues`` routes, consistent with the pools' queues."""

import uuid
from datetime import timedelta

from tests.api.deployments_support import deploy, make_flow, utcnow
from tests.helpers import call


def test_a_queue_without_a_pool_lives_in_the_default_agent_pool(client):
    status, queue = call(client, "POST", "/work_queues/", {"name": "legacy", "concurrency_limit": 2})
    assert status == 201 and queue["work_pool_name"] == "default-agent-pool" and queue["active_slots"] == 0
    pool = call(client, "GET", "/work_pools/default-agent-pool")[1]
    assert pool["type"] == "prefect-agent" and pool["status"] is None
    assert call(client, "GET", "/work_pools/default-agent-pool/queues/legacy")[1]["id"] == queue["id"]
    assert call(client, "GET", "/work_queues/name/legacy")[1]["id"] == queue["id"]
    assert call(client, "GET", f"/work_queues/{queue['id']}")[1]["name"] == "legacy"
    assert call(client, "POST", "/work_queues/", {"name": "legacy"}) == (
        409,
        {"detail": "A work queue with this name already exists."},
    )
    assert call(client, "GET", "/work_queues/name/nope") == (404, {"detail": "Work queue not found"})
    assert call(client, "GET", f"/work_queues/{uuid.uuid4()}") == (404, {"detail": "Work queue not found"})
    assert call(client, "GET", "/work_queues/not-a-uuid") == (404, {"detail": "Not Found"})


def test_by_id_routes_reach_pool_queues(client):
    call(client, "POST", "/work_pools/", {"name": "p", "type": "process"})
    status, queue = call(client, "POST", "/work_queues/", {"name": "q", "work_pool_name": "p"})
    assert status == 201 and queue["work_pool_name"] == "p"
    assert call(client, "PATCH", f"/work_queues/{queue['id']}", {"is_paused": True}) == (204, None)
    assert call(client, "GET", "/work_pools/p/queues/q")[1]["is_paused"] is True
    names = {q["name"] for q in call(client, "POST", "/work_queues/filter", {})[1]}
    assert names == {"default", "q"}
    only = call(client, "POST", "/work_queues/filter", {"work_queues": {"name": {"any_": ["q"]}}})[1]
    assert [q["id"] for q in only] == [queue["id"]]
    assert call(client, "DELETE", f"/work_queues/{queue['id']}") == (204, None)
    assert call(client, "GET", f"/work_queues/{queue['id']}")[0] == 404
    assert call(client, "PATCH", f"/work_queues/{queue['id']}", {"is_paused": True})[0] == 404
    assert call(client, "DELETE", f"/work_queues/{queue['id']}")[0] == 404
    assert call(client, "POST", "/work_queues/", {"name": "x", "work_pool_name": "nope"})[0] == 404
    assert call(client, "POST", "/work_queues/", {"name": "x", "work_pool_id": str(uuid.uuid4())})[0] == 404
    assert call(client, "POST", "/work_queues/", {"name": ""})[0] == 422


def test_get_runs_and_status(client):
    call(client, "POST", "/work_pools/", {"name": "p", "type": "process"})
    dep = deploy(client, make_flow(client), "d", work_pool_name="p")
    at = (utcnow() - timedelta(minutes=1)).isoformat()
    body = {"state": {"type": "SCHEDULED", "state_details": {"scheduled_time": at}}}
    run = call(client, "POST", f"/deployments/{dep['id']}/create_flow_run", body)[1]
    queue_id = dep["work_queue_id"]
    status, detail = call(client, "GET", f"/work_queues/{queue_id}/status")
    assert status == 200 and detail["healthy"] is False and detail["last_polled"] is None
    runs = call(client, "POST", f"/work_queues/{queue_id}/get_runs", {"scheduled_before": utcnow().isoformat()})
    assert runs[0] == 200 and [r["id"] for r in runs[1]] == [run["id"]]
    detail = call(client, "GET", f"/work_queues/{queue_id}/status")[1]
    assert detail["healthy"] is True and detail["late_runs_count"] == 0 and detail["last_polled"]
    assert call(client, "POST", f"/work_queues/{uuid.uuid4()}/get_runs", {})[0] == 404
    assert call(client, "GET", f"/work_queues/{uuid.uuid4()}/status")[0] == 404
