"""Workers and their poll: heartbeats, statuses, ``get_scheduled_flow_runs``, deployments in pools."""

import threading
from datetime import timedelta

import pytest

from chalicelib.config import override_settings
from chalicelib.domain import identity
from chalicelib.domain.worker_health import Thresholds, pool_status, queue_status, worker_status
from chalicelib.storage.instrumentation import count_requests
from tests.api.deployments_support import deploy, make_flow, utcnow
from tests.helpers import call


def _pool(client, name="p", **fields):
    status, body = call(client, "POST", "/work_pools/", {"name": name, "type": "process", **fields})
    assert status == 201, body
    return body


def _run(client, deployment_id, at=None, **fields):
    body = dict(fields)
    if at is not None:
        body["state"] = {"type": "SCHEDULED", "state_details": {"scheduled_time": at.isoformat()}}
    status, run = call(client, "POST", f"/deployments/{deployment_id}/create_flow_run", body)
    assert status == 201, run
    return run


def _poll(client, pool="p", **body):
    status, got = call(client, "POST", f"/work_pools/{pool}/get_scheduled_flow_runs", body)
    assert status == 200, got
    return got


def test_heartbeat_makes_the_worker_online_and_the_pool_ready(client):
    _pool(client)
    beat = {"name": "w1", "heartbeat_interval_seconds": 30, "return_id": True}
    assert call(client, "POST", "/work_pools/p/workers/heartbeat", beat) == (204, None)
    assert call(client, "POST", "/work_pools/p/workers/heartbeat", {"name": "w1"}) == (204, None)
    status, workers = call(client, "POST", "/work_pools/p/workers/filter", {})
    assert status == 200 and [(w["name"], w["status"]) for w in workers] == [("w1", "ONLINE")]
    assert workers[0]["work_pool_id"] == call(client, "GET", "/work_pools/p")[1]["id"]
    assert workers[0]["heartbeat_interval_seconds"] is None
    assert call(client, "GET", "/work_pools/p")[1]["status"] == "READY"
    offline = {"workers": {"status": {"any_": ["OFFLINE"]}}}
    assert call(client, "POST", "/work_pools/p/workers/filter", offline) == (200, [])
    assert call(client, "POST", "/work_pools/nope/workers/heartbeat", {"name": "w"}) == (
        404,
        {"detail": 'Work pool "nope" not found.'},
    )
    assert call(client, "POST", "/work_pools/p/workers/heartbeat", {})[0] == 422
    assert call(client, "POST", "/work_pools/nope/workers/filter", {})[0] == 404
    assert call(client, "DELETE", "/work_pools/p/workers/nope") == (404, {"detail": "Worker not found."})
    assert call(client, "DELETE", "/work_pools/nope/workers/w1")[0] == 404
    assert call(client, "DELETE", "/work_pools/p/workers/w1") == (204, None)
    assert call(client, "POST", "/work_pools/p/workers/filter", {}) == (200, [])
    assert call(client, "GET", "/work_pools/p")[1]["status"] == "NOT_READY"


def test_statuses_follow_prefects_thresholds():
    t = Thresholds()
    now = utcnow()
    assert worker_status(t, now - timedelta(seconds=89), None, now) == "ONLINE"
    assert worker_status(t, now - timedelta(seconds=90), None, now) == "OFFLINE"
    assert worker_status(t, now - timedelta(seconds=20), 5, now) == "OFFLINE"
    assert worker_status(t, None, None, now) == "OFFLINE"
    assert queue_status(t, False, now - timedelta(seconds=59), now) == "READY"
    assert queue_status(t, False, now - timedelta(seconds=61), now) == "NOT_READY"
    assert queue_status(t, True, now, now) == "PAUSED"
    assert pool_status("process", False, ["OFFLINE", "ONLINE"]) == "READY"
    assert pool_status("process", False, ["OFFLINE"]) == "NOT_READY"
    assert pool_status("process", True, ["ONLINE"]) == "PAUSED"
    assert pool_status("prefect-agent", False, []) is None


