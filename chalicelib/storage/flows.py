"""Flows in DynamoDB. The id is derived from the name, so upsert-by-name is one conditional put."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime

from pynamodb.exceptions import DeleteError, PutError, UpdateError

from chalicelib.domain.identity import flow_id
from chalicelib.errors import FlowNotFoundError
from chalicelib.schemas.flows import Flow
from chalicelib.storage.errors import is_condition_failure
from chalicelib.storage.models import FlowModel


def _to_flow(item: FlowModel) -> Flow:
    return Flow(
        id=uuid.UUID(item.id),
        name=item.name,
        tags=list(item.tags or []),
        labels=item.labels if item.labels is not None else {},
        created=item.created,
        updated=item.updated,
    )


class FlowRepository:
    """Reads and writes flows; raises :class:`FlowNotFoundError` for a missing one."""

    def create_if_absent(self, name: str, tags: list[str], labels: dict | None, now: datetime) -> tuple[Flow, bool]:
        """Insert the flow called ``name`` unless it exists; return it and whether it was created.

        One conditional put: concurrent creators of one name all get the same flow.
        """
        item = FlowModel(str(flow_id(name)), name=name, tags=list(tags), labels=labels, created=now, updated=now)
        try:
            item.save(condition=FlowModel.id.does_not_exist())
        except PutError as exc:
            if not is_condition_failure(exc):
                raise
            return self.get(flow_id(name)), False
        return _to_flow(item), True

    def get(self, id_: uuid.UUID) -> Flow:
        try:
            return _to_flow(FlowModel.get(str(id_), consistent_read=True))
        except FlowModel.DoesNotExist as exc:
            raise FlowNotFoundError(id_) from exc

    def get_by_name(self, name: str) -> Flow:
        return self.get(flow_id(name))

    def exists(self, id_: uuid.UUID) -> bool:
        try:
            FlowModel.get(str(id_), attributes_to_get=["id"])
        except FlowModel.DoesNotExist:
            return False
        return True

    def update(self, id_: uuid.UUID, tags: list[str] | None, labels: dict | None, now: datetime) -> None:
        """Change the given fields of an existing flow (conditional on its existence)."""
        actions = [FlowModel.updated.set(now)]
        if tags is not None:
            actions.append(FlowModel.tags.set(list(tags)))
        if labels is not None:
            actions.append(FlowModel.labels.set(labels))
        try:
            FlowModel(str(id_)).update(actions=actions, condition=FlowModel.id.exists())
        except UpdateError as exc:
            if is_condition_failure(exc):
                raise FlowNotFoundError(id_) from exc
            raise

    def delete(self, id_: uuid.UUID) -> None:
        try:
            FlowModel(str(id_)).delete(condition=FlowModel.id.exists())
        except DeleteError as exc:
            if is_condition_failure(exc):
                raise FlowNotFoundError(id_) from exc
            raise

    def scan(self) -> Iterator[Flow]:
        """Every flow (filter/count/paginate of flows: an operator's path, not a worker's)."""
        for item in FlowModel.scan():
            yield _to_flow(item)

    def get_many(self, ids: list[uuid.UUID]) -> dict[uuid.UUID, Flow]:
        out = {}
        for item in FlowModel.batch_get([str(i) for i in dict.fromkeys(ids)]):
            flow = _to_flow(item)
            out[flow.id] = flow
        return out
