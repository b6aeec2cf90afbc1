"""Auto-scheduled runs: what a schedule's occurrence looks like as a flow run.

The shape is Prefect's (``_generate_scheduled_flow_runs``, PREFECT_CONTRACT.md "Auto-scheduled
runs"): state SCHEDULED "Scheduled" with message "Flow run scheduled" at the occurrence,
``auto_scheduled``, tags ``["auto-scheduled", *deployment.tags]``, the deployment's parameters
updated by the schedule's, ``created_by`` naming the schedule. Everything about a run is a pure
function of (deployment, schedule, occurrence, now), and its id of (flow, deployment, schedule,
occurrence) alone, so every tick, retry and backfill builds the same run for one occurrence.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from chalicelib.domain.identity import scheduled_run_id, scheduled_run_idempotency_key, work_pool_id, work_queue_id
from chalicelib.domain.run_bookkeeping import initial_run_fields
from chalicelib.domain.schedule_policy import NO_POLICY, SchedulePolicy
from chalicelib.schemas.flow_runs import CreatedBy, FlowRun
from chalicelib.schemas.states import State, StateDetails, StateType

_STATE_NS = uuid.UUID("0b7f3c52-4d8e-4a61-9f0c-6e2d1a9b8c47")

# Two-word names like Prefect's generated ones ("crimson-otter"), picked by the run id's bytes.
_ADJECTIVES = (
    "amber", "ancient", "bold", "brave", "bright", "calm", "clever", "cosmic", "crimson", "curious", "dapper",
    "daring", "eager", "electric", "emerald", "fancy", "fearless", "gentle", "glorious", "golden", "happy",
    "hidden", "humble", "icy", "jolly", "keen", "lively", "lucky", "magic", "mellow", "merry", "mighty",
    "nimble", "noble", "olive", "patient", "polite", "proud", "quick", "quiet", "rapid", "rustic", "sandy",
    "scarlet", "secret", "silent", "silver", "smart", "snowy", "solid", "spicy", "steady", "stellar", "sunny",
    "swift", "tidy", "tranquil", "upbeat", "vivid", "warm", "wild", "wise", "witty", "zealous",
)  # fmt: skip
_ANIMALS = (
    "albatross", "alpaca", "badger", "beaver", "bison", "bobcat", "caribou", "cheetah", "cobra", "condor",
    "coyote", "crane", "dingo", "dolphin", "eagle", "falcon", "ferret", "finch", "gazelle", "gecko", "gibbon",
    "heron", "hyena", "ibis", "iguana", "jackal", "jaguar", "kestrel", "koala", "lemur", "leopard", "lynx",
    "macaw", "marmot", "meerkat", "mongoose", "moose", "narwhal", "newt", "ocelot", "okapi", "orca", "otter",
    "panda", "pelican", "puffin", "python", "quail", "raccoon", "raven", "salmon", "seal", "sparrow", "stork",
    "tapir", "tiger", "toucan", "turtle", "urchin", "viper", "walrus", "wombat", "yak", "zebra",
)  # fmt: skip


class DeploymentLike(Protocol):
    """What a run copies from its deployment (``schemas.deployments.Deployment`` qualifies)."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def flow_id(self) -> uuid.UUID: ...
    @property
    def version(self) -> str | None: ...
    @property
    def tags(self) -> Sequence[str]: ...
    @property
    def parameters(self) -> Mapping[str, Any]: ...
    @property
    def work_queue_name(self) -> str | None: ...
    @property
    def work_pool_name(self) -> str | None: ...
    @property
    def infrastructure_document_id(self) -> uuid.UUID | None: ...


def run_name(run_id: uuid.UUID) -> str:
    """A two-word name derived from the run id (stable across retries of one insert)."""
    return f"{_ADJECTIVES[run_id.bytes[0] % len(_ADJECTIVES)]}-{_ANIMALS[run_id.bytes[1] % len(_ANIMALS)]}"