def test_deployments_carry_pool_and_queue(client, repos):
    flow = make_flow(client)
    status, body = call(client, "POST", "/deployments/", {"name": "d", "flow_id": flow, "work_pool_name": "nope"})
    assert status == 404 and body == {"detail": 'Work pool "nope" not found.'}
    _pool(client)
    d = deploy(client, flow, "d", work_pool_name="p")
    assert d["work_pool_name"] == "p" and d["work_queue_name"] == "default"
    assert d["work_queue_id"] == str(identity.work_queue_id("p", "default"))
    e = deploy(client, flow, "e", work_pool_name="p", work_queue_name="new-q")
    queue = call(client, "GET", "/work_pools/p/queues/new-q")[1]
    assert e["work_queue_id"] == queue["id"]
    assert call(client, "PATCH", f"/deployments/{e['id']}", {"work_pool_name": "nope"})[0] == 404
    run = _run(client, e["id"])
    assert run["work_queue_id"] == queue["id"] and run["work_pool_name"] == "p"
    assert run["work_pool_id"] == queue["work_pool_id"] and run["work_queue_name"] == "new-q"
    assert call(client, "GET", f"/deployments/{e['id']}/work_queue_check")[1][0]["id"] == queue["id"]
    filtered = call(client, "POST", "/deployments/filter", {"work_pools": {"name": {"any_": ["p"]}}})[1]
    assert {x["name"] for x in filtered} == {"d", "e"}


def test_the_poll_orders_by_priority_then_time_and_marks_queues(client, repos, settings):
    override_settings(settings, worker_claim_s=0)  # polls here read again what the last one handed out
    _pool(client)
    call(client, "POST", "/work_pools/p/queues/", {"name": "urgent", "priority": 1})
    flow = make_flow(client)
    normal = deploy(client, flow, "normal", work_pool_name="p")
    urgent = deploy(client, flow, "urgent", work_pool_name="p", work_queue_name="urgent")
    now = utcnow()
    early = _run(client, normal["id"], now - timedelta(minutes=5))
    late = _run(client, urgent["id"], now - timedelta(minutes=1))
    future = _run(client, normal["id"], now + timedelta(hours=1))
    got = _poll(client, scheduled_before=(now + timedelta(seconds=10)).isoformat())
    assert [r["flow_run"]["id"] for r in got] == [late["id"], early["id"]]
    assert got[0]["work_queue_id"] == urgent["work_queue_id"] and got[0]["work_pool_id"] == late["work_pool_id"]
    assert [r["flow_run"]["id"] for r in _poll(client)] == [late["id"], early["id"], future["id"]]
    assert [r["flow_run"]["id"] for r in _poll(client, limit=1)] == [late["id"]]
    after = _poll(client, scheduled_after=(now - timedelta(minutes=2)).isoformat(), work_queue_names=["default"])
    assert [r["flow_run"]["id"] for r in after] == [future["id"]]
    queues = {q["name"]: q for q in call(client, "POST", "/work_pools/p/queues/filter", {})[1]}
    assert queues["default"]["status"] == "READY" and queues["default"]["last_polled"] is not None
    assert call(client, "GET", f"/deployments/{normal['id']}")[1]["status"] == "READY"
    assert call(client, "POST", "/work_pools/nope/get_scheduled_flow_runs", {})[0] == 404
    status, body = call(client, "POST", "/work_pools/p/get_scheduled_flow_runs", {"work_queue_names": ["zz"]})
    assert status == 404 and body == {"detail": "Work pool queue 'p/zz' not found."}
    assert call(client, "POST", "/work_pools/p/get_scheduled_flow_runs", {"limit": -1})[0] == 422


def test_paused_pools_queues_and_concurrency_limits(client, repos, settings):
    override_settings(settings, worker_claim_s=0)
    _pool(client)
    flow = make_flow(client)
    d = deploy(client, flow, "d", work_pool_name="p")
    now = utcnow()
    runs = [_run(client, d["id"], now - timedelta(minutes=i)) for i in (3, 2, 1)]
    call(client, "PATCH", "/work_pools/p/queues/default", {"is_paused": True})
    assert _poll(client) == []
    call(client, "PATCH", "/work_pools/p/queues/default", {"is_paused": False, "concurrency_limit": 2})
    call(client, "PATCH", "/work_pools/p", {"is_paused": True})
    assert _poll(client) == []
    call(client, "PATCH", "/work_pools/p", {"is_paused": False, "concurrency_limit": 5})
    assert [r["flow_run"]["id"] for r in _poll(client)] == [r["id"] for r in runs[:2]]
    state = {"state": {"type": "PENDING"}}
    assert call(client, "POST", f"/flow_runs/{runs[0]['id']}/set_state", state)[0] == 201
    assert [r["flow_run"]["id"] for r in _poll(client)] == [runs[1]["id"]]
    assert call(client, "GET", "/work_pools/p")[1]["active_slots"] == 1
    assert call(client, "GET", "/work_pools/p/queues/default")[1]["active_slots"] == 1
    call(client, "PATCH", "/work_pools/p", {"concurrency_limit": 1})
    assert _poll(client) == []


