import uuid

from tests.helpers import call


def _create(client, **body):
    status, artifact = call(client, "POST", "/artifacts/", body)
    assert status == 201, artifact
    return artifact


def test_create_read_latest_update_delete(client):
    run = str(uuid.uuid4())
    first = _create(client, key="report", type="markdown", data="# v1", flow_run_id=run)
    second = _create(client, key="report", type="markdown", data="# v2", metadata_={"rows": "3"})
    keyless = _create(client, type="table", data=[{"a": 1}])
    assert first["key"] == "report" and first["flow_run_id"] == run and keyless["key"] is None
    assert call(client, "GET", f"/artifacts/{first['id']}") == (200, first)
    assert call(client, "GET", "/artifacts/report/latest") == (200, second)
    assert call(client, "GET", "/artifacts/nope/latest")[0] == 404
    assert call(client, "GET", f"/artifacts/{uuid.uuid4()}")[0] == 404
    assert call(client, "PATCH", f"/artifacts/{second['id']}", {"data": "# v2 fixed"}) == (204, None)
    assert call(client, "GET", "/artifacts/report/latest")[1]["data"] == "# v2 fixed"
    assert call(client, "DELETE", f"/artifacts/{second['id']}") == (204, None)
    assert call(client, "GET", "/artifacts/report/latest")[1]["id"] == first["id"]
    assert call(client, "DELETE", f"/artifacts/{second['id']}")[0] == 404


def test_filter_count_and_latest_filter(client):
    run = str(uuid.uuid4())
    _create(client, key="a", type="markdown", data="1", flow_run_id=run)
    newest_a = _create(client, key="a", type="markdown", data="2")
    _create(client, key="b", type="table", data="3", flow_run_id=run)
    _create(client, type="markdown", data="4")
    found = call(client, "POST", "/artifacts/filter", {})[1]
    assert len(found) == 4 and found[0]["data"] == "4"  # newest first
    by_run = call(client, "POST", "/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [run]}}})[1]
    assert {a["data"] for a in by_run} == {"1", "3"}
    assert call(client, "POST", "/artifacts/count", {"artifacts": {"type": {"any_": ["markdown"]}}}) == (200, 3)
    assert call(client, "POST", "/artifacts/count", {"artifacts": {"key": {"exists_": False}}}) == (200, 1)
    latest = call(client, "POST", "/artifacts/latest/filter", {"sort": "KEY_ASC"})[1]
    assert [(a["key"], a["id"]) for a in latest][0] == ("a", newest_a["id"]) and len(latest) == 2
    assert [a["latest_id"] for a in latest][0] == newest_a["id"]  # Prefect's client reads it (was missing)
    assert call(client, "POST", "/artifacts/latest/count", {}) == (200, 2)


def test_bad_bodies_are_422(client):
    for bad, field in [({"key": "Bad Key"}, "key"), ({"key": "ok", "extra": 1}, "extra"), ({"type": 3}, "type")]:
        status, body = call(client, "POST", "/artifacts/", bad)
        assert status == 422 and body["exception_detail"][0]["loc"][:2] == ["body", field], body
    assert call(client, "POST", "/artifacts/filter", {"flows": {"id": {"any_": []}}})[0] == 422
