"""Races on one run: concurrent set_state calls never both win from the same state; heartbeats and
PATCHes never resurrect or revert a run. Threads call the services directly (the Chalice test
client is not thread-safe); a barrier makes both racers read the same state before either writes."""

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain.orchestration import SetStateStatus
from chalicelib.errors import ConcurrentUpdateError, ConflictError, FlowRunNotFoundError
from chalicelib.schemas.flow_runs import FlowRunCreate, FlowRunUpdate
from chalicelib.schemas.states import SetStateBody
from chalicelib.services import flow_runs

pytestmark = pytest.mark.both_backends  # races and storage semantics: on DynamoDB Local too

NOW = datetime(2030, 1, 1, tzinfo=UTC)


class _RacingRuns:
    """The flow run repository, except that a thread's first read waits for the other racers."""

    def __init__(self, inner, barrier: threading.Barrier) -> None:
        self._inner, self._barrier, self._waited = inner, barrier, False

    def _meet(self) -> None:
        if not self._waited:
            self._waited = True
            self._barrier.wait(timeout=10)

    def get_with_history(self, id_):
        result = self._inner.get_with_history(id_)
        self._meet()
        return result

    def get(self, id_):
        result = self._inner.get(id_)
        self._meet()
        return result

    def __getattr__(self, name):
        return getattr(self._inner, name)


class _Racing:
    def __init__(self, repos, barrier) -> None:
        self._repos = repos
        self.flow_runs = _RacingRuns(repos.flow_runs, barrier)

    def __getattr__(self, name):
        return getattr(self._repos, name)


def make_run(repos, state: dict | None = None, **fields):
    flow, _ = repos.flows.create_if_absent("etl", [], None, NOW)
    body = FlowRunCreate.model_validate({"flow_id": str(flow.id), **({"state": state} if state else {}), **fields})
    return flow_runs.create_flow_run(repos, body, NOW)[0]


def propose(type_: str) -> SetStateBody:
    return SetStateBody.model_validate({"state": {"type": type_}})


def race(repos, calls):
    """Run each ``call(racing_repos)`` in its own thread, all reading before any writes."""
    barrier = threading.Barrier(len(calls))
    with ThreadPoolExecutor(len(calls)) as pool:
        futures = [pool.submit(call, _Racing(repos, barrier)) for call in calls]
        return [f.result(timeout=30) for f in futures]


def test_two_workers_submitting_one_run_only_one_wins(repos):
    run = make_run(repos, {"type": "SCHEDULED", "state_details": {"scheduled_time": "2029-12-31T00:00:00Z"}})
    submit = lambda r: flow_runs.set_flow_run_state(r, run.id, propose("PENDING"), NOW)  # noqa: E731
    results = race(repos, [submit, submit])
    assert sorted(r.decision.status.value for r in results) == ["ABORT", "ACCEPT"]
    assert [r.written for r in results].count(True) == 1
    states = flow_runs.read_flow_run_states(repos, run.id)
    assert [s.type.value for s in states] == ["SCHEDULED", "PENDING"]


def test_many_racers_never_win_from_the_same_state(repos):
    run = make_run(repos)
    proposals = ["RUNNING", "RUNNING", "CANCELLING", "FAILED", "COMPLETED", "CRASHED"]
    calls = [lambda r, t=t: flow_runs.set_flow_run_state(r, run.id, propose(t), NOW) for t in proposals]
    results = race(repos, calls)
    history = flow_runs.read_flow_run_states(repos, run.id)
    written = [r.state.id for r in results if r.written]
    # Every written state is in the history once, and each was judged against its predecessor only.
    assert sorted(map(str, written)) == sorted(str(s.id) for s in history[1:])
    assert len({s.id for s in history}) == len(history)
    final = flow_runs.read_flow_run(repos, run.id)
    assert final.state.id == history[-1].id


def test_free_running_threads_submit_once(repos):
    for _ in range(3):
        run = make_run(repos, {"type": "SCHEDULED", "state_details": {"scheduled_time": "2029-12-31T00:00:00Z"}})
        with ThreadPoolExecutor(6) as pool:
            results = list(
                pool.map(lambda _, i=run.id: flow_runs.set_flow_run_state(repos, i, propose("PENDING"), NOW), range(6))
            )
        assert [r.decision.status for r in results].count(SetStateStatus.ACCEPT) == 1
        assert len(flow_runs.read_flow_run_states(repos, run.id)) == 2


def test_a_patch_racing_a_transition_keeps_both(repos):
    run = make_run(repos)
    patch = lambda r: flow_runs.update_flow_run(r, run.id, FlowRunUpdate(name="renamed"), NOW)  # noqa: E731
    move = lambda r: flow_runs.set_flow_run_state(r, run.id, propose("RUNNING"), NOW)  # noqa: E731
    race(repos, [patch, move])
    after = flow_runs.read_flow_run(repos, run.id)
    assert after.name == "renamed" and after.state_type.value == "RUNNING" and after.run_count == 1


