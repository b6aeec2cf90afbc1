"""Deployments CRUD through the Chalice test client: upsert, read, PATCH, delete, errors."""

import uuid

from chalicelib.domain.identity import deployment_id
from tests.api.deployments_support import DAILY_9, HOURLY, auto_runs, deploy, ids, make_flow, make_pool, runs_of
from tests.helpers import call


def test_upsert_creates_then_updates_with_the_same_id(client):
    flow_id = make_flow(client)
    created = deploy(client, flow_id, expect=201, tags=["a"], parameters={"x": 1}, description="first")
    assert created["id"] == str(deployment_id(uuid.UUID(flow_id), "prod"))
    assert created["work_queue_name"] == "default" and created["work_queue_id"]
    assert created["status"] == "NOT_READY" and created["paused"] is False
    assert created["created"].endswith("Z")
    updated = deploy(client, flow_id, expect=200, description="second")
    assert updated["id"] == created["id"] and updated["created"] == created["created"]
    # only the fields sent change
    assert updated["description"] == "second" and updated["tags"] == ["a"] and updated["parameters"] == {"x": 1}
    assert updated["updated"] >= created["updated"]
    assert call(client, "GET", f"/deployments/{created['id']}") == (200, updated)


def test_collection_route_accepts_both_spellings(client):
    flow_id = make_flow(client)
    assert call(client, "POST", "/deployments", {"name": "a", "flow_id": flow_id})[0] == 201
    assert call(client, "POST", "/deployments/", {"name": "a", "flow_id": flow_id})[0] == 200


def test_unknown_flow_is_409_and_writes_nothing(client):
    status, body = call(client, "POST", "/deployments/", {"name": "x", "flow_id": str(uuid.uuid4())})
    assert status == 409 and "not found" in body["detail"]
    assert call(client, "POST", "/deployments/count", {}) == (200, 0)
    assert call(client, "POST", "/deployments/filter", {}) == (200, [])


def test_read_by_id_and_by_names(client):
    flow_id = make_flow(client, "my flow")
    dep = deploy(client, flow_id, "my deployment")
    assert call(client, "GET", "/deployments/name/my%20flow/my%20deployment") == (200, dep)
    assert call(client, "GET", "/deployments/name/my%20flow/other") == (404, {"detail": "Deployment not found"})
    assert call(client, "GET", "/deployments/name/nope/my%20deployment")[0] == 404
    assert call(client, "GET", f"/deployments/{uuid.uuid4()}") == (404, {"detail": "Deployment not found"})
    assert call(client, "GET", "/deployments/not-a-uuid") == (404, {"detail": "Not Found"})


def test_patch_changes_only_the_fields_it_carries(client):
    flow_id = make_flow(client)
    make_pool(client)
    dep = deploy(client, flow_id, tags=["t"], parameters={"a": 1}, version="1", work_pool_name="pool")
    patch = {"description": "new", "parameters": {"b": 2}}
    assert call(client, "PATCH", f"/deployments/{dep['id']}", patch) == (204, None)
    _, read = call(client, "GET", f"/deployments/{dep['id']}")
    assert read["description"] == "new" and read["parameters"] == {"b": 2}
    assert read["tags"] == ["t"] and read["version"] == "1" and read["work_pool_name"] == "pool"
    assert read["schedules"] == dep["schedules"]
    assert call(client, "PATCH", f"/deployments/{dep['id']}", {"work_queue_name": "q2"}) == (204, None)
    _, read = call(client, "GET", f"/deployments/{dep['id']}")
    assert read["work_queue_name"] == "q2" and read["work_queue_id"] != dep["work_queue_id"]
    assert call(client, "GET", f"/deployments/{dep['id']}/work_queue_check")[1][0]["name"] == "q2"


def test_patch_errors(client):
    flow_id = make_flow(client)
    dep = deploy(client, flow_id)
    assert call(client, "PATCH", f"/deployments/{uuid.uuid4()}", {"description": "x"}) == (
        404,
        {"detail": "Deployment not found"},
    )
    assert call(client, "PATCH", "/deployments/nope", {}) == (404, {"detail": "Not Found"})
    status, body = call(client, "PATCH", f"/deployments/{dep['id']}", {"name": "renamed"})
    assert status == 422 and body["exception_detail"][0]["loc"] == ["body", "name"]
    status, body = call(client, "PATCH", f"/deployments/{dep['id']}", {"parameters": None})
    assert status == 422 and body["exception_detail"][0]["loc"] == ["body", "parameters"]
    status, body = call(client, "PATCH", f"/deployments/{dep['id']}", {"schedules": [{"schedule": {"cron": "x"}}]})
    assert status == 422 and body["exception_detail"][0]["loc"][:3] == ["body", "schedules", 0]
    assert call(client, "GET", f"/deployments/{dep['id']}") == (200, dep)  # nothing was written


