"""Automations (Prefect's ``prefect/server/events/schemas/automations.py`` and ``actions.py``):
triggers, actions, the create/update bodies, the response, the filter.

Triggers and actions keep Prefect's field names and defaults; ``within`` reads as float seconds (or
an ISO duration) and is written as float seconds. A trigger's id is assigned by the server (Prefect
resets every id a client sends).
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, field_validator, model_validator

from chalicelib.schemas.common import ActionModel, Flag, Int, PositiveInt, ResponseModel, Tags, Text, UtcDateTime
from chalicelib.schemas.filters import Limit, Operator
from chalicelib.schemas.states import StateType

RESOURCE_ID = "prefect.resource.id"
#: Prefect's floor for a proactive trigger's window.
PROACTIVE_MINIMUM = timedelta(seconds=10)

Seconds = Annotated[timedelta, PlainSerializer(lambda d: d.total_seconds(), return_type=float)]
LabelSpec = dict[str, str | list[str]]


class _Lenient(BaseModel):
    """Nested trigger/action models: unknown fields are dropped, as Prefect's models do."""

    model_config = ConfigDict(extra="ignore")


# ------------------------------------------------------------------------------------ triggers
class Posture(StrEnum):
    Reactive = "Reactive"
    Proactive = "Proactive"


def matches(expected: str, value: str | None) -> bool:
    """Prefect's label ``matches``: ``!`` negates, a trailing ``*`` is a prefix match."""
    if value is None:
        return False
    if expected.startswith("!"):
        return not matches(expected[1:], value)
    return value.startswith(expected[:-1]) if expected.endswith("*") else value == expected


def spec_matches(spec: LabelSpec, resource: dict[str, str]) -> bool:
    for label, expected in spec.items():
        values = [expected] if isinstance(expected, str) else expected
        if not any(matches(candidate, resource.get(label)) for candidate in values):
            return False
    return True


def spec_includes(spec: LabelSpec, candidates: list[dict[str, str]]) -> bool:
    """Prefect's ``ResourceSpecification.includes``: an empty spec covers everything."""
    return not spec or any(spec_matches(spec, candidate) for candidate in candidates)


class EventTrigger(_Lenient):
    type: Literal["event"] = "event"
    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    match: LabelSpec = Field(default_factory=dict)
    match_related: LabelSpec | list[LabelSpec] = Field(default_factory=dict)
    after: list[str] = Field(default_factory=list)
    expect: list[str] = Field(default_factory=list)
    for_each: list[str] = Field(default_factory=list)
    posture: Posture
    threshold: Int = 1
    within: Seconds = timedelta(0)

    @field_validator("after", "expect", "for_each")
    @classmethod
    def _as_set(cls, value: list[str]) -> list[str]:
        return sorted(set(value))

    @model_validator(mode="after")
    def _proactive_window(self) -> EventTrigger:
        if self.within < timedelta(0):
            raise ValueError("within must be at least 0 seconds")
        if self.posture is Posture.Proactive:
            if self.within == timedelta(0):
                self.within = PROACTIVE_MINIMUM
            elif self.within < PROACTIVE_MINIMUM:
                raise ValueError("`within` for Proactive triggers must be greater than or equal to 10 seconds")
        return self

    # -- Prefect's evaluation helpers (pure)
    def all_triggers(self) -> list[Any]:
        return [self]

    @property
    def immediate(self) -> bool:
        return self.posture is Posture.Reactive and self.within == timedelta(0)

    def expects(self, event: str) -> bool:
        return not self.expect or any(_name_matches(pattern, event) for pattern in self.expect)

    def starts_after(self, event: str) -> bool:
        return any(_name_matches(pattern, event) for pattern in self.after)

    def covers(self, event: dict[str, Any]) -> bool:
        """The event's name is expected (or starts the window) and its resources match."""
        name = event["event"]
        if self.expect and not (self.expects(name) or self.starts_after(name)):
            return False
        if not spec_includes(self.match, [event["resource"]]):
            return False
        specs = self.match_related if isinstance(self.match_related, list) else [self.match_related]
        return all(spec_includes(spec, event.get("related") or []) for spec in specs)

    def bucketing_key(self, event: dict[str, Any]) -> tuple[str, ...]:
        return tuple(find_resource_label(event, label) or "" for label in sorted(self.for_each))

    def meets_threshold(self, count: int) -> bool:
        if self.posture is Posture.Reactive:
            return count >= self.threshold
        return count < self.threshold


