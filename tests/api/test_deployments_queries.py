"""/deployments/filter, /count and /paginate: every filter group and every sort."""

import time

import pytest

from tests.api.deployments_support import deploy, make_flow, make_pool
from tests.helpers import call


@pytest.fixture
def catalogue(client):
    etl, ml = make_flow(client, "etl"), make_flow(client, "ml")
    make_pool(client, "k8s")
    rows = {}
    for flow_id, name, fields in [
        (etl, "beta", {"tags": ["x"], "work_queue_name": "fast"}),
        (etl, "alpha", {"tags": ["x", "y"], "paused": True}),
        (ml, "gamma", {"tags": [], "work_pool_name": "k8s"}),
    ]:
        rows[name] = deploy(client, flow_id, name, **fields)
        time.sleep(0.002)  # distinct created/updated timestamps
    call(client, "PATCH", f"/deployments/{rows['beta']['id']}", {"description": "touched"})
    return rows


def _names(client, body):
    status, rows = call(client, "POST", "/deployments/filter", body)
    assert status == 200, rows
    return [r["name"] for r in rows]


def test_sorts(client, catalogue):
    assert _names(client, {}) == ["alpha", "beta", "gamma"]
    assert _names(client, {"sort": "NAME_DESC"}) == ["gamma", "beta", "alpha"]
    assert _names(client, {"sort": "CREATED_DESC"}) == ["gamma", "alpha", "beta"]
    assert _names(client, {"sort": "UPDATED_DESC"}) == ["beta", "gamma", "alpha"]
    assert _names(client, {"limit": 1, "offset": 1}) == ["beta"]
    status, body = call(client, "POST", "/deployments/filter", {"sort": "ID_DESC"})
    assert status == 422 and body["exception_detail"][0]["loc"] == ["body", "sort"]


def test_deployment_filters(client, catalogue):
    ids = {name: row["id"] for name, row in catalogue.items()}
    assert _names(client, {"deployments": {"name": {"like_": "AL"}}}) == ["alpha"]
    assert _names(client, {"deployments": {"name": {"any_": ["beta", "nope"]}}}) == ["beta"]
    assert _names(client, {"deployments": {"id": {"any_": [ids["gamma"], ids["beta"]]}}}) == ["beta", "gamma"]
    assert _names(client, {"deployments": {"id": {"not_any_": [ids["gamma"]]}}}) == ["alpha", "beta"]
    assert _names(client, {"deployments": {"paused": {"eq_": True}}}) == ["alpha"]
    assert _names(client, {"deployments": {"tags": {"all_": ["x", "y"]}}}) == ["alpha"]
    assert _names(client, {"deployments": {"tags": {"any_": ["y", "x"]}}}) == ["alpha", "beta"]
    assert _names(client, {"deployments": {"tags": {"is_null_": True}}}) == ["gamma"]
    assert _names(client, {"deployments": {"work_queue_name": {"any_": ["fast"]}}}) == ["beta"]
    assert _names(client, {"deployments": {"flow_or_deployment_name": {"like_": "ml"}}}) == ["gamma"]
    either = {"operator": "or_", "name": {"any_": ["gamma"]}, "paused": {"eq_": True}}
    assert _names(client, {"deployments": either}) == ["alpha", "gamma"]
    by_id_or = {"operator": "or_", "id": {"any_": [ids["gamma"]]}, "paused": {"eq_": True}}
    assert _names(client, {"deployments": by_id_or}) == ["alpha", "gamma"]


def test_flow_work_queue_and_flow_run_filters(client, catalogue):
    assert _names(client, {"flows": {"name": {"any_": ["ml"]}}}) == ["gamma"]
    assert _names(client, {"flows": {"name": {"like_": "et"}}, "deployments": {"tags": {"any_": ["y"]}}}) == ["alpha"]
    assert _names(client, {"work_pool_queues": {"name": {"any_": ["fast"]}}}) == ["beta"]
    assert _names(client, {"work_pools": {"name": {"any_": ["k8s"]}}}) == ["gamma"]
    call(client, "POST", f"/deployments/{catalogue['gamma']['id']}/create_flow_run", {"state": {"type": "RUNNING"}})
    call(client, "POST", f"/deployments/{catalogue['beta']['id']}/create_flow_run", {})
    assert _names(client, {"flow_runs": {"state": {"type": {"any_": ["RUNNING"]}}}}) == ["gamma"]
    assert _names(client, {"flow_runs": {}}) == ["beta", "gamma"]
    status, body = call(client, "POST", "/deployments/filter", {"task_runs": {"name": {"any_": ["t"]}}})
    assert status == 422 and body["exception_detail"][0]["loc"] == ["body", "task_runs"]
    status, body = call(client, "POST", "/deployments/filter", {"work_pools": {"type": {"any_": ["k8s"]}}})
    assert status == 422 and body["exception_detail"][0]["loc"][:2] == ["body", "work_pools"]


def test_count_and_paginate(client, catalogue):
    assert call(client, "POST", "/deployments/count", None) == (200, 3)
    assert call(client, "POST", "/deployments/count", {"deployments": {"tags": {"any_": ["x"]}}}) == (200, 2)
    status, page = call(client, "POST", "/deployments/paginate", {"limit": 2, "page": 2, "sort": "NAME_DESC"})
    assert status == 200
    assert (page["count"], page["limit"], page["pages"], page["page"]) == (3, 2, 2, 2)
    assert [d["name"] for d in page["results"]] == ["alpha"]
    assert page["results"][0]["schedules"] == [] and page["results"][0]["status"] == "NOT_READY"


def test_filter_bodies_are_validated(client):
    for body, loc in [
        ({"limit": 201}, ["body", "limit"]),
        ({"limit": -1}, ["body", "limit"]),
        ({"offset": -1}, ["body", "offset"]),
        ({"deployments": {"name": {"like_": 5}}}, ["body", "deployments", "name", "like_"]),
        ({"deployments": {"nope": {}}}, ["body", "deployments"]),
    ]:
        status, reply = call(client, "POST", "/deployments/filter", body)
        assert status == 422 and reply["exception_detail"][0]["loc"][: len(loc)] == loc
    assert call(client, "POST", "/deployments/paginate", {"page": 0})[0] == 422


def test_flows_filtered_by_their_deployments(client, catalogue):
    status, flows = call(client, "POST", "/flows/filter", {"deployments": {"name": {"any_": ["gamma"]}}})
    assert status == 200 and [f["name"] for f in flows] == ["ml"]
    status, flows = call(client, "POST", "/flows/filter", {"deployments": {"flow_or_deployment_name": {"like_": "et"}}})
    assert [f["name"] for f in flows] == ["etl"]