def test_a_heartbeat_racing_a_crash_does_not_land(repos):
    run = make_run(repos, {"type": "RUNNING"})
    stale = repos.flow_runs.get(run.id)
    flow_runs.set_flow_run_state(repos, run.id, propose("CRASHED"), NOW)
    with pytest.raises(ConcurrentUpdateError):
        repos.flow_runs.record_heartbeat(stale, NOW + timedelta(seconds=1))
    assert repos.flow_runs.get(run.id).heartbeat is None
    with pytest.raises(ConflictError) as info:
        flow_runs.record_heartbeat(repos, run.id, NOW)
    assert info.value.data["state"].type.value == "CRASHED"


def test_a_heartbeat_never_resurrects_a_deleted_run(repos):
    run = make_run(repos, {"type": "RUNNING"})
    stale = repos.flow_runs.get(run.id)
    flow_runs.delete_flow_run(repos, run.id)
    with pytest.raises(ConcurrentUpdateError):
        repos.flow_runs.record_heartbeat(stale, NOW)
    with pytest.raises(FlowRunNotFoundError):
        repos.flow_runs.get(run.id)


def test_heartbeats_racing_a_transition_are_judged_again(repos):
    run = make_run(repos, {"type": "RUNNING"})
    beat = lambda r: flow_runs.record_heartbeat(r, run.id, NOW + timedelta(seconds=1))  # noqa: E731
    finish = lambda r: flow_runs.set_flow_run_state(r, run.id, propose("COMPLETED"), NOW)  # noqa: E731
    outcomes = race(repos, [lambda r: _outcome(beat, r), lambda r: _outcome(finish, r)])
    final = repos.flow_runs.get(run.id)
    assert final.state_type.value == "COMPLETED"
    # Either the heartbeat landed first (and the completion was re-judged), or it found the run finished.
    assert outcomes[0] in {"ok", "conflict"} and outcomes[1] == "ok"


def _outcome(call, repos) -> str:
    try:
        call(repos)
    except ConflictError:
        return "conflict"
    return "ok"


class _AlwaysLosingRuns:
    """A repository whose conditional writes always lose (someone else always wrote first)."""

    def __init__(self, inner) -> None:
        self._inner, self.attempts = inner, 0

    def replace(self, run, *args, **kwargs):
        self.attempts += 1
        raise ConcurrentUpdateError("Flow run", run.id)

    def __getattr__(self, name):
        return getattr(self._inner, name)


def test_a_run_that_keeps_changing_gives_up_with_a_conflict(repos):
    run = make_run(repos)
    losing = _Racing(repos, threading.Barrier(1))
    losing.flow_runs = _AlwaysLosingRuns(repos.flow_runs)
    with pytest.raises(ConcurrentUpdateError):
        flow_runs.set_flow_run_state(losing, run.id, propose("RUNNING"), NOW)
    assert losing.flow_runs.attempts == flow_runs.MAX_ATTEMPTS


def test_idempotent_creates_racing_make_one_run(repos):
    flow, _ = repos.flows.create_if_absent("etl", [], None, NOW)
    body = FlowRunCreate(flow_id=flow.id, idempotency_key=f"k-{uuid.uuid4()}")
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda _: flow_runs.create_flow_run(repos, body, NOW), range(6)))
    assert [created for _, created in results].count(True) == 1
    assert len({run.id for run, _ in results}) == 1


def test_sixteen_racing_proposers_all_get_an_orchestration_answer(repos):
    """Prefect's client does not retry a 409: under contention every proposal is judged (ACCEPT,
    REJECT, ABORT or WAIT), never left as ConcurrentUpdateError (retries pause, jittered)."""
    run = make_run(repos)
    kinds = ["RUNNING", "PENDING", "FAILED", "COMPLETED", "CANCELLING", "CRASHED", "RUNNING", "SCHEDULED"] * 2

    def propose_forced(kind: str) -> str:
        body = SetStateBody.model_validate({"state": {"type": kind}, "force": True})
        return flow_runs.set_flow_run_state(repos, run.id, body, NOW).decision.status.value

    with ThreadPoolExecutor(16) as pool:
        answers = [f.result(timeout=60) for f in [pool.submit(propose_forced, k) for k in kinds]]
    assert len(answers) == 16 and set(answers) <= {"ACCEPT", "REJECT", "ABORT", "WAIT"}
    history = flow_runs.read_flow_run_states(repos, run.id)
    assert len({s.id for s in history}) == len(history) == 1 + answers.count("ACCEPT")
