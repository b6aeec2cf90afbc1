"""Counting DynamoDB requests, and the capacity units they consume, with botocore event hooks
(benchmarks and cost tests).

Request counts are stable on a noisy machine; seconds are not. With ``capacity=True`` every call
asks for ``ReturnConsumedCapacity=INDEXES`` and the counter adds up the units the responses report,
per table and per index (DynamoDB Local reports them as AWS does, except in transactions: see
:data:`LOCAL_TRANSACTION_FACTOR`). moto's figures are fixed values: count requests there.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from chalicelib.storage.models import ALL_MODELS

WRITE_OPERATIONS = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
#: DynamoDB Local reports 4 units per KB for each item a TransactWriteItems writes (table and
#: index alike) where AWS bills 2, and 0 for a ConditionCheck: divide its transactional write
#: figures by this to get AWS's. Its other figures follow AWS's rules.
LOCAL_TRANSACTION_FACTOR = 2
_CAPACITY_OPERATIONS = frozenset(
    {"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem", "BatchWriteItem",
     "TransactWriteItems", "TransactGetItems"}
)  # fmt: skip


class CapacityTally:
    """Capacity units reported by DynamoDB, split into reads and writes, per table and index.

    Keys of :attr:`units` are ``(kind, table, index)`` with kind ``"read"`` or ``"write"``, index
    ``None`` for the table itself. Transactional writes are also kept apart (``transactional``)
    so that an emulator's figures can be converted (:meth:`write_units`).
    """

    def __init__(self) -> None:
        self.units: Counter[tuple[str, str, str | None]] = Counter()
        self.transactional: Counter[tuple[str, str | None]] = Counter()

    def add(self, operation: str, consumed: Any) -> None:
        kind = "write" if operation in WRITE_OPERATIONS else "read"
        for entry in consumed if isinstance(consumed, list) else [consumed]:
            if not isinstance(entry, dict):
                continue
            table = str(entry.get("TableName", "?"))
            parts: list[tuple[str | None, Any]] = [(None, entry.get("Table"))]
            parts += list((entry.get("GlobalSecondaryIndexes") or {}).items())
            parts += list((entry.get("LocalSecondaryIndexes") or {}).items())
            if entry.get("Table") is None:  # TOTAL only
                parts = [(None, {"CapacityUnits": entry.get("CapacityUnits", 0)})]
            for index, detail in parts:
                units = float((detail or {}).get("CapacityUnits", 0) or 0)
                self.units[(kind, table, index)] += units
                if operation == "TransactWriteItems":
                    self.transactional[(table, index)] += units

    def read_units(self, table: str | None = None) -> float:
        return sum(u for (k, t, _), u in self.units.items() if k == "read" and (table is None or t == table))

    def write_units(self, table: str | None = None, *, transaction_factor: float = 1) -> float:
        """Write units, transactional ones divided by ``transaction_factor`` (DynamoDB Local → AWS:
        :data:`LOCAL_TRANSACTION_FACTOR`)."""
        total = 0.0
        for (kind, t, index), units in self.units.items():
            if kind != "write" or (table is not None and t != table):
                continue
            tx = self.transactional.get((t, index), 0.0)
            total += units - tx + tx / transaction_factor
        return total

    def by_index(self) -> dict[str, float]:
        """``"<kind> <table>[/<index>]"`` → units (transactional writes as reported)."""
        return {
            f"{k} {t}" + (f"/{i}" if i else ""): round(u, 2) for (k, t, i), u in sorted(self.units.items(), key=str)
        }

    def reset(self) -> None:
        self.units.clear()
        self.transactional.clear()


class RequestCounter:
    """Counts DynamoDB API calls by operation name, across threads."""

    def __init__(self) -> None:
        self.by_operation: Counter[str] = Counter()
        #: Scans by table name (the guard against Scans on the paths clients call).
        self.scans: Counter[str] = Counter()
        self.capacity = CapacityTally()
        self._lock = threading.Lock()

    def note_scan(self, params: dict[str, Any] | None = None, model: Any = None, **kwargs: Any) -> None:
        """``before-parameter-build``: remember which table a Scan reads."""
        if params is not None and getattr(model, "name", None) == "Scan":
            with self._lock:
                self.scans[str(params.get("TableName"))] += 1

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

    def ask_capacity(self, params: dict[str, Any] | None = None, model: Any = None, **kwargs: Any) -> None:
        """``before-parameter-build``: ask for capacity per table and index."""
        if params is not None and getattr(model, "name", None) in _CAPACITY_OPERATIONS:
            params["ReturnConsumedCapacity"] = "INDEXES"

    def record_capacity(self, parsed: dict[str, Any] | None = None, model: Any = None, **kwargs: Any) -> None:
        """``after-call``: add the units the response reports."""
        consumed = (parsed or {}).get("ConsumedCapacity")
        if consumed:
            with self._lock:
                self.capacity.add(getattr(model, "name", "?"), consumed)

    def reset(self) -> None:
        with self._lock:
            self.by_operation.clear()
            self.scans.clear()
            self.capacity.reset()

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
def count_requests(*, capacity: bool = False) -> Iterator[RequestCounter]:
    """Count every DynamoDB call made through the (bound) models inside the block; with
    ``capacity``, also the capacity units they consume (``counter.capacity``)."""
    counter = RequestCounter()
    clients = _clients()
    hooks: list[tuple[str, Any, str]] = [
        ("before-call.dynamodb", counter, f"count-{id(counter)}"),
        ("before-parameter-build.dynamodb", counter.note_scan, f"scan-{id(counter)}"),
    ]
    if capacity:
        hooks += [
            ("before-parameter-build.dynamodb", counter.ask_capacity, f"ask-{id(counter)}"),
            ("after-call.dynamodb", counter.record_capacity, f"units-{id(counter)}"),
        ]
    for client in clients:
        for event, handler, unique_id in hooks:
            client.meta.events.register(event, handler, unique_id=unique_id)
    try:
        yield counter
    finally:
        for client in clients:
            for event, _, unique_id in hooks:
                client.meta.events.unregister(event, unique_id=unique_id)


def attribute_bytes(value: dict[str, Any]) -> int:
    """DynamoDB's size of one attribute value in wire form (AWS's documented rules)."""
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        digits = Decimal(inner).normalize().as_tuple().digits
        return (len(digits) + 1) // 2 + 1
    if kind == "B":
        return len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "NS", "BS"):
        return sum(attribute_bytes({kind[0]: v}) for v in inner)
    if kind == "L":
        return 3 + sum(1 + attribute_bytes(v) for v in inner)
    if kind == "M":
        return 3 + sum(len(k.encode()) + 1 + attribute_bytes(v) for k, v in inner.items())
    raise ValueError(kind)


def item_bytes(raw: dict[str, Any]) -> int:
    """DynamoDB's size of an item in wire form (what a write unit per KB counts)."""
    return sum(len(name.encode()) + attribute_bytes(value) for name, value in raw.items())
