"""Reading flow runs in an order an index keeps, a page at a time, so a listing reads about what it
returns (the services stop reading once their page is full: ``services.run_listing``).

Three orders:

- **time** (``tk`` = the run's start time, else expected start, else creation; then id): by-time,
  the ``live`` partition (runs under way) merged with the day partitions of the range, newest or
  oldest first; for an owner (deployment or flow), its by-owner-state entries (keys and ``tk``),
  sorted here and read by key a page at a time;
- **id**: the runs table itself (keyed by shard and id: its shards one after the other), a page
  at a time, at a Query's cost (the items' size, not one read unit per run);
- by-odd (runs that started before their expected start, or with a clock ahead) is read whole and
  merged into a time order when the caller's window needs it (:attr:`Listing.odd`).

Pages grow (from the caller's need, doubling up to 1,000 items), so a page of 10 reads about 10
runs and a long read is still few requests. Reads by key are eventually consistent (a listing is
as fresh as an index read); the polls keep their own strongly consistent reads.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from chalicelib.domain.identity import utc_key
from chalicelib.storage.flow_runs._items import OTHER_STATES
from chalicelib.storage.models import LIVE_BUCKET, RUN_SHARDS, FlowRunModel

_MAX_PAGE = 1000
BATCH_GET_KEYS = 100
_DAY = timedelta(days=1)


@dataclass(frozen=True)
class Listing:
    """Which runs to read, in which order.

    ``order`` is ``time`` or ``id``; ``low``/``high`` bound ``tk``'s time (time order only);
    ``owners``: read these deployments' or flows' runs only (by-owner-state), else every run;
    ``live``/``days``: read the partition of runs under way / the day partitions (time order);
    ``odd``: also read by-odd's runs, merged by ``tk`` or, with ``odd_first``, before the others
    (their position unknown); ``days_known``: the day partitions that hold runs (from the run
    counts).
    """

    order: str = "time"
    descending: bool = True
    low: datetime | None = None
    high: datetime | None = None
    owners: tuple[str, ...] | None = None
    owners_are_flows: bool = False
    live: bool = True
    days: bool = True
    odd: bool = False
    odd_first: bool = False
    days_known: frozenset[str] | None = None
    first_page: int = 10


def pages(index: Any, hash_key: str, condition: Any, descending: bool, first: int) -> Iterator[Any]:
    """A partition's items in range-key order, in pages that start at ``first`` items and double."""
    size, last = max(1, min(first, _MAX_PAGE)), None
    while True:
        result = index.query(
            hash_key,
            condition,
            scan_index_forward=not descending,
            limit=size,
            page_size=size,
            last_evaluated_key=last,
        )
        yield from result
        last = result.last_evaluated_key
        if not last:
            return
        size = min(size * 2, _MAX_PAGE)


def time_condition(attribute: Any, low: datetime | None, high: datetime | None) -> Any:
    """``attribute`` (a ``<time>#<id>`` range key) within [low, high] (either may be open)."""
    lo = utc_key(low) if low else " "
    hi = (utc_key(high) + "#~") if high else "~"
    return attribute.between(lo, hi)


def days_between(known: Iterable[str], low: datetime | None, high: datetime | None, descending: bool) -> list[str]:
    """The day partitions of ``known`` (``d<YYYY-MM-DD>``) that [low, high] touches, in read order."""
    days = sorted(known)
    if low is not None:
        days = [d for d in days if d >= "d" + utc_key(low)[:10]]
    if high is not None:
        days = [d for d in days if d <= "d" + utc_key(high)[:10]]
    return days[::-1] if descending else days


def by_day(
    index: Any,
    attribute: Any,
    known: Iterable[str],
    low: datetime | None,
    high: datetime | None,
    descending: bool,
    first: int,
) -> Iterator[Any]:
    """Items of a day-partitioned time index (by-time) within [low, high], in time order."""
    condition = time_condition(attribute, low, high)
    for day in days_between(known, low, high, descending):
        yield from pages(index, day, condition, descending, first)


