"""``GET /work_queues/{id}``: every queue id a flow run can carry answers, since Prefect's engine reads
it to label each event of the run (heartbeats included) and drops the event when the read fails."""

from __future__ import annotations

import uuid

from tests.helpers import call


def test_a_pools_queue_by_id(client) -> None:
    _, pool = call(client, "POST", "/work_pools/", {"name": "pool-a", "type": "process"})
    _, queue = call(client, "POST", "/work_pools/pool-a/queues/", {"name": "fast"})
    status, body = call(client, "GET", f"/work_queues/{queue['id']}")
    assert status == 200
    assert (body["name"], body["work_pool_name"], body["work_pool_id"]) == ("fast", "pool-a", pool["id"])


def test_the_queue_of_a_pool_less_deployments_run(client) -> None:
    _, flow = call(client, "POST", "/flows/", {"name": "served"})
    _, deployment = call(client, "POST", "/deployments/", {"name": "d", "flow_id": flow["id"]})  # as serve() sends
    _, run = call(client, "POST", f"/deployments/{deployment['id']}/create_flow_run", {})
    status, body = call(client, "GET", f"/work_queues/{run['work_queue_id']}")
    assert status == 200
    assert (body["id"], body["name"], body["work_pool_name"]) == (run["work_queue_id"], "default", None)


def test_unknown_and_malformed_ids(client) -> None:
    assert call(client, "GET", f"/work_queues/{uuid.uuid4()}") == (404, {"detail": "Work queue not found"})
    assert call(client, "GET", "/work_queues/nope") == (404, {"detail": "Not Found"})
