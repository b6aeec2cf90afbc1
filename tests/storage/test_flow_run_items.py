"""Compact flow-run items: what is written, what reads back, and items of the former format."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from chalicelib.domain import identity
from chalicelib.domain.orchestration import with_initial_state
from chalicelib.schemas.flow_runs import CreatedBy, FlowRun
from chalicelib.schemas.states import State, StateDetails, StateType
from chalicelib.storage.flow_runs import _items as items
from chalicelib.storage.flow_runs._listing import Listing
from chalicelib.storage.instrumentation import item_bytes
from chalicelib.storage.models import FlowRunModel

T0 = datetime(2030, 1, 1, tzinfo=UTC)
RETENTION = timedelta(days=90)
FLOW = identity.flow_id("f")
DEPLOYMENT = uuid.UUID(int=7)
SCHEDULE = uuid.UUID(int=8)


def scheduled_run() -> FlowRun:
    key = identity.scheduled_run_idempotency_key(DEPLOYMENT, SCHEDULE, T0)
    state = State(
        type=StateType.SCHEDULED,
        timestamp=T0 - timedelta(hours=1),
        message="Flow run scheduled",
        state_details=StateDetails(scheduled_time=T0),
    )
    run = FlowRun(
        id=identity.flow_run_id(FLOW, key),
        name="brave-otter",
        flow_id=FLOW,
        deployment_id=DEPLOYMENT,
        schedule_id=SCHEDULE,
        idempotency_key=key,
        auto_scheduled=True,
        parameters={"n": 1},
        tags=["auto-scheduled"],
        work_queue_name="default",
        work_queue_id=identity.work_queue_id(None, "default"),
        expected_start_time=T0,
        next_scheduled_start_time=T0,
        created_by=CreatedBy(id=SCHEDULE, type="SCHEDULE", display_value="CronSchedule"),
        created=T0 - timedelta(hours=1),
        updated=T0 - timedelta(hours=1),
    )
    return with_initial_state(run, state)


def stored(item: FlowRunModel) -> dict:
    return item.serialize()


def test_a_run_reads_back_as_it_was_written():
    run = scheduled_run()
    item = items.to_item(run, RETENTION, history_pending=True)
    read = items.from_item(item)
    assert read.stored_sweep_at == item.sweep_at  # storage's bookkeeping, as read (never written from the run)
    assert read.model_copy(update={"stored_sweep_at": None, "unrecorded": None}) == run


def test_no_nulls_no_defaults_no_derivable_values_are_written():
    item = stored(items.to_item(scheduled_run(), RETENTION, history_pending=True))
    assert "idempotency_key" not in item  # implied by deployment, schedule and time
    assert "run_count" not in item and "lazarus_attempts" not in item and "history" not in item
    doc = json.loads(item["doc"]["S"])
    assert None not in doc.values()
    assert doc["created_by"] == "CronSchedule"  # id and type implied by the schedule
    state = json.loads(item["st"]["S"])
    assert set(state) == {"ts", "m", "sd"}  # no id, type, default name, null data, run id
    assert item_bytes(item) <= 1024  # one write unit


def test_sparse_attributes_follow_the_state():
    run = scheduled_run()
    item = items.to_item(run, RETENTION, history_pending=True)
    assert item.owner_sort == f"SCHEDULED#{identity.utc_key(T0)}" and item.sweep == "late"
    planned = items.to_item(run, RETENTION, history_pending=True, late_list=False)
    assert planned.sweep is None and planned.sweep_at is None  # the marker finds it from its schedule
    assert item.owner == str(DEPLOYMENT)
    assert item.queue_sort is None  # no work pool: a serve() runner polls it by deployment, no worker
    pooled = run.model_copy(update={"work_pool_name": "pool", "work_queue_id": identity.work_queue_id("pool", "q")})
    assert items.to_item(pooled, RETENTION, history_pending=True).queue_sort == item.owner_sort
    running = pooled.model_copy(update={"state": State(type=StateType.RUNNING, timestamp=T0)})
    running = running.model_copy(update={"state_type": StateType.RUNNING, "state_id": running.state.id})
    moved = items.to_item(running, RETENTION, history_pending=False)
    assert moved.sweep is None  # off the late list
    assert moved.owner_sort == f"~{run.id}"  # moved once, for good (in id order among the others)
    assert moved.queue_sort == f"PENDING#{identity.utc_key(run.created)}"  # counted as active
    done = running.model_copy(update={"state": State(type=StateType.COMPLETED, timestamp=T0)})
    done = done.model_copy(update={"state_type": StateType.COMPLETED, "state_id": done.state.id})
    finished = items.to_item(done, RETENTION, history_pending=False)
    assert finished.queue_sort is None and finished.owner_sort == moved.owner_sort  # left by-queue; same key
    late = run.model_copy(update={"state": run.state.model_copy(update={"name": "Late"}), "state_name": "Late"})
    assert items.to_item(late, RETENTION, history_pending=False).sweep is None  # no job has business with it


def test_an_item_of_the_former_format_reads_as_it_was():
    run = scheduled_run()
    history = [run.state]
    former = FlowRunModel(
        str(run.id),
        flow_id=str(run.flow_id),
        deployment_id=str(run.deployment_id),
        schedule_id=str(run.schedule_id),
        name=run.name,
        idempotency_key=run.idempotency_key,
        auto_scheduled=True,
        state_id=str(run.state.id),
        state_type="SCHEDULED",
        state_name="Scheduled",
        run_count=0,
        work_queue_name="default",
        next_scheduled_start_time=T0,
        expected_start_time=T0,
        lazarus_attempts=0,
        created=run.created,
        updated=run.updated,
        doc={
            k: v
            for k, v in run.model_dump(mode="json").items()
            if k
            not in {
                "id",
                "flow_id",
                "deployment_id",
                "name",
                "idempotency_key",
                "auto_scheduled",
                "state_id",
                "state_type",
                "state_name",
                "run_count",
                "work_queue_name",
                "next_scheduled_start_time",
                "expected_start_time",
                "start_time",
                "end_time",
                "created",
                "updated",
            }
        },  # fmt: skip
        history=[s.model_dump(mode="json") for s in history],
    )
    assert items.from_item(former) == run
    assert items.legacy_history(former) == history
    # Its next write records that history in flow_run_states.
    recorded = items.states_to_record(former, run)
    assert [s for s, _ in recorded] == history


def test_a_state_round_trips_through_its_history_item():
    run = scheduled_run()
    item = items.state_item(run.id, run.state, run.updated, None)
    assert items.from_state_item(item) == [run.state]
    assert item.sk.startswith(identity.utc_key(run.updated))


def test_states_recorded_together_share_one_history_item_in_order():
    run = scheduled_run()
    pending = State(type=StateType.PENDING, timestamp=run.updated + timedelta(seconds=1))
    item = items.state_item(run.id, run.state, run.updated, None, more=[(pending, run.updated + timedelta(seconds=1))])
    assert items.from_state_item(item) == [run.state, pending]
    assert item.more[0]["k"] > item.sk


def test_runs_an_older_version_stored_are_rewritten_once_into_the_new_indexes(repos):
    run = scheduled_run()
    old = repos.flow_runs.to_item(run)
    old.owner_sort = None  # as a version before by-owner-state wrote it
    old.save()
    assert list(repos.flow_runs.by_deployment(DEPLOYMENT, StateType.SCHEDULED)) == []
    rewritten, current, cursor = repos.flow_runs.rewrite_outdated()
    assert (rewritten, current, cursor) == (1, 0, None)
    assert [r.id for r in repos.flow_runs.by_deployment(DEPLOYMENT, StateType.SCHEDULED)] == [run.id]
    assert repos.flow_runs.history(run.id) == [run.state]
    assert repos.flow_runs.rewrite_outdated()[:2] == (0, 1)  # idempotent


def _previous_runs_table(settings) -> tuple[object, str]:
    """The runs table of the versions before ``flow_runs_v2`` (keyed by id alone), empty."""
    client = FlowRunModel._get_connection().connection.client
    name = f"{settings.tables_prefix}flow_runs"
    if name not in client.list_tables()["TableNames"]:
        client.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
    return client, name


def test_migrate_runs_copies_the_previous_runs_table_into_listings_and_counts(repos, settings, capsys):
    """Items the versions before wrote to ``flow_runs`` (keyed by id, former attribute names):
    ``cirrus migrate-runs`` applies what that table's stream holds and the counts have not (a run
    deleted there just before the upgrade leaves the counts), copies its runs into ``flow_runs_v2``
    in this format, and keeps a run already in the new table as it is; running it again changes
    nothing."""
    from chalicelib import cli
    from chalicelib.storage import aggregates
    from chalicelib.storage.run_counts import FLOW_RUNS, Window, count

    client, previous = _previous_runs_table(settings)
    try:
        run = scheduled_run()
        done = run.model_copy(update={"id": uuid.uuid4(), "idempotency_key": "k"})
        moved_on = run.model_copy(update={"id": uuid.uuid4(), "idempotency_key": "m", "name": "old-name"})
        gone = run.model_copy(update={"id": uuid.uuid4(), "idempotency_key": "g"})
        for stored_run in (run, done, moved_on, gone):
            old = repos.flow_runs.to_item(stored_run)
            old.time_bucket = old.time_key = None
            old.owner_sort = old.owner_sort if old.owner_sort.startswith("SCHEDULED") else f"~{stored_run.created}"
            raw = old.serialize()
            raw.pop("ix")
            previous_names = {new: name for name, new in FlowRunModel.PREVIOUS_NAMES.items()}
            raw = {previous_names.get(name, name): value for name, value in raw.items()}
            assert "expected_start_time" in raw and "au" not in raw
            client.put_item(TableName=previous, Item=raw)
        aggregates.drain_previous_runs(settings, previous)  # the former version's consumer counted them
        assert count(FLOW_RUNS, None, Window(), None) == 4
        client.delete_item(TableName=previous, Key={"id": {"S": str(gone.id)}})  # just before the upgrade
        repos.flow_runs.insert(moved_on.model_copy(update={"name": "written-since"}))
        aggregates.drain(settings)  # the run written since is counted already (by the former stream)
        assert count(FLOW_RUNS, None, Window(), None) == 4
        assert [r.id for r, _ in repos.flow_runs.listed(Listing(order="id"))] == [moved_on.id]
        assert cli.main(["migrate-runs"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["copied_flow_runs"] == {"from": previous, "copied": 2, "present": 1, "stream_records": 1}
        assert report["flow_runs"] == {"rewritten": 0, "current": 3} and report["counted_fr"] == 0
        listed = {r.id: r for r, _ in repos.flow_runs.listed(Listing(order="id"))}
        assert set(listed) == {run.id, done.id, moved_on.id} and listed[moved_on.id].name == "written-since"
        assert {r.id for r in repos.flow_runs.by_deployment(DEPLOYMENT, StateType.SCHEDULED)} == set(listed)
        assert repos.flow_runs.history(done.id) == [done.state]
        aggregates.drain(settings)  # the copies' own records change nothing more
        assert count(FLOW_RUNS, None, Window(), None) == 3
        assert cli.main(["migrate-runs"]) == 0
        again = json.loads(capsys.readouterr().out)
        assert again["copied_flow_runs"] == {"from": previous, "copied": 0, "present": 3, "stream_records": 0}
        assert again["flow_runs"] == {"rewritten": 0, "current": 3} and again["counted_fr"] == 0
        aggregates.drain(settings)
        assert count(FLOW_RUNS, None, Window(), None) == 3

    finally:  # the table (and its stream) must not outlive the test on a shared DynamoDB Local
        client.delete_table(TableName=previous)


def test_a_state_too_big_to_carry_goes_to_the_history_and_nothing_is_lost(repos):
    """A transition carries the state it replaces in the run's item only while the item stays
    within 1 KB: a run with large parameters records it in the history instead. Either way every
    state reads back, in order, and each state is once in the history table or the item."""
    from chalicelib.storage.models import FlowRunStateModel

    small = scheduled_run()
    big = small.model_copy(update={"id": uuid.uuid4(), "idempotency_key": "big", "parameters": {"x": "y" * 400}})
    for run in (small, big):
        repos.flow_runs.insert(run)
        for offset, kind in enumerate((StateType.PENDING, StateType.RUNNING, StateType.COMPLETED), start=1):
            read = repos.flow_runs.get(run.id)
            at = T0 + timedelta(seconds=offset)
            current = read.model_copy(update={"state": State(type=kind, timestamp=at), "updated": at})
            repos.flow_runs.replace(current, expected_state_id=read.state.id)
            carried = FlowRunModel.get(str(run.id)).carried
            if kind is StateType.PENDING:  # SCHEDULED carried by the small run's item only
                assert [e["t"] for e in carried or []] == (["SCHEDULED"] if run is small else [])
        recorded = [s for item in FlowRunStateModel.query(str(run.id)) for s in items.from_state_item(item)]
        in_item = [e["k"].rsplit("#", 1)[1] for e in FlowRunModel.get(str(run.id)).carried or []]
        ids = [str(s.id) for s in recorded] + in_item + [str(current.state.id)]
        history = repos.flow_runs.history(run.id)
        assert [str(s.id) for s in history] == ids  # each state once, in the order they were set
        assert [s.type.value for s in history] == ["SCHEDULED", "PENDING", "RUNNING", "COMPLETED"]
        if run is big:
            assert [s.type for s in recorded] == [StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING]
