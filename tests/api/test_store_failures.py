"""A failing store is never a 500: DynamoDB's ``ValidationException`` (an item above 400 KB, a key
too long) is a 422, throttling and failures without an answer (timeouts) a 503 with Retry-After,
and nothing is left behind. Faults are injected in front of moto (tests/reliability/faults.py)."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError, ReadTimeoutError

from chalicelib.errors import StorageUnavailableError
from chalicelib.storage.errors import response_code, translated
from tests.helpers import call
from tests.reliability.faults import _response, hooked


class Fail:
    """Fails every attempt of ``operation``: ``timeout`` (no answer), or a 400 with ``code``."""

    def __init__(self, operation: str, code: str | None = None) -> None:
        self.operation = operation
        self.code = code
        self.calls = 0

    def __call__(self, request: Any, event_name: str = "", **_: Any) -> Any:
        if event_name.rsplit(".", 1)[-1] != self.operation:
            return None
        self.calls += 1
        if self.code is None:
            raise ReadTimeoutError(endpoint_url=request.url)
        request.url = "http://fault-injected.invalid/"  # moto passes it through: never applied
        return _response(request.url, 400, self.code)


def _count(client: Any, kind: str) -> int:
    return call(client, "POST", f"/{kind}/count", {})[1]


def test_a_transaction_failing_without_an_answer_is_a_503_with_retry_after(client):
    _, flow = call(client, "POST", "/flows/", {"name": "f"})
    body = {"name": "d", "flow_id": flow["id"], "schedules": [{"schedule": {"interval": 3600}}]}
    with hooked("before-send.dynamodb", Fail("TransactWriteItems")) as fault:
        headers = {"Content-Type": "application/json"}
        response = client.http.post("/deployments/", body=json.dumps(body), headers=headers)
    assert fault.calls >= 1
    assert response.status_code == 503, response.body
    assert response.headers["Retry-After"] == "1"
    assert "Retry later" in json.loads(response.body)["detail"]
    assert _count(client, "deployments") == 0


def test_throttling_after_the_clients_retries_is_a_503(client):
    with hooked("before-send.dynamodb", Fail("PutItem", "ThrottlingException")):
        status, reply = call(client, "POST", "/flows/", {"name": "throttled"})
    assert status == 503 and reply["code"] == "ThrottlingException"
    assert _count(client, "flows") == 0


def test_an_item_dynamodb_refuses_is_a_422(client):
    with hooked("before-send.dynamodb", Fail("PutItem", "ValidationException")):
        status, reply = call(client, "POST", "/flows/", {"name": "too-big"})
    assert status == 422, reply
    assert reply["exception_detail"][0]["type"] == "storage_limit"
    assert _count(client, "flows") == 0


def test_reads_failing_are_503_too(client):
    _, flow = call(client, "POST", "/flows/", {"name": "f"})
    with hooked("before-send.dynamodb", Fail("GetItem")):
        status, _ = call(client, "GET", f"/flows/{flow['id']}")
    assert status == 503


def test_a_scheduler_commit_without_an_answer_settles_as_failed_not_attribute_error(client):
    """``plan_commits._settle`` read ``cause_response_code``, which raises on a timeout's cause."""
    _, flow = call(client, "POST", "/flows/", {"name": "f"})
    body = {"name": "d", "flow_id": flow["id"], "paused": True, "schedules": [{"schedule": {"interval": 3600}}]}
    _, deployment = call(client, "POST", "/deployments/", body)
    with hooked("before-send.dynamodb", Fail("TransactWriteItems")):
        status, _ = call(client, "POST", f"/deployments/{deployment['id']}/resume_deployment")
    assert status in (200, 503)


def test_response_code_never_raises():
    timeout = ReadTimeoutError(endpoint_url="http://x")
    assert response_code(timeout) is None
    throttled = ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "PutItem")
    assert response_code(throttled) == "ThrottlingException"
    error = translated(timeout, "PutItem")
    assert isinstance(error, StorageUnavailableError) and error.__cause__ is timeout
