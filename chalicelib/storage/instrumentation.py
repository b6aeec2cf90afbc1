"""Counting DynamoDB requests with a botocore event hook (benchmarks and cost tests).

Request counts are stable on a noisy machine; seconds are not.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from chalicelib.storage.models import ALL_MODELS

WRITE_OPERATIONS = frozenset(
    {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
)


class RequestCounter:
    """Counts DynamoDB API calls by operation name, across threads."""

    def __init__(self) -> None:
        self.by_operation: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, model: Any = None, **kwargs: Any) -> None:
        name = getattr(model, "name", None) or "unknown"
        with self._lock:
            self.by_operation[name] += 1

    @property
    def total(self) -> int:
        return sum(self.by_operation.values())

    @property
    def writes(self) -> int:
        return sum(n for op, n in self.by_operation.items() if op in WRITE_OPERATIONS)

    def reset(self) -> None:
        with self._lock:
            self.by_operation.clear()

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.by_operation)


def _clients() -> list[Any]:
    clients = []
    for model in ALL_MODELS:
        client = model._get_connection().connection.client
        if all(client is not c for c in clients):
            clients.append(client)
    return clients


@contextmanager
def count_requests() -> Iterator[RequestCounter]:
    """Count every DynamoDB call made through the (bound) models inside the block."""
    counter = RequestCounter()
    clients = _clients()
    for client in clients:
        client.meta.events.register("before-call.dynamodb", counter, unique_id=f"count-{id(counter)}")
    try:
        yield counter
    finally:
        for client in clients:
            client.meta.events.unregister("before-call.dynamodb", unique_id=f"count-{id(counter)}")
