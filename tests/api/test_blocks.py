"""Blocks over the API: Prefect's catalog from the start, types, schemas, documents, secrets kept
secret, references, races, and the cost of a ``Block.load``."""

from __future__ import annotations

import logging
import threading
import uuid

import pytest

from chalicelib.storage.instrumentation import count_requests
from tests.helpers import call

SECRET_FIELDS = {
    "title": "Creds",
    "type": "object",
    "properties": {"user": {"type": "string"}, "password": {"type": "string", "format": "password"}},
    "secret_fields": ["password", "extra.*"],
    "block_type_slug": "creds",
}


def _type(client, slug="creds", name="Creds"):
    status, body = call(client, "POST", "/block_types/", {"name": name, "slug": slug})
    assert status == 201, body
    return body


def _schema(client, type_id, fields=None, version="1"):
    body = {"fields": fields or SECRET_FIELDS, "block_type_id": type_id, "capabilities": ["login"], "version": version}
    status, schema = call(client, "POST", "/block_schemas/", body)
    assert status in (200, 201), schema
    return schema


def _document(client, type_id, schema_id, name="prod", data=None, expect=201):
    body = {"name": name, "data": data or {"user": "ann", "password": "s3cret"}}
    body.update(block_type_id=type_id, block_schema_id=schema_id)
    status, doc = call(client, "POST", "/block_documents/", body)
    assert status == expect, doc
    return doc


def _secret_ids(client):
    secret = call(client, "GET", "/block_types/slug/secret")[1]
    wanted = {"block_schemas": {"block_type_id": {"any_": [secret["id"]]}}}
    schemas = call(client, "POST", "/block_schemas/filter", wanted)
    return secret["id"], schemas[1][0]["id"]


def test_prefects_catalog_is_there_from_the_start(client):
    status, types = call(client, "POST", "/block_types/filter", {})
    assert status == 200 and len(types) == 54
    assert [t["name"] for t in types] == sorted(t["name"] for t in types)
    slugs = {t["slug"] for t in types}
    assert {"secret", "aws-credentials", "s3-bucket", "slack-webhook", "local-file-system"} <= slugs
    assert {t["slug"] for t in types if t["is_protected"]} == {"secret", "webhook", "local-file-system"}
    status, schemas = call(client, "POST", "/block_schemas/filter", {})
    assert status == 200 and len(schemas) == 64 and all(s["block_type"]["id"] == s["block_type_id"] for s in schemas)
    assert call(client, "GET", "/block_capabilities")[1] == [
        "get-directory",
        "notify",
        "put-directory",
        "read-path",
        "write-path",
    ]
    writable = {"block_schemas": {"block_capabilities": {"all_": ["write-path"]}}}
    storage = call(client, "POST", "/block_types/filter", writable)
    assert "s3-bucket" in {t["slug"] for t in storage[1]} and "secret" not in {t["slug"] for t in storage[1]}
    assert call(client, "POST", "/block_types/install_system_block_types") == (200, None)
    assert len(call(client, "POST", "/block_types/filter", {})[1]) == 54


def test_block_types_create_read_update_and_refusals(client):
    creds = _type(client)
    assert call(client, "GET", f"/block_types/{creds['id']}") == (200, creds)
    assert call(client, "GET", "/block_types/slug/creds") == (200, creds)
    assert call(client, "POST", "/block_types/", {"name": "Again", "slug": "creds"}) == (
        409,
        {"detail": 'Block type with name "Again" already exists'},
    )
    assert call(client, "POST", "/block_types/", {"name": "Prefect thing", "slug": "pt"})[0] == 403
    assert call(client, "PATCH", f"/block_types/{creds['id']}", {"description": "d"}) == (204, None)
    assert call(client, "GET", "/block_types/slug/creds")[1]["description"] == "d"
    assert call(client, "GET", "/block_types/slug/nope") == (404, {"detail": "Block type not found"})
    assert call(client, "GET", "/block_types/not-a-uuid") == (404, {"detail": "Not Found"})
    assert call(client, "PATCH", f"/block_types/{uuid.uuid4()}", {"description": "d"})[0] == 404
    secret_id = call(client, "GET", "/block_types/slug/secret")[1]["id"]
    assert call(client, "DELETE", f"/block_types/{secret_id}") == (
        403,
        {"detail": "protected block types cannot be deleted."},
    )
    status, body = call(client, "POST", "/block_types/", {"name": "X", "slug": "Not A Slug"})
    assert status == 422 and body["exception_detail"][0]["loc"] == ["body", "slug"]
    status, body = call(client, "POST", "/block_types/", {"name": "X", "slug": "x", "bogus": 1})
    assert status == 422 and body["exception_detail"][0]["loc"] == ["body", "bogus"]


