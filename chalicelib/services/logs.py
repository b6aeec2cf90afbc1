"""Logs: store a batch whole (validated first, ids from content), read a run's lines in order."""

from __future__ import annotations

import hashlib
import heapq
import itertools
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import datetime

from chalicelib.errors import InvalidRequestError
from chalicelib.schemas.filters import Operator
from chalicelib.schemas.logs import SORTS, Log, LogCreate, LogFilter, LogFilterBody
from chalicelib.storage import Repositories

_LOG_NS = uuid.UUID("6c1d2f0e-3b8a-4e55-9f17-0a4d3c2b1e90")


def log_id(record: LogCreate, occurrence: int) -> uuid.UUID:
    """A line's id, from its content and its occurrence among identical lines of its batch: the
    same batch sent twice stores each line once."""
    digest = hashlib.sha256(record.message.encode("utf-8")).hexdigest()
    key = f"{record.flow_run_id}|{record.task_run_id}|{record.timestamp.isoformat()}|{record.level}|{record.name}"
    return uuid.uuid5(_LOG_NS, f"{key}|{digest}|{occurrence}")


def create_logs(repos: Repositories, records: list[LogCreate], now: datetime) -> None:
    """Store every record of a batch that was validated whole (BatchWriteItem, 25 a request)."""
    seen: Counter[uuid.UUID] = Counter()
    logs = []
    for record in records:
        first = log_id(record, 0)
        seen[first] += 1
        logs.append(Log(id=log_id(record, seen[first] - 1), created=now, updated=now, **record.model_dump()))
    repos.logs.put_many(logs, now)


def _runs(group: LogFilter | None) -> tuple[str, list[uuid.UUID]]:
    """The runs whose partitions hold every match: the flow runs, else the task runs, named by
    an ``and_`` group. Reading logs without either would be a Scan: a 422."""
    if group is not None and group.operator is Operator.and_:
        if group.flow_run_id is not None and group.flow_run_id.any_ is not None:
            return "flow_run_id", list(dict.fromkeys(group.flow_run_id.any_))
        if group.task_run_id is not None and group.task_run_id.any_ is not None:
            return "task_run_id", list(dict.fromkeys(group.task_run_id.any_))
    raise InvalidRequestError(
        ("body", "logs", "flow_run_id"), "Filtering logs requires flow_run_id.any_ or task_run_id.any_"
    )


def _matching(repos: Repositories, body: LogFilterBody, descending: bool) -> Iterator[Log]:
    group = body.logs
    field, ids = _runs(group)
    window = group.timestamp if group is not None else None
    streams = [
        repos.logs.query(
            **{field: run_id},
            after=window.after_ if window else None,
            before=window.before_ if window else None,
            descending=descending,
        )
        for run_id in ids
    ]
    merged = heapq.merge(*streams, key=lambda log: (log.timestamp, str(log.id)), reverse=descending)
    return (log for log in merged if group is None or group.matches(log))


def filter_logs(repos: Repositories, body: LogFilterBody) -> list[Log]:
    """Lines of the named runs, in timestamp order (``TIMESTAMP_ASC`` by default), ``offset`` and
    ``limit`` applied. Each run's partition is read lazily, one Query page at a time, and reading
    stops once ``offset + limit`` lines matched."""
    sort = body.sort or "TIMESTAMP_ASC"
    if sort not in SORTS:
        raise InvalidRequestError(("body", "sort"), f"Input should be one of {', '.join(SORTS)}", "enum")
    if body.limit == 0:
        return []
    matches = _matching(repos, body, descending=sort == "TIMESTAMP_DESC")
    return list(itertools.islice(matches, body.offset, body.offset + body.limit))
