"""``POST /flow_runs/filter|count|paginate``: every group of the filter body, sorts, limits."""

import uuid

import pytest

from tests.helpers import call

pytestmark = pytest.mark.both_backends  # races and storage semantics: on DynamoDB Local too


@pytest.fixture
def world(client):
    """Two flows; runs in several states, queues and names; one deployment (when its routes exist)."""
    _, etl = call(client, "POST", "/flows/", {"name": "etl", "tags": ["nightly"]})
    _, ml = call(client, "POST", "/flows/", {"name": "ml"})
    status, deployment = call(client, "POST", "/deployments/", {"name": "prod", "flow_id": etl["id"]})
    deployment_id = deployment["id"] if status in (200, 201) else None
    call(client, "POST", "/work_pools/", {"name": "pool"})
    call(client, "POST", "/work_pools/pool/queues/", {"name": "q2"})

    def run(flow, name, state=None, **body):
        payload = {"flow_id": flow["id"], "name": name, **body}
        if state:
            payload["state"] = state
        return call(client, "POST", "/flow_runs/", payload)[1]

    runs = {
        "a": run(etl, "alpha", {"type": "SCHEDULED", "state_details": {"scheduled_time": "2031-01-01T00:00:00Z"}},
                 work_queue_name="q1", deployment_id=deployment_id),
        "b": run(etl, "bravo", {"type": "SCHEDULED", "state_details": {"scheduled_time": "2031-01-02T00:00:00Z"}},
                 work_queue_name="q1", tags=["x"]),
        "c": run(ml, "charlie", {"type": "RUNNING"}, work_queue_name="q2", work_pool_name="pool", tags=["x", "y"]),
        "d": run(ml, "delta", idempotency_key="key-d"),
    }  # fmt: skip
    call(client, "POST", f"/flow_runs/{runs['c']['id']}/set_state", {"state": {"type": "COMPLETED"}})
    return {"etl": etl, "ml": ml, "deployment_id": deployment_id, "runs": runs}


def names(client, body):
    status, result = call(client, "POST", "/flow_runs/filter", body)
    assert status == 200, result
    return [r["name"] for r in result]


def test_default_sort_is_id_desc_and_limit_null_means_default(client, world):
    ids = [r["id"] for r in call(client, "POST", "/flow_runs/filter", {"limit": None, "sort": None})[1]]
    assert ids == sorted((r["id"] for r in world["runs"].values()), reverse=True)


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("NAME_ASC", ["alpha", "bravo", "charlie", "delta"]),
        ("NAME_DESC", ["delta", "charlie", "bravo", "alpha"]),
        ("NEXT_SCHEDULED_START_TIME_ASC", ["alpha", "bravo"]),
        ("EXPECTED_START_TIME_DESC", ["bravo", "alpha"]),
        ("EXPECTED_START_TIME_ASC", ["alpha", "bravo"]),
        ("END_TIME_DESC", ["charlie"]),
        ("START_TIME_DESC", ["bravo", "alpha"]),
        ("START_TIME_ASC", ["alpha", "bravo"]),
    ],
)
def test_sorts(client, world, sort, expected):
    got = names(client, {"sort": sort})
    assert [n for n in got if n in expected] == expected and len(got) == 4


def test_unknown_sort_and_bad_limits_are_422(client, world):
    status, body = call(client, "POST", "/flow_runs/filter", {"sort": "COLOUR_ASC"})
    assert status == 422 and body["exception_detail"][0]["loc"] == ["body", "sort"]
    assert call(client, "POST", "/flow_runs/filter", {"limit": 201})[0] == 422
    assert call(client, "POST", "/flow_runs/filter", {"offset": -1})[0] == 422
    status, body = call(client, "POST", "/flow_runs/filter", {"flow_runs": {"colour": {}}})
    assert status == 422 and body["exception_detail"][0]["loc"] == ["body", "flow_runs", "colour"]


def test_limit_and_offset(client, world):
    assert names(client, {"sort": "NAME_ASC", "limit": 2, "offset": 1}) == ["bravo", "charlie"]


