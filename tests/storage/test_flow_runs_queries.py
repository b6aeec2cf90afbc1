"""The flow-run filter planner: which keys or index each criterion uses, that a planned read finds
exactly what a full Scan would, and that the paths workers poll never Scan."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain import identity
from chalicelib.domain.orchestration import with_initial_state
from chalicelib.schemas.filters import FlowRunFilter
from chalicelib.schemas.flow_runs import FlowRun
from chalicelib.schemas.states import State, StateDetails, StateType
from chalicelib.storage.flow_runs import _queries as q
from chalicelib.storage.instrumentation import count_requests

T0 = datetime(2030, 1, 1, tzinfo=UTC)
FLOW_A, FLOW_B = identity.flow_id("a"), identity.flow_id("b")
DEP_1, DEP_2 = uuid.UUID(int=1), uuid.UUID(int=2)
Q1, Q2 = identity.work_queue_id(None, "q1"), identity.work_queue_id(None, "q2")


def make(state_type: StateType, name=None, *, minutes=0, flow=FLOW_A, key=None, **fields) -> FlowRun:
    details = (
        StateDetails(scheduled_time=T0 + timedelta(minutes=minutes)) if state_type is StateType.SCHEDULED else None
    )
    state = State(type=state_type, name=name, timestamp=T0, state_details=details or StateDetails())
    run_id = identity.flow_run_id(flow, key) if key else uuid.uuid4()
    if fields.get("work_queue_name"):
        fields["work_queue_id"] = identity.work_queue_id(None, fields["work_queue_name"])
    return with_initial_state(
        FlowRun(
            id=run_id, name=f"run-{state_type.value.lower()}-{minutes}", flow_id=flow, idempotency_key=key, **fields
        ),
        state,
    )


@pytest.fixture
def runs(repos):
    S = StateType
    made = [
        make(S.SCHEDULED, minutes=10, deployment_id=DEP_1, work_queue_name="q1", key="k1"),
        make(S.SCHEDULED, minutes=20, deployment_id=DEP_1, work_queue_name="q1"),
        make(S.SCHEDULED, "Late", minutes=-5, deployment_id=DEP_2, work_queue_name="q2"),
        make(S.SCHEDULED, minutes=40, flow=FLOW_B),
        make(S.PENDING, deployment_id=DEP_1, work_queue_name="q1", tags=["x"]),
        make(S.RUNNING, deployment_id=DEP_2, work_queue_name="q2", tags=["x", "y"]),
        make(S.CANCELLING, deployment_id=DEP_1, work_queue_name="q1"),
        make(S.CANCELLING, flow=FLOW_B, work_queue_name="q2"),
        make(S.COMPLETED, flow=FLOW_B, key="k2"),
        make(S.CRASHED, deployment_id=DEP_2),
    ]
    for run in made:
        assert repos.flow_runs.insert(run)
    return made


def flt(**body) -> FlowRunFilter:
    return FlowRunFilter.model_validate(body)


def test_plans():
    one = uuid.uuid4()
    before = T0 + timedelta(minutes=15)
    assert q.plan(flt(id={"any_": [one]})) == [q.AccessPath(q.KEYS, (str(one),))]
    assert q.plan(flt(operator="or_", id={"any_": [one]})) == [q.AccessPath(q.KEYS, (str(one),))]
    assert q.plan(flt(operator="or_", id={"any_": [one]}, name={"like_": "x"}))[0].scans
    scheduled_before = q.plan(
        flt(deployment_id={"any_": [DEP_1]}, next_scheduled_start_time={"before_": before.isoformat()})
    )
    assert scheduled_before == [
        q.AccessPath(q.BY_DEPLOYMENT, (str(DEP_1),), (("SCHEDULED#", f"SCHEDULED#{identity.utc_key(before)}"),))
    ]
    assert q.plan(None, flow_ids=[FLOW_A]) == [q.AccessPath(q.BY_FLOW, (str(FLOW_A),))]
    assert q.plan(flt(state={"type": {"any_": ["CANCELLING"]}})) == [q.AccessPath(q.BY_SWEEP, ("cancelling",))]
    # No index holds every scheduled run (the scheduler's planned runs are on no global list).
    assert q.plan(flt(state={"type": {"any_": ["SCHEDULED", "CANCELLING"]}}))[0].scans
    keyed = q.plan(flt(idempotency_key={"any_": ["k1"]}), flow_ids=[FLOW_A])
    assert keyed == [q.AccessPath(q.KEYS, (str(identity.flow_run_id(FLOW_A, "k1")),))]
    assert q.plan(flt(name={"like_": "x"}))[0].scans
    assert q.plan(flt(state={"operator": "or_", "type": {"any_": ["SCHEDULED"]}, "name": {"any_": ["x"]}}))[0].scans
    assert q.plan(None)[0].scans


FILTERS = {
    "ids": lambda runs: flt(id={"any_": [str(runs[0].id), str(runs[5].id), str(uuid.uuid4())]}),
    "no ids": lambda runs: flt(id={"any_": []}),
    "deployment": lambda runs: flt(deployment_id={"any_": [str(DEP_1)]}),
    "deployment scheduled before": lambda runs: flt(
        deployment_id={"any_": [str(DEP_1), str(DEP_2)]},
        state={"type": {"any_": ["SCHEDULED"]}},
        next_scheduled_start_time={"before_": (T0 + timedelta(minutes=15)).isoformat()},
    ),
    "deployment two states": lambda runs: flt(
        deployment_id={"any_": [str(DEP_1)]}, state={"type": {"any_": ["PENDING", "CANCELLING"]}}
    ),
    "queue cancelling": lambda runs: flt(
        work_queue_name={"any_": ["q1", "q2"]}, state={"type": {"any_": ["CANCELLING"]}}
    ),
    "next scheduled window": lambda runs: flt(
        next_scheduled_start_time={
            "after_": (T0 + timedelta(minutes=10)).isoformat(),
            "before_": (T0 + timedelta(minutes=40)).isoformat(),
        }
    ),
    "scheduled named": lambda runs: flt(state={"type": {"any_": ["SCHEDULED"]}, "name": {"any_": ["Late"]}}),
    "cancelling": lambda runs: flt(state={"type": {"any_": ["CANCELLING"]}}),
    "tags (scan)": lambda runs: flt(tags={"all_": ["x"]}),
    "or (scan)": lambda runs: flt(operator="or_", deployment_id={"any_": [str(DEP_2)]}, tags={"any_": ["x"]}),
}
SCANS = {"tags (scan)", "or (scan)", "next scheduled window", "scheduled named"}


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_a_planned_read_finds_what_a_scan_finds(repos, runs, name):
    body = FILTERS[name](runs)
    expected = {r.id for r in runs if body.matches(r)}
    with count_requests() as counter:
        found = {r.id for r in repos.flow_runs.find(q.plan(body)) if body.matches(r)}
    assert found == expected
    assert ("Scan" in counter.by_operation) == (name in SCANS), counter.by_operation


def test_the_flows_group_narrows_by_index(repos, runs):
    with count_requests() as counter:
        by_flow = {r.id for r in repos.flow_runs.find(q.plan(None, flow_ids=[FLOW_B]))}
    assert by_flow == {r.id for r in runs if r.flow_id == FLOW_B}
    assert "Scan" not in counter.by_operation
    by_queue = {r.id for r in repos.flow_runs.by_work_queue(Q2)}  # an operator's read (any path)
    assert by_queue == {r.id for r in runs if r.work_queue_name == "q2"}


def test_query_methods(repos, runs):
    assert {r.id for r in repos.flow_runs.by_flow(FLOW_B)} == {r.id for r in runs if r.flow_id == FLOW_B}
    cancelling = list(repos.flow_runs.by_work_queue(Q1, StateType.CANCELLING))
    assert [r.id for r in cancelling] == [runs[6].id]
    window = list(repos.flow_runs.by_next_scheduled(before=T0 + timedelta(minutes=20)))
    assert [r.next_scheduled_start_time for r in window] == [
        T0 - timedelta(minutes=5),
        T0 + timedelta(minutes=10),
        T0 + timedelta(minutes=20),
    ]
    missing = uuid.uuid4()
    assert set(repos.flow_runs.get_many([runs[0].id, runs[1].id, missing])) == {runs[0].id, runs[1].id}
    assert repos.flow_runs.flow_ids_matching(flt(state={"type": {"any_": ["COMPLETED"]}})) == {FLOW_B}


def test_an_expired_run_can_be_created_again(repos, settings):
    old = datetime.now(UTC) - timedelta(days=settings.retention_days + 2)
    done = with_initial_state(
        FlowRun(id=identity.flow_run_id(FLOW_A, "again"), name="r", flow_id=FLOW_A),
        State(type=StateType.COMPLETED, timestamp=old),
    ).model_copy(update={"end_time": old})
    assert repos.flow_runs.insert(done)
    fresh = make(StateType.PENDING, key="again")
    assert repos.flow_runs.insert(fresh) is False
    assert repos.flow_runs.insert(fresh, expired_by=datetime.now(UTC)) is True
    assert repos.flow_runs.get(fresh.id).state_type is StateType.PENDING