def test_schema_create_is_idempotent_on_checksum_and_version(client):
    creds = _type(client)
    body = {"fields": SECRET_FIELDS, "block_type_id": creds["id"], "capabilities": [], "version": "1"}
    status, first = call(client, "POST", "/block_schemas/", body)
    assert status == 201 and first["checksum"].startswith("sha256:") and first["block_type"]["slug"] == "creds"
    assert call(client, "POST", "/block_schemas/", body) == (200, first)
    assert call(client, "GET", f"/block_schemas/{first['id']}") == (200, first)
    assert call(client, "GET", f"/block_schemas/checksum/{first['checksum']}?version=1") == (200, first)
    assert call(client, "GET", f"/block_schemas/checksum/{first['checksum']}")[1]["id"] == first["id"]
    assert call(client, "GET", f"/block_schemas/checksum/{first['checksum']}?version=2")[0] == 404
    missing = {**body, "block_type_id": str(uuid.uuid4())}
    assert call(client, "POST", "/block_schemas/", missing) == (
        404,
        {"detail": f"Block type {missing['block_type_id']} not found."},
    )
    secret_schema = _secret_ids(client)[1]
    assert call(client, "DELETE", f"/block_schemas/{secret_schema}")[0] == 403
    assert call(client, "DELETE", f"/block_schemas/{first['id']}") == (204, None)
    assert call(client, "GET", f"/block_schemas/{first['id']}")[0] == 404


def test_secret_fields_are_masked_unless_asked_for(client):
    creds = _type(client)
    schema = _schema(client, creds["id"])
    doc = _document(client, creds["id"], schema["id"], data={"user": "ann", "password": "s3cret", "extra": {"k": "v"}})
    assert doc["data"] == {"user": "ann", "password": "********", "extra": {"k": "********"}}
    assert doc["block_type_name"] == "Creds" and doc["block_schema"]["id"] == schema["id"]
    by_id = call(client, "GET", f"/block_documents/{doc['id']}")[1]
    assert by_id["data"]["password"] == "********"
    shown = call(client, "GET", f"/block_documents/{doc['id']}?include_secrets=true")[1]
    assert shown["data"] == {"user": "ann", "password": "s3cret", "extra": {"k": "v"}}
    by_name = call(client, "GET", "/block_types/slug/creds/block_documents/name/prod?include_secrets=true")[1]
    assert by_name["data"]["password"] == "s3cret" and by_name["id"] == doc["id"]
    assert call(client, "GET", "/block_types/slug/creds/block_documents/name/prod")[1]["data"]["password"] == "********"
    listed = call(client, "POST", "/block_documents/filter", {})[1]
    assert [d["data"]["password"] for d in listed] == ["********"]
    listed = call(client, "POST", "/block_documents/filter", {"include_secrets": True})[1]
    assert [d["data"]["password"] for d in listed] == ["s3cret"]
    # What Prefect's client sends for `prefect block ls`.
    cli = {"block_schema_type": None, "offset": None, "limit": None, "include_secrets": False}
    assert [d["name"] for d in call(client, "POST", "/block_documents/filter", cli)[1]] == ["prod"]
    assert call(client, "GET", f"/block_documents/{doc['id']}?include_secrets=maybe")[0] == 422


def test_secrets_are_sealed_at_rest(client, repos):
    secret_type, secret_schema = _secret_ids(client)
    doc = _document(client, secret_type, secret_schema, name="db-password", data={"value": "hunter2-plaintext"})
    from chalicelib.storage.blocks._models import BlockDocumentModel

    item = BlockDocumentModel.get(doc["id"], consistent_read=True)
    assert "hunter2" not in item.to_simple_dict().__repr__()
    assert item.doc["sealed"].startswith("v1.local.")


