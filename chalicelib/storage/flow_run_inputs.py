"""Flow run inputs in DynamoDB (``flow_run_inputs``): one item per (run, key), a run's inputs one
partition. A create is a transaction of a ConditionCheck that the run exists and a Put on
``attribute_not_exists(key)``: two creators of one key, one wins (409), and an input never
outlives a run deleted at the same moment."""

from __future__ import annotations

import uuid

from pynamodb.exceptions import DeleteError, TransactWriteError

from chalicelib.errors import ConflictError, FlowRunNotFoundError
from chalicelib.schemas.flow_run_inputs import FlowRunInput
from chalicelib.storage.errors import is_condition_failure
from chalicelib.storage.labelled_transaction import LabelledTransaction
from chalicelib.storage.models import FlowRunModel, run_shard
from chalicelib.storage.wait_models import FlowRunInputModel

_M = FlowRunInputModel
DUPLICATE = "A flow run input with this key already exists."


def to_item(value: FlowRunInput) -> FlowRunInputModel:
    return _M(
        str(value.flow_run_id), value.key, id=str(value.id), value=value.value, sender=value.sender,
        created=value.created,
    )  # fmt: skip


def _from_item(item: FlowRunInputModel) -> FlowRunInput:
    return FlowRunInput(
        id=uuid.UUID(item.id), created=item.created, updated=item.created, flow_run_id=uuid.UUID(item.flow_run_id),
        key=item.key, value=item.value, sender=item.sender,
    )  # fmt: skip


class FlowRunInputRepository:
    @staticmethod
    def create(value: FlowRunInput) -> None:
        """Store ``value``: :class:`FlowRunNotFoundError` for an unknown run, :class:`ConflictError`
        for a key the run already has."""
        tx = LabelledTransaction(_M)
        run_id = str(value.flow_run_id)
        tx.check("flow run", FlowRunModel, run_shard(run_id), FlowRunModel.id.exists(), range_key=run_id)
        tx.put("input", to_item(value), condition=_M.key.does_not_exist())
        try:
            tx.commit()
        except TransactWriteError as exc:
            failures = tx.failures(exc)
            if "flow run" in failures:
                raise FlowRunNotFoundError(value.flow_run_id) from exc
            if "input" in failures:
                raise ConflictError(DUPLICATE) from exc
            raise

    @staticmethod
    def get(run_id: uuid.UUID, key: str) -> FlowRunInput | None:
        """The input (strongly consistent), ``None`` when there is none."""
        try:
            return _from_item(_M.get(str(run_id), key, consistent_read=True))
        except _M.DoesNotExist:
            return None

    @staticmethod
    def with_prefix(run_id: uuid.UUID, prefix: str) -> list[FlowRunInput]:
        """The run's inputs whose key starts with ``prefix``, oldest first (one Query of its partition)."""
        condition = _M.key.startswith(prefix) if prefix else None
        found = [_from_item(item) for item in _M.query(str(run_id), condition, consistent_read=True)]
        return sorted(found, key=lambda i: (i.created, i.key))

    @staticmethod
    def delete(run_id: uuid.UUID, key: str) -> bool:
        """Delete the input; ``False`` when there was none."""
        try:
            _M(str(run_id), key).delete(condition=_M.key.exists())
        except DeleteError as exc:
            if is_condition_failure(exc):
                return False
            raise
        return True
