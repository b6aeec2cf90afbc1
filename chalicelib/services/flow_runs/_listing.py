"""Listing flow runs in reads proportional to the answer: the storage reads candidates in an index's
order (``storage.flow_runs``) and this module stops as soon as the page is decided.

The sort decides the order read and when a run read is *final* (no run still unread can come before
it). With ``K`` the time by-time keeps (start, else expected start, else creation) and ``F`` the
position read so far:

=====================================  ==============  ==================================
sort                                   order read      a matching run is final when
=====================================  ==============  ==================================
START_TIME_DESC / _ASC                 time, same way  its key is beyond F (key = K)
EXPECTED_START_TIME_DESC               time, newest    its key is after F (key <= K; by-odd's
                                       first           runs, for which it is not, are read
                                                       first)
ID_DESC (default)                      id              its id is beyond F
anything else (names, end time, next   time            once the range is read
scheduled start, expected ascending)
=====================================  ==============  ==================================

Windows bound the time range: a ``start_time`` window is K's range; an ``expected_start_time``
window [a, b] is K in [a, max(b, now + 5 min)] for every run but by-odd's (merged in);
``next_scheduled_start_time`` and ``end_time`` windows bound K from above. State types that are
all under way (PENDING, RUNNING, PAUSED, CANCELLING) read only by-time's ``live`` partition, and
types none of which is under way skip it. A deployment's or flow's runs (≤ 50 named) are read from
their by-owner-state entries in the same orders.

A listing that would read more than :data:`READ_BUDGET` runs before its page is decided (filters no
index serves: tags, names, parameters, over a long window) is refused with a 422 naming what to
narrow: it never scans the table and never answers short.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from chalicelib.domain.identity import utc_key
from chalicelib.errors import InvalidRequestError
from chalicelib.schemas.filters import FlowRunFilter, Operator
from chalicelib.schemas.flow_runs import FlowRun
from chalicelib.storage import LIVE_STATES, Listing, Repositories, is_conjunctive

#: The most runs one listing or count reads before its answer is decided.
READ_BUDGET = 5000
#: How far a start time may be ahead of the write that recorded it before the run is by-odd's.
CLOCK_SKEW = timedelta(minutes=5)
_LIVE = frozenset(LIVE_STATES)


@dataclass(frozen=True)
class SortPlan:
    order: str
    descending: bool
    #: ``eq``: the sort key is the position's key; ``le``: at most it (a descending read); None: unrelated.
    relation: str | None
    key: Callable[[FlowRun], object]
    #: The sort's own direction when it differs from the read's (the read of an unrelated sort).
    reverse: bool | None = None

    @property
    def sorts_descending(self) -> bool:
        return self.descending if self.reverse is None else self.reverse


def _start(run: FlowRun) -> datetime | None:
    return run.start_time or run.expected_start_time


SORT_PLANS: dict[str, SortPlan] = {
    "ID_DESC": SortPlan("id", True, "eq", lambda r: r.id),
    "START_TIME_DESC": SortPlan("time", True, "eq", _start),
    "START_TIME_ASC": SortPlan("time", False, "eq", _start),
    "EXPECTED_START_TIME_DESC": SortPlan("time", True, "le", lambda r: r.expected_start_time),
    "EXPECTED_START_TIME_ASC": SortPlan("time", True, None, lambda r: r.expected_start_time, reverse=False),
    "NAME_ASC": SortPlan("time", True, None, lambda r: r.name, reverse=False),
    "NAME_DESC": SortPlan("time", True, None, lambda r: r.name),
    "NEXT_SCHEDULED_START_TIME_ASC": SortPlan("time", True, None, lambda r: r.next_scheduled_start_time, reverse=False),
    "END_TIME_DESC": SortPlan("time", True, None, lambda r: r.end_time),
}


def _conjunctive(flt: FlowRunFilter | None) -> bool:
    return flt is not None and is_conjunctive(flt)


def _bounds(flt: FlowRunFilter | None, now: datetime) -> tuple[datetime | None, datetime | None, bool]:
    """K's range the filter implies, and whether by-odd's runs must be read too."""
    low: datetime | None = None
    high: datetime | None = None
    odd = False
    if not _conjunctive(flt):
        return None, None, False
    assert flt is not None

    def narrow(after: datetime | None, before: datetime | None) -> None:
        nonlocal low, high
        if after is not None:
            low = after if low is None else max(low, after)
        if before is not None:
            high = before if high is None else min(high, before)

    if flt.start_time is not None and not flt.start_time.is_null_:
        narrow(flt.start_time.after_, flt.start_time.before_)
    if flt.expected_start_time is not None:
        window = flt.expected_start_time
        if window.after_ is not None or window.before_ is not None:
            odd = True
            before = max(window.before_, now + CLOCK_SKEW) if window.before_ is not None else None
            narrow(window.after_, before)
    for window in (flt.next_scheduled_start_time, flt.end_time):
        if window is not None and window.before_ is not None:
            odd = True
            narrow(None, max(window.before_, now + CLOCK_SKEW))
    return low, high, odd


def _partitions(flt: FlowRunFilter | None) -> tuple[bool, bool]:
    """(read the ``live`` partition, read the day partitions) for the filter's state types."""
    if not _conjunctive(flt) or flt is None or flt.state is None or flt.state.type is None:
        return True, True
    if flt.state.operator is Operator.or_ and flt.state.name is not None:
        return True, True
    types = flt.state.type.any_
    if types is None:
        return True, True
    wanted = set(types)
    return bool(wanted & _LIVE), bool(wanted - _LIVE)


