"""The stored event feed: ``POST /events/filter``, ``GET /events/filter/next`` and
``POST /events/count-by/{countable}`` (Prefect's shapes), read without a Scan and with bounded work.

Where a page is read from (the narrowest source the filter allows):

- ``id``: the ids' claims, then their events (two BatchGetItems);
- ``resource.id``, else ``any_resource.id``, else ``related.id`` / ``resources_in_roles``: those
  resources' pointer partitions, merged in time order, then their events (BatchGetItem);
- otherwise the hour partitions of ``occurred``, newest (or oldest) first.

Every other criterion is applied to the events read. A request examines at most
:data:`MAX_EXAMINED` items (``count-by``: :data:`MAX_COUNTED`) and queries at most
:data:`MAX_PARTITIONS` hour partitions; a page that stops at that bound is short and still has a
``next_page``, which resumes after the last item examined. ``total`` is the number of events of
the pages read so far plus one when there are more: an exact total would read the whole range.
"""

from __future__ import annotations

import base64
import binascii
import heapq
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from chalicelib.domain.identity import utc_key
from chalicelib.errors import InvalidRequestError
from chalicelib.schemas.event_filters import PAGE_SIZE, Countable, EventFilter, EventOrder, TimeUnit
from chalicelib.services import flow_run_events
from chalicelib.storage import TOP, Repositories, decode, hour_partition, pointer_partition

MAX_EXAMINED = 2_000
MAX_COUNTED = 20_000
MAX_PARTITIONS = 24 * 8
MAX_BUCKETS = 1_000
#: Prefect's epoch of count-by time buckets.
PIVOT = datetime(2024, 4, 1, tzinfo=UTC)
_CHUNK = 100
#: How far ahead of the server's clock an event's time may be and still be read.
FUTURE = timedelta(hours=1)


class InvalidPageToken(ValueError):
    """A ``page-token`` that this server did not write (answered 403, as Prefect does)."""


@dataclass
class Page:
    events: list[dict[str, Any]]
    total: int
    next_token: str | None


@dataclass
class _Scan:
    """One walk over the feed: the events kept, where it stopped, whether more may follow."""

    filter: EventFilter
    want: int
    budget: int
    after: str | None = None
    kept: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    last: str | None = None
    exhausted: bool = True


def _bounds(flt: EventFilter, after: str | None, now: datetime, oldest: datetime) -> tuple[str, str]:
    """The sort-key range to read: ``occurred``, from no earlier than the oldest event kept and to
    no later than :data:`FUTURE` from now (a subscriber asks ``until`` a year ahead)."""
    until = min(flt.occurred.until, now + FUTURE)
    low, high = utc_key(max(flt.occurred.since, oldest)), utc_key(until) + TOP
    if after is not None:
        if flt.order == EventOrder.DESC:
            high = min(high, after)
        else:
            low = max(low, after)
    return low, high


def _pointer_ids(flt: EventFilter) -> tuple[list[str], bool] | None:
    """The resource ids whose pointers hold every matching event, and whether only the event's own
    resource counts (``resource.id``); ``None`` when the filter names none."""
    if flt.resource is not None and flt.resource.id:
        return list(flt.resource.id), True
    for wanted in flt.any_resource_filters():
        if wanted.id:
            return list(wanted.id), False
    for related in flt.related_filters():
        if related.id:
            return list(related.id), False
        if related.resources_in_roles:
            return sorted({rid for rid, _ in related.resources_in_roles}), False
    return None


