"""Storing an event (a client's, from ``/events/in`` and ``POST /events``, or Cirrus's own) in the
feed, once per id, stamped with the time it was received (Prefect's ``ReceivedEvent``)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from chalicelib.errors import StorageLimitError
from chalicelib.schemas.common import iso_z
from chalicelib.schemas.events import Event
from chalicelib.storage import Repositories

log = logging.getLogger("chalicelib.events")


def as_received(event: Event, received: datetime) -> dict[str, Any]:
    """The JSON the feed stores and serves: the event with ``received``."""
    return {**event.model_dump(mode="json"), "received": iso_z(received)}


def store(repos: Repositories, event: Event, received: datetime) -> bool:
    """Keep ``event`` for the retention period; ``False`` when its id was stored already, or when it
    can never be stored (larger than an item may be: logged, never fatal to its connection)."""
    try:
        return repos.events.put(as_received(event, received), event.occurred, received)
    except StorageLimitError as exc:
        log.warning("event %s (%s) not stored: %s", event.id, event.event, exc)
        return False
