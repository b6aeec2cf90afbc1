"""``/automations`` routes, and reactive evaluation from stored events to actions (pull mode)."""

import json
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.jobs import automations as automation_jobs
from tests.api.deployments_support import deploy, make_flow, runs_of
from tests.helpers import call


def _automation(deployment_id: str | None = None, **overrides):
    body = {
        "name": "on my.event",
        "trigger": {
            "type": "event", "posture": "Reactive", "expect": ["my.event"], "match": {"prefect.resource.id": "my.*"},
        },
        "actions": [{"type": "run-deployment", "source": "selected", "deployment_id": deployment_id,
                     "parameters": {"x": "{{ event.payload.x }}"}}] if deployment_id else [{"type": "do-nothing"}],
    }  # fmt: skip
    body.update(overrides)
    return body


def _event(name="my.event", resource="my.thing", **payload):
    return {"id": str(uuid.uuid4()), "occurred": datetime.now(UTC).isoformat(), "event": name,
            "resource": {"prefect.resource.id": resource}, "payload": payload}  # fmt: skip


def test_create_read_update_patch_delete(client):
    status, created = call(client, "POST", "/automations/", _automation(tags=["a"]))
    assert status == 201, created
    assert created["trigger"]["id"] and created["trigger"]["within"] == 0.0 and created["enabled"] is True
    assert created["actions"] == [{"type": "do-nothing"}]
    assert call(client, "GET", f"/automations/{created['id']}") == (200, created)
    replaced = _automation(name="renamed", description="d")
    assert call(client, "PUT", f"/automations/{created['id']}", replaced)[0] == 204
    read = call(client, "GET", f"/automations/{created['id']}")[1]
    assert (
        read["name"] == "renamed"
        and read["trigger"]["id"] != created["trigger"]["id"]
        and read["created"] == created["created"]
    )
    assert call(client, "PATCH", f"/automations/{created['id']}", {"enabled": False})[0] == 204
    assert call(client, "GET", f"/automations/{created['id']}")[1]["enabled"] is False
    assert call(client, "POST", "/automations/count", {}) == (200, 1)
    assert call(client, "DELETE", f"/automations/{created['id']}")[0] == 204
    assert call(client, "GET", f"/automations/{created['id']}") == (404, {"detail": "Automation not found"})
    assert call(client, "DELETE", f"/automations/{created['id']}")[0] == 404
    assert call(client, "PUT", f"/automations/{uuid.uuid4()}", replaced)[0] == 404
    assert call(client, "PATCH", f"/automations/{uuid.uuid4()}", {"enabled": True})[0] == 404
    assert call(client, "GET", "/automations/nope") == (404, {"detail": "Not Found"})


def test_bad_bodies_are_422_naming_the_field(client):
    status, body = call(client, "POST", "/automations/", {**_automation(), "bogus": 1})
    assert status == 422 and body["exception_detail"][0]["loc"] == ["body", "bogus"]
    bad = _automation(trigger={"type": "event", "posture": "Proactive", "within": 5})
    status, body = call(client, "POST", "/automations/", bad)
    assert status == 422 and "10 seconds" in body["exception_detail"][0]["msg"]
    status, body = call(client, "POST", "/automations/", _automation(actions=[{"type": "run-deployment"}]))
    assert status == 422 and "deployment_id is required" in body["exception_detail"][0]["msg"]
    status, body = call(client, "POST", "/automations/", _automation(actions=[{"type": "launch-rocket"}]))
    assert status == 422
    assert call(client, "POST", "/automations/count", {})[1] == 0


def test_filter_sorts_and_filters(client):
    for name in ("b", "a", "c"):
        call(client, "POST", "/automations/", _automation(name=name, tags=[name]))
    names = [a["name"] for a in call(client, "POST", "/automations/filter", {})[1]]
    assert names == ["a", "b", "c"]
    desc = call(client, "POST", "/automations/filter", {"sort": "NAME_DESC", "limit": 2})[1]
    assert [a["name"] for a in desc] == ["c", "b"]
    only = call(client, "POST", "/automations/filter", {"automations": {"name": {"any_": ["b"]}}})[1]
    assert [a["name"] for a in only] == ["b"]
    assert call(client, "POST", "/automations/count", {"automations": {"tags": {"any_": ["a", "c"]}}}) == (200, 2)
    assert call(client, "POST", "/automations/filter", {"limit": 201})[0] == 422
    # Prefect's client (read_automations()) sends nulls for "the server's default".
    nulls = {"automations": None, "sort": None, "limit": None, "offset": 0}
    assert [a["name"] for a in call(client, "POST", "/automations/filter", nulls)[1]] == ["a", "b", "c"]


