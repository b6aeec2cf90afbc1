"""Every case of issue 16 ("Bad input and load over real HTTP") as a named regression test, through
the Chalice test client: a clear 4xx naming the field (or the documented normalisation), and a
refused write leaves nothing behind. The same cases run over real HTTP in tests/e2e/test_http_fuzz.py.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from chalicelib.schemas.common import MAX_BODY_BYTES, MAX_IDS_PER_REQUEST, MAX_STATE_MESSAGE_CHARS
from tests.helpers import call

pytestmark = pytest.mark.both_backends  # races and storage semantics: on DynamoDB Local too

MB = 1_000_000


@pytest.fixture
def world(client: Any) -> dict[str, str]:
    _, flow = call(client, "POST", "/flows/", {"name": "bad-input"})
    body = {"name": "d", "flow_id": flow["id"], "schedules": [{"schedule": {"interval": 3600}, "slug": "s"}]}
    _, deployment = call(client, "POST", "/deployments/", body)
    _, run = call(client, "POST", "/flow_runs/", {"flow_id": flow["id"]})
    return {"flow": flow["id"], "deployment": deployment["id"], "run": run["id"],
            "schedule": deployment["schedules"][0]["id"]}  # fmt: skip


def _counts(client: Any) -> tuple[int, int, int]:
    return tuple(call(client, "POST", f"/{kind}/count", {})[1] for kind in ("flows", "deployments", "flow_runs"))


def _loc(reply: dict[str, Any]) -> list[Any]:
    return reply["exception_detail"][0]["loc"]


def _refused(client: Any, world: dict[str, str], method: str, path: str, body: Any, *, loc: list[Any] | None = None,
             status: int = 422, **headers: str) -> dict[str, Any]:  # fmt: skip
    """Send; assert the status (and the named field); assert nothing was stored or changed."""
    before = _counts(client)
    got, reply = call(client, method, path.format(**world), body, **headers)
    assert got == status, (got, str(reply)[:500])
    if loc is not None:
        assert _loc(reply)[: len(loc)] == loc, reply["exception_detail"]
    assert _counts(client) == before
    return reply


def _flow_body(**fields: Any) -> dict[str, Any]:
    return {"name": "f", **fields}


def _deployment_body(world: dict[str, str], **fields: Any) -> dict[str, Any]:
    return {"name": "n", "flow_id": world["flow"], **fields}


def _schedule(world: dict[str, str], **fields: Any) -> dict[str, Any]:
    return _deployment_body(world, schedules=[{"schedule": {"interval": 60}, **fields}])


# ------------------------------------------------------------------ bodies that answered 500
@pytest.mark.parametrize(
    "method, path, make, loc",
    [
        ("POST", "/flows/", lambda w: _flow_body(name="x" * MB), ["body", "name"]),
        ("POST", "/flows/", lambda w: _flow_body(tags=["t" * 500] * 2000), ["body", "tags"]),
        ("POST", "/flows/", lambda w: _flow_body(labels={f"k{i}": "v" * 500 for i in range(1900)}), ["body", "labels"]),
        ("POST", "/flow_runs/", lambda w: {"flow_id": w["flow"], "parameters": {"p": "x" * MB}},
         ["body", "parameters"]),
        ("PATCH", "/flow_runs/{run}", lambda w: {"parameters": {"p": "x" * MB}}, ["body", "parameters"]),
        ("POST", "/deployments/", lambda w: _deployment_body(w, description="x" * MB), ["body", "description"]),
        ("PATCH", "/deployments/{deployment}", lambda w: {"description": "x" * MB}, ["body", "description"]),
        ("POST", "/deployments/{deployment}/create_flow_run", lambda w: {"parameters": {"p": "x" * MB}},
         ["body", "parameters"]),
    ],
    ids=["flow-name-1MB", "flow-tags-1MB", "flow-labels-1MB", "run-parameters-1MB", "run-patch-parameters-1MB",
         "deployment-description-1MB", "deployment-patch-description-1MB", "create-flow-run-parameters-1MB"],
)  # fmt: skip
def test_an_item_beyond_400_KB_is_refused_by_field(client, world, method, path, make, loc):
    _refused(client, world, method, path, make(world), loc=loc)


@pytest.mark.parametrize(
    "method, path, make, loc",
    [
        ("POST", "/deployments/", lambda w: _deployment_body(w, name="n" * 10_000), ["body", "name"]),
        ("POST", "/flow_runs/", lambda w: {"flow_id": w["flow"], "work_queue_name": "q" * 10_000},
         ["body", "work_queue_name"]),
        ("POST", "/deployments/", lambda w: _schedule(w, slug="s" * 10_000), ["body", "schedules", 0, "slug"]),
        ("POST", "/deployments/", lambda w: _schedule(w, slug="s" * 100_000), ["body", "schedules", 0, "slug"]),
        ("POST", "/flow_runs/", lambda w: {"flow_id": w["flow"], "work_queue_name": ""}, ["body", "work_queue_name"]),
    ],
    ids=["deployment-name-10k", "run-work-queue-name-10k", "slug-10k", "slug-100k", "run-work-queue-name-empty"],
)  # fmt: skip
def test_key_attributes_beyond_dynamodb_key_limits_or_empty_are_refused(client, world, method, path, make, loc):
    _refused(client, world, method, path, make(world), loc=loc)


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("POST", "/flows/", json.dumps(_flow_body(labels=_nested(500)))),
        ("POST", "/flow_runs/", '{"flow_id": "%s", "parameters": ' + "[" * 500 + "]" * 500 + "}"),
        ("POST", "/flows/filter", "[" * 2_000 + "]" * 2_000),
        ("POST", "/flows/filter", '{"a":' * 100_000 + "1" + "}" * 100_000),
    ],
    ids=["labels-depth-500", "parameters-depth-500", "raw-depth-2000", "raw-depth-100000"],
)
def test_deeply_nested_json_is_refused(client, world, method, path, body):
    _refused(client, world, method, path, body.replace("%s", world["flow"]), loc=["body"])


SURROGATE = '"\\ud800"'


@pytest.mark.parametrize(
    "method, path, template, loc",
    [
        ("POST", "/flow_runs/", '{"flow_id": "{flow}", "name": %s}', ["body", "name"]),
        ("POST", "/flow_runs/", '{"flow_id": "{flow}", "idempotency_key": %s}', ["body", "idempotency_key"]),
        ("POST", "/flow_runs/", '{"flow_id": "{flow}", "work_queue_name": %s}', ["body", "work_queue_name"]),
        ("POST", "/deployments/", '{"name": "n", "flow_id": "{flow}", "work_queue_name": %s}',
         ["body", "work_queue_name"]),
        ("POST", "/deployments/", '{"name": "n", "flow_id": "{flow}", "schedules": [{"schedule": {"interval": 60}, '
         '"slug": %s}]}', ["body", "schedules", 0, "slug"]),
        ("POST", "/deployments/{deployment}/create_flow_run", '{"idempotency_key": %s}', ["body", "idempotency_key"]),
    ],
    ids=["run-name", "run-idempotency-key", "run-work-queue-name", "deployment-work-queue-name", "schedule-slug",
         "create-flow-run-idempotency-key"],
)  # fmt: skip
def test_a_lone_surrogate_is_refused_by_field(client, world, method, path, template, loc):
    body = template.replace("{flow}", world["flow"]) % SURROGATE
    _refused(client, world, method, path, body, loc=loc)


def test_a_limit_of_10_to_the_20_on_get_scheduled_flow_runs_is_refused(client, world):
    body = {"deployment_ids": [world["deployment"]], "limit": 10**20}
    _refused(client, world, "POST", "/deployments/get_scheduled_flow_runs", body, loc=["body", "limit"])


# ------------------------------------------------------------- accepted and should not be
@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_json_numbers_in_parameters_are_refused(client, world, literal):
    body = '{"flow_id": "FLOW", "parameters": {"x": VALUE}}'.replace("FLOW", world["flow"]).replace("VALUE", literal)
    _refused(client, world, "POST", "/flow_runs/", body, loc=["body"])


def test_an_integer_beyond_64_bits_is_refused_by_field(client, world):
    body = {"flow_id": world["flow"], "empirical_policy": {"max_retries": 2**64}}
    _refused(client, world, "POST", "/flow_runs/", body, loc=["body", "empirical_policy", "max_retries"])


@pytest.mark.parametrize(
    "path, body, loc",
    [
        ("/flows/filter", {"limit": True}, ["body", "limit"]),
        ("/flows/filter", '{"offset": 1' + "0" * 400 + "}", ["body", "offset"]),
        ("/flows/paginate", '{"page": 1' + "0" * 400 + "}", ["body", "page"]),
        ("/flows/paginate", {"page": 2**63}, ["body", "page"]),
        ("/flow_runs/{run}/set_state", {"state": {"type": "RUNNING"}, "force": "yes"}, ["body", "force"]),
    ],
    ids=["limit-true", "offset-10e400", "page-10e400", "page-2e63", "force-yes"],
)
def test_booleans_and_integers_are_strict_and_bounded(client, world, path, body, loc):
    _refused(client, world, "POST", path, body, loc=loc)


def test_an_empty_timezone_is_refused(client, world):
    body = _deployment_body(world, schedules=[{"schedule": {"interval": 60, "timezone": ""}}])
    _refused(client, world, "POST", "/deployments/", body, loc=["body", "schedules", 0, "schedule"])


def test_a_1MB_state_message_is_cut_to_the_limit(client, world):
    body = {"state": {"type": "RUNNING", "message": "m" * MB}}
    status, reply = call(client, "POST", f"/flow_runs/{world['run']}/set_state", body)
    assert status in (200, 201)
    _, run = call(client, "GET", f"/flow_runs/{world['run']}")
    assert len(run["state"]["message"]) == MAX_STATE_MESSAGE_CHARS


@pytest.mark.parametrize(
    "schedule",
    [
        {"interval": 60, "anchor_date": "0001-01-01T00:00:00Z"},
        {"interval": 60, "anchor_date": "9999-01-01T00:00:00Z"},
        {"rrule": "DTSTART:00010101T000000\nRRULE:FREQ=DAILY"},
        {"rrule": "DTSTART:99990101T000000\nRRULE:FREQ=DAILY"},
    ],
    ids=["anchor-year-1", "anchor-year-9999", "rrule-year-1", "rrule-year-9999"],
)
def test_schedule_start_dates_outside_years_1000_to_9000_are_refused(client, world, schedule):
    body = _deployment_body(world, schedules=[{"schedule": schedule}])
    _refused(client, world, "POST", "/deployments/", body, loc=["body", "schedules", 0, "schedule"])


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_a_body_not_sent_as_json_is_refused(client, world, content_type):
    headers = {} if content_type is None else {"Content-Type": content_type}
    before = _counts(client)
    response = client.http.post("/flows/", body=json.dumps({"name": "typed"}), headers=headers)
    assert response.status_code == 422, response.body
    assert json.loads(response.body)["exception_detail"][0]["type"] == "content_type"
    assert _counts(client) == before


def test_a_body_above_the_size_limit_is_413(client, world):
    body = json.dumps({"name": "x" * (MAX_BODY_BYTES + 1)})
    reply = _refused(client, world, "POST", "/flows/", body, status=413)
    assert str(MAX_BODY_BYTES) in reply["detail"]


# ------------------------------------------------------------ Prefect's request schemas
@pytest.mark.parametrize("char", list("/%&<>"))
@pytest.mark.parametrize("where", ["flow", "deployment", "deployment-work-queue", "run-work-queue"])
def test_names_with_prefect_banned_characters_are_refused(client, world, where, char):
    name = f"a{char}b"
    method, path, body, loc = {
        "flow": ("POST", "/flows/", _flow_body(name=name), ["body", "name"]),
        "deployment": ("POST", "/deployments/", _deployment_body(world, name=name), ["body", "name"]),
        "deployment-work-queue": ("POST", "/deployments/", _deployment_body(world, work_queue_name=name),
                                  ["body", "work_queue_name"]),
        "run-work-queue": ("POST", "/flow_runs/", {"flow_id": world["flow"], "work_queue_name": name},
                           ["body", "work_queue_name"]),
    }[where]  # fmt: skip
    _refused(client, world, method, path, body, loc=loc)


@pytest.mark.parametrize("value", [{"a": 1}, [1], None], ids=["object", "list", "null"])
def test_label_values_other_than_scalars_are_refused(client, world, value):
    _refused(client, world, "POST", "/flows/", _flow_body(labels={"k": value}), loc=["body", "labels", "k"])


def test_labels_null_means_empty(client, world):
    status, flow = call(client, "POST", "/flows/", _flow_body(name="null-labels", labels=None))
    assert status == 201 and flow["labels"] == {}


def test_duplicate_pause_keys_collapse_as_in_a_set(client, world):
    body = {"flow_id": world["flow"], "empirical_policy": {"pause_keys": ["a", "b", "a"]}}
    status, run = call(client, "POST", "/flow_runs/", body)
    assert status == 201 and run["empirical_policy"]["pause_keys"] == ["a", "b"]


def test_a_non_integer_retry_delay_is_refused(client, world):
    body = {"flow_id": world["flow"], "empirical_policy": {"retry_delay": 1.5}}
    _refused(client, world, "POST", "/flow_runs/", body, loc=["body", "empirical_policy", "retry_delay"])


def test_a_deployment_concurrency_lease_id_must_be_a_uuid(client, world):
    body = {"state": {"type": "PENDING", "state_details": {"deployment_concurrency_lease_id": "lease"}}}
    _refused(client, world, "POST", "/flow_runs/{run}/set_state", body,
             loc=["body", "state", "state_details", "deployment_concurrency_lease_id"])  # fmt: skip


# ------------------------------------------------------------------------- bounded work
def test_a_schedule_that_never_fires_is_refused_fast(client, world):
    body = _deployment_body(world, schedules=[{"schedule": {"rrule": "RRULE:FREQ=DAILY\nEXRULE:FREQ=DAILY"}}])
    started = time.monotonic()
    _refused(client, world, "POST", "/deployments/", body, loc=["body", "schedules", 0, "schedule"])
    assert time.monotonic() - started < 5


def test_too_many_deployment_ids_are_refused(client, world):
    ids = [world["deployment"]] * (MAX_IDS_PER_REQUEST + 1)
    _refused(client, world, "POST", "/deployments/get_scheduled_flow_runs", {"deployment_ids": ids},
             loc=["body", "deployment_ids"])  # fmt: skip