def test_secrets_are_never_logged(client, caplog):
    """Every log record (DynamoDB's requests at DEBUG included) of a secret's whole life."""
    caplog.set_level(logging.DEBUG)
    creds = _type(client)
    schema = _schema(client, creds["id"])
    doc = _document(client, creds["id"], schema["id"], data={"user": "ann", "password": "pw-never-logged"})
    call(client, "GET", f"/block_documents/{doc['id']}?include_secrets=true")
    call(client, "GET", "/block_types/slug/creds/block_documents/name/prod?include_secrets=true")
    call(client, "POST", "/block_documents/filter", {"include_secrets": True})
    call(client, "PATCH", f"/block_documents/{doc['id']}", {"data": {"password": "pw-never-logged-2"}})
    call(client, "PATCH", f"/block_documents/{doc['id']}", {"data": {"password": "pw-never-logged-3"}, "bogus": 1})
    assert caplog.records and "pw-never-logged" not in caplog.text


def test_data_sealed_under_another_key_is_a_409_not_a_500(client, tmp_path):
    from chalicelib.storage.blocks._models import BlockDocumentModel
    from chalicelib.storage.blocks.sealing import LocalKeyWrapper, Sealer

    secret_type, secret_schema = _secret_ids(client)
    doc = _document(client, secret_type, secret_schema, name="moved", data={"value": "x"})
    item = BlockDocumentModel.get(doc["id"], consistent_read=True)
    item.doc = {**item.doc, "sealed": Sealer(LocalKeyWrapper(tmp_path / "other.key")).seal({"value": "y"}, doc["id"])}
    item.save()
    status, body = call(client, "GET", f"/block_documents/{doc['id']}")
    assert status == 409 and doc["id"] in body["detail"]


def test_block_load_is_two_requests(client):
    secret_type, secret_schema = _secret_ids(client)
    _document(client, secret_type, secret_schema, name="db-password", data={"value": "x"})
    call(client, "GET", "/block_types/slug/secret/block_documents/name/db-password")  # warm: the catalog marker
    with count_requests() as counter:
        status, doc = call(client, "GET", "/block_types/slug/secret/block_documents/name/db-password?include_secrets=1")
    assert status == 200 and doc["data"] == {"value": "x"}
    assert counter.total <= 2, counter.by_operation
    assert not counter.scans
    assert call(client, "GET", "/block_types/slug/secret/block_documents/name/nope") == (
        404,
        {"detail": "Block document not found"},
    )


def test_names_are_unique_per_type_and_anonymous_documents(client):
    creds = _type(client)
    schema = _schema(client, creds["id"])
    _document(client, creds["id"], schema["id"], name="prod")
    assert call(
        client,
        "POST",
        "/block_documents/",
        {"name": "prod", "data": {}, "block_type_id": creds["id"], "block_schema_id": schema["id"]},
    ) == (409, {"detail": "Block already exists"})
    other = _type(client, "other", "Other")
    other_schema = _schema(client, other["id"], {**SECRET_FIELDS, "title": "Other"})
    _document(client, other["id"], other_schema["id"], name="prod")  # same name, another type
    status, anon = call(
        client,
        "POST",
        "/block_documents/",
        {"is_anonymous": True, "data": {"user": "u"}, "block_type_id": creds["id"], "block_schema_id": schema["id"]},
    )
    assert status == 201 and anon["is_anonymous"] and anon["name"].startswith("anonymous-")
    assert call(client, "POST", "/block_documents/count", {}) == (200, 2)
    assert call(client, "POST", "/block_documents/count", {"block_documents": {"is_anonymous": None}}) == (200, 3)
    named = call(client, "POST", "/block_documents/filter", {"block_types": {"slug": {"any_": ["creds"]}}})[1]
    assert [d["name"] for d in named] == ["prod"]
    of_type = call(client, "GET", "/block_types/slug/creds/block_documents")[1]
    assert [d["name"] for d in of_type] == ["prod"]
    status, body = call(
        client, "POST", "/block_documents/", {"data": {}, "block_type_id": creds["id"], "block_schema_id": schema["id"]}
    )
    assert status == 422 and "Names must be provided" in body["exception_detail"][0]["msg"]
    status, body = call(
        client,
        "POST",
        "/block_documents/",
        {"name": "Bad Name", "data": {}, "block_type_id": creds["id"], "block_schema_id": schema["id"]},
    )
    assert status == 422 and body["exception_detail"][0]["loc"] == ["body", "name"]
    bad_schema = {"name": "x", "data": {}, "block_type_id": creds["id"], "block_schema_id": str(uuid.uuid4())}
    assert call(client, "POST", "/block_documents/", bad_schema)[0] == 404


