"""The deployment repository: transactional changes, their conditions, and what a failure leaves."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain.identity import deployment_id
from chalicelib.domain.schedule_matching import Change
from chalicelib.errors import ConcurrentUpdateError, ConflictError, FlowNotFoundError
from chalicelib.schemas.deployments import Deployment, DeploymentSchedule
from chalicelib.schemas.schedules import parse_schedule
from chalicelib.services.deployments import MAX_SCHEDULES
from chalicelib.storage.deployments import DeploymentChange, ScheduleWrite, slug_claim_key, slugs_of, transaction_items
from chalicelib.storage.models import DeploymentModel, ScheduleModel, UniqueModel

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def _schedule(dep_id, slug=None, interval=3600):
    spec = parse_schedule({"interval": interval, "anchor_date": "2020-01-01T00:00:00Z"})
    return DeploymentSchedule(deployment_id=dep_id, schedule=spec, slug=slug, created=NOW, updated=NOW)


def _deployment(flow_id, name="d", schedules=None):
    dep_id = deployment_id(flow_id, name)
    return Deployment(
        id=dep_id, name=name, flow_id=flow_id, created=NOW, updated=NOW, schedules=schedules or []
    ), dep_id


def _create(repos, name="d", slugs=("a",)):
    flow, _ = repos.flows.create_if_absent("f", [], {}, NOW)
    dep_id = deployment_id(flow.id, name)
    schedules = [_schedule(dep_id, slug, 3600 + i) for i, slug in enumerate(slugs)]
    dep, _ = _deployment(flow.id, name, schedules)
    writes = [ScheduleWrite(s, Change.NEW) for s in schedules]
    repos.deployments.commit(DeploymentChange(dep, None, NOW, writes))
    return repos.deployments.get_stored(dep_id)


def _table_counts():
    return len(list(DeploymentModel.scan())), len(list(ScheduleModel.scan())), len(list(UniqueModel.scan()))


def test_create_writes_deployment_schedules_and_claims_atomically(repos):
    stored = _create(repos, slugs=("a", None))
    assert stored.rev == 1 and len(stored.deployment.schedules) == 2
    listed = repos.schedules.list_for_deployment(stored.deployment.id)
    assert sorted(listed, key=str) == sorted(stored.deployment.schedules, key=str)
    claim = UniqueModel.get(slug_claim_key(stored.deployment.id, "a"))
    assert claim.owner == str(stored.deployment.schedules[0].id)
    assert _table_counts() == (1, 2, 1)


def test_create_for_a_missing_flow_writes_nothing(repos):
    dep, dep_id = _deployment(uuid.uuid4())
    writes = [ScheduleWrite(_schedule(dep_id, "a"), Change.NEW)]
    with pytest.raises(FlowNotFoundError):
        repos.deployments.commit(
            DeploymentChange(dep.model_copy(update={"schedules": [writes[0].schedule]}), None, NOW, writes)
        )
    assert _table_counts() == (0, 0, 0)


def test_a_stale_rev_loses_and_writes_nothing(repos):
    stored = _create(repos)
    new = _schedule(stored.deployment.id, "b")
    dep = stored.deployment.model_copy(update={"description": "x", "schedules": [*stored.deployment.schedules, new]})
    change = DeploymentChange(
        dep, stored.rev - 1, NOW, [ScheduleWrite(new, Change.NEW)], slugs_of(stored.deployment.schedules)
    )
    with pytest.raises(ConcurrentUpdateError):
        repos.deployments.commit(change)
    assert repos.deployments.get(stored.deployment.id).description is None
    assert _table_counts() == (1, 1, 1)
    repos.deployments.commit(DeploymentChange(dep, stored.rev, NOW, change.schedules, change.old_slugs))
    assert repos.deployments.get_stored(stored.deployment.id).rev == stored.rev + 1
    assert _table_counts() == (1, 2, 2)


def test_a_slug_claimed_elsewhere_is_a_conflict(repos):
    stored = _create(repos)
    UniqueModel(slug_claim_key(stored.deployment.id, "b"), owner=str(uuid.uuid4())).save()
    new = _schedule(stored.deployment.id, "b")
    dep = stored.deployment.model_copy(update={"schedules": [*stored.deployment.schedules, new]})
    change = DeploymentChange(
        dep, stored.rev, NOW, [ScheduleWrite(new, Change.NEW)], slugs_of(stored.deployment.schedules)
    )
    with pytest.raises(ConflictError):
        repos.deployments.commit(change)
    assert _table_counts() == (1, 1, 2)


def test_a_replan_is_conditioned_on_the_planned_through_it_read(repos):
    stored = _create(repos)
    old = repos.schedules.stored_for_deployment(stored.deployment.id)[0]
    # a scheduler tick plans more runs after the read
    ScheduleModel(str(stored.deployment.id), str(old.schedule.id)).update(
        actions=[ScheduleModel.planned_through.set(NOW + timedelta(hours=3))]
    )
    changed = old.schedule.model_copy(update={"parameters": {"p": 1}})
    dep = stored.deployment.model_copy(update={"schedules": [changed]})
    change = DeploymentChange(dep, stored.rev, NOW, [ScheduleWrite(changed, Change.REPLAN, old)], {"a": changed.id})
    with pytest.raises(ConcurrentUpdateError):
        repos.deployments.commit(change)
    fresh = repos.schedules.stored_for_deployment(stored.deployment.id)[0]
    repos.deployments.commit(
        DeploymentChange(dep, stored.rev, NOW, [ScheduleWrite(changed, Change.REPLAN, fresh)], {"a": changed.id})
    )
    after = repos.schedules.stored_for_deployment(stored.deployment.id)[0]
    assert after.rev == fresh.rev + 1 and after.planned_through is None and after.due
    assert after.schedule.parameters == {"p": 1}


def test_delete_removes_schedules_and_claims(repos):
    stored = _create(repos, slugs=("a", "b"))
    repos.deployments.delete(stored)
    assert _table_counts() == (0, 0, 0)


def test_poll_stamps_only_deployments_marked_ready_and_never_creates_any(repos):
    stored = _create(repos)
    id_, ghosts = stored.deployment.id, [uuid.uuid4(), uuid.uuid4()]
    due = NOW + timedelta(seconds=60)
    assert repos.deployments.stamp_polls([ghosts[0]], NOW, due) == [ghosts[0]]
    # Not marked READY yet: nothing stamped, every id handed back (the service reads those).
    assert set(repos.deployments.stamp_polls([id_, *ghosts], NOW, due)) == {id_, *ghosts}
    assert repos.deployments.get(id_).last_polled is None
    assert repos.deployments.move_status_mark(id_, None, "READY|e1", ready_until=due, polled=NOW)
    assert not repos.deployments.move_status_mark(id_, None, "READY|e2", ready_until=due, polled=NOW)  # moved
    assert not repos.deployments.move_status_mark(ghosts[0], None, "READY|e2", ready_until=due)  # never creates
    later = NOW + timedelta(seconds=10)
    assert set(repos.deployments.stamp_polls([id_, *ghosts], later, due)) == set(ghosts)
    assert repos.deployments.stamp_polls([id_], later, due) == []
    assert _table_counts()[0] == 1
    read = repos.deployments.readiness(id_)
    assert (read.deployment.last_polled, read.mark, read.ready_until) == (later, "READY|e1", due)
    assert repos.deployments.get_stored(id_).rev == stored.rev  # polling is no change


def test_the_ready_index_holds_only_deployments_marked_ready(repos):
    ids = [_create(repos, name=f"d{i}", slugs=()).deployment.id for i in range(3)]
    at = [NOW + timedelta(seconds=s) for s in (30, 60, 90)]
    for id_, until in zip(ids[:2], at, strict=False):
        assert repos.deployments.move_status_mark(id_, None, "READY|e", ready_until=until, polled=NOW)
    assert repos.deployments.ready_entries_due(at[2], 10) == ids[:2]  # oldest first; ids[2] has none
    assert repos.deployments.ready_entries_due(at[0] - timedelta(microseconds=1), 10) == []
    assert repos.deployments.move_ready_entry(ids[0], at[0], at[2])
    assert not repos.deployments.move_ready_entry(ids[0], at[0], at[2])  # not the entry read
    assert repos.deployments.move_status_mark(ids[1], "READY|e", "NOT_READY|f", ready_until=None)
    assert repos.deployments.ready_entries_due(at[2], 10) == [ids[0]]
    assert [r.mark for r in repos.deployments.readiness_many(ids)].count("NOT_READY|f") == 1


def test_set_paused_reports_whether_it_changed(repos):
    stored = _create(repos)
    written = repos.deployments.set_paused(stored.deployment.id, True, NOW)
    assert written is not None and written.deployment.paused and written.rev == stored.rev + 1
    assert repos.deployments.set_paused(stored.deployment.id, True, NOW) is None
    with pytest.raises(Exception, match="Deployment not found"):
        repos.deployments.set_paused(uuid.uuid4(), True, NOW)


def test_replacing_every_schedule_fits_one_transaction():
    flow_id = uuid.uuid4()
    dep_id = deployment_id(flow_id, "d")
    old = [_schedule(dep_id, f"old-{i}", 60 + i) for i in range(MAX_SCHEDULES)]
    new = [_schedule(dep_id, f"new-{i}", 120 + i) for i in range(MAX_SCHEDULES)]
    dep, _ = _deployment(flow_id, "d", new)
    writes = [ScheduleWrite(s, Change.NEW) for s in new] + [ScheduleWrite(s, Change.REMOVED) for s in old]
    assert transaction_items(DeploymentChange(dep, None, NOW, writes, slugs_of(old))) <= 100
