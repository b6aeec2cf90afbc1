"""Bad input never hurts: random bodies (and mutations of valid ones) on every write route get a
4xx or a success, never a 500. The objects named in paths exist, so bodies reach the services."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import call

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)

FIELDS = [
    "name", "flow_id", "tags", "labels", "schedules", "schedule", "cron", "interval", "rrule", "timezone",
    "anchor_date", "state", "type", "parameters", "limit", "offset", "page", "sort", "flows", "deployments",
    "flow_runs", "start_time", "end_time", "min_runs", "max_runs", "min_time", "deployment_ids",
    "scheduled_before", "paused", "slug", "active", "max_scheduled_runs", "force", "idempotency_key",
    "work_queue_name", "empirical_policy", "state_details", "scheduled_time", "day_or",
    "value", "task_key", "dynamic_key", "flow_run_id", "task_run_id", "level", "message", "timestamp", "logs",
    "task_runs", "variables", "cache_key", "task_inputs",
]  # fmt: skip

BODIES = st.one_of(
    JSON,
    st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=5),
    st.builds(lambda body: json.dumps(body)[:-1], st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=3)),
)


@pytest.fixture
def world(client: Any) -> dict[str, str]:
    _, flow = call(client, "POST", "/flows/", {"name": "fuzzed"})
    body = {"name": "d", "flow_id": flow["id"], "schedules": [{"schedule": {"interval": 3600}, "slug": "s"}]}
    _, deployment = call(client, "POST", "/deployments/", body)
    _, run = call(client, "POST", "/flow_runs/", {"flow_id": flow["id"]})
    _, variable = call(client, "POST", "/variables/", {"name": "v", "value": 1})
    _, task_run = call(client, "POST", "/task_runs/", {"task_key": "k", "dynamic_key": "0", "flow_run_id": run["id"]})
    return {
        "variable": variable["id"],
        "task_run": task_run["id"],
        "flow": flow["id"],
        "deployment": deployment["id"],
        "schedule": deployment["schedules"][0]["id"],
        "run": run["id"],
    }


ROUTES = [
    ("POST", "/flows/"), ("PATCH", "/flows/{flow}"), ("POST", "/flows/filter"), ("POST", "/flows/count"),
    ("POST", "/flows/paginate"), ("POST", "/deployments/"), ("PATCH", "/deployments/{deployment}"),
    ("POST", "/deployments/filter"), ("POST", "/deployments/count"), ("POST", "/deployments/paginate"),
    ("POST", "/deployments/{deployment}/schedule"), ("POST", "/deployments/{deployment}/create_flow_run"),
    ("POST", "/deployments/get_scheduled_flow_runs"), ("POST", "/deployments/{deployment}/schedules"),
    ("PATCH", "/deployments/{deployment}/schedules/{schedule}"), ("POST", "/flow_runs/"),
    ("PATCH", "/flow_runs/{run}"), ("POST", "/flow_runs/filter"), ("POST", "/flow_runs/count"),
    ("POST", "/flow_runs/paginate"), ("POST", "/flow_runs/{run}/set_state"),
    ("POST", "/variables/"), ("PATCH", "/variables/{variable}"), ("PATCH", "/variables/name/v"),
    ("POST", "/variables/filter"), ("POST", "/variables/count"), ("POST", "/task_runs/"),
    ("POST", "/task_runs/{task_run}/set_state"), ("POST", "/task_runs/filter"), ("POST", "/task_runs/count"),
    ("POST", "/logs/"), ("POST", "/logs/filter"),
]  # fmt: skip


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(route=st.sampled_from(ROUTES), body=BODIES)
def test_random_bodies_never_get_a_500(client, world, route, body):
    method, template = route
    path = template.format(**world)
    payload = body if isinstance(body, str) else json.dumps(body)
    status, reply = call(client, method, path, payload)
    assert status < 500, (method, path, payload, reply)
    if status == 422:
        assert reply["exception_detail"] or reply.get("detail"), reply


def _nested(world: dict[str, str], which: str, value: Any, kind: str) -> tuple[str, str, Any]:
    """A valid body for a route with one nested field replaced by ``value``."""
    schedule = {kind: value, "timezone": "UTC"} if kind != "timezone" else {"interval": 60, "timezone": value}
    bodies = {
        "deployment": (
            "POST",
            "/deployments/",
            {"name": "n", "flow_id": world["flow"], "schedules": [{"schedule": schedule}]},
        ),
        "schedule_patch": (
            "PATCH",
            f"/deployments/{world['deployment']}/schedules/{world['schedule']}",
            {"schedule": schedule},
        ),
        "set_state": (
            "POST",
            f"/flow_runs/{world['run']}/set_state",
            {"state": {"type": "SCHEDULED", "state_details": {kind: value}}},
        ),
        "backfill": ("POST", f"/deployments/{world['deployment']}/schedule", {kind: value}),
        "filter": ("POST", "/flow_runs/filter", {"flow_runs": {kind: value}}),
    }
    return bodies[which]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    which=st.sampled_from(["deployment", "schedule_patch", "set_state", "backfill", "filter"]),
    kind=st.sampled_from(
        ["cron", "interval", "rrule", "anchor_date", "timezone", "scheduled_time", "start_time", "end_time",
         "min_runs", "max_runs", "min_time", "next_scheduled_start_time", "state", "tags"]
    ),
    value=JSON | st.sampled_from(["* * * * *", "0 0 31 2 *", "FREQ=DAILY", "DTSTART:20200101T000000\nRRULE:X=1",
                                  "Mars/Olympus", "2024-03-10T02:30:00", "9999-12-31T23:59:59Z", "-1", "1e308"]),
)  # fmt: skip
def test_valid_bodies_with_one_bad_field_never_get_a_500(client, world, which, kind, value):
    method, path, body = _nested(world, which, value, kind)
    status, reply = call(client, method, path, body)
    assert status < 500, (method, path, body, reply)
