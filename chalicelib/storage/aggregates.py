"""The runs tables' streams into the run counts (:mod:`chalicelib.storage.run_counts`), and the
repository that reads those counts.

On AWS a Lambda consumes each stream (``app.py``: the ``*_counts`` functions, mapped to the streams
by the CDK stack) and hands its records to :func:`apply_records`. Locally (``make run``, tests)
nothing delivers records, so :class:`RunCountRepository` pulls them itself before it reads
(``Settings.pull_streams``): it reads each shard from its checkpoint (an item per shard in
``run_counts``, kept only to avoid re-reading; re-applying a record is harmless) and applies what
it finds. Parent shards are read before their children, so a run's changes keep their order.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any

import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError
from pydantic import ValidationError

from chalicelib.config import Settings
from chalicelib.storage import run_counts
from chalicelib.storage.flow_runs._items import from_item as flow_run_from_item
from chalicelib.storage.models import FlowRunModel, RunCountModel
from chalicelib.storage.resource_models import TaskRunModel
from chalicelib.storage.run_counts import FLOW_RUNS, TASK_RUNS, RunView, Window

log = logging.getLogger(__name__)

#: The tables whose streams feed the counts, by kind of run.
STREAM_MODELS = {FLOW_RUNS: FlowRunModel, TASK_RUNS: TaskRunModel}
_CHECKPOINT = "stream"
_PAGE = 1000


# ---------------------------------------------------------------------------------- views
def _flow_run_view(image: Mapping[str, Any]) -> RunView:
    run = flow_run_from_item(FlowRunModel.from_raw_data(dict(image)))
    return RunView(
        id=str(run.id),
        state=run.state_type.value if run.state_type else run_counts.NO_STATE,
        name=run.state_name or "",
        state_id=str(run.state_id) if run.state_id else "none",
        times={run_counts.EXPECTED: run.expected_start_time or run.created, run_counts.STARTED: run.start_time},
        flow_id=str(run.flow_id),
        deployment_id=str(run.deployment_id) if run.deployment_id else None,
        run_time=run.total_run_time if run.state and run.state.is_terminal else 0.0,
        created=run.created,
        changed=run.updated,
    )


def _task_run_view(image: Mapping[str, Any]) -> RunView:
    from chalicelib.storage.task_runs import TaskRunRepository

    run = TaskRunRepository(Settings()).from_item(TaskRunModel.from_raw_data(dict(image)))
    state = run.state
    return RunView(
        id=str(run.id),
        state=state.type.value if state else run_counts.NO_STATE,
        name=state.name if state else "",
        state_id=str(state.id) if state else "none",
        times={run_counts.EXPECTED: run.expected_start_time or run.created, run_counts.STARTED: run.start_time},
        flow_id=str(run.flow_run_id) if run.flow_run_id else None,
        run_time=run.total_run_time if state and state.is_terminal else 0.0,
        created=run.created,
        changed=run.updated,
    )


_VIEWS = {FLOW_RUNS: _flow_run_view, TASK_RUNS: _task_run_view}


def _view(kind: str, image: Mapping[str, Any] | None) -> RunView | None:
    if not image:
        return None
    try:
        return _VIEWS[kind](image)
    except (ValidationError, ValueError, KeyError, TypeError) as exc:
        # A stored item the code cannot read is left out of the counts rather than stopping them.
        log.warning("run counts: unreadable %s image %s: %s", kind, image.get("id"), exc)
        return None


def _when(record: Mapping[str, Any]) -> datetime:
    value = record.get("dynamodb", {}).get("ApproximateCreationDateTime")
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    return datetime.now(UTC)


def apply_records(kind: str, records: Iterable[Mapping[str, Any]]) -> int:
    """Apply stream records (Lambda's or GetRecords' shape) of ``kind``'s table to the counts;
    returns how many changed them."""
    changes = []
    for record in records:
        data = record.get("dynamodb", {})
        old, new = _view(kind, data.get("OldImage")), _view(kind, data.get("NewImage"))
        if old is not None or new is not None:
            changes.append((old, new, _when(record)))
    return run_counts.apply(kind, changes)


# ---------------------------------------------------------------------------------- pulling
@cache
def _streams_client(endpoint: str | None, region: str) -> Any:
    # The regional endpoint, not the account-based one botocore now prefers (moto serves only that).
    config = Config(account_id_endpoint_mode="disabled")
    return botocore.session.get_session().create_client(
        "dynamodbstreams", region_name=region, endpoint_url=endpoint, config=config
    )


def _stream_arn(model: Any, table_name: str | None = None) -> str | None:
    """The stream of ``model``'s table (or of the table ``table_name``, read with ``model``'s
    connection; ``None`` when it has none or does not exist)."""
    client = model._get_connection().connection.client
    try:
        table = client.describe_table(TableName=table_name or model.Meta.table_name)["Table"]
    except client.exceptions.ResourceNotFoundException:
        if table_name is None:
            raise
        return None
    return table.get("LatestStreamArn")


def _shards(client: Any, arn: str) -> list[dict[str, Any]]:
    shards: list[dict[str, Any]] = []
    request: dict[str, Any] = {"StreamArn": arn}
    while True:
        description = client.describe_stream(**request)["StreamDescription"]
        shards += description.get("Shards", [])
        last = description.get("LastEvaluatedShardId")
        if not last:
            break
        request["ExclusiveStartShardId"] = last
    return sorted(shards, key=lambda s: int(s["SequenceNumberRange"]["StartingSequenceNumber"]))


def _records(client: Any, arn: str, shard: str, after: str | None) -> Iterator[list[dict[str, Any]]]:
    """Pages of a shard's records after sequence number ``after`` (all with ``None``)."""
    request = {"StreamArn": arn, "ShardId": shard, "ShardIteratorType": "TRIM_HORIZON"}
    try:
        if after:
            iterator = client.get_shard_iterator(
                **{**request, "ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": after}
            ).get("ShardIterator")
        else:
            iterator = client.get_shard_iterator(**request).get("ShardIterator")
    except ClientError as exc:  # the checkpoint's record was trimmed (older than 24 hours): from the start
        log.warning("run counts: shard %s from its start: %s", shard, exc.response["Error"]["Code"])
        iterator = client.get_shard_iterator(**request).get("ShardIterator")
    while iterator:
        page = client.get_records(ShardIterator=iterator, Limit=_PAGE)
        records = page.get("Records", [])
        if not records:
            return
        yield records
        iterator = page.get("NextShardIterator")