def _name_matches(pattern: str, name: str) -> bool:
    """An event name pattern: a ``*`` matches anything (Prefect: fnmatch-like trailing wildcards)."""
    regex = "^" + ".+".join(re.escape(part) for part in pattern.split("*")) + "$"
    return re.match(regex, name) is not None


def find_resource_label(event: dict[str, Any], label: str) -> str | None:
    """Prefect's ``find_resource_label``: ``related:<role>:<label>`` looks in the first related
    resource with that role, any other label in the event's own resource."""
    directive, _, related_label = label.rpartition(":")
    directive, _, role = directive.partition(":")
    if directive == "related":
        for related in event.get("related") or []:
            if related.get("prefect.resource.role") == role:
                return related.get(related_label)
    return event["resource"].get(label)


class CompoundTrigger(_Lenient):
    type: Literal["compound"] = "compound"
    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    triggers: list[TriggerTypes]
    within: Seconds | None = None
    require: PositiveInt | Literal["any", "all"]

    @model_validator(mode="after")
    def _require(self) -> CompoundTrigger:
        if isinstance(self.require, int):
            if self.require < 1:
                raise ValueError("require must be at least 1")
            if self.require > len(self.triggers):
                raise ValueError("require must be less than or equal to the number of triggers")
        return self

    def all_triggers(self) -> list[Any]:
        return [self] + [t for child in self.triggers for t in child.all_triggers()]

    @property
    def num_expected_firings(self) -> int:
        if self.require == "any":
            return 1
        if self.require == "all":
            return len(self.triggers)
        return int(self.require)

    def ready_to_fire(self, fired_in_order: list[str]) -> bool:
        return len(set(fired_in_order)) >= self.num_expected_firings


class SequenceTrigger(_Lenient):
    type: Literal["sequence"] = "sequence"
    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    triggers: list[TriggerTypes]
    within: Seconds | None = None

    def all_triggers(self) -> list[Any]:
        return [self] + [t for child in self.triggers for t in child.all_triggers()]

    @property
    def num_expected_firings(self) -> int:
        return len(self.triggers)

    def ready_to_fire(self, fired_in_order: list[str]) -> bool:
        return fired_in_order == [str(t.id) for t in self.triggers]


TriggerTypes = Annotated[EventTrigger | CompoundTrigger | SequenceTrigger, Field(discriminator="type")]
CompoundTrigger.model_rebuild()
SequenceTrigger.model_rebuild()


# ------------------------------------------------------------------------------------- actions
class _Selected(_Lenient):
    """An action on a ``selected`` object (its id given) or one ``inferred`` from the event."""

    source: Literal["selected", "inferred"] = "selected"
    _id_field: str = ""

    @model_validator(mode="after")
    def _selected_requires_id(self) -> _Selected:
        has_id = bool(getattr(self, self._id_field))
        if (self.source == "selected") != has_id:
            raise ValueError(f"{self._id_field} is " + ("not allowed" if has_id else "required"))
        return self


class DoNothing(_Lenient):
    type: Literal["do-nothing"] = "do-nothing"


class _OnDeployment(_Selected):
    _id_field = "deployment_id"
    deployment_id: uuid.UUID | None = None


class _OnWorkPool(_Selected):
    _id_field = "work_pool_id"
    work_pool_id: uuid.UUID | None = None


class _OnWorkQueue(_Selected):
    _id_field = "work_queue_id"
    work_queue_id: uuid.UUID | None = None


class _OnAutomation(_Selected):
    _id_field = "automation_id"
    automation_id: uuid.UUID | None = None


class RunDeployment(_OnDeployment):
    type: Literal["run-deployment"] = "run-deployment"
    parameters: dict[str, Any] | None = None
    job_variables: dict[str, Any] | None = None
    schedule_after: Seconds = timedelta(0)

    @field_validator("schedule_after")
    @classmethod
    def _non_negative(cls, value: timedelta) -> timedelta:
        if value < timedelta(0):
            raise ValueError("schedule_after must be at least 0 seconds")
        return value