def test_flow_run_criteria(client, world):
    assert names(client, {"flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}}, "sort": "NAME_ASC"}) == [
        "alpha",
        "bravo",
    ]
    assert names(client, {"flow_runs": {"work_queue_name": {"any_": ["q2"]}}}) == ["charlie"]
    assert names(client, {"flow_runs": {"tags": {"all_": ["x", "y"]}}}) == ["charlie"]
    assert names(client, {"flow_runs": {"name": {"like_": "ELT"}}}) == ["delta"]
    assert names(client, {"flow_runs": {"idempotency_key": {"any_": ["key-d"]}}}) == ["delta"]
    late = {"next_scheduled_start_time": {"before_": "2031-01-01T12:00:00Z"}}
    assert names(client, {"flow_runs": late}) == ["alpha"]
    either = {"operator": "or_", "name": {"any_": ["alpha"]}, "end_time": {"is_null_": False}}
    assert names(client, {"flow_runs": either, "sort": "NAME_ASC"}) == ["alpha", "charlie"]
    assert names(client, {"flow_runs": {"id": {"any_": [world["runs"]["b"]["id"]]}}}) == ["bravo"]


def test_flows_group(client, world):
    assert names(client, {"flows": {"name": {"any_": ["ml"]}}, "sort": "NAME_ASC"}) == ["charlie", "delta"]
    assert names(client, {"flows": {"tags": {"all_": ["nightly"]}}, "sort": "NAME_ASC"}) == ["alpha", "bravo"]
    assert names(client, {"flows": {"id": {"any_": [str(uuid.uuid4())]}}}) == []
    by_both = {"flows": {"name": {"any_": ["ml"]}}, "flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}}}
    assert names(client, by_both) == ["charlie"]


def test_queue_and_pool_groups(client, world):
    assert names(client, {"work_pool_queues": {"name": {"any_": ["q1"]}}, "sort": "NAME_ASC"}) == ["alpha", "bravo"]
    pools = {"operator": "and_", "id": None, "name": {"any_": ["pool"]}, "type": None}
    assert names(client, {"work_pools": pools}) == ["charlie"]
    status, body = call(client, "POST", "/flow_runs/filter", {"work_pools": {"type": {"any_": ["k8s"]}}})
    assert status == 422 and body["exception_detail"][0]["loc"] == ["body", "work_pools", "type"]
    status, body = call(client, "POST", "/flow_runs/filter", {"task_runs": {"name": {"any_": ["t"]}}})
    assert status == 422 and body["exception_detail"][0]["loc"] == ["body", "task_runs"]
    assert names(client, {"task_runs": {"operator": "and_", "id": None}}) != []


def test_deployments_group(client, world):
    if world["deployment_id"] is None:
        pytest.skip("the deployments routes are not available")
    by_id = {"deployments": {"id": {"any_": [world["deployment_id"]]}}}
    assert names(client, by_id) == ["alpha"]
    assert names(client, {"deployments": {"name": {"like_": "pro"}}}) == ["alpha"]
    assert names(client, {"deployments": {"name": {"any_": ["staging"]}}}) == []
    runs = {"deployment_id": {"any_": [world["deployment_id"]]}, "state": {"type": {"any_": ["SCHEDULED"]}}}
    assert names(client, {"flow_runs": runs}) == ["alpha"]
    assert names(client, {"flow_runs": {"deployment_id": {"is_null_": True}}, "sort": "NAME_ASC"}) == [
        "bravo",
        "charlie",
        "delta",
    ]


def test_count_and_paginate(client, world):
    assert call(client, "POST", "/flow_runs/count", {}) == (200, 4)
    assert call(client, "POST", "/flow_runs/count", {"flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}}}) == (
        200,
        2,
    )
    status, page = call(client, "POST", "/flow_runs/paginate", {"limit": 3, "page": 2, "sort": "NAME_ASC"})
    assert status == 200
    assert (page["count"], page["limit"], page["pages"], page["page"]) == (4, 3, 2, 2)
    assert [r["name"] for r in page["results"]] == ["delta"]
    assert call(client, "POST", "/flow_runs/paginate", {"page": 0})[0] == 422


def test_flows_can_be_filtered_by_their_runs(client, world):
    body = {"flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}}}
    status, flows = call(client, "POST", "/flows/filter", body)
    assert status == 200 and [f["name"] for f in flows] == ["ml"]


def test_the_task_runs_group_finds_the_flow_run_of_a_task_run(client, world):
    """The UI finds a subflow's parent run as the flow run of the subflow's parent task run."""
    parent = world["runs"]["b"]
    status, task_run = call(
        client, "POST", "/task_runs/", {"task_key": "t", "dynamic_key": "0", "flow_run_id": parent["id"]}
    )
    assert status == 201, task_run
    assert names(client, {"task_runs": {"id": {"any_": [task_run["id"]]}}}) == ["bravo"]
    assert names(client, {"task_runs": {"id": {"any_": [str(uuid.uuid4())]}}}) == []
    body = {"task_runs": {"id": {"any_": [task_run["id"]]}}, "flow_runs": {"name": {"any_": ["alpha"]}}}
    assert names(client, body) == []  # both groups must hold
    assert call(client, "POST", "/flow_runs/count", {"task_runs": {"id": {"any_": [task_run["id"]]}}}) == (200, 1)
    status, body = call(client, "POST", "/flow_runs/filter", {"task_runs": {"id": {"any_": ["nope"]}}})
    assert status == 422 and body["exception_detail"][0]["loc"][:3] == ["body", "task_runs", "id"]