@pytest.mark.both_backends
def test_racing_creates_of_one_name_make_one_document(client):
    creds = _type(client)
    schema = _schema(client, creds["id"])
    body = {"name": "race", "data": {"user": "u"}, "block_type_id": creds["id"], "block_schema_id": schema["id"]}
    results: list[int] = []

    def create() -> None:
        results.append(call(client, "POST", "/block_documents/", body)[0])

    threads = [threading.Thread(target=create) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [201] + [409] * 5
    assert call(client, "POST", "/block_documents/count", {}) == (200, 1)


def test_update_merges_replaces_and_keeps_masked_secrets(client):
    creds = _type(client)
    schema = _schema(client, creds["id"])
    doc = _document(client, creds["id"], schema["id"])
    path = f"/block_documents/{doc['id']}"
    assert call(client, "PATCH", path, {"data": {"user": "bob", "password": "********"}}) == (204, None)
    assert call(client, "GET", path + "?include_secrets=true")[1]["data"] == {"user": "bob", "password": "s3cret"}
    assert call(client, "PATCH", path, {"data": {"password": "new"}}) == (204, None)
    assert call(client, "GET", path + "?include_secrets=true")[1]["data"] == {"user": "bob", "password": "new"}
    replaced = {"data": {"user": "cy"}, "merge_existing_data": False}
    assert call(client, "PATCH", path, replaced) == (204, None)
    assert call(client, "GET", path + "?include_secrets=true")[1]["data"] == {"user": "cy"}
    other = _type(client, "other", "Other")
    other_schema = _schema(client, other["id"], {**SECRET_FIELDS, "title": "Other"})
    status, body = call(client, "PATCH", path, {"block_schema_id": other_schema["id"]})
    assert status == 422 and body["exception_detail"][0]["loc"] == ["body", "block_schema_id"]
    assert call(client, "PATCH", f"/block_documents/{uuid.uuid4()}", {"data": {}}) == (
        404,
        {"detail": "Block document not found"},
    )


def test_references_between_documents(client):
    creds = _type(client)
    schema = _schema(client, creds["id"])
    child = _document(client, creds["id"], schema["id"], name="child")
    outer = _type(client, "outer", "Outer")
    outer_schema = _schema(client, outer["id"], {"title": "Outer", "type": "object", "properties": {}})
    ref = {"$ref": {"block_document_id": child["id"]}}
    parent = _document(client, outer["id"], outer_schema["id"], name="parent", data={"creds": ref, "region": "eu"})
    assert parent["data"] == {"region": "eu", "creds": {"user": "ann", "password": "********"}}
    reference = parent["block_document_references"]["creds"]["block_document"]
    assert reference["id"] == child["id"] and reference["name"] == "child"
    assert reference["block_type"]["slug"] == "creds"
    shown = call(client, "GET", f"/block_documents/{parent['id']}?include_secrets=true")[1]
    assert shown["data"]["creds"]["password"] == "s3cret"
    cycle = {"data": {"back": {"$ref": {"block_document_id": parent["id"]}}}}
    assert call(client, "PATCH", f"/block_documents/{child['id']}", cycle)[0] == 422
    dangling = {"data": {"x": {"$ref": {"block_document_id": str(uuid.uuid4())}}}}
    status, body = call(client, "PATCH", f"/block_documents/{parent['id']}", dangling)
    assert status == 422 and body["exception_detail"][0]["loc"] == ["body", "data", "x"]
    assert call(client, "DELETE", f"/block_documents/{child['id']}") == (204, None)
    after = call(client, "GET", f"/block_documents/{parent['id']}")[1]
    assert after["data"] == {"region": "eu"} and after["block_document_references"] == {}


def test_deleting_a_type_deletes_its_documents_and_schemas(client):
    creds = _type(client)
    schema = _schema(client, creds["id"])
    doc = _document(client, creds["id"], schema["id"])
    assert call(client, "DELETE", f"/block_types/{creds['id']}") == (204, None)
    assert call(client, "GET", f"/block_documents/{doc['id']}")[0] == 404
    assert call(client, "GET", f"/block_schemas/{schema['id']}")[0] == 404
    assert call(client, "DELETE", f"/block_types/{creds['id']}")[0] == 404
    again = _type(client)  # the slug is free again, and nothing of the old type comes back
    assert again["id"] == creds["id"]
    assert call(client, "GET", "/block_types/slug/creds/block_documents")[1] == []
    assert call(client, "DELETE", f"/block_documents/{doc['id']}")[0] == 404