def test_owned_by_and_related_to(client):
    flow_id = make_flow(client)
    dep = deploy(client, flow_id)
    owner = f"prefect.deployment.{dep['id']}"
    owned = call(client, "POST", "/automations/", {**_automation(dep["id"]), "owner_resource": owner})[1]
    other = call(client, "POST", "/automations/", _automation(dep["id"], name="related only"))[1]
    related = call(client, "GET", f"/automations/related-to/{owner}")[1]
    assert {a["id"] for a in related} == {owned["id"], other["id"]}
    assert call(client, "DELETE", f"/automations/owned-by/{owner}")[0] == 202
    assert [a["id"] for a in call(client, "GET", f"/automations/related-to/{owner}")[1]] == [other["id"]]
    assert call(client, "GET", "/automations/related-to/prefect.deployment.none") == (200, [])
    # deleting the deployment deletes the automations it owns
    again = call(client, "POST", "/automations/", {**_automation(dep["id"]), "owner_resource": owner})[1]
    assert call(client, "DELETE", f"/deployments/{dep['id']}")[0] == 204
    assert call(client, "GET", f"/automations/{again['id']}")[0] == 404


def test_template_validation(client):
    assert call(client, "POST", "/templates/validate", json.dumps("{{ event.id }}"))[0] == 204
    status, body = call(client, "POST", "/automations/templates/validate", json.dumps("{{ event.id "))
    assert status == 422 and body["error"]["line"] == 1 and body["error"]["source"] == "{{ event.id "


def test_an_event_runs_the_deployment_once_with_templated_parameters(client, repos):
    flow_id = make_flow(client)
    dep = deploy(client, flow_id)
    automation = call(client, "POST", "/automations/", _automation(dep["id"]))[1]
    event = _event(x=42)
    assert call(client, "POST", "/events", [event, _event("other.event"), _event(resource="elsewhere")])[0] == 204
    report = automation_jobs.pump()
    assert report["firings"] == 1, report
    runs = runs_of(repos, dep["id"])
    assert len(runs) == 1 and runs[0].parameters == {"x": 42}
    assert runs[0].idempotency_key.startswith(f"automation {automation['id']}, action 0, invocation ")
    # the same event again (a redelivery, a resend) fires nothing more
    assert call(client, "POST", "/events", [event])[0] == 204
    automation_jobs.pump()
    assert len(runs_of(repos, dep["id"])) == 1
    names = _stored_event_names(client, automation["id"])
    assert names >= {
        "prefect.automation.triggered",
        "prefect.automation.action.triggered",
        "prefect.automation.action.executed",
    }


def _stored_event_names(client, automation_id):
    body = {"filter": {"any_resource": {"id": [f"prefect.automation.{automation_id}"]}}}
    status, page = call(client, "POST", "/events/filter", body)
    assert status == 200, page
    return {e["event"] for e in page["events"]}


def test_a_failing_action_is_recorded_as_failed(client):
    missing = str(uuid.uuid4())
    automation = call(client, "POST", "/automations/", _automation(missing))[1]
    call(client, "POST", "/events", [_event(x=1)])
    automation_jobs.pump()
    body = {"filter": {"event": {"name": ["prefect.automation.action.failed"]}}}
    events = call(client, "POST", "/events/filter", body)[1]["events"]
    assert len(events) == 1 and "404" in events[0]["payload"]["reason"]
    assert events[0]["resource"]["prefect.resource.id"] == f"prefect.automation.{automation['id']}"


def test_threshold_within_a_window_and_disabled_automations(client, repos):
    flow_id = make_flow(client)
    dep = deploy(client, flow_id)
    trigger = {"type": "event", "posture": "Reactive", "expect": ["my.event"], "threshold": 3, "within": 60}
    automation = call(client, "POST", "/automations/", _automation(dep["id"], trigger=trigger))[1]
    call(client, "POST", "/events", [_event(x=i) for i in range(2)])
    automation_jobs.pump()
    assert runs_of(repos, dep["id"]) == []
    call(client, "POST", "/events", [_event(x=2)])
    automation_jobs.pump()
    assert len(runs_of(repos, dep["id"])) == 1
    call(client, "PATCH", f"/automations/{automation['id']}", {"enabled": False})
    call(client, "POST", "/events", [_event(x=i) for i in range(3)])
    automation_jobs.pump()
    assert len(runs_of(repos, dep["id"])) == 1


