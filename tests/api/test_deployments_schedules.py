"""Schedule identity across redeploys and PATCHes, and the schedules sub-resource."""

import uuid

from tests.api.deployments_support import DAILY_9, EVERY_2H, HOURLY, auto_runs, deploy, ids, make_flow
from tests.helpers import call

TWO = [{"schedule": HOURLY}, {"schedule": DAILY_9, "slug": "morning", "parameters": {"p": 1}}]


def _schedule_ids(dep: dict) -> list[str]:
    return [s["id"] for s in dep["schedules"]]


def test_redeploy_with_identical_schedules_keeps_every_run_id(client, repos):
    flow_id = make_flow(client)
    first = deploy(client, flow_id, schedules=TWO, expect=201)
    runs = ids(auto_runs(repos, first["id"]))
    assert len(runs) >= 6  # both schedules planned inline
    again = deploy(client, flow_id, schedules=list(reversed(TWO)), expect=200)  # order does not matter
    assert sorted(_schedule_ids(again)) == sorted(_schedule_ids(first))
    assert ids(auto_runs(repos, first["id"])) == runs  # no run deleted, none created
    assert {s["id"]: s["updated"] for s in again["schedules"]} == {s["id"]: s["updated"] for s in first["schedules"]}


def test_redeploy_matches_by_slug_and_replans_only_the_changed_schedule(client, repos):
    flow_id = make_flow(client)
    first = deploy(client, flow_id, schedules=TWO)
    hourly_id, morning_id = _schedule_ids(first)
    hourly_runs = {r.id for r in auto_runs(repos, first["id"]) if str(r.schedule_id) == hourly_id}
    changed = [{"schedule": HOURLY}, {"schedule": EVERY_2H, "slug": "morning"}]
    second = deploy(client, flow_id, schedules=changed)
    assert _schedule_ids(second) == [hourly_id, morning_id]  # slug kept the id though the spec changed
    after = auto_runs(repos, first["id"])
    assert {r.id for r in after if str(r.schedule_id) == hourly_id} == hourly_runs
    morning = [r for r in after if str(r.schedule_id) == morning_id]
    assert morning and all(r.expected_start_time.minute == 30 for r in morning)  # old cron runs retired


def test_patch_description_only_deletes_nothing(client, repos):
    flow_id = make_flow(client)
    dep = deploy(client, flow_id, schedules=TWO)
    runs = ids(auto_runs(repos, dep["id"]))
    assert call(client, "PATCH", f"/deployments/{dep['id']}", {"description": "d"}) == (204, None)
    assert ids(auto_runs(repos, dep["id"])) == runs
    assert call(client, "GET", f"/deployments/{dep['id']}")[1]["schedules"] == dep["schedules"]


def test_patch_schedules_retires_only_changed_and_removed_schedules(client, repos):
    flow_id = make_flow(client)
    dep = deploy(client, flow_id, schedules=[*TWO, {"schedule": EVERY_2H, "slug": "gone"}])
    hourly_id, morning_id, gone_id = _schedule_ids(dep)
    before = auto_runs(repos, dep["id"])
    hourly_runs = {r.id for r in before if str(r.schedule_id) == hourly_id}
    patch = {"schedules": [{"schedule": HOURLY}, {"schedule": DAILY_9, "slug": "morning", "parameters": {"p": 2}}]}
    assert call(client, "PATCH", f"/deployments/{dep['id']}", patch) == (204, None)
    _, read = call(client, "GET", f"/deployments/{dep['id']}")
    assert _schedule_ids(read) == [hourly_id, morning_id]
    after = auto_runs(repos, dep["id"])
    assert {r.id for r in after if str(r.schedule_id) == hourly_id} == hourly_runs
    assert not [r for r in after if str(r.schedule_id) == gone_id]
    morning = [r for r in after if str(r.schedule_id) == morning_id]
    assert morning and all(r.parameters == {"p": 2} for r in morning)  # re-created with the new parameters


def test_deactivating_a_schedule_retires_its_future_runs(client, repos):
    flow_id = make_flow(client)
    dep = deploy(client, flow_id, schedules=[{"schedule": HOURLY, "slug": "h"}])
    assert auto_runs(repos, dep["id"])
    patch = {"schedules": [{"schedule": HOURLY, "slug": "h", "active": False}]}
    assert call(client, "PATCH", f"/deployments/{dep['id']}", patch) == (204, None)
    assert auto_runs(repos, dep["id"]) == []
    assert call(client, "GET", f"/deployments/{dep['id']}")[1]["schedules"][0]["active"] is False


def test_duplicate_slugs_are_409(client):
    flow_id = make_flow(client)
    body = [{"schedule": HOURLY, "slug": "s"}, {"schedule": DAILY_9, "slug": "s"}]
    status, reply = call(client, "POST", "/deployments/", {"name": "d", "flow_id": flow_id, "schedules": body})
    assert status == 409 and "'s'" in reply["detail"]
    dep = deploy(client, flow_id, schedules=[{"schedule": HOURLY, "slug": "s"}])
    status, _ = call(client, "POST", f"/deployments/{dep['id']}/schedules", [{"schedule": DAILY_9, "slug": "s"}])
    assert status == 409
    assert call(client, "GET", f"/deployments/{dep['id']}/schedules")[1] == dep["schedules"]


