"""The maintenance Lambdas end to end through Chalice: rates, the Lambda's time budget, the log line."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.config import override_settings
from tests.jobs.maintenance_factories import running, scheduled, zombie_crashed

JOBS = ("kill_zombies", "revive_crashed_runs", "mark_late_runs")


def _invoke(client, name):
    event = client.events.generate_cw_event(source="aws.events", detail_type="Scheduled Event", detail={}, resources=[])
    return client.lambda_.invoke(name, event).payload


@pytest.fixture
def roomy(settings):
    """The test client's Lambda context has 3 s to live; the default margin is 10 s."""
    return override_settings(settings, job_time_margin_s=0.5)


def test_the_jobs_are_scheduled_at_their_rates():
    from app import app

    rates = {source.name: source.schedule_expression.to_string() for source in app.event_sources if source.name in JOBS}
    assert rates == {
        "kill_zombies": "rate(1 minute)",
        "revive_crashed_runs": "rate(5 minutes)",
        "mark_late_runs": "rate(1 minute)",
    }


def test_each_job_acts_and_logs_one_json_line_equal_to_its_result(client, roomy, repos, capsys):
    now = datetime.now(UTC)
    zombie = running(now - timedelta(hours=1), heartbeat=now - timedelta(minutes=11))
    crashed = zombie_crashed(now - timedelta(minutes=2))
    late = scheduled(now - timedelta(minutes=1))
    for run in (zombie, crashed, late):
        repos.flow_runs.insert(run)
    capsys.readouterr()

    results = {name: _invoke(client, name) for name in JOBS}

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines == [results[name] for name in JOBS]  # one bare JSON line per tick, equal to its result
    assert [line["job"] for line in lines] == list(JOBS)
    assert results["kill_zombies"]["crashed"] == 1
    assert results["revive_crashed_runs"]["rescheduled"] == 2  # the older crash and the one just made
    assert results["mark_late_runs"]["marked_late"] == 1
    assert repos.flow_runs.get(zombie.id).state_name == "Rescheduled"
    assert repos.flow_runs.get(crashed.id).state_name == "Rescheduled"
    assert repos.flow_runs.get(late.id).state_name == "Late"


def test_a_job_stops_at_once_when_the_lambda_is_within_its_margin(client, settings, repos):
    now = datetime.now(UTC)
    late = scheduled(now - timedelta(minutes=1))
    repos.flow_runs.insert(late)
    # 3 s left (the test client's context) is inside the default 10 s margin: touch nothing.
    result = _invoke(client, "mark_late_runs")
    assert (result["pages"], result["changed"], result["stopped_early"]) == (0, 0, True)
    assert repos.flow_runs.get(late.id).state_name == "Scheduled"