class PauseDeployment(_OnDeployment):
    type: Literal["pause-deployment"] = "pause-deployment"


class ResumeDeployment(_OnDeployment):
    type: Literal["resume-deployment"] = "resume-deployment"


class ChangeFlowRunState(_Lenient):
    type: Literal["change-flow-run-state"] = "change-flow-run-state"
    name: str | None = None
    state: StateType
    message: str | None = None
    force: Flag = False


class CancelFlowRun(_Lenient):
    type: Literal["cancel-flow-run"] = "cancel-flow-run"


class SuspendFlowRun(_Lenient):
    type: Literal["suspend-flow-run"] = "suspend-flow-run"


class ResumeFlowRun(_Lenient):
    type: Literal["resume-flow-run"] = "resume-flow-run"


class DeleteFlowRun(_Lenient):
    type: Literal["delete-flow-run"] = "delete-flow-run"


class CallWebhook(_Lenient):
    type: Literal["call-webhook"] = "call-webhook"
    block_document_id: uuid.UUID
    payload: str = ""


class SendNotification(_Lenient):
    type: Literal["send-notification"] = "send-notification"
    block_document_id: uuid.UUID
    subject: str = "Prefect automated notification"
    body: str


class PauseWorkPool(_OnWorkPool):
    type: Literal["pause-work-pool"] = "pause-work-pool"


class ResumeWorkPool(_OnWorkPool):
    type: Literal["resume-work-pool"] = "resume-work-pool"


class PauseWorkQueue(_OnWorkQueue):
    type: Literal["pause-work-queue"] = "pause-work-queue"


class ResumeWorkQueue(_OnWorkQueue):
    type: Literal["resume-work-queue"] = "resume-work-queue"


class PauseAutomation(_OnAutomation):
    type: Literal["pause-automation"] = "pause-automation"


class ResumeAutomation(_OnAutomation):
    type: Literal["resume-automation"] = "resume-automation"


ActionTypes = Annotated[
    DoNothing
    | RunDeployment
    | PauseDeployment
    | ResumeDeployment
    | ChangeFlowRunState
    | CancelFlowRun
    | SuspendFlowRun
    | ResumeFlowRun
    | DeleteFlowRun
    | CallWebhook
    | SendNotification
    | PauseWorkPool
    | ResumeWorkPool
    | PauseWorkQueue
    | ResumeWorkQueue
    | PauseAutomation
    | ResumeAutomation,
    Field(discriminator="type"),
]

_LOOP_EVENTS = {
    "prefect.flow-run.Scheduled",
    "prefect.flow-run.Pending",
    "prefect.flow-run.Running",
    "prefect.flow-run.*",
}


def _matches_every_flow_run(spec: LabelSpec) -> bool:
    if not spec:
        return True
    if len(spec) == 1 and RESOURCE_ID in spec:
        values = spec[RESOURCE_ID]
        return any(v == "prefect.flow-run.*" for v in ([values] if isinstance(values, str) else values))
    return False


# ---------------------------------------------------------------------------------- automations
class _AutomationFields(BaseModel):
    name: Text
    description: Text = ""
    enabled: Flag = True
    tags: Tags = Field(default_factory=list)
    trigger: TriggerTypes
    actions: list[ActionTypes]
    actions_on_trigger: list[ActionTypes] = Field(default_factory=list)
    actions_on_resolve: list[ActionTypes] = Field(default_factory=list)

    @model_validator(mode="after")
    def _prevent_run_deployment_loops(self) -> Any:
        """Prefect's guard: a reactive trigger on a run's early states that runs a deployment
        would run forever."""
        trigger = self.trigger
        if not self.enabled or not isinstance(trigger, EventTrigger) or trigger.posture is not Posture.Reactive:
            return self
        if not _LOOP_EVENTS.intersection(trigger.expect):
            return self
        for action in self.actions:
            if not isinstance(action, RunDeployment):
                continue
            if action.source == "inferred":
                raise ValueError(
                    "Running an inferred deployment from a flow run state change event will lead to an infinite "
                    "loop of flow runs.  Please choose a specific deployment and add additional filtering labels "
                    "to the match or match_related for this automation's trigger."
                )
            related = trigger.match_related if isinstance(trigger.match_related, list) else [trigger.match_related]
            if _matches_every_flow_run(trigger.match) and any(_matches_every_flow_run(r) for r in related):
                raise ValueError(
                    "Running a selected deployment from a flow run state change event may lead to an infinite "
                    "loop of flow runs.  Please include additional filtering labels on either match or "
                    "match_related to narrow down which flow runs will trigger this automation to exclude flow "
                    "runs from the deployment you've selected."
                )
        return self


