"""Schedule overlap policies (issue 28): SKIP, BUFFER_ONE, BUFFER_ALL and CANCEL_OTHER decided when
a run of the schedule would start, with the schedule's token taken in the same transaction."""

from __future__ import annotations

import json
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from chalicelib import config
from chalicelib.config import override_settings
from chalicelib.domain.orchestration import SetStateStatus
from chalicelib.domain.schedule_policy import OVERLAP_POLICIES
from chalicelib.schemas.states import SetStateBody
from chalicelib.services import flow_runs, maintenance
from chalicelib.storage.schedule_overlap import holders
from tests.api.deployments_support import deploy, make_flow, runs_of, utcnow
from tests.helpers import call

HOURLY = {"interval": 60, "anchor_date": "2020-01-01T00:00:00Z", "timezone": "UTC"}
#: After every planned run's scheduled time: RUNNING is not told to wait.
LATER = utcnow() + timedelta(days=10)


def _runs(client, repos, overlap: str | None, count: int = 4, **fields):
    schedule = {"schedule": HOURLY, **({"overlap": overlap} if overlap else {}), **fields}
    d = deploy(client, make_flow(client), schedules=[schedule])
    runs = runs_of(repos, d["id"], "SCHEDULED")[:count]
    assert len(runs) == count
    return d, runs


def _propose(repos, run, type_: str, *, force: bool = False, **state):
    body = SetStateBody.model_validate({"state": {"type": type_, **state}, "force": force})
    return flow_runs.set_flow_run_state(repos, run.id, body, LATER)


def _finish(repos, run, end: str = "COMPLETED"):
    for type_ in ("RUNNING", end):
        assert _propose(repos, run, type_).decision.status is SetStateStatus.ACCEPT


def test_overlap_is_set_read_back_cleared_and_validated(client):
    d = deploy(client, make_flow(client), schedules=[{"schedule": HOURLY, "overlap": "SKIP"}])
    (read,) = call(client, "GET", f"/deployments/{d['id']}/schedules")[1]
    assert read["overlap"] == "SKIP"
    path = f"/deployments/{d['id']}/schedules/{read['id']}"
    assert call(client, "PATCH", path, {"overlap": "BUFFER_ONE"})[0] == 204
    assert call(client, "GET", f"/deployments/{d['id']}")[1]["schedules"][0]["overlap"] == "BUFFER_ONE"
    assert call(client, "PATCH", path, {"overlap": None})[0] == 204
    assert call(client, "GET", f"/deployments/{d['id']}/schedules")[1][0]["overlap"] is None
    status, body = call(client, "PATCH", path, {"overlap": "SOMETIMES"})
    assert status == 422 and "overlap" in str(body["exception_detail"]), body
    bad = {"name": "x", "flow_id": d["flow_id"], "schedules": [{"schedule": HOURLY, "overlap": 1}]}
    status, body = call(client, "POST", "/deployments/", bad)
    assert status == 422 and "overlap" in str(body["exception_detail"]), body


def test_skip_cancels_a_run_that_would_start_while_another_is_active(client, repos):
    _, (first, second, third, _) = _runs(client, repos, "SKIP")
    assert first.overlap == "SKIP"
    assert _propose(repos, first, "PENDING").decision.status is SetStateStatus.ACCEPT
    result = _propose(repos, second, "PENDING")
    assert result.decision.status is SetStateStatus.REJECT and result.written
    assert (result.state.type.value, result.state.name) == ("CANCELLED", "Skipped")
    assert result.state.message == f"Skipped: run {first.id} of this schedule is still active (overlap policy SKIP)."
    assert repos.flow_runs.get(second.id).state.message == result.state.message
    # A pause keeps the token; the end gives it back, and the next occurrence starts.
    _finish(repos, first)
    assert holders(str(first.schedule_id))["active"] is None
    assert _propose(repos, third, "PENDING").decision.status is SetStateStatus.ACCEPT


def test_a_run_that_goes_straight_to_running_is_judged_too(client, repos):
    _, (first, second, *_) = _runs(client, repos, "SKIP")
    assert _propose(repos, first, "RUNNING").decision.status is SetStateStatus.ACCEPT
    assert _propose(repos, second, "RUNNING").state.name == "Skipped"


