"""v2 slots without a lease (``/v2/concurrency_limits/increment`` and ``/decrement``) and slot decay
(``slot_decay_per_second``, what Prefect's ``rate_limit()`` relies on). The clock is injected where
decay is measured: the service functions take ``now``."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib import schemas, services
from chalicelib.errors import InvalidRequestError, SlotsUnavailableError
from tests.helpers import call, concurrently

pytestmark = pytest.mark.both_backends  # races and storage semantics: on DynamoDB Local too

BASE = "/v2/concurrency_limits"
T0 = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def _create(repos, name, limit, decay=0.0, **extra):
    body = schemas.concurrency_limits.ConcurrencyLimitCreate(
        name=name, limit=limit, slot_decay_per_second=decay, **extra
    )
    return services.concurrency_limits.create(repos, body, T0)


def _take(repos, name, at, slots=1, mode="rate_limit"):
    body = schemas.concurrency_limits.Increment(names=[name], slots=slots, mode=mode)
    return services.concurrency_limits.increment(repos, body, at)


def _held(repos, name, at):
    return services.concurrency_limits.read(repos, name, at).active_slots


def test_rate_limit_takes_the_limit_then_one_slot_per_decay_interval(repos):
    _create(repos, "api", 3, decay=2.0)  # 3 at once, then one every 0.5 s
    for _ in range(3):
        assert [x["name"] for x in _take(repos, "api", T0)] == ["api"]
    assert _held(repos, "api", T0) == 3
    with pytest.raises(SlotsUnavailableError) as refused:
        _take(repos, "api", T0)
    assert refused.value.retry_after_s == pytest.approx(0.5)
    with pytest.raises(SlotsUnavailableError) as refused:
        _take(repos, "api", T0 + timedelta(seconds=0.2))
    assert refused.value.retry_after_s == pytest.approx(0.3)
    assert _held(repos, "api", T0 + timedelta(seconds=0.5)) == 2
    _take(repos, "api", T0 + timedelta(seconds=0.5))
    with pytest.raises(SlotsUnavailableError):
        _take(repos, "api", T0 + timedelta(seconds=0.9))
    assert _held(repos, "api", T0 + timedelta(seconds=10)) == 0  # all decayed: the bucket is empty again
    for _ in range(3):
        _take(repos, "api", T0 + timedelta(seconds=10))
    with pytest.raises(SlotsUnavailableError):
        _take(repos, "api", T0 + timedelta(seconds=10))


def test_decrement_gives_back_never_below_zero_with_and_without_decay(repos):
    _create(repos, "db", 2)
    _create(repos, "api", 4, decay=1.0)
    _take(repos, "db", T0, slots=2, mode="concurrency")
    _take(repos, "api", T0, slots=3)
    back = schemas.concurrency_limits.Decrement(names=["db", "api", "none"], slots=2)
    found = services.concurrency_limits.decrement(repos, back, T0)
    assert sorted(x["name"] for x in found) == ["api", "db"]
    assert _held(repos, "db", T0) == 0 and _held(repos, "api", T0) == 1
    services.concurrency_limits.decrement(repos, back, T0)
    assert _held(repos, "db", T0) == 0 and _held(repos, "api", T0) == 0


def test_rate_limit_mode_needs_decay_and_slots_within_the_limit(repos):
    _create(repos, "db", 2)
    _create(repos, "api", 2, decay=1.0)
    with pytest.raises(InvalidRequestError, match="do not have a decay configured: 'db'"):
        _take(repos, "db", T0)
    with pytest.raises(InvalidRequestError, match="greater than the limit"):
        _take(repos, "api", T0, slots=3)
    assert _take(repos, "nothing", T0) == []  # no such limit: nothing to take, as Prefect answers


def test_patching_decay_restates_the_held_slots(repos):
    _create(repos, "api", 10, decay=1.0)
    _take(repos, "api", T0, slots=4)
    services.concurrency_limits.update(
        repos, "api", schemas.concurrency_limits.ConcurrencyLimitUpdate(slot_decay_per_second=2.0), T0
    )
    assert _held(repos, "api", T0) == 4 and _held(repos, "api", T0 + timedelta(seconds=1)) == 2
    services.concurrency_limits.update(
        repos, "api", schemas.concurrency_limits.ConcurrencyLimitUpdate(slot_decay_per_second=0), T0
    )
    assert _held(repos, "api", T0 + timedelta(hours=1)) == 4  # no decay any more: the count stays
    services.concurrency_limits.update(
        repos, "api", schemas.concurrency_limits.ConcurrencyLimitUpdate(active_slots=1, slot_decay_per_second=1.0), T0
    )
    assert _held(repos, "api", T0) == 1 and _held(repos, "api", T0 + timedelta(seconds=1)) == 0


@pytest.mark.parametrize("decay", [0.0, 0.001])
def test_racing_callers_never_hold_more_than_the_limit(repos, decay):
    """Eight callers at one instant (the clock held still, so nothing decays during the race):
    exactly ``limit`` win, on moto and on DynamoDB Local."""
    _create(repos, "race", 3, decay=decay)
    outcomes: list[str] = []

    def take() -> None:
        try:
            _take(repos, "race", T0, mode="rate_limit" if decay else "concurrency")
            outcomes.append("taken")
        except SlotsUnavailableError:
            outcomes.append("refused")

    concurrently(take, 8)
    assert sorted(outcomes) == ["refused"] * 5 + ["taken"] * 3
    assert _held(repos, "race", T0) == 3


def test_racing_increments_and_decrements_keep_the_count(repos):
    _create(repos, "churn", 4, decay=0.5)
    errors: list[BaseException] = []
    taken: list[int] = []

    def churn() -> None:
        try:
            for _ in range(3):
                try:
                    _take(repos, "churn", T0, mode="concurrency")
                    taken.append(1)
                except SlotsUnavailableError:
                    continue
                back = schemas.concurrency_limits.Decrement(names=["churn"], slots=1)
                services.concurrency_limits.decrement(repos, back, T0)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    concurrently(churn, 6)
    assert not errors and taken
    assert _held(repos, "churn", T0) == 0  # every slot taken was given back, none twice


def test_routes_answer_as_prefect(client):
    assert call(client, "POST", f"{BASE}/", {"name": "api", "limit": 2, "slot_decay_per_second": 0.01})[0] == 201
    body = {"names": ["api"], "slots": 1, "mode": "rate_limit"}
    status, limits = call(client, "POST", f"{BASE}/increment", body)
    assert status == 200 and [x["name"] for x in limits] == ["api"] and set(limits[0]) == {"id", "name", "limit"}
    assert call(client, "POST", f"{BASE}/increment", body)[0] == 200
    response = client.http.post(
        f"{BASE}/increment", body=json.dumps(body), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 423 and 90 < float(response.headers["Retry-After"]) <= 100
    read = call(client, "GET", f"{BASE}/api")[1]
    assert read["active_slots"] == 2 and read["slot_decay_per_second"] == 0.01
    assert "drained_at" not in read and "holders" not in read
    status, back = call(client, "POST", f"{BASE}/decrement", {"names": ["api"], "slots": 1, "occupancy_seconds": 1.5})
    assert status == 200 and [x["name"] for x in back] == ["api"]
    assert call(client, "GET", f"{BASE}/api")[1]["active_slots"] == 1
    assert call(client, "POST", f"{BASE}/increment", {"names": [], "slots": 1})[0] == 422
    assert call(client, "POST", f"{BASE}/increment", {"names": ["api"], "slots": 0})[0] == 422
    assert call(client, "POST", f"{BASE}/decrement", {"names": ["api"], "slots": 1, "extra": 1})[0] == 422
    assert call(client, "POST", f"{BASE}/decrement", {"names": ["nothing"], "slots": 1}) == (200, [])
