"""What Cirrus stores always reads back through Prefect's client models: fields typed as Prefect
types them (issue 23's findings: a work queue ``filter`` and artifact ``metadata_``)."""

from __future__ import annotations

import pytest

from tests.helpers import call


@pytest.mark.parametrize(
    "queue_filter",
    [{"tags": -1}, {"deployment_ids": [None]}, {"tags": [1]}, {"deployment_ids": ["not-a-uuid"]}, "x"],
)
def test_a_work_queue_filter_prefect_cannot_read_is_refused(client, queue_filter) -> None:
    status, body = call(client, "POST", "/work_queues/", {"name": "q", "filter": queue_filter})
    assert status == 422, body
    assert "filter" in str(body)
    assert call(client, "POST", "/work_queues/filter", {})[1] == []


def test_a_work_queue_filter_reads_back_as_sent(client) -> None:
    sent = {"tags": ["a"], "deployment_ids": ["2b9f7e0e-7e7b-4a87-9f9e-0b7f3a1d9d11"]}
    status, queue = call(client, "POST", "/work_queues/", {"name": "q", "filter": sent})
    assert status == 201, queue
    assert queue["filter"] == sent
    assert call(client, "GET", f"/work_queues/{queue['id']}")[1]["filter"] == sent


@pytest.mark.parametrize("metadata", [{"a": 1}, {"a": None}, {"a": {"b": "c"}}, {"a": ["x"]}])
def test_artifact_metadata_values_must_be_strings(client, metadata) -> None:
    status, body = call(client, "POST", "/artifacts/", {"key": "k", "data": 1, "metadata_": metadata})
    assert status == 422, body
    assert "metadata_" in str(body)


def test_long_artifact_metadata_values_are_cut_as_prefect_cuts_them(client) -> None:
    status, artifact = call(client, "POST", "/artifacts/", {"key": "k", "data": 1, "metadata_": {"a": "x" * 600}})
    assert status == 201, artifact
    assert artifact["metadata_"]["a"] == "x" * 500 + "..."