class _Checkpoints:
    """Where a consumer read each shard to (an item per shard in ``run_counts``; efficiency only)."""

    @staticmethod
    def read(arn: str, consumer: str = _CHECKPOINT) -> dict[str, str]:
        key = f"{consumer}#{arn}"
        return {item.sk: item.attribute_values.get("seq") for item in _raw_query(key)}

    @staticmethod
    def write(arn: str, shard: str, seq: str, consumer: str = _CHECKPOINT) -> None:
        client = RunCountModel._get_connection().connection.client
        client.put_item(
            TableName=RunCountModel.Meta.table_name,
            Item={"pk": {"S": f"{consumer}#{arn}"}, "sk": {"S": shard}, "seq": {"S": seq}},
        )


class _Raw:
    def __init__(self, sk: str, values: dict[str, Any]) -> None:
        self.sk = sk
        self.attribute_values = values


def _raw_query(pk: str) -> Iterator[_Raw]:
    for item in run_counts._items(pk, " ", "~"):
        yield _Raw(item["sk"]["S"], {k: v.get("S") for k, v in item.items()})


_drain_lock = threading.Lock()


def drain(settings: Settings, *, apply: bool = True) -> int:
    """Read both streams to their ends and apply what was new (``apply=False``: only move the
    checkpoints, e.g. after a test emptied the tables); returns how many records were read."""
    read = 0
    with _drain_lock:  # one drain at a time per process; other processes are kept right by the conditions
        for kind, model in STREAM_MODELS.items():
            read += pull_stream(
                settings, model, _CHECKPOINT, lambda records, k=kind: apply and apply_records(k, records)
            )
    return read


def drain_previous_runs(settings: Settings, table_name: str) -> int:
    """Apply what the stream of the runs table of the versions before (``table_name``, keyed by id,
    its attributes under their former names) holds and the counts have not applied yet: changes
    made just before an upgrade, whose consumer the upgrade removed (``cirrus migrate-runs``).
    Returns how many records were read (0 when the table or its stream is gone)."""

    def handle(records: list[dict[str, Any]]) -> int:
        converted = []
        for record in records:
            data = dict(record.get("dynamodb", {}))
            for side in ("OldImage", "NewImage"):
                if data.get(side) is not None:
                    data[side] = FlowRunModel.from_previous(data[side])
            converted.append({**record, "dynamodb": data})
        return apply_records(FLOW_RUNS, converted)

    with _drain_lock:
        return pull_stream(settings, FlowRunModel, _CHECKPOINT, handle, table_name=table_name)