def _by_time(listing: Listing) -> Iterator[tuple[FlowRunModel, str | None]]:
    condition = time_condition(FlowRunModel.time_key, listing.low, listing.high)
    streams: list[Iterator[FlowRunModel]] = []
    if listing.live:
        streams.append(pages(FlowRunModel.by_time, LIVE_BUCKET, condition, listing.descending, listing.first_page))
    if listing.days:
        streams.append(
            by_day(
                FlowRunModel.by_time,
                FlowRunModel.time_key,
                listing.days_known or (),
                listing.low,
                listing.high,
                listing.descending,
                listing.first_page,
            )
        )
    seen: set[str] = set()
    if listing.odd:
        odd = sorted(fetch(e.id for e in FlowRunModel.by_odd.query("odd")), key=lambda i: i.time_key or "")
        odd = odd[::-1] if listing.descending else odd
        if listing.odd_first:
            for item in odd:
                seen.add(item.id)
                yield item, None
        else:
            streams.append(iter(odd))
    for item in _merge_by_key(streams, listing.descending):
        if item.id not in seen:
            yield item, item.time_key


def _merge_by_key(streams: Sequence[Iterator[FlowRunModel]], descending: bool) -> Iterator[FlowRunModel]:
    """Merge streams each in ``tk`` order, each run once (a run may move between partitions while
    it is read, and by-odd repeats by-time's runs)."""
    seen: set[str] = set()
    merged = heapq.merge(*streams, key=lambda i: i.time_key or "", reverse=descending)
    for item in merged:
        if item.id not in seen:
            seen.add(item.id)
            yield item


def _by_owner(listing: Listing) -> Iterator[tuple[FlowRunModel, str | None]]:
    """The owners' entries (keys and ``tk``), in the listing's order, read by key a page at a time.
    In id order, an owner's runs in a polled state (their entries in time order, a few) are merged
    with the others, whose entries (``~<id>``) are read a page at a time in id order."""
    if listing.order == "id":
        streams = []
        for owner in listing.owners or ():
            polled = FlowRunModel.by_owner.query(owner, FlowRunModel.owner_sort < OTHER_STATES)
            streams.append(iter(sorted((e.id for e in polled), reverse=listing.descending)))
            others = pages(FlowRunModel.by_owner, owner, FlowRunModel.owner_sort.startswith(OTHER_STATES),
                           listing.descending, listing.first_page)  # fmt: skip
            streams.append(e.id for e in others)
        ids = heapq.merge(*streams, reverse=listing.descending)
        for item in _fetch_pages(ids, listing.first_page):
            yield item, item.id
        return
    entries = [e for owner in listing.owners or () for e in FlowRunModel.by_owner.query(owner)]
    low = utc_key(listing.low) if listing.low else ""
    high = (utc_key(listing.high) + "#~") if listing.high else "~"
    positions = {e.id: e.time_key or "" for e in entries if low <= (e.time_key or "") <= high}
    ordered = sorted(positions, key=lambda i: (positions[i], i), reverse=listing.descending)
    for item in _fetch_pages(ordered, listing.first_page):
        yield item, positions[item.id]


def _by_id(listing: Listing) -> Iterator[tuple[FlowRunModel, str | None]]:
    """Every run in id order: the table's shards one after the other (each in id order), read by
    Query with their attributes (eventually consistent), so a page costs its items' size."""
    shards = RUN_SHARDS[::-1] if listing.descending else RUN_SHARDS
    for shard in shards:
        for item in pages(FlowRunModel, shard, None, listing.descending, listing.first_page):
            yield item, item.id


def _fetch_pages(ids: Iterable[str], first: int) -> Iterator[FlowRunModel]:
    """The runs of ``ids``, in that order, read by key (eventually consistent) in batches of the
    caller's need first, then of 100."""
    size, batch = max(1, first), []
    for run_id in ids:
        batch.append(run_id)
        if len(batch) >= size:
            yield from fetch(batch, consistent=False)
            batch, size = [], BATCH_GET_KEYS
    if batch:
        yield from fetch(batch, consistent=False)


def fetch(ids: Iterable[str], *, consistent: bool = True) -> Iterator[FlowRunModel]:
    """The items of ``ids`` that exist, in that order (BatchGetItem, 100 keys a request)."""
    wanted = list(dict.fromkeys(ids))
    for start in range(0, len(wanted), BATCH_GET_KEYS):
        chunk = wanted[start : start + BATCH_GET_KEYS]
        found = {item.id: item for item in FlowRunModel.batch_get(chunk, consistent_read=consistent)}
        yield from (found[i] for i in chunk if i in found)


def read(listing: Listing) -> Iterator[tuple[FlowRunModel, str | None]]:
    """The items of the runs ``listing`` names, in its order, read lazily, each with its position
    in that order (``tk`` or id; ``None`` for by-odd's runs read first): every run not yet read
    comes at or after the last position."""
    if listing.owners is not None:
        return _by_owner(listing)
    if listing.order == "id":
        return _by_id(listing)
    return _by_time(listing)