def test_invalid_create_bodies_are_422_naming_the_field(client):
    flow_id = make_flow(client)
    cases = [
        ({"flow_id": flow_id}, ["body", "name"]),
        ({"name": "x"}, ["body", "flow_id"]),
        ({"name": "x", "flow_id": "nope"}, ["body", "flow_id"]),
        ({"name": "x", "flow_id": flow_id, "bogus": 1}, ["body", "bogus"]),
        ({"name": "x", "flow_id": flow_id, "schedules": [{"schedule": {"interval": -5}}]}, ["body", "schedules", 0]),
        ({"name": "x", "flow_id": flow_id, "schedules": [{"schedule": {"cron": "0 9 * * *", "interval": 5}}]}, None),
        ({"name": "x", "flow_id": flow_id, "schedules": [{"schedule": HOURLY, "max_scheduled_runs": 0}]}, None),
        ({"name": "x", "flow_id": flow_id, "concurrency_options": {"collision_strategy": "NOPE"}}, None),
    ]
    for body, loc in cases:
        status, reply = call(client, "POST", "/deployments/", body)
        assert status == 422, (body, reply)
        assert reply["exception_message"] == "Invalid request received." and reply["request_body"] == body
        if loc is not None:
            assert reply["exception_detail"][0]["loc"][: len(loc)] == loc
    assert call(client, "POST", "/deployments/", "{nope")[0] == 422
    assert call(client, "POST", "/deployments/count", {}) == (200, 0)


def test_delete_removes_unstarted_runs_and_keeps_the_others(client, repos):
    flow_id = make_flow(client)
    dep = deploy(client, flow_id, schedules=[{"schedule": HOURLY, "slug": "hourly"}])
    manual = call(client, "POST", f"/deployments/{dep['id']}/create_flow_run", {})[1]
    running = call(client, "POST", f"/deployments/{dep['id']}/create_flow_run", {"state": {"type": "RUNNING"}})[1]
    assert auto_runs(repos, dep["id"])
    assert call(client, "DELETE", f"/deployments/{dep['id']}") == (204, None)
    assert call(client, "GET", f"/deployments/{dep['id']}")[0] == 404
    left = runs_of(repos, dep["id"])
    assert ids(left) == {running["id"]} and manual["id"] not in ids(left)
    assert list(repos.schedules.list_for_deployment(uuid.UUID(dep["id"]))) == []
    assert call(client, "DELETE", f"/deployments/{dep['id']}") == (404, {"detail": "Deployment not found"})
    # the slug is free again for a new deployment of the same name
    again = deploy(client, flow_id, expect=201, schedules=[{"schedule": DAILY_9, "slug": "hourly"}])
    assert again["id"] == dep["id"] and again["schedules"][0]["id"] != dep["schedules"][0]["id"]


def test_deleting_the_flow_deletes_its_deployments(client, repos):
    flow_id = make_flow(client)
    dep = deploy(client, flow_id, schedules=[{"schedule": HOURLY, "slug": "s"}])
    planned = [r.id for r in repos.flow_runs.by_deployment(uuid.UUID(dep["id"]))]
    assert planned
    assert call(client, "DELETE", f"/flows/{flow_id}") == (204, None)
    assert call(client, "GET", f"/deployments/{dep['id']}")[0] == 404
    assert all(call(client, "GET", f"/flow_runs/{run_id}")[0] == 404 for run_id in planned)
    # The slug claim went with the deployment: a recreated flow and deployment may use it again.
    again = deploy(client, make_flow(client), schedules=[{"schedule": HOURLY, "slug": "s"}], expect=201)
    assert again["id"] == dep["id"]


def test_work_queue_check_answers_the_queue_in_prefects_shape(client):
    flow_id = make_flow(client)
    make_pool(client, "k8s")
    dep = deploy(client, flow_id, work_queue_name="critical", work_pool_name="k8s")
    status, queues = call(client, "GET", f"/deployments/{dep['id']}/work_queue_check")
    assert status == 200 and len(queues) == 1
    queue = queues[0]
    assert queue["id"] == dep["work_queue_id"] and queue["name"] == "critical"
    assert {"is_paused", "priority", "concurrency_limit", "created", "updated"} <= queue.keys()
    assert call(client, "GET", f"/deployments/{uuid.uuid4()}/work_queue_check")[0] == 404
