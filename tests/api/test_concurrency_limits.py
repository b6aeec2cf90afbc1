import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.services.concurrency_limits import reclaim_expired_leases
from tests.helpers import call, concurrently

pytestmark = pytest.mark.both_backends  # races and storage semantics: on DynamoDB Local too

BASE = "/v2/concurrency_limits"


def _limit(client, name="db", limit=2, **extra):
    status, body = call(client, "POST", f"{BASE}/", {"name": name, "limit": limit, **extra})
    assert status == 201, body
    return body


def _take(client, *names, slots=1, **extra):
    return call(client, "POST", f"{BASE}/increment-with-lease", {"names": list(names), "slots": slots, **extra})


def test_crud_by_id_and_by_name(client):
    made = _limit(client, "tag:etl", 3)
    assert made["active_slots"] == 0 and made["active"] is True and made["name"] == "tag:etl"
    assert call(client, "GET", f"{BASE}/{made['id']}") == (200, made)
    assert call(client, "GET", f"{BASE}/tag:etl") == (200, made)
    assert call(client, "GET", f"{BASE}/nope") == (404, {"detail": "Concurrency Limit not found"})
    assert call(client, "GET", f"{BASE}/{uuid.uuid4()}")[0] == 404
    assert call(client, "POST", f"{BASE}/", {"name": "tag:etl", "limit": 1})[0] == 409
    assert call(client, "PATCH", f"{BASE}/tag:etl", {"limit": 5, "active": False}) == (204, None)
    read = call(client, "GET", f"{BASE}/{made['id']}")[1]
    assert read["limit"] == 5 and read["active"] is False
    _limit(client, "a", 1)
    assert [x["name"] for x in call(client, "POST", f"{BASE}/filter", {})[1]] == ["a", "tag:etl"]
    assert [x["name"] for x in call(client, "POST", f"{BASE}/filter", {"offset": 1, "limit": None})[1]] == ["tag:etl"]
    assert call(client, "DELETE", f"{BASE}/tag:etl") == (204, None)
    assert call(client, "DELETE", f"{BASE}/{made['id']}")[0] == 404
    assert call(client, "POST", f"{BASE}/", {"name": "x", "limit": -1})[0] == 422
    assert call(client, "POST", f"{BASE}/", {"name": "x", "limit": 1, "slot_decay_per_second": 1e-9})[0] == 422
    assert call(client, "POST", f"{BASE}/", {"name": "x", "limit": 1, "slot_decay_per_second": -1})[0] == 422


def test_slots_are_taken_refused_when_full_and_given_back(client):
    made = _limit(client, "db", 2)
    status, first = _take(client, "db")
    assert status == 200 and first["limits"] == [{"id": made["id"], "name": "db", "limit": 2}]
    assert _take(client, "db")[0] == 200
    status, body = _take(client, "db")
    assert status == 423
    assert call(client, "GET", f"{BASE}/db")[1]["active_slots"] == 2
    assert call(client, "POST", f"{BASE}/decrement-with-lease", {"lease_id": first["lease_id"]}) == (204, None)
    assert call(client, "POST", f"{BASE}/decrement-with-lease", {"lease_id": first["lease_id"]}) == (204, None)
    assert call(client, "GET", f"{BASE}/db")[1]["active_slots"] == 1
    assert _take(client, "db")[0] == 200
    assert _take(client, "db", slots=3)[0] == 422


def test_names_without_limits_take_nothing_as_prefect_answers(client):
    status, body = _take(client, "tag:nothing", "tag:else")
    assert status == 200 and body["limits"] == [] and uuid.UUID(body["lease_id"])
    assert call(client, "POST", f"{BASE}/decrement-with-lease", {"lease_id": body["lease_id"]}) == (204, None)
    _limit(client, "off", 1, active=False)
    status, body = _take(client, "off", slots=1)
    assert status == 200 and [x["name"] for x in body["limits"]] == ["off"]
    assert call(client, "GET", f"{BASE}/off")[1]["active_slots"] == 0


def test_several_limits_are_all_or_nothing(client):
    _limit(client, "a", 2)
    _limit(client, "b", 1)
    assert _take(client, "b")[0] == 200
    assert _take(client, "a", "b")[0] == 423
    assert call(client, "GET", f"{BASE}/a")[1]["active_slots"] == 0


