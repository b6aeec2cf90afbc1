import threading
import uuid

import pytest

from tests.helpers import call


def test_bootstrap_routes(client):
    assert call(client, "GET", "/health") == (200, True)
    assert call(client, "GET", "/version") == (200, "0.8.4")
    assert call(client, "GET", "/admin/version") == (200, "3.9.1")
    assert call(client, "GET", "/csrf-token?client=abc") == (422, {"detail": "CSRF protection is disabled."})


def test_create_is_an_upsert_by_name(client):
    status, flow = call(client, "POST", "/flows/", {"name": "etl", "tags": ["a"]})
    assert status == 201
    assert flow["name"] == "etl" and flow["tags"] == ["a"]
    assert flow["created"].endswith("Z")
    status, again = call(client, "POST", "/flows/", {"name": "etl", "tags": ["other"]})
    assert status == 200
    assert again == flow  # the existing flow, unchanged


def test_both_spellings_of_collection_route(client):
    assert call(client, "POST", "/flows", {"name": "x"})[0] == 201
    assert call(client, "POST", "/flows/", {"name": "x"})[0] == 200


def test_read_by_id_and_name(client):
    _, flow = call(client, "POST", "/flows/", {"name": "my flow"})
    assert call(client, "GET", f"/flows/{flow['id']}") == (200, flow)
    assert call(client, "GET", "/flows/name/my%20flow") == (200, flow)
    assert call(client, "GET", "/flows/name/nope") == (404, {"detail": "Flow not found"})
    assert call(client, "GET", f"/flows/{uuid.uuid4()}") == (404, {"detail": "Flow not found"})
    assert call(client, "GET", "/flows/not-a-uuid") == (404, {"detail": "Not Found"})


def test_patch_changes_tags_only(client):
    _, flow = call(client, "POST", "/flows/", {"name": "f", "tags": ["a"], "labels": {"k": "v"}})
    assert call(client, "PATCH", f"/flows/{flow['id']}", {"tags": ["b", "c"]}) == (204, None)
    _, read = call(client, "GET", f"/flows/{flow['id']}")
    assert read["tags"] == ["b", "c"] and read["labels"] == {"k": "v"} and read["name"] == "f"
    assert read["updated"] >= flow["updated"]
    assert call(client, "PATCH", f"/flows/{uuid.uuid4()}", {"tags": []})[0] == 404
    status, body = call(client, "PATCH", f"/flows/{flow['id']}", {"name": "renamed"})
    assert status == 422 and body["exception_detail"][0]["loc"] == ["body", "name"]


def test_delete(client):
    _, flow = call(client, "POST", "/flows/", {"name": "gone"})
    assert call(client, "DELETE", f"/flows/{flow['id']}") == (204, None)
    assert call(client, "GET", f"/flows/{flow['id']}")[0] == 404
    assert call(client, "DELETE", f"/flows/{flow['id']}") == (404, {"detail": "Flow not found"})


def test_invalid_bodies_are_422_naming_the_field(client):
    status, body = call(client, "POST", "/flows/", {"tags": []})
    assert status == 422
    assert body["exception_message"] == "Invalid request received."
    assert body["exception_detail"][0]["loc"] == ["body", "name"]
    assert body["request_body"] == {"tags": []}
    status, body = call(client, "POST", "/flows/", {"name": "x", "bogus": 1})
    assert status == 422 and body["exception_detail"][0]["loc"] == ["body", "bogus"]
    status, body = call(client, "POST", "/flows/", "{not json")
    assert status == 422 and body["exception_detail"][0]["loc"] == ["body"]
    status, body = call(client, "POST", "/flows/", {"name": 5})
    assert status == 422
    assert call(client, "POST", "/flows/filter", {})[1] == []  # nothing was written


def test_filter_count_paginate_and_sorts(client):
    for name, tags in [("b", ["x"]), ("a", ["x", "y"]), ("c", [])]:
        call(client, "POST", "/flows/", {"name": name, "tags": tags})
    _, rows = call(client, "POST", "/flows/filter", {})
    assert [f["name"] for f in rows] == ["a", "b", "c"]
    _, rows = call(client, "POST", "/flows/filter", {"sort": "NAME_DESC", "limit": 2})
    assert [f["name"] for f in rows] == ["c", "b"]
    _, rows = call(client, "POST", "/flows/filter", {"sort": "CREATED_DESC"})
    assert [f["name"] for f in rows] == ["c", "a", "b"]
    _, rows = call(client, "POST", "/flows/filter", {"flows": {"tags": {"all_": ["x"]}}, "offset": 1})
    assert [f["name"] for f in rows] == ["b"]
    _, rows = call(client, "POST", "/flows/filter", {"flows": {"name": {"like_": "A"}}})
    assert [f["name"] for f in rows] == ["a"]
    either = {"operator": "or_", "name": {"any_": ["c"]}, "tags": {"all_": ["y"]}}
    _, rows = call(client, "POST", "/flows/filter", {"flows": either})
    assert [f["name"] for f in rows] == ["a", "c"]
    assert call(client, "POST", "/flows/count", {"flows": {"tags": {"is_null_": True}}}) == (200, 1)
    assert call(client, "POST", "/flows/count", None) == (200, 3)
    status, page = call(client, "POST", "/flows/paginate", {"limit": 2, "page": 2})
    assert status == 200
    assert (page["count"], page["limit"], page["pages"], page["page"]) == (3, 2, 2, 2)
    assert [f["name"] for f in page["results"]] == ["c"]


def test_filter_limits_are_validated(client):
    assert call(client, "POST", "/flows/filter", {"limit": 201})[0] == 422
    assert call(client, "POST", "/flows/filter", {"limit": -1})[0] == 422
    assert call(client, "POST", "/flows/filter", {"offset": -1})[0] == 422
    assert call(client, "POST", "/flows/paginate", {"page": 0})[0] == 422
    status, body = call(client, "POST", "/flows/filter", {"sort": "SIDEWAYS"})
    assert status == 422 and body["exception_detail"][0]["loc"] == ["body", "sort"]


@pytest.mark.both_backends
def test_concurrent_creates_of_one_name_yield_one_flow(client):
    results: list[tuple[int, dict]] = []
    barrier = threading.Barrier(8)

    def create() -> None:
        barrier.wait()
        results.append(call(client, "POST", "/flows/", {"name": "racy"}))

    threads = [threading.Thread(target=create) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(status for status, _ in results) == [200] * 7 + [201]
    assert len({body["id"] for _, body in results}) == 1
    assert call(client, "POST", "/flows/count", {}) == (200, 1)