def test_a_poll_of_three_queues_costs_five_requests_and_a_heartbeat_one(client, repos, settings):
    from chalicelib.schemas.work_pools import ScheduledRunsBody, WorkerHeartbeat
    from chalicelib.services import work_pools

    _pool(client)
    for name in ("a", "b"):
        call(client, "POST", "/work_pools/p/queues/", {"name": name})
    flow = make_flow(client)
    for i in range(30):
        _run(client, deploy(client, flow, f"d{i}", work_pool_name="p", work_queue_name="ab"[i % 2])["id"])
    now = utcnow()
    with count_requests() as polled:
        got = work_pools.get_scheduled_flow_runs(repos, "p", ScheduledRunsBody(limit=5), now)
    # The stamp, a by-queue Query per queue, one BatchGetItem of the runs named (keys-only index),
    # and one UpdateItem per run handed out (its claim).
    assert len(got) == 5 and polled.total == 10, polled.by_operation
    assert polled.by_operation.get("UpdateItem") == 6, polled.by_operation  # the stamp and 5 claims
    with count_requests() as idle:
        long_ago = ScheduledRunsBody(limit=5, scheduled_before=now - timedelta(days=3650))
        work_pools.get_scheduled_flow_runs(repos, "p", long_ago, now)
    assert idle.total == 4, idle.by_operation  # nothing due: no BatchGetItem
    with count_requests() as beat:
        work_pools.record_heartbeat(repos, "p", WorkerHeartbeat(name="w"), now)
    assert beat.total == 1, beat.by_operation


@pytest.mark.both_backends
def test_racing_polls_and_heartbeats(client):
    _pool(client)
    flow = make_flow(client)
    d = deploy(client, flow, "d", work_pool_name="p")
    run = _run(client, d["id"], utcnow() - timedelta(seconds=1))
    results: list[object] = []

    def work(i: int) -> None:
        status, body = call(client, "POST", "/work_pools/p/workers/heartbeat", {"name": f"w{i % 2}"})
        results.append(status if status == 204 else ("heartbeat", status, body))
        results.append([r["flow_run"]["id"] for r in _poll(client)])
        status, body = call(client, "PATCH", "/work_pools/p", {"description": str(i)})
        results.append(status if status == 204 else ("patch", status, body))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # The run is handed to one poll only (it claims it); the others get nothing.
    assert results.count(204) == 12 and results.count([run["id"]]) == 1 and results.count([]) == 5, results
    assert len(call(client, "POST", "/work_pools/p/workers/filter", {})[1]) == 2
    assert [q["name"] for q in call(client, "POST", "/work_pools/p/queues/filter", {})[1]] == ["default"]


def test_flow_run_infrastructure_pid_and_labels(client):
    flow = make_flow(client)
    status, run = call(client, "POST", "/flow_runs/", {"flow_id": flow, "labels": {"a": "1"}})
    assert status == 201
    assert call(client, "PATCH", f"/flow_runs/{run['id']}", {"infrastructure_pid": "host:123"}) == (204, None)
    assert call(client, "PATCH", f"/flow_runs/{run['id']}/labels", {"prefect.worker.name": "w", "n": 2}) == (204, None)
    read = call(client, "GET", f"/flow_runs/{run['id']}")[1]
    assert read["infrastructure_pid"] == "host:123" and read["labels"] == {"a": "1", "prefect.worker.name": "w", "n": 2}
    assert call(client, "PATCH", f"/flow_runs/{run['id']}/labels", ["x"])[0] == 422
    assert call(client, "PATCH", "/flow_runs/00000000-0000-0000-0000-000000000000/labels", {})[0] == 404
    assert call(client, "PATCH", "/flow_runs/nope/labels", {})[0] == 404


def test_workers_go_offline_and_queues_not_ready_on_the_configured_thresholds(client, settings):
    """The foreman's thresholds are settings; statuses flip when read after them, with no job."""
    import time

    from chalicelib.config import override_settings

    override_settings(settings, worker_fallback_heartbeat_s=0.1, poll_ready_window_s=0.3)
    _pool(client)
    call(client, "POST", "/work_pools/p/workers/heartbeat", {"name": "w"})
    _poll(client)
    assert call(client, "GET", "/work_pools/p")[1]["status"] == "READY"
    assert call(client, "GET", "/work_pools/p/queues/default")[1]["status"] == "READY"
    time.sleep(0.4)
    assert call(client, "GET", "/work_pools/p")[1]["status"] == "NOT_READY"
    assert call(client, "POST", "/work_pools/p/workers/filter", {})[1][0]["status"] == "OFFLINE"
    assert call(client, "GET", "/work_pools/p/queues/default")[1]["status"] == "NOT_READY"