def test_schedules_sub_resource(client, repos):
    flow_id = make_flow(client)
    dep = deploy(client, flow_id)
    base = f"/deployments/{dep['id']}/schedules"
    assert call(client, "GET", base) == (200, [])
    status, created = call(client, "POST", base, [{"schedule": HOURLY, "slug": "h"}, {"schedule": DAILY_9}])
    assert status == 201 and [s["slug"] for s in created] == ["h", None]
    assert all(s["deployment_id"] == dep["id"] for s in created)
    assert created[1]["schedule"] == {**DAILY_9, "day_or": True}
    assert call(client, "GET", base) == (200, created)
    hourly, daily = created
    hourly_runs = {r.id for r in auto_runs(repos, dep["id"]) if str(r.schedule_id) == hourly["id"]}
    assert hourly_runs  # planned inline
    # a slug-only change keeps the runs
    assert call(client, "PATCH", f"{base}/{hourly['id']}", {"slug": "renamed"}) == (204, None)
    assert {r.id for r in auto_runs(repos, dep["id"]) if str(r.schedule_id) == hourly["id"]} == hourly_runs
    # a plan change replaces them
    assert call(client, "PATCH", f"{base}/{hourly['id']}", {"schedule": EVERY_2H}) == (204, None)
    replanned = {r.id for r in auto_runs(repos, dep["id"]) if str(r.schedule_id) == hourly["id"]}
    assert replanned and not replanned & hourly_runs
    _, listed = call(client, "GET", base)
    assert listed[0]["slug"] == "renamed" and listed[0]["schedule"]["interval"] == 7200.0
    assert call(client, "DELETE", f"{base}/{daily['id']}") == (204, None)
    assert not [r for r in auto_runs(repos, dep["id"]) if str(r.schedule_id) == daily["id"]]
    assert [s["id"] for s in call(client, "GET", base)[1]] == [hourly["id"]]


def test_schedules_sub_resource_errors(client):
    flow_id = make_flow(client)
    dep = deploy(client, flow_id, schedules=[{"schedule": HOURLY}])
    base = f"/deployments/{dep['id']}/schedules"
    missing = f"{base}/{uuid.uuid4()}"
    assert call(client, "PATCH", missing, {"active": False}) == (404, {"detail": "Schedule not found."})
    assert call(client, "DELETE", missing) == (404, {"detail": "Schedule not found."})
    assert call(client, "PATCH", f"{base}/nope", {}) == (404, {"detail": "Not Found"})
    unknown = f"/deployments/{uuid.uuid4()}/schedules"
    assert call(client, "GET", unknown) == (404, {"detail": "Deployment not found"})
    assert call(client, "POST", unknown, [{"schedule": HOURLY}])[0] == 404
    status, body = call(client, "POST", base, [{"schedule": {"rrule": "FREQ=NOPE"}}])
    assert status == 422 and body["exception_detail"][0]["loc"][:3] == ["body", 0, "schedule"]
    status, body = call(client, "POST", base, {"schedule": HOURLY})
    assert status == 422 and body["exception_detail"][0]["loc"] == ["body"]
    schedule_id = dep["schedules"][0]["id"]
    status, body = call(client, "PATCH", f"{base}/{schedule_id}", {"max_scheduled_runs": -1})
    assert status == 422 and body["exception_detail"][0]["loc"] == ["body", "max_scheduled_runs"]
    status, body = call(client, "PATCH", f"{base}/{schedule_id}", {"bogus": True})
    assert status == 422 and body["exception_detail"][0]["loc"] == ["body", "bogus"]
    assert call(client, "GET", base)[1] == dep["schedules"]


def test_too_many_schedules_is_422(client):
    flow_id = make_flow(client)
    many = [{"schedule": {"interval": 3600 + i, "anchor_date": "2020-01-01T00:00:00Z"}} for i in range(25)]
    status, body = call(client, "POST", "/deployments/", {"name": "d", "flow_id": flow_id, "schedules": many})
    assert status == 422 and body["exception_detail"][0]["loc"] == ["body", "schedules"]


def test_replaces_renames_a_slug_and_keeps_the_schedule(client, repos):
    flow_id = make_flow(client)
    dep = deploy(client, flow_id, schedules=[{"schedule": HOURLY, "slug": "old"}])
    runs = ids(auto_runs(repos, dep["id"]))
    renamed = deploy(client, flow_id, schedules=[{"schedule": HOURLY, "slug": "new", "replaces": "old"}])
    assert _schedule_ids(renamed) == _schedule_ids(dep) and renamed["schedules"][0]["slug"] == "new"
    assert "replaces" not in renamed["schedules"][0]
    assert ids(auto_runs(repos, dep["id"])) == runs
    twice = [
        {"schedule": HOURLY, "slug": "a", "replaces": "new"},
        {"schedule": DAILY_9, "slug": "b", "replaces": "new"},
    ]
    status, body = call(client, "POST", "/deployments/", {"name": "prod", "flow_id": flow_id, "schedules": twice})
    assert status == 422 and body["exception_detail"][0]["loc"] == ["body", "schedules"]
