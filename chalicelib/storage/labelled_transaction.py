"""A TransactWriteItems that knows what each of its items is, so a cancellation names the culprits.

DynamoDB answers a cancelled transaction with one reason per item, in request order; pynamodb
sends condition checks first, then deletes, puts and updates. This wrapper keeps a label per item
in that same order and maps the reasons back to labels, so callers decide by *which* condition
failed (a missing flow, a lost optimistic lock, a taken slug) and never by message text.

The transaction runs on the models' own connection, so ``count_requests`` sees it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from chalicelib.storage.errors import REASON_CONDITION_FAILED, cancellation_codes

#: DynamoDB's cap on items per transaction.
MAX_ITEMS = 100
#: Another transaction held one of the items: nothing was decided, retrying may succeed.
CONFLICT_CODE = "TransactionConflict"

_KINDS = ("check", "delete", "put", "update")


class LabelledTransaction:
    """Collects writes, then :meth:`commit` sends them as one TransactWriteItems."""

    def __init__(self, model: type[Model]) -> None:
        self._connection: Connection = model._get_connection().connection
        self._ops: dict[str, list[tuple[str, Callable[[TransactWrite], Any]]]] = {kind: [] for kind in _KINDS}

    def __len__(self) -> int:
        return sum(len(ops) for ops in self._ops.values())

    def check(
        self, label: str, model: type[Model], hash_key: str, condition: Condition, range_key: str | None = None
    ) -> None:
        self._ops["check"].append(
            (label, lambda tx: tx.condition_check(model, hash_key, range_key=range_key, condition=condition))
        )

    def delete(self, label: str, item: Model, condition: Condition | None = None) -> None:
        self._ops["delete"].append((label, lambda tx: tx.delete(item, condition=condition)))

    def put(self, label: str, item: Model, condition: Condition | None = None) -> None:
        self._ops["put"].append((label, lambda tx: tx.save(item, condition=condition)))

    def update(self, label: str, item: Model, actions: list[Action], condition: Condition | None = None) -> None:
        self._ops["update"].append((label, lambda tx: tx.update(item, actions, condition=condition)))

    def labels(self) -> list[str]:
        """Labels in request order (the order of DynamoDB's cancellation reasons)."""
        return [label for kind in _KINDS for label, _ in self._ops[kind]]

    def commit(self) -> None:
        """Send the transaction (nothing is sent when empty); raises ``TransactWriteError``."""
        if not len(self):
            return
        with TransactWrite(connection=self._connection) as tx:
            for kind in _KINDS:
                for _, add in self._ops[kind]:
                    add(tx)

    def commit_or_failures(self) -> dict[str, str]:
        """:meth:`commit`; when the transaction is cancelled, the :meth:`failures` instead of an
        error (empty: it was written). Any other error is raised."""
        try:
            self.commit()
        except TransactWriteError as exc:
            failures = self.failures(exc)
            if not failures:
                raise
            return failures
        return {}

    def failures(self, exc: TransactWriteError) -> dict[str, str]:
        """Label → reason code of every item that failed (empty when the error was no cancellation)."""
        codes = cancellation_codes(exc)
        return {label: code for label, code in zip(self.labels(), codes, strict=False) if code}


def only_conditions(failures: dict[str, str]) -> bool:
    return bool(failures) and all(code == REASON_CONDITION_FAILED for code in failures.values())


def only_conflicts(failures: dict[str, str]) -> bool:
    return bool(failures) and all(code in (REASON_CONDITION_FAILED, CONFLICT_CODE) for code in failures.values())