PROCESS_LIKE = {
    "job_configuration": {"command": "{{ command }}", "env": "{{ env }}"},
    "variables": {
        "type": "object",
        "required": ["image"],
        "properties": {
            "command": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
            "env": {"type": "object", "additionalProperties": {"anyOf": [{"type": "string"}, {"type": "null"}]}},
            "stream_output": {"type": "boolean", "default": True},
            "image": {"$ref": "#/definitions/Image"},
        },
        "definitions": {"Image": {"type": "string", "enum": ["a", "b"]}},
    },
}


def test_job_variables_are_checked_against_the_pools_template(client):
    _pool(client, base_job_template=PROCESS_LIKE)
    flow = make_flow(client)
    status, body = call(
        client,
        "POST",
        "/deployments/",
        {"name": "d", "flow_id": flow, "work_pool_name": "p", "job_variables": {"stream_output": "yes"}},
    )
    assert status == 422 and body["exception_detail"][0]["loc"] == ["body", "job_variables", "stream_output"]
    d = deploy(client, flow, "d", work_pool_name="p", job_variables={"env": {"A": "1"}, "command": None})
    bad_env = {"job_variables": {"env": {"A": 1}}}
    assert call(client, "PATCH", f"/deployments/{d['id']}", bad_env)[0] == 422
    assert call(client, "PATCH", f"/deployments/{d['id']}", {"job_variables": {"image": "c"}})[0] == 422
    status, body = call(client, "POST", f"/deployments/{d['id']}/create_flow_run", {"job_variables": {"x": 1}})
    assert status == 422 and body["exception_detail"][0]["loc"] == ["body", "job_variables", "image"]
    ok = call(client, "POST", f"/deployments/{d['id']}/create_flow_run", {"job_variables": {"image": "a"}})
    assert ok[0] == 201 and ok[1]["job_variables"] == {"image": "a"}


@pytest.mark.both_backends
def test_a_claimed_run_goes_to_one_of_many_racing_polls_until_its_claim_ends(client, repos, settings):
    """Issue 23: 200 runs were handed out 1,547 times to 8 polling workers; now each run once."""
    from chalicelib.schemas.states import SetStateBody
    from chalicelib.schemas.work_pools import ScheduledRunsBody
    from chalicelib.services import flow_runs, work_pools

    _pool(client)
    flow = make_flow(client)
    d = deploy(client, flow, "d", work_pool_name="p")
    now = utcnow()
    runs = {_run(client, d["id"], now - timedelta(seconds=i))["id"] for i in range(1, 25)}
    barrier = threading.Barrier(8)
    handed: list[str] = []

    def poll() -> None:
        """A worker: poll, take what it is handed (PENDING, as Prefect's worker does), poll again."""
        barrier.wait()
        for _ in range(12):
            got = work_pools.get_scheduled_flow_runs(repos, "p", ScheduledRunsBody(limit=10), now)
            handed.extend(str(r.flow_run.id) for r in got)
            for r in got:
                flow_runs.set_flow_run_state(repos, r.flow_run.id, SetStateBody(state={"type": "PENDING"}), now)

    threads = [threading.Thread(target=poll) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(handed) == sorted(runs)  # every run handed out, none twice


def test_a_run_claimed_by_a_poll_that_died_is_handed_out_again_after_its_claim(client, repos, settings):
    from chalicelib.schemas.work_pools import ScheduledRunsBody
    from chalicelib.services import work_pools

    _pool(client)
    d = deploy(client, make_flow(client), "d", work_pool_name="p")
    now = utcnow()
    run = _run(client, d["id"], now - timedelta(seconds=5))
    body = ScheduledRunsBody(limit=10)
    assert [str(r.flow_run.id) for r in work_pools.get_scheduled_flow_runs(repos, "p", body, now)] == [run["id"]]
    assert work_pools.get_scheduled_flow_runs(repos, "p", body, now + timedelta(seconds=1)) == []
    later = now + timedelta(seconds=settings.worker_claim_s + 1)
    assert [str(r.flow_run.id) for r in work_pools.get_scheduled_flow_runs(repos, "p", body, later)] == [run["id"]]
