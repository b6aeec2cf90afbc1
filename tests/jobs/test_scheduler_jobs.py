"""The scheduler Lambdas through Chalice: rates, the event's clock, the time budget, the log line."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.config import override_settings
from chalicelib.domain.identity import scheduled_run_id
from chalicelib.storage.models import DeploymentModel, ScheduleModel
from tests.reliability.factories import CRON_5, auto_runs, make_deployment, schedule_item

JOBS = ("schedule_deployments", "schedule_recent_deployments")
REPORT_KEYS = {
    "job", "deployments_examined", "schedules_examined", "runs_inserted", "conflicts", "errors", "requests",
    "duration_s", "stopped_early",
}  # fmt: skip


@pytest.fixture
def roomy(settings):
    """The test client's Lambda context has 3 s to live; the default margin is 10 s."""
    return override_settings(settings, job_time_margin_s=0.5)


def minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


def invoke(client, name: str, at: datetime | None = None) -> dict:
    event = client.events.generate_cw_event(source="aws.events", detail_type="Scheduled Event", detail={}, resources=[])
    if at is not None:
        event["time"] = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    return client.lambda_.invoke(name, event).payload


def test_both_jobs_run_every_minute():
    from app import app

    rates = {source.name: source.schedule_expression.to_string() for source in app.event_sources if source.name in JOBS}
    assert rates == dict.fromkeys(JOBS, "rate(1 minute)")


def test_a_tick_plans_from_the_events_time_and_logs_one_json_line_equal_to_its_result(client, roomy, capsys):
    at = minute(datetime.now(UTC)) - timedelta(minutes=2)
    placed = make_deployment("d", specs=[CRON_5], now=at)
    capsys.readouterr()
    result = invoke(client, "schedule_deployments", at)
    assert [json.loads(line) for line in capsys.readouterr().out.splitlines()] == [result]
    assert set(result) == REPORT_KEYS and result["job"] == "schedule_deployments"
    assert (result["runs_inserted"], result["errors"], result["stopped_early"]) == (13, 0, False)
    first = at + timedelta(minutes=(-at.minute) % 5)  # the first */5 occurrence at or after the event
    schedule_id = next(iter(placed.schedules))
    assert str(scheduled_run_id(placed.flow_id, placed.deployment_id, schedule_id, first)) in {
        r.id for r in auto_runs()
    }


def test_an_event_time_far_from_the_clock_is_not_trusted(client, roomy):
    now = datetime.now(UTC)
    make_deployment("d", specs=[CRON_5], now=now - timedelta(hours=1))
    invoke(client, "schedule_deployments")  # the test client's event says 2015
    runs = auto_runs()
    assert runs and min(r.expected_start_time for r in runs) >= minute(now) - timedelta(minutes=1)


def test_a_tick_within_the_margin_stops_at_once_and_the_next_completes(client, settings, roomy):
    make_deployment("d", specs=[CRON_5], now=datetime.now(UTC) - timedelta(minutes=1))
    override_settings(settings, job_time_margin_s=10.0)  # more than the context's 3 s
    result = invoke(client, "schedule_deployments")
    assert (result["runs_inserted"], result["requests"], result["stopped_early"]) == (0, 0, True)
    override_settings(settings, job_time_margin_s=0.5)
    assert invoke(client, "schedule_deployments")["runs_inserted"] == 13


def test_recent_deployments_are_replanned_as_a_safety_net(client, roomy):
    now = datetime.now(UTC)
    recent = make_deployment("recent", specs=[CRON_5], now=now - timedelta(minutes=1))
    old = make_deployment("old", specs=[CRON_5], now=now - timedelta(hours=1))
    for placed in (recent, old):  # as if the inline scheduling had been lost: not even due
        for schedule_id in placed.schedules:
            schedule_item(placed.deployment_id, schedule_id).update(
                actions=[ScheduleModel.due_shard.remove(), ScheduleModel.due_at.remove()]
            )
    result = invoke(client, "schedule_recent_deployments")
    assert (result["deployments_examined"], result["runs_inserted"]) == (1, 13)
    assert {r.deployment_id for r in auto_runs()} == {str(recent.deployment_id)}
    assert schedule_item(recent.deployment_id, next(iter(recent.schedules))).due_shard == "due"
    # Nothing changed since: the next pass reads the index and the deployment, and writes nothing.
    again = invoke(client, "schedule_recent_deployments")
    assert (again["runs_inserted"], again["requests"]) == (0, 3)


def test_recent_deployments_job_costs_one_query_when_nothing_changed(client, roomy):
    make_deployment("old", specs=[CRON_5], now=datetime.now(UTC) - timedelta(hours=1))
    assert DeploymentModel.count() == 1
    result = invoke(client, "schedule_recent_deployments")
    assert (result["deployments_examined"], result["requests"]) == (0, 1)