def _walk(repos: Repositories, scan: _Scan) -> _Scan:
    flt, store = scan.filter, repos.events
    descending = flt.order == EventOrder.DESC
    page = min(scan.want + 1, 500)  # a page's worth per request: what a request reads is paid whole
    now = datetime.now(UTC)
    low, high = _bounds(flt, scan.after, now, store.oldest(now))
    if flt.id.id:
        keys = sorted(store.claimed_keys([str(i) for i in flt.id.id]), key=lambda k: k[1], reverse=descending)
        keys = [k for k in keys if low <= k[1] <= high and k[1] != scan.after]
        _keep(scan, keys, store.events(keys))
        return scan
    pointers = _pointer_ids(flt)
    if pointers is not None:
        ids, own_only = pointers
        streams = [
            (sk for sk, item in store.query(pointer_partition(rid), low=low, high=high, descending=descending,
                                             limit=scan.budget + 1, page_size=page)
             if not own_only or "" in (item.ro or []))
            for rid in ids[:_CHUNK]
        ]  # fmt: skip
        merged = _unique(heapq.merge(*streams, reverse=descending))
        _from_keys(scan, store, merged)
        return scan
    for partition in _hours(low, high, descending):
        if scan.budget <= 0 or len(scan.kept) > scan.want:
            break
        scan.budget -= 1  # an empty partition still costs a request
        query = store.query(partition, low=low, high=high, descending=descending, limit=scan.budget + 1, page_size=page)
        for sk, item in query:
            if sk == scan.after:
                continue
            if not _examine(scan, sk, item):
                return scan
    else:
        return scan
    scan.exhausted = False
    return scan


