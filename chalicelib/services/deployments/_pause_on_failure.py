"""``pause_on_failure`` (issue 28): a run of such a schedule that ends FAILED, by any path (a
runner, a worker, the UI through set_state; Lazarus giving up on a crashed run), deactivates the
schedule as a user's pause would (a deployment change: its future runs retired), records why on
the schedule (``paused_by_failure``: the run, its state's message, when) and stores an event.

The event is Prefect-shaped (Prefect's ``Event``: resource, related, payload) under Cirrus's own
name, ``cirrus.deployment-schedule.paused``, with the schedule as its resource and the deployment,
flow and failed run as related resources; its id derives from the schedule and the run, so a pause
retried after a lost race stores it once. Reactivating the schedule (``active: true``) clears
``paused_by_failure``.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime

from chalicelib.config import Settings
from chalicelib.errors import DeploymentNotFoundError
from chalicelib.schemas.common import iso_z
from chalicelib.schemas.deployments import Deployment, DeploymentSchedule
from chalicelib.schemas.events import Event
from chalicelib.schemas.flow_runs import FlowRun
from chalicelib.services import event_records
from chalicelib.services.deployments._changes import save
from chalicelib.storage import Repositories

logger = logging.getLogger("cirrus.deployments")
logger.setLevel(logging.INFO)

EVENT = "cirrus.deployment-schedule.paused"
_EVENT_NS = uuid.UUID("5f0c2d7e-6a8b-4c1e-9d3f-2b7a1e0c9d41")


def pause_on_failure(repos: Repositories, settings: Settings, run: FlowRun, now: datetime) -> bool:
    """Deactivate the schedule that planned ``run`` (just written FAILED) if it has
    ``pause_on_failure`` and is active; ``True`` when this call paused it. The run's own transition
    is already written: a schedule that is gone or already inactive is left alone."""
    if run.schedule_id is None or run.deployment_id is None:
        return False
    schedules = {s.id: s for s in repos.schedules.list_for_deployment(run.deployment_id)}
    schedule = schedules.get(run.schedule_id)
    if schedule is None or not schedule.active or not schedule.pause_on_failure:
        return False
    message = run.state.message if run.state is not None else None
    record = {"flow_run_id": str(run.id), "at": iso_z(now), "message": message}
    paused: list[DeploymentSchedule] = []

    def edit(old: Deployment | None) -> Deployment:
        if old is None:
            raise DeploymentNotFoundError(schedule.deployment_id)
        schedules = []
        for s in old.schedules:
            if s.id == schedule.id and s.active and s.pause_on_failure:
                s = s.model_copy(update={"active": False, "paused_by_failure": record})
                paused[:] = [s]
            schedules.append(s)
        return old.model_copy(update={"schedules": schedules, "updated": now} if paused else {})

    try:
        saved = save(repos, settings, schedule.deployment_id, edit, now=now)
    except DeploymentNotFoundError:
        return False
    if not paused:
        return False
    logger.warning(json.dumps({"schedule_paused_on_failure": str(schedule.id),
                               "deployment_id": str(schedule.deployment_id), "flow_run_id": str(run.id)}))  # fmt: skip
    event_records.store(repos, _paused_event(saved.deployment, paused[0], run, now), now)
    return True


def _paused_event(deployment: Deployment, schedule: DeploymentSchedule, run: FlowRun, now: datetime) -> Event:
    def related(kind: str, object_id: object, name: str | None) -> dict[str, str]:
        return {"prefect.resource.id": f"prefect.{kind}.{object_id}", "prefect.resource.role": kind,
                "prefect.resource.name": name or ""}  # fmt: skip

    return Event(
        id=uuid.uuid5(_EVENT_NS, f"{schedule.id}|{run.id}"),
        occurred=now,
        event=EVENT,
        resource={
            "prefect.resource.id": f"prefect.deployment-schedule.{schedule.id}",
            "prefect.resource.name": schedule.slug or "",
        },
        related=[
            related("deployment", deployment.id, deployment.name),
            related("flow", deployment.flow_id, None),
            related("flow-run", run.id, run.name),
        ],
        payload={
            "reason": "pause_on_failure",
            "flow_run_id": str(run.id),
            "state_type": run.state.type.value if run.state is not None else None,
            "state_message": run.state.message if run.state is not None else None,
        },
    )