def test_buffer_one_lets_one_run_wait_and_skips_the_rest(client, repos):
    _, (first, second, third, fourth) = _runs(client, repos, "BUFFER_ONE")
    _propose(repos, first, "PENDING")
    waiting = _propose(repos, second, "PENDING")
    assert (waiting.state.type.value, waiting.state.name) == ("SCHEDULED", "AwaitingConcurrencySlot")
    assert f"run {first.id} of this schedule is still active (overlap policy BUFFER_ONE)" in waiting.state.message
    assert _propose(repos, third, "PENDING").state.name == "Skipped"
    assert _propose(repos, second, "PENDING").state.name == "AwaitingConcurrencySlot"  # it keeps its place
    assert holders(str(first.schedule_id)) == {"active": str(first.id), "waiting": str(second.id)}
    _finish(repos, first)
    assert _propose(repos, second, "PENDING").decision.status is SetStateStatus.ACCEPT
    assert holders(str(first.schedule_id)) == {"active": str(second.id), "waiting": None}
    assert _propose(repos, fourth, "PENDING").state.name == "AwaitingConcurrencySlot"


def test_buffer_all_lets_every_run_wait(client, repos):
    _, (first, *others) = _runs(client, repos, "BUFFER_ALL")
    _propose(repos, first, "PENDING")
    assert {_propose(repos, run, "PENDING").state.name for run in others} == {"AwaitingConcurrencySlot"}
    _finish(repos, first, "FAILED")
    assert _propose(repos, others[1], "PENDING").decision.status is SetStateStatus.ACCEPT


def test_cancel_other_cancels_the_active_run_through_cancelling(client, repos):
    _, (first, second, *_) = _runs(client, repos, "CANCEL_OTHER")
    _propose(repos, first, "PENDING")
    _propose(repos, first, "RUNNING")
    waiting = _propose(repos, second, "PENDING")
    assert waiting.state.name == "AwaitingConcurrencySlot" and "CANCEL_OTHER" in waiting.state.message
    cancelling = repos.flow_runs.get(first.id).state
    assert cancelling.type.value == "CANCELLING"  # the runner or worker kills it and reports CANCELLED
    assert f"run {second.id} of this schedule is due" in cancelling.message
    assert _propose(repos, first, "CANCELLED").decision.status is SetStateStatus.ACCEPT
    assert _propose(repos, second, "PENDING").decision.status is SetStateStatus.ACCEPT


@pytest.mark.parametrize("overlap", [None, "ALLOW_ALL"])
def test_allow_all_and_no_policy_let_runs_overlap_without_a_counter(client, repos, overlap):
    _, (first, second, *_) = _runs(client, repos, overlap)
    assert first.overlap is None  # nothing stamped: set_state reads and writes what it always did
    for run in (first, second):
        assert _propose(repos, run, "PENDING").decision.status is SetStateStatus.ACCEPT
        assert repos.flow_runs.get(run.id).overlap_slot is None
    assert holders(str(first.schedule_id)) == {"active": None, "waiting": None}


def test_forced_transitions_bypass_the_policy(client, repos):
    _, (first, second, *_) = _runs(client, repos, "SKIP")
    _propose(repos, first, "PENDING")
    assert _propose(repos, second, "PENDING", force=True).decision.status is SetStateStatus.ACCEPT


def test_a_deleted_holder_does_not_block_the_schedule_forever(client, repos):
    _, (first, second, *_) = _runs(client, repos, "SKIP")
    _propose(repos, first, "PENDING")
    assert call(client, "DELETE", f"/flow_runs/{first.id}")[0] == 204
    assert _propose(repos, second, "PENDING").decision.status is SetStateStatus.ACCEPT
    assert holders(str(first.schedule_id))["active"] == str(second.id)


def test_the_zombie_killer_gives_the_token_back(client, repos, settings):
    _, (first, second, *_) = _runs(client, repos, "SKIP")
    _propose(repos, first, "PENDING")
    _propose(repos, first, "RUNNING")
    flow_runs.beat(repos, first.id, LATER)
    maintenance.kill_zombies(repos, now=LATER + timedelta(days=1), settings=settings)
    assert repos.flow_runs.get(first.id).state_type.value == "CRASHED"
    assert holders(str(first.schedule_id))["active"] is None
    assert _propose(repos, second, "PENDING").decision.status is SetStateStatus.ACCEPT


def test_the_stack_wide_default_applies_to_schedules_that_set_none(client, repos, settings):
    override_settings(settings, schedule_overlap="SKIP")
    _, (first, *_) = _runs(client, repos, None)
    _, (free, *_) = _runs(client, repos, "ALLOW_ALL")
    assert first.overlap == "SKIP" and free.overlap is None
    with pytest.raises(ValueError, match="CIRRUS_SCHEDULE_OVERLAP"):
        override_settings(settings, schedule_overlap="SOMETIMES")
    assert config._OVERLAP_POLICIES == OVERLAP_POLICIES


