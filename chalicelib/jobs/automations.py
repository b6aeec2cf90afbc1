"""The automations' Lambdas (mapped and scheduled by the CDK stack, ``infra/cirrus_stack.py``):

- ``evaluate_automations``: new items of the ``events`` stream → the reactive triggers they cover
  (:func:`chalicelib.services.automations.evaluate_events`), then the new firings' actions. A failed
  batch is retried: an event counted once per bucket, a firing written once;
- ``evaluate_proactive_automations`` (every minute): proactive windows that ended short of their
  threshold fire; firings whose evaluator died are finished.

Locally (``CIRRUS_STREAMS=pull``) the dev stack calls :func:`pump` every half second.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from chalice import Blueprint, Rate
from chalice.app import CloudWatchEvent

from chalicelib import services
from chalicelib.config import get_settings
from chalicelib.jobs.common import log_bare_json_lines
from chalicelib.storage import shared_repositories

bp = Blueprint(__name__)
LOGGER_NAME = "cirrus.automations"


def _evaluate(events: list[dict[str, Any]]) -> dict[str, Any]:
    settings = get_settings()
    repos = shared_repositories(settings)
    report = services.automations.evaluate_events(repos, events, datetime.now(UTC))
    services.automations.perform_pending(repos, settings, report.firings, datetime.now(UTC))
    return report.counts()


@bp.lambda_function(name="evaluate_automations")
def evaluate_automations(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Records of the ``events`` stream → reactive triggers → actions."""
    repos = shared_repositories(get_settings())
    counts = _evaluate(repos.events.new_events(event.get("Records", [])))
    log_bare_json_lines(LOGGER_NAME)
    logging.getLogger(LOGGER_NAME).info(json.dumps({"job": "evaluate_automations", **counts}))
    return counts


@bp.schedule(Rate(1, unit=Rate.MINUTES))
def evaluate_proactive_automations(event: CloudWatchEvent) -> dict[str, Any]:
    """Proactive triggers whose window ended; firings left unfinished by a failed evaluator."""
    settings = get_settings()
    repos = shared_repositories(settings)
    at = datetime.now(UTC)
    report = services.automations.evaluate_proactive(repos, at)
    services.automations.perform_pending(repos, settings, report.firings, at)
    recovered = services.automations.recover(repos, settings, datetime.now(UTC))
    log_bare_json_lines(LOGGER_NAME)
    counts = {"job": "evaluate_proactive_automations", **report.counts(), "recovered": recovered}
    logging.getLogger(LOGGER_NAME).info(json.dumps(counts))
    return counts


def pump() -> dict[str, Any]:
    """Pull mode (the local stack): evaluate the events stored since the last pump."""
    settings = get_settings()
    repos = shared_repositories(settings)
    found: list[dict[str, Any]] = []
    repos.events.pull_automation_events(found.extend)
    return _evaluate(found) if found else {"events": 0}