def test_leases_renew_and_expired_leases_free_their_slots(client, repos):
    _limit(client, "db", 1)
    _, lease = _take(client, "db", lease_duration=60)
    path = f"{BASE}/leases/{lease['lease_id']}/renew"
    assert call(client, "POST", path, {"lease_duration": 120}) == (204, None)
    assert call(client, "POST", path, {"lease_duration": 5})[0] == 422
    assert call(client, "POST", f"{BASE}/leases/{uuid.uuid4()}/renew", {})[0] == 410
    later = datetime.now(UTC) + timedelta(seconds=121)
    assert reclaim_expired_leases(repos, later) == 1  # the crashed holder's slot comes back
    assert call(client, "GET", f"{BASE}/db")[1]["active_slots"] == 0
    assert call(client, "POST", path, {})[0] == 410


def test_a_full_limit_reclaims_expired_leases_on_the_next_increment(client, repos):
    _limit(client, "db", 1)
    _, lease = _take(client, "db", lease_duration=60)
    from chalicelib.storage.resource_models import ConcurrencyLeaseModel

    item = ConcurrencyLeaseModel.get(lease["lease_id"])
    item.update(actions=[ConcurrencyLeaseModel.expires.set(datetime.now(UTC) - timedelta(seconds=1))])
    status, again = _take(client, "db")
    assert status == 200 and again["lease_id"] != lease["lease_id"]
    assert call(client, "GET", f"{BASE}/db")[1]["active_slots"] == 1


def test_racing_increments_never_exceed_the_limit(client):
    _limit(client, "race", 3)
    results: list[int] = []

    def take() -> None:
        results.append(_take(client, "race")[0])

    concurrently(take, 8)
    assert sorted(results) == [200] * 3 + [423] * 5
    assert call(client, "GET", f"{BASE}/race")[1]["active_slots"] == 3


def test_v1_tag_limits_are_the_v2_tag_limits(client):
    """The UI's Concurrency → Task Run tab calls the v1 ``/concurrency_limits/filter`` (a 404 before):
    it lists the v2 limits named ``tag:<tag>`` in v1's shape."""
    assert call(client, "POST", "/v2/concurrency_limits/", {"name": "tag:db", "limit": 2})[0] == 201
    assert call(client, "POST", "/v2/concurrency_limits/", {"name": "global", "limit": 5})[0] == 201
    status, listed = call(client, "POST", "/concurrency_limits/filter", {})
    assert status == 200
    assert [(x["tag"], x["concurrency_limit"], x["active_slots"]) for x in listed] == [("db", 2, [])]


def test_v1_tag_limits_over_v2(client):
    """The v1 routes (``prefect concurrency-limit ...``, the UI's Task Run tab) keep a tag's limit as
    the v2 limit ``tag:<tag>``, as Prefect 3 does."""
    status, created = call(client, "POST", "/concurrency_limits/", {"tag": "db", "concurrency_limit": 2})
    assert status == 201 and created["tag"] == "db" and created["concurrency_limit"] == 2, created
    status, again = call(client, "POST", "/concurrency_limits/", {"tag": "db", "concurrency_limit": 3})
    assert status == 200 and again["id"] == created["id"] and again["concurrency_limit"] == 3
    assert call(client, "GET", "/v2/concurrency_limits/tag:db")[1]["limit"] == 3
    assert call(client, "GET", f"/concurrency_limits/{created['id']}")[1]["tag"] == "db"
    assert call(client, "GET", "/concurrency_limits/tag/db")[1]["id"] == created["id"]
    assert [limit["tag"] for limit in call(client, "POST", "/concurrency_limits/filter", {})[1]] == ["db"]
    call(client, "PATCH", "/v2/concurrency_limits/tag:db", {"active_slots": 2})
    assert call(client, "POST", "/concurrency_limits/tag/db/reset", {})[0] == 200
    assert call(client, "GET", "/v2/concurrency_limits/tag:db")[1]["active_slots"] == 0
    # A v2 limit that is not a tag's is not a v1 limit.
    _, plain = call(client, "POST", "/v2/concurrency_limits/", {"name": "plain", "limit": 1})
    assert call(client, "GET", f"/concurrency_limits/{plain['id']}")[0] == 404
    assert call(client, "GET", "/concurrency_limits/tag/nope")[0] == 404
    assert call(client, "POST", "/concurrency_limits/", {"tag": "db", "concurrency_limit": -1})[0] == 422
    assert call(client, "DELETE", "/concurrency_limits/tag/db")[0] == 200
    assert call(client, "GET", f"/concurrency_limits/{created['id']}")[0] == 404
    assert call(client, "GET", "/v2/concurrency_limits/plain")[0] == 200