def plan_listing(
    repos: Repositories,
    flt: FlowRunFilter | None,
    sort: SortPlan,
    *,
    owners: Iterable[str] | None,
    owners_are_flows: bool,
    need: int,
    now: datetime,
) -> Listing:
    low, high, odd = _bounds(flt, now)
    live, days = _partitions(flt)
    order = sort.order
    listing = Listing(
        order=order,
        descending=sort.descending,
        low=low,
        high=high,
        live=live,
        days=days,
        odd=odd and order == "time",
        odd_first=sort.relation == "le",
        first_page=max(need, 1),
    )
    if owners is not None:
        return replace(listing, owners=tuple(owners), owners_are_flows=owners_are_flows)
    if order == "id" and (low is not None or high is not None or not (live and days)):
        # A window or a state class narrows better than the id order: read by time, sort here.
        listing = replace(listing, order="time", descending=True)
    if listing.order == "time" and days:
        listing = replace(listing, days_known=repos.run_counts.days("fr"))
    return listing


def _final(run: Any, position: str, sort: SortPlan) -> bool:
    """Whether ``run`` is final once the read reached ``position``: no unread run can sort before it.
    Positions are unique (``<time>#<id>``, or an id) and unread runs are strictly past the last
    one; with ``eq`` the run's own position is its key, with ``le`` only its time bounds it."""
    key = sort.key(run)
    if key is None:
        return False
    if sort.order == "id":
        value, mark = str(key), position
    elif sort.relation == "eq":
        value, mark = f"{utc_key(key)}#{run.id}", position  # type: ignore[arg-type]
    else:
        value, mark = utc_key(key), position.split("#", 1)[0]  # type: ignore[arg-type]
        return value > mark if sort.descending else value < mark
    return value >= mark if sort.descending else value <= mark


def top(
    repos: Repositories,
    listing: Listing,
    sort: SortPlan,
    matches: Callable[[FlowRun], bool],
    need: int | None,
) -> list[FlowRun]:
    """The matching runs, best first by ``sort`` (ties by id), at most ``need`` (None: all), reading
    ``listing`` only as far as the answer requires."""
    related = sort.order == listing.order and sort.descending == listing.descending
    return top_of(repos.flow_runs.listed(listing), sort if related else replace(sort, relation=None), matches, need)


def top_of(
    pairs: Iterable[tuple[Any, str | None]],
    sort: SortPlan,
    matches: Callable[[Any], bool],
    need: int | None,
    what: str = "runs",
    field: str = "flow_runs",
) -> list[Any]:
    """The best ``need`` matching items of ``pairs`` (item, position in the order read), reading
    only until the answer is decided (see the module doc); a read over :data:`READ_BUDGET` is a 422."""
    found: list[Any] = []
    read = 0
    for run, position in pairs:
        read += 1
        if read > READ_BUDGET:
            raise InvalidRequestError(
                ("body", field),
                f"This request would read more than {READ_BUDGET} stored {what} to answer: narrow it with a "
                "time window (expected_start_time or start_time), state types, a deployment or a flow",
                "value_error",
            )
        if matches(run):
            found.append(run)
        if need is None or sort.relation is None or position is None or len(found) < need:
            continue
        if sum(1 for r in found if _final(r, position, sort)) >= need:
            break
    ordered = _sorted(found, sort)
    return ordered if need is None else ordered[:need]


def _sorted(runs: list[Any], sort: SortPlan) -> list[Any]:
    by_id = sorted(runs, key=lambda r: r.id)
    present = [r for r in by_id if sort.key(r) is not None]
    missing = [r for r in by_id if sort.key(r) is None]
    return sorted(present, key=sort.key, reverse=sort.sorts_descending) + missing  # type: ignore[arg-type]