@pytest.mark.both_backends
def test_racing_evaluations_of_one_event_fire_once(client, repos):
    from chalicelib import services

    flow_id = make_flow(client)
    dep = deploy(client, flow_id)
    trigger = {"type": "event", "posture": "Reactive", "expect": ["my.event"], "threshold": 2, "within": 60}
    call(client, "POST", "/automations/", _automation(dep["id"], trigger=trigger))
    events = [_event(x=1), _event(x=2)]
    now = datetime.now(UTC)
    firings: list[int] = []

    def evaluate() -> None:
        report = services.automations.evaluate_events(repos, events, now)
        firings.append(len(report.firings))

    threads = [threading.Thread(target=evaluate) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(firings) == 1, firings


def test_proactive_trigger_fires_when_nothing_came(client, repos):
    from chalicelib import services

    trigger = {"type": "event", "posture": "Proactive", "expect": ["my.done"], "within": 10}
    automation = call(client, "POST", "/automations/", _automation(trigger=trigger))[1]
    start = datetime.now(UTC)
    assert services.automations.evaluate_proactive(repos, start).firings == []
    later = services.automations.evaluate_proactive(repos, start + timedelta(seconds=11))
    assert len(later.firings) == 1 and later.firings[0][1]["automation"]["id"] == automation["id"]
    # evaluating the same instant again does not fire twice
    assert services.automations.evaluate_proactive(repos, start + timedelta(seconds=11)).firings == []


def test_compound_all_and_sequence(client, repos):
    from chalicelib import services

    def child(name):
        return {"type": "event", "posture": "Reactive", "expect": [name]}

    compound = {"type": "compound", "require": "all", "within": 60, "triggers": [child("a.one"), child("a.two")]}
    sequence = {"type": "sequence", "within": 60, "triggers": [child("s.one"), child("s.two")]}
    call(client, "POST", "/automations/", _automation(name="all", trigger=compound))
    call(client, "POST", "/automations/", _automation(name="seq", trigger=sequence))
    now = datetime.now(UTC)
    fire = services.automations.evaluate_events
    assert fire(repos, [_event("a.two")], now).firings == []
    assert len(fire(repos, [_event("a.one")], now + timedelta(seconds=1)).firings) == 1
    assert fire(repos, [_event("s.two")], now).firings == []
    assert fire(repos, [_event("s.one")], now + timedelta(seconds=1)).firings == []  # out of order
    assert len(fire(repos, [_event("s.two")], now + timedelta(seconds=2)).firings) == 1


@pytest.mark.both_backends
def test_racing_proactive_ticks_fire_once(client, repos):
    from chalicelib import services

    trigger = {"type": "event", "posture": "Proactive", "expect": ["my.done"], "within": 10}
    call(client, "POST", "/automations/", _automation(trigger=trigger))
    start = datetime.now(UTC)
    services.automations.evaluate_proactive(repos, start)
    firings: list[int] = []

    def tick() -> None:
        firings.append(len(services.automations.evaluate_proactive(repos, start + timedelta(seconds=11)).firings))

    threads = [threading.Thread(target=tick) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(firings) == 1, firings


def test_an_unfinished_firing_is_finished_by_the_next_tick(client, repos, settings):
    """An evaluator that died after writing a firing: after its lease, the tick performs the actions."""
    from chalicelib import services

    flow_id = make_flow(client)
    dep = deploy(client, flow_id)
    call(client, "POST", "/automations/", _automation(dep["id"]))
    now = datetime.now(UTC)
    report = services.automations.evaluate_events(repos, [_event(x=5)], now)  # firing written, not acted on
    assert len(report.firings) == 1 and runs_of(repos, dep["id"]) == []
    assert services.automations.recover(repos, settings, now) == 0  # its lease holds
    assert services.automations.recover(repos, settings, now + timedelta(seconds=61)) == 1
    assert [r.parameters for r in runs_of(repos, dep["id"])] == [{"x": 5}]
    assert services.automations.recover(repos, settings, now + timedelta(seconds=200)) == 0


def test_run_deployment_job_variables_are_checked_when_the_automation_is_written(client):
    """As Prefect: an action whose job variables no run of its deployment could take is refused at
    create and replace (422 naming the variable), an unknown deployment is a 404."""
    from tests.api.test_workers import PROCESS_LIKE, _pool

    _pool(client, base_job_template=PROCESS_LIKE)
    deployment = deploy(client, make_flow(client), "d", work_pool_name="p")

    def with_job_variables(deployment_id, job_variables):
        body = _automation(deployment["id"])
        body["actions"][0].update(deployment_id=deployment_id, job_variables=job_variables)
        return body

    status, body = call(client, "POST", "/automations/", with_job_variables(deployment["id"], {"image": "c"}))
    assert status == 422 and body["exception_detail"][0]["loc"] == ["body", "actions", 0, "job_variables", "image"]
    status, body = call(client, "POST", "/automations/", with_job_variables(str(uuid.uuid4()), {"image": "a"}))
    assert status == 404, body
    assert call(client, "POST", "/automations/count", {}) == (200, 0)
    status, created = call(client, "POST", "/automations/", with_job_variables(deployment["id"], {"image": "a"}))
    assert status == 201 and created["actions"][0]["job_variables"] == {"image": "a"}, created
    replaced = with_job_variables(deployment["id"], {"image": "a", "stream_output": "yes"})
    status, body = call(client, "PUT", f"/automations/{created['id']}", replaced)
    assert status == 422 and body["exception_detail"][0]["loc"][-1] == "stream_output", body
    assert call(client, "GET", f"/automations/{created['id']}")[1]["actions"] == created["actions"]
