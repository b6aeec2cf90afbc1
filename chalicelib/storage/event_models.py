"""The event feed's tables: ``events`` (the stored events, their id claims and resource pointers) and
``event_subscriptions`` (the deployed ``/events/out`` websocket connections).

``events`` holds three kinds of item under one key schema (``pk``, ``sk``), all expiring (TTL)
``events_retention_days`` after they were stored:

- the event: ``pk`` = ``t#<hour of occurred>``, ``sk`` = ``<occurred, UTC fixed width>#<id>``; the JSON
  in ``doc``; ``e`` (name) and ``r`` (resource id) for counting. Its stream (NEW_IMAGE) feeds the
  ``/events/out`` fan-out;
- the id claim: ``pk`` = ``i#<id>``, ``sk`` = ``-``, ``k`` = the event's key: makes a stored event
  unique per id (a second event with the same id and another time is refused) and serves id lookups;
- one pointer per resource of the event: ``pk`` = ``r#<resource id>``, ``sk`` = the event's ``sk``,
  ``ro`` = the roles it plays there (``""`` for the event's own resource);
- a status mark per work pool and work queue: ``pk`` = ``s#<resource id>``, ``sk`` = ``-``, ``k`` =
  ``<STATUS>|<event id>``, the last status event emitted for it (never expires).
"""

from __future__ import annotations

from pynamodb.attributes import JSONAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.models import Model

from chalicelib.storage.model_meta import TableMeta


class EventModel(Model):
    class Meta(TableMeta):
        table_name = "events"
        #: The ``/events/out`` fan-out reads new events from this stream.
        stream_view_type = "NEW_IMAGE"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    doc = UnicodeAttribute(null=True)
    e = UnicodeAttribute(null=True)
    r = UnicodeAttribute(null=True)
    k = UnicodeAttribute(null=True)
    ro = JSONAttribute(null=True)
    expires_at = TTLAttribute(null=True)


class EventSubscriptionModel(Model):
    """A deployed ``/events/out`` connection: its filter once the filter frame came (``filter``),
    ``None`` while it waits for it. Expires (TTL) after API Gateway's 2-hour connection limit."""

    class Meta(TableMeta):
        table_name = "event_subscriptions"

    connection_id = UnicodeAttribute(hash_key=True)
    filter = UnicodeAttribute(null=True)
    expires_at = TTLAttribute(null=True)


EVENT_MODELS: tuple[type[Model], ...] = (EventModel, EventSubscriptionModel)
