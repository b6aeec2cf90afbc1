"""The run counts' stream consumers: one Lambda per runs table, mapped to the table's DynamoDB stream
by the CDK stack (``infra/cirrus_stack.py``: batches of up to 1,000 records, a 5-second batching
window, one batch per shard at a time, retried until it succeeds). Applying a record twice changes
nothing (``chalicelib.storage.run_counts``), so Lambda's retries keep the counts exact."""

from __future__ import annotations

import json
import logging
from typing import Any

from chalice import Blueprint

from chalicelib import services
from chalicelib.config import get_settings
from chalicelib.storage import shared_repositories

bp = Blueprint(__name__)
log = logging.getLogger("cirrus.run_counts")


def _consume(kind: str, event: dict[str, Any]) -> dict[str, Any]:
    records = event.get("Records", [])
    applied = services.run_counts.count_stream_records(shared_repositories(get_settings()), kind, records)
    report = {"job": f"count_{kind}", "records": len(records), "applied": applied}
    log.info(json.dumps(report))
    return report


@bp.lambda_function(name="count_flow_runs")
def count_flow_runs(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Records of the ``flow_runs`` stream → the flow-run counts."""
    return _consume(services.run_counts.FLOW_RUNS, event)


@bp.lambda_function(name="count_task_runs")
def count_task_runs(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Records of the ``task_runs`` stream → the task-run counts."""
    return _consume(services.run_counts.TASK_RUNS, event)
