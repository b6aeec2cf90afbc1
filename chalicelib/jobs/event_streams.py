"""The event feed's stream consumers, mapped by the CDK stack (``infra/cirrus_stack.py``):

- ``emit_flow_run_events``: records of the ``flow_runs`` stream → Cirrus's
  ``prefect.flow-run.<State>`` events (:mod:`chalicelib.services.flow_run_events`); a failed batch
  is retried (storing an event twice stores it once);
- ``fan_out_events``: new items of the ``events`` stream → the ``/events/out`` subscribers whose
  filter matches (:mod:`chalicelib.services.event_subscriptions`);
- ``deliver_task_runs``: task runs that start waiting for a task worker (records of the
  ``task_runs`` stream whose new image is on a task key's queue) → the subscribed task workers of
  ``/task_runs/subscriptions/scheduled`` (:mod:`chalicelib.services.task_workers`).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from functools import cache
from typing import Any

from chalice import Blueprint
from chalice.app import WebsocketAPI

from chalicelib import services
from chalicelib.config import Settings, get_settings
from chalicelib.connections import Send, sender
from chalicelib.storage import boto3_session, shared_repositories

bp = Blueprint(__name__)
log = logging.getLogger("chalicelib.events")
log.setLevel(logging.INFO)
#: The WebSocket API's stage (the same name as the REST API's; see infra/cirrus_stack.py).
WEBSOCKET_STAGE = "api"


@bp.lambda_function(name="emit_flow_run_events")
def emit_flow_run_events(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Records of the ``flow_runs`` stream → their state-change events in the feed."""
    records = event.get("Records", [])
    stored = services.flow_run_events.record_stream(shared_repositories(get_settings()), records, datetime.now(UTC))
    report = {"job": "emit_flow_run_events", "records": len(records), "stored": stored}
    log.info(json.dumps(report))
    return report


@bp.lambda_function(name="fan_out_events")
def fan_out_events(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """New items of the ``events`` stream → every ``/events/out`` subscriber whose filter matches,
    through API Gateway's management API (``CIRRUS_EVENTS_OUT_API_ID``); a connection that is gone
    loses its subscription. A failed batch is retried: a subscriber may see an event twice (Prefect's
    client drops an id it has seen)."""
    settings = get_settings()
    repos = shared_repositories(settings)
    report = services.event_subscriptions.fan_out(
        repos, repos.events.new_events(event.get("Records", [])), _sender(settings)
    )
    log.info(json.dumps({"job": "fan_out_events", **report}))
    return report


@bp.lambda_function(name="deliver_task_runs")
def deliver_task_runs(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Background task runs that start waiting → the task workers subscribed to their task keys,
    each run to one worker (a conditional write takes it off its queue), through API Gateway's
    management API; a connection that is gone is forgotten and its run goes to the next worker.
    A run no worker takes waits on its queue for the next subscription."""
    settings = get_settings()
    repos = shared_repositories(settings)
    keys = services.task_workers.waiting_keys(repos, event.get("Records", []))
    delivered = services.task_workers.deliver(repos, keys, _sender(settings), datetime.now(UTC))
    report = {"job": "deliver_task_runs", "records": len(event.get("Records", [])), "delivered": delivered}
    log.info(json.dumps(report))
    return report


@cache
def _management_api(api_id: str) -> WebsocketAPI:
    """One management-API client per warm Lambda."""
    api = WebsocketAPI()
    api.session = boto3_session()
    api.configure_from_api_id(api_id, WEBSOCKET_STAGE)
    return api


def _sender(settings: Settings) -> Send:
    return sender(_management_api(settings.events_out_api_id or ""))
