"""The two DynamoDB streams the event feed lives on, decoded for the services:

- the ``flow_runs`` stream → (old run, new run) pairs: Cirrus's own ``prefect.flow-run.<State>``
  events are derived from them (:mod:`chalicelib.services.flow_run_events`);
- the ``events`` stream → the events newly stored: ``/events/out`` pushes them to subscribers
  (:mod:`chalicelib.services.event_subscriptions`).

Deployed, a Lambda receives each stream's records (``app.py``; mapped by the CDK stack). Locally
(``Settings.pull_streams``) :func:`pull_flow_run_changes` and :func:`pull_new_events` read them with
the run counts' pull machinery (:func:`chalicelib.storage.aggregates.pull_stream`), each consumer
under its own checkpoints.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from chalicelib.config import Settings
from chalicelib.schemas.flow_runs import FlowRun
from chalicelib.storage.event_models import EventModel
from chalicelib.storage.event_store import EVENT
from chalicelib.storage.flow_runs._items import from_item as flow_run_from_item
from chalicelib.storage.models import FlowRunModel

log = logging.getLogger(__name__)

FLOW_RUN_EVENTS = "flow-run-events"
FAN_OUT = "fan-out"
AUTOMATIONS = "automations"
_locks = {FLOW_RUN_EVENTS: threading.Lock(), FAN_OUT: threading.Lock(), AUTOMATIONS: threading.Lock()}

Change = tuple[FlowRun | None, FlowRun]


def _run(image: Mapping[str, Any] | None) -> FlowRun | None:
    if not image:
        return None
    try:
        return flow_run_from_item(FlowRunModel.from_raw_data(dict(image)))
    except (ValidationError, ValueError, KeyError, TypeError) as exc:
        log.warning("flow-run events: unreadable run image %s: %s", image.get("id"), exc)
        return None


def flow_run_changes(records: Iterable[Mapping[str, Any]]) -> list[Change]:
    """(before, after) of every run written in these records (Lambda's or GetRecords' shape), in
    order; deletions and unreadable images are left out."""
    changes: list[Change] = []
    for record in records:
        data = record.get("dynamodb", {})
        new = _run(data.get("NewImage"))
        if new is not None:
            changes.append((_run(data.get("OldImage")), new))
    return changes


def new_events(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The events first stored by these records of the ``events`` stream, in order."""
    found = []
    for record in records:
        if record.get("eventName") != "INSERT":
            continue
        image = record.get("dynamodb", {}).get("NewImage") or {}
        if not image.get("pk", {}).get("S", "").startswith(EVENT) or "doc" not in image:
            continue
        try:
            found.append(json.loads(image["doc"]["S"]))
        except (ValueError, KeyError, TypeError):
            log.warning("fan-out: unreadable event item %s", image.get("sk"))
    return found


def _pull(settings: Settings, model: Any, consumer: str, handle: Callable[[list[dict[str, Any]]], object]) -> int:
    from chalicelib.storage.aggregates import pull_stream  # botocore's streams client: pull mode only

    with _locks[consumer]:
        return pull_stream(settings, model, consumer, handle)


def pull_flow_run_changes(settings: Settings, handle: Callable[[list[Change]], object]) -> int:
    return _pull(settings, FlowRunModel, FLOW_RUN_EVENTS, lambda records: handle(flow_run_changes(records)))


def pull_new_events(settings: Settings, handle: Callable[[list[dict[str, Any]]], object]) -> int:
    return _pull(settings, EventModel, FAN_OUT, lambda records: handle(new_events(records)))


def pull_automation_events(settings: Settings, handle: Callable[[list[dict[str, Any]]], object]) -> int:
    return _pull(settings, EventModel, AUTOMATIONS, lambda records: handle(new_events(records)))