def _hours(low: str, high: str, descending: bool) -> Iterator[str]:
    first = datetime.strptime(low[:13], "%Y-%m-%dT%H").replace(tzinfo=UTC)
    last = datetime.strptime(high[:13], "%Y-%m-%dT%H").replace(tzinfo=UTC)
    count = min(int((last - first).total_seconds() // 3600) + 1, MAX_PARTITIONS)
    start = last if descending else first
    step = timedelta(hours=-1 if descending else 1)
    for n in range(count):
        yield hour_partition(start + n * step)


def _unique(keys: Iterator[str]) -> Iterator[str]:
    previous = None
    for key in keys:
        if key != previous:
            yield key
        previous = key


def _from_keys(scan: _Scan, store: Any, keys: Iterator[str]) -> None:
    chunk: list[str] = []
    for sk in keys:
        if sk == scan.after:
            continue
        chunk.append(sk)
        if len(chunk) >= min(_CHUNK, scan.want + 1):
            if not _examine_chunk(scan, store, chunk):
                return
            chunk = []
    if chunk:
        _examine_chunk(scan, store, chunk)


def _examine_chunk(scan: _Scan, store: Any, chunk: list[str]) -> bool:
    keys = [(_partition(sk), sk) for sk in chunk]
    found = store.events(keys)
    for key in keys:
        item = found.get(key)
        if item is None:  # expired, or its writer stopped before the event (see event_store)
            scan.budget -= 1
            if len(scan.kept) <= scan.want:
                scan.last = key[1]
            continue
        if not _examine(scan, key[1], item):
            return False
    return True


def _partition(sk: str) -> str:
    return hour_partition(datetime.strptime(sk[:13], "%Y-%m-%dT%H").replace(tzinfo=UTC))


def _keep(scan: _Scan, keys: list[tuple[str, str]], found: dict) -> None:
    for key in keys:
        if key in found and not _examine(scan, key[1], found[key]):
            return


def _examine(scan: _Scan, sk: str, item: Any) -> bool:
    """Judge one item; ``False`` when the walk must stop (page full, or budget spent)."""
    if len(scan.kept) > scan.want:
        scan.exhausted = False
        return False
    if scan.budget <= 0:
        scan.exhausted = False
        return False
    scan.budget -= 1
    event = decode(item)
    if event and scan.filter.includes(event):
        scan.kept.append((sk, event))
    if len(scan.kept) <= scan.want:
        scan.last = sk
    return True


# ---------------------------------------------------------------------------- pages
def first_page(repos: Repositories, flt: EventFilter | None, limit: int) -> Page:
    flow_run_events.catch_up(repos, datetime.now(UTC))
    return _page(repos, flt or EventFilter(), limit, after=None, seen=0)


def next_page(repos: Repositories, token: str) -> Page:
    flt, limit, after, seen = _read_token(token)
    flow_run_events.catch_up(repos, datetime.now(UTC))
    return _page(repos, flt, limit, after=after, seen=seen)


def _page(repos: Repositories, flt: EventFilter, limit: int, *, after: str | None, seen: int) -> Page:
    scan = _walk(repos, _Scan(flt, want=limit, budget=MAX_EXAMINED, after=after))
    events = [event for _, event in scan.kept[:limit]]
    more = len(scan.kept) > limit or not scan.exhausted
    token = None
    if more and scan.last is not None and limit > 0:
        token = _write_token(flt, limit, scan.last, seen + len(events))
    return Page(events=events, total=seen + len(events) + (1 if token else 0), next_token=token)


def _write_token(flt: EventFilter, limit: int, after: str, seen: int) -> str:
    data = {"filter": flt.model_dump(mode="json"), "limit": limit, "after": after, "seen": seen}
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode()


def _read_token(token: str) -> tuple[EventFilter, int, str, int]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        found = EventFilter.model_validate(data["filter"]), int(data["limit"]), str(data["after"]), int(data["seen"])
    except (ValueError, KeyError, TypeError, binascii.Error, ValidationError) as exc:
        raise InvalidPageToken(token) from exc
    if not 0 < found[1] <= PAGE_SIZE:  # a token names no larger page than a first request may ask
        raise InvalidPageToken(token)
    return found


# ---------------------------------------------------------------------------- counts
def count_by(
    repos: Repositories, flt: EventFilter, countable: Countable, unit: TimeUnit, interval: float, now: datetime
) -> list[dict[str, Any]]:
    """Prefect's ``EventCount`` list: per time span (every span of the range, zeros included, in
    order) or per event name / resource (largest count first, then label)."""
    if countable == Countable.day:
        unit, interval = TimeUnit.day, 1.0
    spans = _spans(flt, unit, interval, now) if countable in (Countable.day, Countable.time) else None
    flow_run_events.catch_up(repos, now)
    scan = _walk(repos, _Scan(flt, want=MAX_COUNTED, budget=MAX_COUNTED))
    groups: dict[str, dict[str, Any]] = {}
    for _, event in scan.kept:
        occurred = datetime.fromisoformat(event["occurred"].replace("Z", "+00:00"))
        if spans is not None:
            value, label = str(math.floor((occurred - PIVOT) / unit.span(interval))), ""
        elif countable == Countable.event:
            value = label = event["event"]
        else:
            resource = event["resource"]
            value = resource["prefect.resource.id"]
            label = resource.get("prefect.resource.name") or resource.get("prefect.name") or value
        group = groups.setdefault(
            value, {"value": value, "label": label, "count": 0, "start": occurred, "end": occurred}
        )
        group["count"] += 1
        group["start"], group["end"] = min(group["start"], occurred), max(group["end"], occurred)
    if spans is not None:
        first, starts = spans
        return [
            _count(str(first + i), start.isoformat(), groups.get(str(first + i), {}).get("count", 0), start,
                   start + unit.span(interval) - timedelta(microseconds=1))
            for i, start in enumerate(starts)
        ]  # fmt: skip
    ordered = sorted(groups.values(), key=lambda g: (-g["count"], g["label"]))
    return [_count(g["value"], g["label"], g["count"], g["start"], g["end"]) for g in ordered]


def _count(value: str, label: str, count: int, start: datetime, end: datetime) -> dict[str, Any]:
    return {"value": value, "label": label, "count": count, "start_time": _iso(start), "end_time": _iso(end)}


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _spans(flt: EventFilter, unit: TimeUnit, interval: float, now: datetime) -> tuple[int, list[datetime]]:
    delta = unit.span(interval)
    since, until = flt.occurred.since, flt.occurred.until
    buckets = math.ceil((until - since) / delta)
    if buckets > MAX_BUCKETS:
        raise InvalidRequestError(
            ("body", "time_interval"),
            f"The given interval would create {buckets} buckets, which is too many. Please increase the "
            f"interval or reduce the time range to produce {MAX_BUCKETS} buckets or fewer.",
        )
    end = min(until, now + delta)
    first = math.floor((since - PIVOT) / delta)
    starts, start = [], PIVOT + delta * first
    while start < end and len(starts) <= MAX_BUCKETS:
        starts.append(start)
        start += delta
    return first, starts
