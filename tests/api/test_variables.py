import threading
import uuid

import pytest

from tests.helpers import call


def _create(client, name="x", value="v", tags=None):
    status, body = call(client, "POST", "/variables/", {"name": name, "value": value, "tags": tags or []})
    assert status == 201, body
    return body


def test_create_read_by_id_and_name(client):
    var = _create(client, "my_var", {"a": [1, 2]}, ["t"])
    assert var["name"] == "my_var" and var["value"] == {"a": [1, 2]} and var["tags"] == ["t"]
    assert var["created"].endswith("Z") and uuid.UUID(var["id"])
    assert call(client, "GET", f"/variables/{var['id']}") == (200, var)
    assert call(client, "GET", "/variables/name/my_var") == (200, var)


def test_missing_is_404_so_the_client_returns_its_default(client):
    assert call(client, "GET", "/variables/name/nope") == (404, {"detail": "Variable not found"})
    assert call(client, "GET", f"/variables/{uuid.uuid4()}")[0] == 404
    assert call(client, "GET", "/variables/not-a-uuid") == (404, {"detail": "Not Found"})
    assert call(client, "PATCH", f"/variables/{uuid.uuid4()}", {"value": 1})[0] == 404
    assert call(client, "PATCH", "/variables/name/nope", {"value": 1})[0] == 404
    assert call(client, "DELETE", f"/variables/{uuid.uuid4()}")[0] == 404
    assert call(client, "DELETE", "/variables/name/nope")[0] == 404


def test_names_are_unique(client):
    _create(client, "dup")
    status, body = call(client, "POST", "/variables/", {"name": "dup", "value": 2})
    assert status == 409 and body["detail"] == "A variable with the name 'dup' already exists."
    other = _create(client, "other")
    assert call(client, "PATCH", f"/variables/{other['id']}", {"name": "dup"})[0] == 409
    assert call(client, "GET", "/variables/name/other")[1]["id"] == other["id"]


@pytest.mark.both_backends
def test_racing_creates_of_one_name_make_one_variable(client):
    results: list[int] = []

    def create() -> None:
        results.append(call(client, "POST", "/variables/", {"name": "race", "value": 1})[0])

    threads = [threading.Thread(target=create) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [201] + [409] * 5
    assert call(client, "POST", "/variables/count", {}) == (200, 1)


def test_patch_by_id_and_by_name_and_rename_moves_the_name(client):
    var = _create(client, "a", "1", ["x"])
    assert call(client, "PATCH", f"/variables/{var['id']}", {"value": None}) == (204, None)
    read = call(client, "GET", f"/variables/{var['id']}")[1]
    assert read["value"] is None and read["tags"] == ["x"] and read["updated"] >= var["updated"]
    assert call(client, "PATCH", "/variables/name/a", {"name": "b", "tags": ["y"]}) == (204, None)
    assert call(client, "GET", "/variables/name/a")[0] == 404
    read = call(client, "GET", "/variables/name/b")[1]
    assert read["id"] == var["id"] and read["tags"] == ["y"]
    _create(client, "a")  # the old name is free again


def test_delete_by_id_and_by_name_frees_the_name(client):
    var = _create(client, "gone")
    assert call(client, "DELETE", f"/variables/{var['id']}") == (204, None)
    assert call(client, "GET", f"/variables/{var['id']}")[0] == 404
    _create(client, "gone")
    assert call(client, "DELETE", "/variables/name/gone") == (204, None)
    assert call(client, "GET", "/variables/name/gone")[0] == 404


def test_filter_sort_count(client):
    for name, tags in [("b", ["t"]), ("a", []), ("c", ["t", "u"])]:
        _create(client, name, tags=tags)
    names = lambda body: [v["name"] for v in call(client, "POST", "/variables/filter", body)[1]]  # noqa: E731
    assert names({}) == ["a", "b", "c"]
    assert names({"sort": "NAME_DESC", "limit": 2}) == ["c", "b"]
    assert names({"offset": 1, "limit": None}) == ["b", "c"]
    assert names({"variables": {"tags": {"all_": ["t"]}}}) == ["b", "c"]
    assert names({"variables": {"tags": {"is_null_": True}}}) == ["a"]
    assert names({"variables": {"name": {"like_": "B"}}}) == ["b"]
    assert names({"variables": {"name": {"any_": ["a", "c"]}}}) == ["a", "c"]
    assert call(client, "POST", "/variables/count", {"variables": {"tags": {"all_": ["u"]}}}) == (200, 1)
    status, body = call(client, "POST", "/variables/filter", {"sort": "NOPE"})
    assert status == 422 and body["exception_detail"][0]["loc"] == ["body", "sort"]


def test_prefect_limits_are_422_naming_the_field(client):
    for bad, field in [
        ({"name": "Upper", "value": 1}, "name"),
        ({"name": "a b", "value": 1}, "name"),
        ({"name": "x" * 256, "value": 1}, "name"),
        ({"name": "ok", "value": "x" * 5001}, "value"),
        ({"name": "ok"}, "value"),
        ({"name": "ok", "value": 1, "extra": 1}, "extra"),
    ]:
        status, body = call(client, "POST", "/variables/", bad)
        assert status == 422, bad
        assert body["exception_detail"][0]["loc"][:2] == ["body", field], body
    assert call(client, "POST", "/variables/", {"name": "x" * 255, "value": "y" * 4990})[0] == 201
    var = _create(client, "fine")
    assert call(client, "PATCH", f"/variables/{var['id']}", {"name": "Bad"})[0] == 422