def pull_stream(
    settings: Settings,
    model: Any,
    consumer: str,
    handle: Callable[[list[dict[str, Any]]], object],
    *,
    table_name: str | None = None,
) -> int:
    """Hand ``handle`` the records of ``model``'s stream (or of the table ``table_name``'s) that
    ``consumer`` has not read yet, a page at a time in order (parent shards first), moving the
    consumer's checkpoints after each shard; returns how many were read. The caller keeps one pull
    per consumer at a time."""
    client = _streams_client(settings.dynamodb_endpoint, settings.region)
    arn = _stream_arn(model, table_name)
    if arn is None:
        return 0
    read = 0
    checkpoints = _Checkpoints.read(arn, consumer)
    for shard in _shards(client, arn):
        shard_id = shard["ShardId"]
        last = checkpoints.get(shard_id)
        for records in _records(client, arn, shard_id, last):
            handle(records)
            read += len(records)
            last = records[-1]["dynamodb"]["SequenceNumber"]
        if last and last != checkpoints.get(shard_id):
            _Checkpoints.write(arn, shard_id, last, consumer)
    return read


def rebuild_page(kind: str, cursor: dict | None = None, limit: int = 500) -> tuple[int, dict | None]:
    """Enter one Scan page of ``kind``'s stored runs into the counts, as if each were new: a run the
    counts already hold (from its stream) is skipped by the entry's condition, so this may run while
    runs change and any number of times (``cirrus migrate-runs``, after an upgrade that brought the
    counts). Returns (runs entered, the next page's cursor or ``None``)."""
    model = STREAM_MODELS[kind]
    page = model._get_connection().scan(limit=limit, exclusive_start_key=cursor)
    now = datetime.now(UTC)
    views = [_view(kind, raw) for raw in page.get("Items", [])]
    entered = run_counts.apply(kind, [(None, v, now) for v in views if v is not None])
    return entered, page.get("LastEvaluatedKey")


# ---------------------------------------------------------------------------------- reading
class RunCountRepository:
    """Reads the run counts; with ``settings.pull_streams`` it first drains the streams, so a count
    read right after a write includes it (the local stack, tests)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @staticmethod
    def rebuild_page(kind: str, cursor: dict | None = None) -> tuple[int, dict | None]:
        return rebuild_page(kind, cursor)

    def drain_previous_runs(self, table_name: str) -> int:
        """:func:`drain_previous_runs` for these settings."""
        return drain_previous_runs(self.settings, table_name)

    @staticmethod
    def apply_records(kind: str, records: Iterable[Mapping[str, Any]]) -> int:
        """Apply stream records delivered by a consumer (:func:`apply_records`)."""
        return apply_records(kind, records)

    def _fresh(self) -> None:
        if self.settings.pull_streams:
            drain(self.settings)

    def count(self, kind: str, dim: str | None, window: Window, types: set[str] | None) -> int:
        self._fresh()
        return run_counts.count(kind, dim, window, types)

    def count_by_type(self, kind: str, dim: str | None, window: Window) -> dict[str, int]:
        self._fresh()
        return run_counts.count_by_type(kind, dim, window)

    def flows_with_runs(self, window: Window, types: set[str] | None) -> set[str]:
        self._fresh()
        return run_counts.flows_with_runs(window, types)

    def days(self, kind: str) -> frozenset[str]:
        self._fresh()
        return run_counts.days(kind)

    def deployment_counts(self, deployment_ids: Sequence[str]) -> dict[str, dict[tuple[str, str], int]]:
        self._fresh()
        return run_counts.deployment_counts(deployment_ids)

    def history(
        self,
        kind: str,
        dim: str,
        start: datetime,
        end: datetime,
        step: Any,
        types: set[str] | None,
        within: Window | None = None,
    ) -> Any:
        self._fresh()
        return run_counts.history(kind, dim, start, end, step, types, within)