def test_v1_increment_and_decrement_hold_a_tag_slot_per_task_run(client):
    """``prefect.concurrency.v1`` (``/concurrency_limits/increment|decrement``): one slot of each tag's
    limit per task run; the UI's Task Run tab names the task runs holding them."""
    call(client, "POST", "/concurrency_limits/", {"tag": "db", "concurrency_limit": 2})
    call(client, "POST", "/concurrency_limits/", {"tag": "off", "concurrency_limit": 0})
    first, second, third = (str(uuid.uuid4()) for _ in range(3))
    status, taken = call(
        client, "POST", "/concurrency_limits/increment", {"names": ["db", "free"], "task_run_id": first}
    )
    assert status == 200 and [(x["name"], x["limit"]) for x in taken] == [("db", 2)]
    again = call(client, "POST", "/concurrency_limits/increment", {"names": ["free", "db"], "task_run_id": first})
    assert again[0] == 200  # the same task run and tags: idempotent, nothing more is taken
    assert call(client, "GET", "/v2/concurrency_limits/tag:db")[1]["active_slots"] == 1
    assert call(client, "POST", "/concurrency_limits/increment", {"names": ["db"], "task_run_id": second})[0] == 200
    response = client.http.post(
        "/concurrency_limits/increment",
        body=json.dumps({"names": ["db"], "task_run_id": third}),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 423 and float(response.headers["Retry-After"]) >= 1
    listed = call(client, "POST", "/concurrency_limits/filter", {})[1]
    assert {x["tag"]: sorted(x["active_slots"]) for x in listed} == {"db": sorted([first, second]), "off": []}
    assert sorted(call(client, "GET", "/concurrency_limits/tag/db")[1]["active_slots"]) == sorted([first, second])
    body = {"names": ["db", "free"], "task_run_id": first, "occupancy_seconds": 1.0}
    status, released = call(client, "POST", "/concurrency_limits/decrement", body)
    assert status == 200 and [x["name"] for x in released] == ["tag:db"]
    assert call(client, "POST", "/concurrency_limits/decrement", body)[0] == 200  # released already: nothing
    assert call(client, "GET", "/concurrency_limits/tag/db")[1]["active_slots"] == [second]
    assert call(client, "GET", "/v2/concurrency_limits/tag:db")[1]["active_slots"] == 1
    zero = client.http.post(
        "/concurrency_limits/increment",
        body=json.dumps({"names": ["off"], "task_run_id": third}),
        headers={"Content-Type": "application/json"},
    )
    assert zero.status_code == 423 and "Retry-After" not in zero.headers
    assert "will deadlock" in json.loads(zero.body)["detail"]
    assert call(client, "POST", "/concurrency_limits/increment", {"names": ["db"]})[0] == 422
    assert call(client, "POST", "/concurrency_limits/increment", {"names": ["db"], "task_run_id": "x"})[0] == 422


def test_task_engine_leases_name_their_task_runs_in_v1(client):
    """Prefect 3.9's task engine takes ``tag:`` slots with ``increment-with-lease`` and a task-run
    holder: the Task Run tab lists that task run until the lease is given back."""
    call(client, "POST", "/concurrency_limits/", {"tag": "etl", "concurrency_limit": 1})
    task_run = str(uuid.uuid4())
    holder = {"type": "task_run", "id": task_run}
    _, lease = _take(client, "tag:etl", holder=holder, lease_duration=60)
    assert call(client, "GET", "/concurrency_limits/tag/etl")[1]["active_slots"] == [task_run]
    assert call(client, "POST", "/concurrency_limits/tag/etl/reset", {"slot_override": [task_run]})[0] == 200
    assert call(client, "GET", "/concurrency_limits/tag/etl")[1]["active_slots"] == [task_run]
    call(client, "POST", f"{BASE}/decrement-with-lease", {"lease_id": lease["lease_id"]})
    assert call(client, "GET", "/concurrency_limits/tag/etl")[1]["active_slots"] == []
    assert call(client, "GET", f"{BASE}/tag:etl")[1]["active_slots"] == 0


def test_racing_v1_increments_never_exceed_the_limit(client):
    call(client, "POST", "/concurrency_limits/", {"tag": "race", "concurrency_limit": 2})
    results: list[int] = []

    def take() -> None:
        body = {"names": ["race"], "task_run_id": str(uuid.uuid4())}
        results.append(call(client, "POST", "/concurrency_limits/increment", body)[0])

    concurrently(take, 6)
    assert sorted(results) == [200] * 2 + [423] * 4
    assert len(call(client, "GET", "/concurrency_limits/tag/race")[1]["active_slots"]) == 2
