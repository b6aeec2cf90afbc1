"""The automations' Lambdas: the events stream consumer (on stream records of the events table, as
Lambda delivers them) and the proactive tick (on a scheduled event, through the Chalice client)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from chalice.test import Client

from app import app
from chalicelib.jobs import automations as automation_jobs
from chalicelib.storage import aggregates
from chalicelib.storage.event_models import EventModel
from tests.api.deployments_support import deploy, make_flow, runs_of
from tests.helpers import call


def _stream_records(settings) -> list[dict]:
    found: list[dict] = []
    aggregates.pull_stream(settings, EventModel, f"test-{uuid.uuid4()}", found.extend)
    return found


def test_the_stream_consumer_runs_the_deployment_once_however_often_a_batch_comes(client, settings, repos):
    flow_id = make_flow(client)
    dep = deploy(client, flow_id)
    body = {
        "name": "on go",
        "trigger": {"type": "event", "posture": "Reactive", "expect": ["jobs.go"]},
        "actions": [{"type": "run-deployment", "deployment_id": dep["id"]}],
    }
    assert call(client, "POST", "/automations/", body)[0] == 201
    event = {"id": str(uuid.uuid4()), "occurred": datetime.now(UTC).isoformat(), "event": "jobs.go",
             "resource": {"prefect.resource.id": "jobs.thing"}}  # fmt: skip
    assert call(client, "POST", "/events", [event])[0] == 204
    records = [{**r, "eventSourceARN": "arn:aws:dynamodb:stream"} for r in _stream_records(settings)]
    assert any(r["eventName"] == "INSERT" for r in records)
    first = automation_jobs.evaluate_automations({"Records": records}, None)
    again = automation_jobs.evaluate_automations({"Records": records}, None)  # a retried batch
    assert first["firings"] == 1 and again["firings"] == 0, (first, again)
    assert len(runs_of(repos, dep["id"])) == 1


def test_the_proactive_tick_is_scheduled_every_minute_and_reports_counts(settings, capsys):
    with Client(app, stage_name="test") as chalice:
        event = chalice.events.generate_cw_event(
            source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
        )
        response = chalice.lambda_.invoke("evaluate_proactive_automations", event)
    assert response.payload["job"] == "evaluate_proactive_automations"
    assert response.payload["firings"] == 0 and response.payload["recovered"] == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line == response.payload
    rates = {s.name: s.schedule_expression for s in app.event_sources if hasattr(s, "schedule_expression")}
    assert rates["evaluate_proactive_automations"].to_string() == "rate(1 minute)"