def test_the_cirrus_schedule_commands_set_and_show_overlap(client, repos, capsys):
    from chalicelib import cli

    deploy(client, make_flow(client, "etl"), name="nightly", schedules=[{"schedule": HOURLY, "slug": "hourly"}])
    assert cli.main(["schedule", "set", "etl/nightly", "hourly", "--overlap", "buffer_one"]) == 0
    assert json.loads(capsys.readouterr().out)["overlap"] == "BUFFER_ONE"
    assert cli.main(["schedule", "ls", "etl/nightly"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["overlap"] == "BUFFER_ONE"
    assert cli.main(["schedule", "set", "etl/nightly", "hourly", "--overlap", "sometimes"]) == 1
    assert "overlap" in capsys.readouterr().err


@pytest.mark.both_backends
@pytest.mark.parametrize("overlap", ["SKIP", "BUFFER_ONE"])
def test_racing_starts_never_make_two_active_runs_nor_two_waiting(client, repos, overlap):
    _, runs = _runs(client, repos, overlap, count=12)
    barrier = threading.Barrier(len(runs))

    def submit(run):
        barrier.wait(timeout=10)
        return _propose(repos, run, "PENDING")

    with ThreadPoolExecutor(len(runs)) as pool:
        results = [f.result(timeout=120) for f in [pool.submit(submit, r) for r in runs]]
    names = sorted(r.state.name for r in results)
    expected_waiting = 1 if overlap == "BUFFER_ONE" else 0
    assert names.count("Pending") == 1, names
    assert names.count("AwaitingConcurrencySlot") == expected_waiting, names
    assert names.count("Skipped") == len(runs) - 1 - expected_waiting, names
    stored = [repos.flow_runs.get(r.id) for r in runs]
    assert sum(r.state_type.value == "PENDING" for r in stored) == 1
    assert sum(r.overlap_slot == "waiting" for r in stored) == expected_waiting
    owner = holders(str(runs[0].schedule_id))
    assert owner["active"] == next(str(r.id) for r in stored if r.state_type.value == "PENDING")


@pytest.mark.both_backends
def test_racing_starts_and_ends_keep_one_active_run(client, repos):
    """Runners finishing the active run while others try to start: every moment at most one run of
    the schedule is PENDING or RUNNING (checked from the stored states' order)."""
    _, runs = _runs(client, repos, "SKIP", count=10)
    _propose(repos, runs[0], "PENDING")
    barrier = threading.Barrier(len(runs))

    def act(index: int):
        barrier.wait(timeout=10)
        if index == 0:
            _finish(repos, runs[0])
            return None
        return _propose(repos, runs[index], "PENDING")

    with ThreadPoolExecutor(len(runs)) as pool:
        list(pool.map(act, range(len(runs)), timeout=120))
    stored = [repos.flow_runs.get(r.id) for r in runs]
    active = [r for r in stored if r.state_type.value in ("PENDING", "RUNNING")]
    assert len(active) <= 1
    held = holders(str(runs[0].schedule_id))["active"]
    assert held == (str(active[0].id) if active else None)
    assert all(r.state.name in ("Completed", "Pending", "Skipped") for r in stored), [r.state.name for r in stored]


def test_an_unknown_run_id_is_still_a_404(client):
    assert call(client, "POST", f"/flow_runs/{uuid.uuid4()}/set_state", {"state": {"type": "PENDING"}})[0] == 404


def test_a_waiting_run_skipped_by_the_late_runs_job_gives_its_place_back(client, repos, settings):
    _, (first, second, *_) = _runs(client, repos, "BUFFER_ONE", catchup_window=60)
    _propose(repos, first, "PENDING")
    assert _propose(repos, second, "PENDING").state.name == "AwaitingConcurrencySlot"
    report = maintenance.mark_late_runs(repos, now=LATER + timedelta(minutes=1), settings=settings)
    assert report.outcomes["skipped"] >= 1, report
    skipped = repos.flow_runs.get(second.id).state
    assert skipped.name == "Skipped" and "catch-up window" in skipped.message
    assert holders(str(first.schedule_id)) == {"active": str(first.id), "waiting": None}  # the place is free


def test_a_deleted_waiting_run_does_not_keep_its_place(client, repos):
    _, (first, second, third, _) = _runs(client, repos, "BUFFER_ONE")
    _propose(repos, first, "PENDING")
    _propose(repos, second, "PENDING")
    assert call(client, "DELETE", f"/flow_runs/{second.id}")[0] == 204
    assert _propose(repos, third, "PENDING").state.name == "AwaitingConcurrencySlot"
    assert holders(str(first.schedule_id)) == {"active": str(first.id), "waiting": str(third.id)}
