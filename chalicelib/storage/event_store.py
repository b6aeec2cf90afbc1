"""Storing events once and reading them back in time order, never with a Scan
(the items: :mod:`chalicelib.storage.event_models`).

Writing one event: (1) its id claim, conditional on being new or naming this same event (a resend);
(2) its resource pointers, a BatchWriteItem (idempotent: same keys); (3) the event, conditional on
being new. A crash between the steps is repaired by the client's resend; a pointer whose event is
missing is skipped on read. Writes: 1 (claim) + ⌈event KB⌉ + 1 per resource, no index.

Reading: a Query of one partition (an hour of events, or one resource's pointers) from a position,
in either order; pointers' events are fetched with BatchGetItem (100 keys a request).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.exceptions import PutError

from chalicelib.config import Settings
from chalicelib.domain.identity import utc_key
from chalicelib.storage.errors import is_condition_failure, translated
from chalicelib.storage.event_models import EventModel, EventSubscriptionModel

EVENT = "t#"
CLAIM = "i#"
POINTER = "r#"
STATUS = "s#"
#: A sort key above every ``<instant>#<uuid>`` of the same instant prefix.
_TOP = "~"
_BATCH_GET = 100
#: Write requests to store one new event with up to 25 resources: the claim, the pointers, the event.
WRITE_REQUESTS = 3


def hour_partition(instant: datetime) -> str:
    return EVENT + instant.astimezone(UTC).strftime("%Y-%m-%dT%H")


def hour_of(partition: str) -> datetime:
    return datetime.strptime(partition[len(EVENT) :], "%Y-%m-%dT%H").replace(tzinfo=UTC)


def event_key(occurred: datetime, event_id: str) -> tuple[str, str]:
    """The event item's (pk, sk)."""
    return hour_partition(occurred), f"{utc_key(occurred)}#{event_id}"


def partition_of_sort_key(sk: str) -> str:
    """The hour partition an event's ``sk`` belongs to."""
    return EVENT + sk[:13]


def pointer_partition(resource_id: str) -> str:
    return POINTER + resource_id