def build_scheduled_run(
    deployment: DeploymentLike,
    schedule_id: uuid.UUID,
    instant: datetime,
    *,
    display_value: str,
    schedule_parameters: Mapping[str, Any],
    now: datetime,
    policy: SchedulePolicy = NO_POLICY,
) -> FlowRun:
    """The auto-scheduled run of ``schedule_id``'s occurrence at ``instant``, created at ``now``.

    ``display_value`` is the schedule's slug, or its kind (``"CronSchedule"``…) when it has none.
    Cirrus's schedule ``policy``: with ``jitter`` the run is scheduled at ``instant`` plus its
    offset (its id stays the occurrence's); with a ``catchup_window`` it is skipped if still
    SCHEDULED that long after its scheduled time (``catchup_deadline``).
    """
    run_id = scheduled_run_id(deployment.flow_id, deployment.id, schedule_id, instant)
    at = policy.run_time(schedule_id, instant)
    state = State(
        id=uuid.uuid5(_STATE_NS, str(run_id)),  # stable: a retried insert writes an identical item
        type=StateType.SCHEDULED,
        name="Scheduled",
        timestamp=now,
        message="Flow run scheduled",
        state_details=StateDetails(scheduled_time=at),
    )
    queue = deployment.work_queue_name
    queue_id = work_queue_id(deployment.work_pool_name, queue) if queue else None
    return FlowRun(
        id=run_id,
        name=run_name(run_id),
        flow_id=deployment.flow_id,
        deployment_id=deployment.id,
        deployment_version=deployment.version,
        work_queue_name=deployment.work_queue_name,
        work_queue_id=queue_id,
        work_pool_name=deployment.work_pool_name,
        work_pool_id=work_pool_id(deployment.work_pool_name) if deployment.work_pool_name else None,
        parameters={**deployment.parameters, **schedule_parameters},
        idempotency_key=scheduled_run_idempotency_key(deployment.id, schedule_id, at),
        tags=["auto-scheduled", *deployment.tags],
        auto_scheduled=True,
        infrastructure_document_id=deployment.infrastructure_document_id,
        created_by=CreatedBy(type="SCHEDULE", id=schedule_id, display_value=display_value),
        schedule_id=schedule_id,
        catchup_deadline=_deadline(at, policy),
        overlap=policy.overlap if policy.overlap != "ALLOW_ALL" else None,
        created=now,
        updated=now,
        **initial_run_fields(state, flow_run_id=run_id),
    )


def build_scheduled_runs(
    deployment: DeploymentLike,
    schedule_id: uuid.UUID,
    instants: Sequence[datetime],
    *,
    display_value: str,
    schedule_parameters: Mapping[str, Any],
    now: datetime,
    policy: SchedulePolicy = NO_POLICY,
) -> list[FlowRun]:
    """:func:`build_scheduled_run` for each of ``instants``: the first built in full, the others
    copied from it with what the occurrence changes (its ids, name, idempotency key, scheduled
    times and state), which is ~3× cheaper per run in a scheduler pass; the runs are the same
    (a test compares them field by field)."""
    if not instants:
        return []
    first = build_scheduled_run(
        deployment,
        schedule_id,
        instants[0],
        display_value=display_value,
        schedule_parameters=schedule_parameters,
        now=now,
        policy=policy,
    )
    return [first, *(_at(first, deployment, schedule_id, instant, policy) for instant in instants[1:])]


def _at(
    template: FlowRun,
    deployment: DeploymentLike,
    schedule_id: uuid.UUID,
    instant: datetime,
    policy: SchedulePolicy,
) -> FlowRun:
    """``template`` (a run of the same deployment, schedule and ``now``) moved to ``instant``."""
    run_id = scheduled_run_id(deployment.flow_id, deployment.id, schedule_id, instant)
    if template.state is None:  # pragma: no cover - build_scheduled_run always sets one
        raise ValueError("a scheduled run has a state")
    at = policy.run_time(schedule_id, instant)
    details = template.state.state_details.model_copy(update={"scheduled_time": at, "flow_run_id": run_id})
    state = template.state.model_copy(update={"id": uuid.uuid5(_STATE_NS, str(run_id)), "state_details": details})
    return template.model_copy(
        update={
            "id": run_id,
            "name": run_name(run_id),
            "idempotency_key": scheduled_run_idempotency_key(deployment.id, schedule_id, at),
            "state": state,
            "state_id": state.id,
            "expected_start_time": at,
            "next_scheduled_start_time": at,
            "catchup_deadline": _deadline(at, policy),
        }
    )


def _deadline(at: datetime, policy: SchedulePolicy) -> datetime | None:
    return at + policy.catchup_window if policy.catchup_window is not None else None
