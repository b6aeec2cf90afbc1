"""Write units per operation, as DynamoDB Local reports them (moto's figures are fixed values).

Guards the compact items and lean indexes (README, "Capacity units per operation"): a heartbeat
writes one unit and no index; a run the scheduler plans costs one unit in the table and one in each
of by-owner-state and by-time (a work pool's run one more in by-queue); a transition writes
the run, its new state and the index entries whose key or projected attributes it changes.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from chalicelib.schemas.states import SetStateBody
from chalicelib.services import flow_runs
from chalicelib.storage.instrumentation import count_requests
from chalicelib.storage.models import FlowRunModel
from tests.storage.test_flow_run_items import T0, scheduled_run


@pytest.fixture(autouse=True)
def _local_only(aws):
    if aws.name == "moto":
        pytest.skip("moto reports fixed capacity figures")


def units(action) -> tuple[float, dict[str, float]]:
    with count_requests(capacity=True) as counter:
        action()
    return counter.capacity.write_units(), counter.capacity.by_index()


def set_state(repos, run_id, kind, at):
    body = SetStateBody.model_validate({"state": {"type": kind}})
    return lambda: flow_runs.set_flow_run_state(repos, run_id, body, at)


def test_units_of_a_lifecycle(repos):
    api = scheduled_run().model_copy(update={"id": uuid.uuid4()})
    inserted, where = units(lambda: repos.flow_runs.insert(api))
    assert inserted == 4, where  # the table, by-owner-state, by-time, the late list (no by-queue)
    run = scheduled_run()  # as the scheduler plans it: off the late list (found from its schedule)
    planned = repos.flow_runs.to_item(run, late_list=False)
    inserted, where = units(lambda: planned.save(condition=FlowRunModel.id.does_not_exist()))
    assert inserted == 3, where  # the table, by-owner-state, by-time: 6 in the scheduler's transaction
    pending, where = units(set_state(repos, run.id, "PENDING", T0))
    assert pending <= 5, where  # the run (carrying SCHEDULED: no history item), by-owner-state and by-time moved
    running, where = units(set_state(repos, run.id, "RUNNING", T0 + timedelta(seconds=1)))
    assert running <= 5, where  # the run, SCHEDULED+PENDING in one history item, by-time's key and by-owner-state's tk
    first, _ = units(lambda: flow_runs.record_heartbeat(repos, run.id, T0 + timedelta(seconds=2)))
    later, where = units(lambda: flow_runs.record_heartbeat(repos, run.id, T0 + timedelta(seconds=32)))
    assert (first, later) == (2, 1), where  # the first puts it on the zombie list; then the table only
    completed, where = units(set_state(repos, run.id, "COMPLETED", T0 + timedelta(seconds=60)))
    assert completed <= 4, where  # the run (carrying RUNNING), off the zombie list, by-time's entry out of `live`
    assert [s.type.value for s in flow_runs.read_flow_run_states(repos, run.id)] == [
        "SCHEDULED", "PENDING", "RUNNING", "COMPLETED"
    ]  # fmt: skip