class AutomationCreate(_AutomationFields, ActionModel):
    owner_resource: Text | None = None


class AutomationUpdate(_AutomationFields, ActionModel):
    pass


class AutomationPartialUpdate(ActionModel):
    enabled: Flag = True


class Automation(_AutomationFields, ResponseModel):
    model_config = ConfigDict(extra="ignore")

    def triggers(self) -> list[Any]:
        return self.trigger.all_triggers()


def with_fresh_trigger_ids(trigger: Any) -> Any:
    """The trigger and every child with new ids (Prefect's ``reset_ids``)."""
    data = trigger.model_dump(mode="json")

    def reset(node: dict[str, Any]) -> None:
        node["id"] = str(uuid.uuid4())
        for child in node.get("triggers", []):
            reset(child)

    reset(data)
    return type(trigger).model_validate(data)


# --------------------------------------------------------------------------------------- filter
class AutomationSort(StrEnum):
    CREATED_DESC = "CREATED_DESC"
    UPDATED_DESC = "UPDATED_DESC"
    NAME_ASC = "NAME_ASC"
    NAME_DESC = "NAME_DESC"


class _IdAny(ActionModel):
    any_: list[uuid.UUID] | None = None


class _NameAny(ActionModel):
    any_: list[str] | None = None


class _CreatedBefore(ActionModel):
    before_: UtcDateTime | None = None


class _TagsFilter(ActionModel):
    operator: Operator = Operator.and_
    all_: list[str] | None = None
    any_: list[str] | None = None
    is_null_: Flag | None = None


class AutomationFilter(ActionModel):
    operator: Operator = Operator.and_
    id: _IdAny | None = None
    name: _NameAny | None = None
    created: _CreatedBefore | None = None
    tags: _TagsFilter | None = None

    def includes(self, automation: Automation) -> bool:
        checks: list[bool] = []
        if self.id is not None and self.id.any_ is not None:
            checks.append(automation.id in self.id.any_)
        if self.name is not None and self.name.any_ is not None:
            checks.append(automation.name in self.name.any_)
        if self.created is not None and self.created.before_ is not None:
            checks.append(automation.created <= self.created.before_)
        if self.tags is not None:
            checks.append(_tags_match(self.tags, automation.tags))
        if not checks:
            return True
        return all(checks) if self.operator is Operator.and_ else any(checks)


def _tags_match(spec: _TagsFilter, tags: list[str]) -> bool:
    checks = []
    if spec.all_ is not None:
        checks.append(set(spec.all_) <= set(tags))
    if spec.any_ is not None:
        checks.append(bool(set(spec.any_) & set(tags)))
    if spec.is_null_ is not None:
        checks.append((not tags) == spec.is_null_)
    if not checks:
        return True
    return all(checks) if spec.operator is Operator.and_ else any(checks)


class AutomationFilterBody(ActionModel):
    sort: AutomationSort = AutomationSort.NAME_ASC
    limit: int = Limit
    offset: int = Field(default=0, ge=0, strict=True)
    automations: AutomationFilter | None = None

    @field_validator("sort", "limit", "offset", mode="before")
    @classmethod
    def _null_means_default(cls, value: Any, info: Any) -> Any:
        # Prefect's client sends ``"sort": null, "limit": null`` (``read_automations()``); its
        # server, as FastAPI does for a body field with a default, takes null for the default.
        if value is None:
            return cls.model_fields[info.field_name].default
        return value


class AutomationCountBody(ActionModel):
    automations: AutomationFilter | None = None


class TemplateBody(ActionModel):
    template: str = ""
