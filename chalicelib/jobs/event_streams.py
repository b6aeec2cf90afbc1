"""The event feed's stream consumer ``emit_flow_run_events``: records of the ``flow_runs`` stream →
Cirrus's ``prefect.flow-run.<State>`` events (:mod:`chalicelib.services.flow_run_events`); a failed
batch is retried (storing an event twice stores it once)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from chalice import Blueprint

from chalicelib.config import get_settings
from chalicelib.services import flow_run_events
from chalicelib.storage import shared_repositories

bp = Blueprint(__name__)
log = logging.getLogger("chalicelib.events")
log.setLevel(logging.INFO)


@bp.lambda_function(name="emit_flow_run_events")
def emit_flow_run_events(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Records of the ``flow_runs`` stream → their state-change events in the feed."""
    records = event.get("Records", [])
    stored = flow_run_events.record_stream(shared_repositories(get_settings()), records, datetime.now(UTC))
    report = {"job": "emit_flow_run_events", "records": len(records), "stored": stored}
    log.info(json.dumps(report))
    return report