class EventStore:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.retention = timedelta(days=settings.events_retention_days)

    # ------------------------------------------------------------------ writes
    def put(self, event: dict[str, Any], occurred: datetime, now: datetime) -> bool:
        """Store ``event`` (Prefect's JSON shape, ``received`` included) once; ``False`` when an
        event with its id is already stored (the same one resent, or another with that id)."""
        event_id = str(event["id"])
        pk, sk = event_key(occurred, event_id)
        expires = now + self.retention
        try:
            EventModel(CLAIM + event_id, "-", k=f"{pk}|{sk}", expires_at=expires).save(
                condition=EventModel.pk.does_not_exist() | (EventModel.k == f"{pk}|{sk}")
            )
        except PutError as exc:
            if is_condition_failure(exc):
                return False  # another event took this id
            raise translated(exc, "store event") from exc
        roles: dict[str, list[str]] = {event["resource"]["prefect.resource.id"]: [""]}
        for related in event.get("related") or []:
            roles.setdefault(related["prefect.resource.id"], []).append(related["prefect.resource.role"])
        with EventModel.batch_write() as batch:
            for resource_id, played in roles.items():
                batch.save(EventModel(pointer_partition(resource_id), sk, ro=sorted(set(played)), expires_at=expires))
        try:
            EventModel(
                pk,
                sk,
                doc=json.dumps(event, separators=(",", ":")),
                e=event["event"],
                r=event["resource"]["prefect.resource.id"],
                expires_at=expires,
            ).save(condition=EventModel.pk.does_not_exist())
        except PutError as exc:
            if is_condition_failure(exc):
                return False
            raise translated(exc, "store event") from exc
        return True

    def status_mark(self, resource_id: str) -> str | None:
        """The last status event emitted for ``resource_id`` (``"<STATUS>|<event id>"``), or None."""
        try:
            return EventModel.get(STATUS + resource_id, "-", consistent_read=True).k
        except EventModel.DoesNotExist:
            return None

    def advance_status_mark(self, resource_id: str, seen: str | None, mark: str) -> bool:
        """Replace the mark ``seen`` (None: no mark) by ``mark``; False when another writer moved it
        first. Marks do not expire (a status may hold for months); one small item per resource."""
        condition = EventModel.pk.does_not_exist() if seen is None else EventModel.k == seen
        try:
            EventModel(STATUS + resource_id, "-", k=mark).save(condition=condition)
        except PutError as exc:
            if is_condition_failure(exc):
                return False
            raise translated(exc, "store status mark") from exc
        return True

    def oldest(self, now: datetime) -> datetime:
        """No event older than this is kept (a day's slack: items expire from when they were stored)."""
        return now - self.retention - timedelta(days=1)

    # ------------------------------------------------------------------ reads
    def query(
        self,
        partition: str,
        *,
        low: str,
        high: str,
        descending: bool,
        limit: int,
        page_size: int = 500,
    ) -> Iterator[tuple[str, EventModel]]:
        """Items of ``partition`` whose ``sk`` lies in [low, high] (``high`` takes a ``~`` suffix
        to include a whole instant), in order, at most ``limit``, read ``page_size`` a request (a
        page is paid for whole, even when the caller stops early)."""
        condition = EventModel.sk.between(low, high)
        for item in EventModel.query(
            partition, condition, scan_index_forward=not descending, limit=limit, page_size=min(limit, page_size)
        ):
            yield item.sk, item

    def events(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], EventModel]:
        """The stored events at these (pk, sk) keys (those expired or never written are absent)."""
        found: dict[tuple[str, str], EventModel] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), _BATCH_GET):
            for item in EventModel.batch_get(unique[start : start + _BATCH_GET]):
                found[(item.pk, item.sk)] = item
        return found

    def claimed_keys(self, event_ids: Sequence[str]) -> list[tuple[str, str]]:
        """The event keys the claims of these ids name."""
        keys = []
        for start in range(0, len(event_ids), _BATCH_GET):
            claims = [(CLAIM + event_id, "-") for event_id in event_ids[start : start + _BATCH_GET]]
            for claim in EventModel.batch_get(claims):
                pk, _, sk = (claim.k or "").partition("|")
                if sk:
                    keys.append((pk, sk))
        return keys

    # ------------------------------------------------------------------ /events/out subscriptions
    @staticmethod
    def subscribe(connection_id: str, filter_json: str, expires: datetime) -> None:
        EventSubscriptionModel(connection_id, filter=filter_json, expires_at=expires).save()

    @staticmethod
    def unsubscribe(connection_id: str) -> None:
        EventSubscriptionModel(connection_id).delete()

    @staticmethod
    def subscriptions() -> Iterator[tuple[str, str]]:
        """Every open subscription (connection id, filter JSON): a Scan of ``event_subscriptions``,
        which holds one small item per open ``/events/out`` connection and nothing else."""
        for item in EventSubscriptionModel.scan(page_size=1000):
            if item.filter:
                yield item.connection_id, item.filter

    # ------------------------------------------------------------------ streams
    @staticmethod
    def flow_run_changes(records: list[dict[str, Any]]) -> list[Any]:
        """(before, after) runs of ``flow_runs`` stream records (:mod:`chalicelib.storage.event_streams`)."""
        from chalicelib.storage import event_streams

        return event_streams.flow_run_changes(records)

    @staticmethod
    def new_events(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The events newly stored by ``events`` stream records."""
        from chalicelib.storage import event_streams

        return event_streams.new_events(records)

    def pull_flow_run_changes(self, handle: Callable[[list[Any]], object]) -> int:
        from chalicelib.storage import event_streams

        return event_streams.pull_flow_run_changes(self.settings, handle)

    def pull_new_events(self, handle: Callable[[list[dict[str, Any]]], object]) -> int:
        from chalicelib.storage import event_streams

        return event_streams.pull_new_events(self.settings, handle)

    def pull_automation_events(self, handle: Callable[[list[dict[str, Any]]], object]) -> int:
        """The events stored since the automations' evaluator last pulled (its own checkpoints)."""
        from chalicelib.storage import event_streams

        return event_streams.pull_automation_events(self.settings, handle)


def decode(item: EventModel) -> dict[str, Any]:
    return json.loads(item.doc or "{}")


TOP = _TOP
