"""Fixes to moto's DynamoDB that the tests (on moto), the scheduler's benchmark and ``make run``'s
moto fallback rely on: in process (:func:`installed`) or in moto's server (``server=True``).

moto 5.2.5 differs from DynamoDB in two ways that matter here:

- ``TransactWriteItems`` deep-copies every table it touches before applying (to roll back on a
  failure): a transaction costs O(table size), 0.25 s at 1,000 runs, so a benchmark that inserts
  40,000 runs through transactions would take hours. DynamoDB evaluates every condition first and
  applies all items or none; :func:`transact_write_items` does the same and backs up only the
  items it writes.
- Building an item checks the 400 KB limit once per attribute over the whole item so far
  (``LimitedSizeDict``): O(attributes²) per write, ~2.7 ms for a flow run's ~25 attributes. The
  shim builds the item and checks the limit once.
- Its backend is not thread-safe: a failed transaction's rollback restores a table snapshot and so
  erases writes other threads made meanwhile, and a conditional put is check-then-write. DynamoDB
  serialises writes per item; :func:`installed` serialises whole requests under one lock (each
  botocore request in process; each HTTP request in the server), which is stricter and enough
  for the concurrency tests.

Neither changes what a single-threaded caller sees, except speed.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from moto.core.botocore_stubber import BotocoreStubber
from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    ItemSizeTooLarge,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
from moto.dynamodb.models.utilities import bytesize
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

_LOCK = threading.RLock()
_OPS = ("ConditionCheck", "Put", "Delete", "Update")


def _key_of(backend: DynamoDBBackend, op_type: str, op: dict[str, Any]) -> dict[str, Any]:
    if op_type != "Put":
        return op["Key"]
    table = backend.get_table(op["TableName"])
    key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = op["Item"][table.range_key_attr]
    return key


def _restore(backend: DynamoDBBackend, table_name: str, key: dict[str, Any], old: Any) -> None:
    table = backend.get_table(table_name)
    hash_value = DynamoType(key[table.hash_key_attr])
    range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
    if old is None:
        table.delete_item(hash_value, range_value)
    elif range_value is not None:
        table.items[hash_value][range_value] = old
    else:
        table.items[hash_value] = old


def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    """All or nothing, like DynamoDB: check every condition, then apply every write."""
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    seen: set[tuple[str, str]] = set()
    errors: list[tuple[str | None, str | None, Any]] = []
    plan: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    for entry in transact_items:
        if len(entry) > 1:
            raise TransactWriteSingleOpException
        op_type, op = next(iter(entry.items()))
        if op_type not in _OPS:
            raise ValueError("Unsupported transaction operation")
        key = _key_of(self, op_type, op)
        marker = (op["TableName"], str(dict(sorted(key.items()))))
        if marker in seen:
            raise MultipleTransactionsException()
        seen.add(marker)
        current = self.get_item(op["TableName"], key)
        condition = op.get("ConditionExpression")
        if condition is not None:
            check = get_filter_expression(
                condition, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
            )
            if not check.expr(current):
                old = None
                if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                    old = current.to_json()["Attributes"]
                errors.append(("ConditionalCheckFailed", ConditionalCheckFailed().message, old))
                continue
        errors.append((None, None, None))
        plan.append((op_type, op, key))
    if any(code is not None for code, _, _ in errors):
        raise TransactionCanceledException(errors)
    backups = [(op["TableName"], key, copy.deepcopy(self.get_item(op["TableName"], key))) for _, op, key in plan]
    try:
        for op_type, op, key in plan:
            names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
            if op_type == "Put":
                self.put_item(op["TableName"], op["Item"])
            elif op_type == "Delete":
                self.delete_item(op["TableName"], key)
            elif op_type == "Update":
                self.update_item(
                    op["TableName"],
                    key,
                    update_expression=op["UpdateExpression"],
                    expression_attribute_names=names,
                    expression_attribute_values=values,
                )
    except BaseException:
        for table_name, key, old in backups:
            _restore(self, table_name, key, old)
        raise


def _item_init(self: Item, hash_key: DynamoType, range_key: DynamoType | None, attrs: dict[str, Any]) -> None:
    """``Item.__init__`` with one size check for the whole item (moto checks per attribute)."""
    self.hash_key = hash_key
    self.range_key = range_key
    self.attrs = LimitedSizeDict.__new__(LimitedSizeDict)
    size = 0
    for key, value in attrs.items():
        typed = DynamoType(value)
        size += bytesize(key) + typed.size()
        dict.__setitem__(self.attrs, key, typed)
    if size > 405000:  # moto's own threshold (DynamoDB's 400 KB plus its observed slack)
        raise ItemSizeTooLarge


@contextmanager
def installed(*, server: bool = False) -> Iterator[None]:
    """Within the block, moto runs item-level transactions, sizes items once, and serves one request
    at a time: requests through ``mock_aws`` in process, or with ``server`` HTTP requests to moto's
    server (``ThreadedMotoServer``) started in the block."""
    original_tx = DynamoDBBackend.transact_write_items
    original_item_init = Item.__init__
    owner, name = (DomainDispatcherApplication, "__call__") if server else (BotocoreStubber, "process_request")
    original_entry = getattr(owner, name)

    def serialised(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return original_entry(self, *args, **kwargs)

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    Item.__init__ = _item_init  # type: ignore[method-assign]
    setattr(owner, name, serialised)
    try:
        yield
    finally:
        DynamoDBBackend.transact_write_items = original_tx  # type: ignore[method-assign]
        Item.__init__ = original_item_init  # type: ignore[method-assign]
        setattr(owner, name, original_entry)
