"""Cirrus's schedule policies beyond Prefect's (issue 28): start_at/end_at bounds and a catch-up
window, set beside Prefect's schedule fields and read back in every schedule read."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from chalicelib.config import override_settings
from chalicelib.schemas.deployments import GetScheduledFlowRunsBody
from chalicelib.schemas.work_pools import ScheduledRunsBody
from chalicelib.services import deployments, flow_runs, maintenance, work_pools
from tests.api.deployments_support import deploy, make_flow, runs_of, utcnow
from tests.helpers import call

HOURLY = {"interval": 3600, "anchor_date": "2020-01-01T00:00:00Z", "timezone": "UTC"}


def _schedules(client, deployment_id):
    status, schedules = call(client, "GET", f"/deployments/{deployment_id}/schedules")
    assert status == 200, schedules
    return schedules


def test_policies_are_set_read_back_and_cleared(client):
    now = utcnow()
    start, end = (now + timedelta(days=1)).isoformat(), (now + timedelta(days=2)).isoformat()
    schedule = {"schedule": HOURLY, "start_at": start, "end_at": end, "catchup_window": 600}
    d = deploy(client, make_flow(client), schedules=[schedule])
    (read,) = _schedules(client, d["id"])
    assert read["catchup_window"] == 600 and read["start_at"] and read["end_at"]
    assert call(client, "GET", f"/deployments/{d['id']}")[1]["schedules"][0]["catchup_window"] == 600
    path = f"/deployments/{d['id']}/schedules/{read['id']}"
    assert call(client, "PATCH", path, {"catchup_window": None, "end_at": None})[0] == 204
    (cleared,) = _schedules(client, d["id"])
    assert cleared["catchup_window"] is None and cleared["end_at"] is None and cleared["start_at"] == read["start_at"]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"catchup_window": 0}, "catchup_window"),
        ({"catchup_window": "10"}, "catchup_window"),
        ({"start_at": "2030-01-02T00:00:00Z", "end_at": "2030-01-01T00:00:00Z"}, "end_at"),
        ({"start_at": "yesterday"}, "start_at"),
    ],
)
def test_bad_policies_are_a_422_naming_the_field(client, fields, field):
    flow_id = make_flow(client)
    status, body = call(client, "POST", "/deployments/", {"name": "d", "flow_id": flow_id,
                                                           "schedules": [{"schedule": HOURLY, **fields}]})  # fmt: skip
    assert status == 422, body
    assert field in str(body["exception_detail"])


def test_a_patch_cannot_put_end_at_before_start_at(client):
    d = deploy(client, make_flow(client), schedules=[{"schedule": HOURLY, "start_at": "2030-01-02T00:00:00Z"}])
    (read,) = _schedules(client, d["id"])
    status, body = call(
        client, "PATCH", f"/deployments/{d['id']}/schedules/{read['id']}", {"end_at": "2030-01-01T00:00:00Z"}
    )
    assert status == 422 and body["exception_detail"][0]["loc"] == ["body", "end_at"]


def test_runs_are_planned_only_within_start_at_and_end_at(client, repos):
    now = utcnow()
    start = (now + timedelta(days=10)).replace(minute=0, second=0, microsecond=0)
    end = start + timedelta(hours=2)
    d = deploy(
        client,
        make_flow(client),
        schedules=[{"schedule": HOURLY, "start_at": start.isoformat(), "end_at": end.isoformat()}],
    )
    times = [r.expected_start_time for r in runs_of(repos, d["id"])]
    assert times == [start, start + timedelta(hours=1), end]  # inclusive bounds; nothing after end_at


def test_an_ended_schedule_plans_nothing(client, repos):
    past = (utcnow() - timedelta(days=1)).isoformat()
    d = deploy(client, make_flow(client), schedules=[{"schedule": HOURLY, "end_at": past}])
    assert runs_of(repos, d["id"]) == []


def test_runs_past_the_catchup_window_are_skipped_and_never_handed_out(client, repos, settings):
    call(client, "POST", "/work_pools/", {"name": "p", "type": "process"})
    d = deploy(client, make_flow(client), work_pool_name="p", schedules=[{"schedule": HOURLY, "catchup_window": 600}])
    first = runs_of(repos, d["id"])[0]
    assert first.catchup_deadline == first.expected_start_time + timedelta(seconds=600)
    # Within the window a worker and a runner are handed it (late or not)...
    within = first.expected_start_time + timedelta(seconds=300)
    body = ScheduledRunsBody(limit=1, scheduled_before=within)
    assert [r.flow_run.id for r in work_pools.get_scheduled_flow_runs(repos, "p", body, within)] == [first.id]
    # ...past it, no poll hands it out, and the late-runs job skips it with a message that says why.
    past = first.expected_start_time + timedelta(seconds=601 + settings.worker_claim_s)
    late_body = ScheduledRunsBody(limit=1, scheduled_before=past)
    assert work_pools.get_scheduled_flow_runs(repos, "p", late_body, past) == []
    poll = GetScheduledFlowRunsBody(deployment_ids=[d["id"]], scheduled_before=past)
    assert first.id not in {r.id for r in deployments.get_scheduled_flow_runs(repos, poll, past)}  # a runner's poll
    assert first.id in {r.id for r in deployments.get_scheduled_flow_runs(repos, poll, within)}
    report = maintenance.mark_late_runs(repos, now=past, settings=settings)
    assert report.outcomes["skipped"] == 1, report
    skipped = call(client, "GET", f"/flow_runs/{first.id}")[1]
    assert (skipped["state"]["type"], skipped["state"]["name"]) == ("CANCELLED", "Skipped")
    assert "catch-up window of 600 seconds" in skipped["state"]["message"]
    again = maintenance.mark_late_runs(repos, now=past + timedelta(minutes=1), settings=settings)
    assert again.outcomes["skipped"] == 0  # once, and off the list


def test_a_run_set_back_to_scheduled_keeps_its_catchup_deadline(client, repos, settings):
    """Any later write of the run (here a Late state set through the API) keeps its deadline."""
    d = deploy(client, make_flow(client), schedules=[{"schedule": HOURLY, "catchup_window": 3600}])
    first = runs_of(repos, d["id"])[0]
    late = {
        "type": "SCHEDULED",
        "name": "Late",
        "state_details": {"scheduled_time": first.expected_start_time.isoformat()},
    }
    status, result = call(client, "POST", f"/flow_runs/{first.id}/set_state", {"state": late, "force": True})
    assert status == 201 and result["status"] == "ACCEPT", result
    marked = repos.flow_runs.get(first.id)
    assert marked.state.name == "Late" and marked.catchup_deadline == first.catchup_deadline
    report = maintenance.mark_late_runs(repos, now=first.catchup_deadline + timedelta(seconds=1), settings=settings)
    assert report.outcomes["skipped"] == 1


def test_the_stack_wide_catchup_window_applies_to_schedules_that_set_none(client, repos, settings):
    override_settings(settings, schedule_catchup_window_s=120)
    d = deploy(
        client,
        make_flow(client),
        schedules=[{"schedule": HOURLY}, {"schedule": {**HOURLY, "interval": 7200}, "catchup_window": 60}],
    )
    deadlines = {r.catchup_deadline - r.expected_start_time for r in runs_of(repos, d["id"])}
    assert deadlines == {timedelta(seconds=120), timedelta(seconds=60)}


def test_a_failed_run_pauses_a_schedule_with_pause_on_failure(client, repos):
    d = deploy(
        client,
        make_flow(client),
        schedules=[{"schedule": HOURLY, "pause_on_failure": True, "slug": "guarded"},
                   {"schedule": {**HOURLY, "interval": 7200}, "slug": "free"}],
    )  # fmt: skip
    by_slug = {s["slug"]: s for s in _schedules(client, d["id"])}
    assert by_slug["guarded"]["pause_on_failure"] is True and by_slug["free"]["pause_on_failure"] is False
    guarded = [r for r in runs_of(repos, d["id"]) if str(r.schedule_id) == by_slug["guarded"]["id"]]
    free = [r for r in runs_of(repos, d["id"]) if str(r.schedule_id) == by_slug["free"]["id"]]
    run = guarded[0]
    for state in ("RUNNING", "FAILED"):
        assert (
            call(client, "POST", f"/flow_runs/{run.id}/set_state", {"state": {"type": state}, "force": True})[0] == 201
        )
    after = {s["slug"]: s for s in _schedules(client, d["id"])}
    assert after["guarded"]["active"] is False and after["free"]["active"] is True
    left = {r.id for r in runs_of(repos, d["id"], "SCHEDULED")}
    assert not left & {r.id for r in guarded[1:]}  # its future runs are retired
    assert {r.id for r in free} <= left
    # A failed run of the schedule without the policy changes nothing.
    other = free[0]
    for state in ("RUNNING", "FAILED"):
        call(client, "POST", f"/flow_runs/{other.id}/set_state", {"state": {"type": state}, "force": True})
    assert {s["slug"]: s["active"] for s in _schedules(client, d["id"])} == {"guarded": False, "free": True}


@pytest.mark.parametrize(
    ("wall", "zone", "read_in"),
    [
        ("09:00:00", "Europe/Berlin", "Europe/Berlin"),  # a wall time in the zone
        ("09:00:00+00:00", "Europe/Berlin", "UTC"),  # an instant
        ("09:00:00", None, "UTC"),  # UTC by default
    ],
)
def test_a_one_time_schedule_plans_exactly_one_run(client, repos, wall, zone, read_in):
    day = (utcnow() + timedelta(days=10)).date()
    one_time = {"at": f"{day.isoformat()}T{wall}"} | ({"timezone": zone} if zone else {})
    d = deploy(client, make_flow(client), schedules=[{"schedule": one_time}])
    expected = datetime.combine(day, time(9), tzinfo=ZoneInfo(read_in)).astimezone(UTC)
    assert [r.expected_start_time for r in runs_of(repos, d["id"])] == [expected]
    (read,) = _schedules(client, d["id"])
    assert "COUNT=1" in read["schedule"]["rrule"]  # answered as a rule Prefect's client reads


@pytest.mark.parametrize("one_time", [{"at": "soon"}, {"at": 5}, {"at": "2026-12-24T09:00:00", "timezone": 5},
                                      {"at": "2026-12-24T09:00:00", "timezone": "Mars/Base"},
                                      {"at": "2026-12-24T09:00:00", "cron": "* * * * *"}])  # fmt: skip
def test_a_bad_one_time_schedule_is_a_422(client, one_time):
    status, body = call(client, "POST", "/deployments/", {"name": "d", "flow_id": make_flow(client),
                                                           "schedules": [{"schedule": one_time}]})  # fmt: skip
    assert status == 422, body


def test_a_planned_run_with_a_catchup_window_is_marked_late_within_it(client, repos, settings):
    d = deploy(client, make_flow(client), schedules=[{"schedule": HOURLY, "catchup_window": 3600}])
    first = runs_of(repos, d["id"])[0]
    report = maintenance.mark_late_runs(repos, now=first.expected_start_time + timedelta(minutes=1), settings=settings)
    assert report.outcomes["marked_late"] == 1, report
    late = repos.flow_runs.get(first.id)
    assert late.state.name == "Late" and late.catchup_deadline == first.catchup_deadline  # still on its list


def test_the_cirrus_schedule_commands_list_set_and_clear_policies(client, repos, capsys):
    from chalicelib import cli

    d = deploy(client, make_flow(client, "etl"), name="nightly", schedules=[{"schedule": HOURLY, "slug": "hourly"}])

    def run(*argv: str) -> tuple[int, object]:
        status = cli.main(["schedule", *argv])
        out, err = capsys.readouterr()
        return status, (json.loads(out) if status == 0 else err)

    status, listed = run("ls", "etl/nightly")
    assert status == 0 and [s["slug"] for s in listed] == ["hourly"] and listed[0]["catchup_window"] is None
    status, changed = run("set", d["id"], "hourly", "--catchup-window", "600", "--pause-on-failure", "on",
                          "--start-at", "2030-01-01T00:00:00Z")  # fmt: skip
    assert status == 0 and changed["catchup_window"] == 600 and changed["pause_on_failure"] is True, changed
    assert changed["start_at"].startswith("2030-01-01")
    status, cleared = run("set", "etl/nightly", "hourly", "--catchup-window", "none")
    assert status == 0 and cleared["catchup_window"] is None and cleared["pause_on_failure"] is True
    assert run("set", "etl/nightly", "hourly", "--catchup-window", "0")[0] == 1  # refused: not a window
    assert run("set", "etl/nightly", "nope", "--catchup-window", "60")[0] == 1
    assert run("ls", "etl/missing")[0] == 1


def test_jitter_spreads_runs_within_it_stably_and_late_runs_still_see_them(client, repos, settings):
    on_the_hour = [{"schedule": HOURLY, "jitter": 600, "slug": f"s{i}"} for i in range(8)]
    d = deploy(client, make_flow(client), schedules=on_the_hour)
    runs = runs_of(repos, d["id"])
    offsets = {r.expected_start_time - r.expected_start_time.replace(minute=0, second=0, microsecond=0) for r in runs}
    assert all(timedelta(0) <= o < timedelta(seconds=600) for o in offsets)
    assert len(offsets) > 1  # spread, not all on the hour
    for run in runs:  # the run's state and times agree; its id is still its occurrence's
        assert run.state.state_details.scheduled_time == run.next_scheduled_start_time == run.expected_start_time
    # Re-planning (a redeploy with the same schedules) gives the same runs at the same times.
    again = deploy(client, make_flow(client), schedules=on_the_hour)
    assert again["id"] == d["id"]
    assert {(r.id, r.expected_start_time) for r in runs_of(repos, d["id"])} == {
        (r.id, r.expected_start_time) for r in runs
    }
    # The late-runs job marks each Late once its own time is past, tick by tick.
    first_hour = min(r.expected_start_time for r in runs).replace(minute=0, second=0, microsecond=0)
    tick = first_hour
    while tick < first_hour + timedelta(minutes=12):
        maintenance.mark_late_runs(repos, now=tick, settings=settings)
        tick += timedelta(minutes=1)
    hour_runs = [r for r in runs if r.expected_start_time < first_hour + timedelta(hours=1)]
    assert {repos.flow_runs.get(r.id).state.name for r in hour_runs} == {"Late"}


def _events(client, name: str) -> list[dict]:
    occurred = {
        "since": (utcnow() - timedelta(hours=1)).isoformat(),
        "until": (utcnow() + timedelta(days=2)).isoformat(),
    }
    body = {"filter": {"event": {"name": [name]}, "occurred": occurred}, "limit": 50}
    status, page = call(client, "POST", "/events/filter", body)
    assert status == 200, page
    return page["events"]


def test_a_schedule_paused_on_failure_says_why_and_emits_an_event(client, repos):
    d = deploy(client, make_flow(client), schedules=[{"schedule": HOURLY, "pause_on_failure": True, "slug": "g"}])
    run = runs_of(repos, d["id"])[0]
    for state in ("RUNNING", "FAILED"):
        body = {"state": {"type": state, "message": "boom" if state == "FAILED" else None}, "force": True}
        assert call(client, "POST", f"/flow_runs/{run.id}/set_state", body)[0] == 201
    (read,) = call(client, "GET", f"/deployments/{d['id']}")[1]["schedules"]
    assert read["active"] is False
    assert read["paused_by_failure"]["flow_run_id"] == str(run.id) and read["paused_by_failure"]["message"] == "boom"
    (event,) = _events(client, "cirrus.deployment-schedule.paused")
    assert event["resource"]["prefect.resource.id"] == f"prefect.deployment-schedule.{read['id']}"
    roles = {r["prefect.resource.role"]: r["prefect.resource.id"] for r in event["related"]}
    assert roles["deployment"] == f"prefect.deployment.{d['id']}" and roles["flow-run"] == f"prefect.flow-run.{run.id}"
    assert event["payload"]["state_type"] == "FAILED"
    # Reactivated, the record goes; a second failure of an inactive schedule emits nothing more.
    path = f"/deployments/{d['id']}/schedules/{read['id']}"
    assert call(client, "PATCH", path, {"active": True})[0] == 204
    assert call(client, "GET", path.rsplit("/", 1)[0])[1][0]["paused_by_failure"] is None


def test_lazarus_giving_up_pauses_a_schedule_with_pause_on_failure(client, repos, settings):
    from dataclasses import replace

    d = deploy(client, make_flow(client), schedules=[{"schedule": HOURLY, "pause_on_failure": True}])
    run = runs_of(repos, d["id"])[0]
    for state in ("PENDING", "RUNNING"):
        assert (
            call(client, "POST", f"/flow_runs/{run.id}/set_state", {"state": {"type": state}, "force": True})[0] == 201
        )
    flow_runs.beat(repos, run.id, utcnow())
    later = utcnow() + timedelta(seconds=settings.zombie_threshold_s + 60)
    maintenance.kill_zombies(repos, now=later, settings=settings)
    assert repos.flow_runs.get(run.id).state_type.value == "CRASHED"
    report = maintenance.revive_crashed_runs(repos, now=later, settings=replace(settings, lazarus_max_attempts=0))
    assert report.outcomes["gave_up"] == 1, report
    assert repos.flow_runs.get(run.id).state_type.value == "FAILED"
    (read,) = _schedules(client, d["id"])
    assert read["active"] is False and read["paused_by_failure"]["flow_run_id"] == str(run.id)
    assert len(_events(client, "cirrus.deployment-schedule.paused")) == 1
