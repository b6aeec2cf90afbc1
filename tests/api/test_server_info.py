from tests.helpers import call


def test_hello_ready_and_storage(client):
    assert call(client, "GET", "/hello") == (200, "👋")
    assert call(client, "GET", "/ready") == (200, {"message": "OK"})
    assert call(client, "GET", "/admin/storage") == (200, {"default_result_storage_block_id": None})


def test_ready_is_503_when_the_tables_do_not_answer(client, settings):
    from chalicelib.storage.tables import delete_tables

    delete_tables(settings)
    assert call(client, "GET", "/ready") == (503, {"message": "Database is not available"})


def test_automations_answer_as_a_server_with_none(client):
    resource = "prefect.deployment.5b0c9e0e-5a8e-4a55-9d2b-4d9c3f0e1a11"
    assert call(client, "DELETE", f"/automations/owned-by/{resource}") == (202, None)
    assert call(client, "GET", f"/automations/related-to/{resource}") == (200, [])
    assert call(client, "POST", "/automations/filter", {"limit": 10}) == (200, [])
    assert call(client, "POST", "/automations/filter") == (200, [])
    assert call(client, "POST", "/automations/count", {}) == (200, 0)
    assert call(client, "POST", "/automations/filter", "{not json")[0] == 422
