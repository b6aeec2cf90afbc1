"""Performing a firing's actions, as Prefect's actions service does (``server/events/actions.py``),
in-process through Cirrus's own services, each at most once per firing:

- the firing item is leased by one evaluator at a time; each action, once performed, is recorded
  (``done``) before the next, and the item is deleted when all are; a firing whose evaluator died
  is taken up by the next tick after its lease, from the first action not done;
- actions whose effect is keyed are safe to repeat after a crash between performing and recording:
  run-deployment creates its run with Prefect's idempotency key (``automation <id>, action <i>,
  invocation <id derived from the firing>``), pause/resume/state changes are idempotent;
  a webhook called just before such a crash may be called again (at least once).

Events, with ids derived from the firing (stored once however often this runs):
``prefect.automation.triggered``, then per action ``prefect.automation.action.triggered`` and
``…action.executed`` or ``…action.failed`` (with the reason).
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timedelta
from typing import Any

from chalicelib.config import Settings
from chalicelib.errors import CirrusError, NotFoundError
from chalicelib.schemas import automations as wire
from chalicelib.schemas.common import iso_z
from chalicelib.schemas.deployments import DeploymentFlowRunCreate
from chalicelib.schemas.events import Event
from chalicelib.schemas.states import SetStateBody, StateCreate, StateType
from chalicelib.schemas.work_pools import WorkPoolUpdate, WorkQueueUpdate
from chalicelib.services import event_records
from chalicelib.services.automations import _templates as templates
from chalicelib.services.automations._evaluation import derived_id
from chalicelib.storage import Repositories

log = logging.getLogger("chalicelib.automations")
#: Seconds a webhook call may take.
WEBHOOK_TIMEOUT_S = 10


class ActionFailed(Exception):
    def __init__(self, reason: str, **details: Any) -> None:
        self.reason = reason
        self.details = details
        super().__init__(reason)


def perform_pending(
    repos: Repositories, settings: Settings, firings: list[tuple[str, dict[str, Any]]], now: datetime
) -> int:
    """Perform the actions of firings this evaluator just wrote (it holds their lease)."""
    for firing_id, firing in firings:
        act(repos, settings, firing_id, firing, [], now)
    return len(firings)


def recover(repos: Repositories, settings: Settings, now: datetime) -> int:
    """Finish the firings whose evaluator's lease ran out (it died mid-way)."""
    finished = 0
    for firing_id, firing, lease, _ in list(repos.automations.pending_firings()):
        if lease >= now.timestamp():
            continue
        done = repos.automations.take_lease(firing_id, now)
        if done is not None:
            act(repos, settings, firing_id, firing, done, now)
            finished += 1
    return finished


def act(
    repos: Repositories, settings: Settings, firing_id: str, firing: dict[str, Any], done: list[int], now: datetime
) -> None:
    automation = wire.Automation.model_validate(firing["automation"])
    triggered_event = _triggered_event(automation, firing)
    _emit(repos, triggered_event, now)
    sources = [(action, firing.get("triggering_event")) for action in automation.actions]
    sources += [(action, triggered_event) for action in automation.actions_on_trigger]
    for index, (action, event) in enumerate(sources):
        if index in done:
            continue
        invocation = derived_id(firing_id, "action", index)
        context = {
            "automation": automation,
            "firing": firing,
            "event": event,
            "labels": firing.get("triggering_labels", {}),
        }
        related: list[dict[str, str]] = []
        try:
            details = _perform(repos, settings, action, automation, index, invocation, context, related, now)
            outcome, payload = "executed", details
        except ActionFailed as exc:
            log.warning("automation %s action %d (%s) failed: %s", automation.id, index, action.type, exc.reason)
            outcome, payload = "failed", {"reason": exc.reason, **exc.details}
        _emit_action(
            repos, automation, firing, action, index, invocation, event, triggered_event, related, outcome, payload, now
        )
        repos.automations.mark_done(firing_id, index)
    repos.automations.finish(firing_id)


def _automation_resource(automation: wire.Automation) -> dict[str, str]:
    resource = {
        "prefect.resource.id": f"prefect.automation.{automation.id}",
        "prefect.resource.name": automation.name,
    }
    if isinstance(automation.trigger, wire.EventTrigger):
        resource["prefect.posture"] = automation.trigger.posture.value
    return resource


def _triggered_event(automation: wire.Automation, firing: dict[str, Any]) -> dict[str, Any]:
    event = firing.get("triggering_event")
    return {
        "id": derived_id(firing["id"], "triggered"),
        "occurred": firing["triggered"],
        "event": "prefect.automation.triggered",
        "resource": _automation_resource(automation),
        "related": (
            [{"prefect.resource.id": f"prefect.event.{event['id']}", "prefect.resource.role": "triggering-event"}]
            if event
            else []
        ),
        "payload": {"triggering_labels": firing.get("triggering_labels", {}), "triggering_event": event},
    }


def _emit(repos: Repositories, event: dict[str, Any], now: datetime) -> None:
    event_records.store(repos, Event.model_validate(event), now)


def _emit_action(
    repos: Repositories,
    automation: wire.Automation,
    firing: dict[str, Any],
    action: Any,
    index: int,
    invocation: str,
    event: dict[str, Any] | None,
    triggered_event: dict[str, Any],
    related: list[dict[str, str]],
    outcome: str,
    payload: dict[str, Any],
    now: datetime,
) -> None:
    resource = {**_automation_resource(automation), "prefect.trigger-type": automation.trigger.type}
    details = {"action_index": index, "action_type": action.type, "invocation": invocation}
    related = [
        *related,
        {
            "prefect.resource.id": f"prefect.event.{triggered_event['id']}",
            "prefect.resource.role": "automation-triggered-event",
        },
    ]
    if event:
        related.append(
            {"prefect.resource.id": f"prefect.event.{event['id']}", "prefect.resource.role": "triggering-event"}
        )
    action_triggered = derived_id(invocation, "triggered")
    common = {"resource": resource, "related": related}
    triggered = {"id": action_triggered, "occurred": firing["triggered"], "payload": details}
    _emit(repos, {**common, **triggered, "event": "prefect.automation.action.triggered"}, now)
    result = {"id": derived_id(invocation, outcome), "occurred": iso_z(now), "follows": action_triggered}
    _emit(
        repos,
        {**common, **result, "event": f"prefect.automation.action.{outcome}", "payload": {**details, **payload}},
        now,
    )


# ------------------------------------------------------------------------------ the actions
def _object_id(event: dict[str, Any] | None, kind: str) -> uuid.UUID | None:
    """The first resource of ``kind`` in the event (its own, then its related ones)."""
    if not event:
        return None
    prefix = f"prefect.{kind}."
    for resource in [event["resource"], *event.get("related", [])]:
        rid = resource.get("prefect.resource.id", "")
        if rid.startswith(prefix):
            try:
                return uuid.UUID(rid[len(prefix) :])
            except ValueError:
                continue
    return None


def _target(action: Any, field: str, kind: str, event: dict[str, Any] | None, noun: str) -> uuid.UUID:
    selected = getattr(action, field)
    if action.source == "selected" and selected:
        return selected
    if not event:
        raise ActionFailed(f"No event to infer the {noun}")
    found = _object_id(event, kind)
    if found is None:
        raise ActionFailed(f"No {noun} could be inferred")
    return found


def _flow_run(context: dict[str, Any]) -> uuid.UUID:
    labelled = context["labels"].get("prefect.resource.id", "")
    if labelled.startswith("prefect.flow-run."):
        try:
            return uuid.UUID(labelled[len("prefect.flow-run.") :])
        except ValueError:
            pass
    found = _object_id(context["event"], "flow-run")
    if found is None:
        raise ActionFailed("No flow run could be inferred")
    return found


def _perform(
    repos: Repositories,
    settings: Settings,
    action: Any,
    automation: wire.Automation,
    index: int,
    invocation: str,
    context: dict[str, Any],
    related: list[dict[str, str]],
    now: datetime,
) -> dict[str, Any]:
    from chalicelib import services

    event = context["event"]
    try:
        if isinstance(action, wire.DoNothing):
            return {}
        if isinstance(action, wire.RunDeployment | wire.PauseDeployment | wire.ResumeDeployment):
            deployment_id = _target(action, "deployment_id", "deployment", event, "deployment")
            related.append(
                {"prefect.resource.id": f"prefect.deployment.{deployment_id}", "prefect.resource.role": "target"}
            )
            if isinstance(action, wire.PauseDeployment):
                services.deployments.pause_deployment(repos, deployment_id, now)
            elif isinstance(action, wire.ResumeDeployment):
                services.deployments.resume_deployment(repos, settings, deployment_id, now)
            else:
                return _run_deployment(
                    repos, action, automation, index, invocation, deployment_id, context, related, now
                )
            return {"status_code": 200}
        if isinstance(action, wire.ChangeFlowRunState | wire.CancelFlowRun | wire.SuspendFlowRun):
            run_id = _flow_run(context)
            related.append({"prefect.resource.id": f"prefect.flow-run.{run_id}", "prefect.resource.role": "target"})
            return _set_state(repos, run_id, _new_state(action, automation, now), getattr(action, "force", False), now)
        if isinstance(action, wire.ResumeFlowRun):
            run_id = _flow_run(context)
            related.append({"prefect.resource.id": f"prefect.flow-run.{run_id}", "prefect.resource.role": "target"})
            result = services.flow_run_inputs.resume_flow_run(repos, run_id, _resume_body(), now)
            if getattr(result, "decision", None) is None or result.decision.status.value != "ACCEPT":
                raise ActionFailed(f"Failed to resume flow run: {getattr(result, 'reason', None) or result}")
            return {"status_code": 201}
        if isinstance(action, wire.DeleteFlowRun):
            run_id = _flow_run(context)
            related.append({"prefect.resource.id": f"prefect.flow-run.{run_id}", "prefect.resource.role": "target"})
            services.flow_runs.delete_flow_run(repos, run_id)
            return {"status_code": 204}
        if isinstance(action, wire.PauseWorkPool | wire.ResumeWorkPool):
            pool_id = _target(action, "work_pool_id", "work-pool", event, "work pool")
            related.append({"prefect.resource.id": f"prefect.work-pool.{pool_id}", "prefect.resource.role": "target"})
            pool = repos.work_pools.get(pool_id)
            services.work_pools.update_pool(
                repos, pool.name, WorkPoolUpdate(is_paused=isinstance(action, wire.PauseWorkPool)), now
            )
            return {"status_code": 204}
        if isinstance(action, wire.PauseWorkQueue | wire.ResumeWorkQueue):
            queue_id = _target(action, "work_queue_id", "work-queue", event, "work queue")
            related.append({"prefect.resource.id": f"prefect.work-queue.{queue_id}", "prefect.resource.role": "target"})
            services.work_pools.update_work_queue(
                repos, queue_id, WorkQueueUpdate(is_paused=isinstance(action, wire.PauseWorkQueue)), now
            )
            return {"status_code": 204}
        if isinstance(action, wire.PauseAutomation | wire.ResumeAutomation):
            target = _target(action, "automation_id", "automation", event, "automation")
            related.append({"prefect.resource.id": f"prefect.automation.{target}", "prefect.resource.role": "target"})
            services.automations.set_enabled(repos, target, isinstance(action, wire.ResumeAutomation), now)
            return {"status_code": 204}
        if isinstance(action, wire.CallWebhook | wire.SendNotification):
            return _call_block(repos, action, context, related, now)
    except NotFoundError as exc:
        raise ActionFailed(f"Unexpected status from {action.type!r} action: 404: {exc}", status_code=404) from exc
    except templates.TemplateError as exc:
        raise ActionFailed(f"Template rendering failed: {exc.message!r}") from exc
    except CirrusError as exc:
        raise ActionFailed(f"Unexpected status from {action.type!r} action: {exc}") from exc
    raise ActionFailed(f"Action {action.type!r} is not supported")


def _resume_body() -> Any:
    from chalicelib.schemas.flow_run_inputs import ResumeBody

    return ResumeBody()


def _run_deployment(
    repos: Repositories,
    action: wire.RunDeployment,
    automation: wire.Automation,
    index: int,
    invocation: str,
    deployment_id: uuid.UUID,
    context: dict[str, Any],
    related: list[dict[str, str]],
    now: datetime,
) -> dict[str, Any]:
    from chalicelib import services

    full = _with_objects(repos, context, templates.templates_in(action.parameters))
    parameters = templates.hydrate_parameters(action.parameters, full, lambda name: _variable(repos, name))
    when = now + action.schedule_after
    body = DeploymentFlowRunCreate(
        state=StateCreate(type=StateType.SCHEDULED, state_details={"scheduled_time": when}),  # type: ignore[arg-type]
        parameters=parameters,
        idempotency_key=f"automation {automation.id}, action {index}, invocation {invocation}",
        job_variables=action.job_variables,
    )
    run, _ = services.deployments.create_flow_run(repos, deployment_id, body, now)
    related.append({"prefect.resource.id": f"prefect.flow-run.{run.id}", "prefect.resource.role": "flow-run",
                    "prefect.resource.name": run.name})  # fmt: skip
    return {"status_code": 201}


def _variable(repos: Repositories, name: str) -> Any:
    try:
        return repos.variables.get_by_unique(name).value
    except NotFoundError:
        return None


def _with_objects(repos: Repositories, context: dict[str, Any], texts: list[str]) -> dict[str, Any]:
    """The template context, with the objects the templates mention, read from the event's resources."""
    full = {**context, "event": templates.event_view(context["event"])}
    event = context["event"]
    readers = {
        "flow_run": ("flow-run", lambda i: repos.flow_runs.get(i)),
        "deployment": ("deployment", lambda i: repos.deployments.get(i)),
        "flow": ("flow", lambda i: repos.flows.get(i)),
    }
    for name, (kind, read) in readers.items():
        if templates.mentions(texts, name):
            object_id = _object_id(event, kind)
            try:
                full[name] = read(object_id).model_dump(mode="json") if object_id else None
            except NotFoundError:
                full[name] = None
    return full


def _new_state(action: Any, automation: wire.Automation, now: datetime) -> StateCreate:
    if isinstance(action, wire.CancelFlowRun):
        return StateCreate(type=StateType.CANCELLING, message=f"Cancelled by Automation {automation.id}")
    if isinstance(action, wire.SuspendFlowRun):
        return StateCreate.model_validate(
            {
                "type": "PAUSED",
                "name": "Suspended",
                "message": f"Suspended by Automation {automation.id}",
                "state_details": {
                    "pause_timeout": iso_z(now + timedelta(hours=1)),
                    "pause_reschedule": True,
                    "pause_key": "suspended-by-automation",
                },
            }  # fmt: skip
        )
    return StateCreate(
        type=action.state, name=action.name, message=action.message or f"State changed by Automation {automation.id}"
    )


def _set_state(
    repos: Repositories, run_id: uuid.UUID, state: StateCreate, force: bool, now: datetime
) -> dict[str, Any]:
    from chalicelib import services

    result = services.flow_runs.set_flow_run_state(repos, run_id, SetStateBody(state=state, force=force), now)
    if result.decision.status.value != "ACCEPT":
        raise ActionFailed(f"Failed to set state: {result.decision.reason}", status_code=200)
    return {"status_code": 201}


def _call_block(
    repos: Repositories, action: Any, context: dict[str, Any], related: list[dict[str, str]], now: datetime
) -> dict[str, Any]:
    """A webhook-style block (``webhook``, ``slack-webhook``, ``ms-teams-webhook``, …: any with a
    ``url``): call-webhook sends its rendered ``payload``, send-notification ``{"text": subject +
    body}``."""
    from chalicelib import services

    document = services.blocks.read_document(repos, action.block_document_id, True, now)
    related.append({"prefect.resource.id": f"prefect.block-document.{document.id}", "prefect.resource.role": "block",
                    "prefect.resource.name": document.name or ""})  # fmt: skip
    data = document.data or {}
    url = data.get("url")
    if not isinstance(url, str) or not url:
        raise ActionFailed(f"Block document {document.id} has no url to call")
    full = _with_objects(repos, context, [getattr(action, "payload", ""), getattr(action, "body", "")])
    if isinstance(action, wire.CallWebhook):
        body = templates.render(action.payload, full).encode()
        method = str(data.get("method") or "POST")
        headers = {str(k): str(v) for k, v in (data.get("headers") or {}).items()}
    else:
        text = templates.render(action.subject, full) + "\n" + templates.render(action.body, full)
        body, method, headers = json.dumps({"text": text}).encode(), "POST", {"Content-Type": "application/json"}
    request = urllib.request.Request(url, data=body, method=method, headers=headers)  # noqa: S310 - the user's own URL
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_S) as response:  # noqa: S310
            status = response.status
    except urllib.error.HTTPError as exc:
        raise ActionFailed(f"Webhook answered {exc.code}", status_code=exc.code) from exc
    except (urllib.error.URLError, OSError) as exc:
        raise ActionFailed(f"Webhook call failed: {exc}") from exc
    return {"status_code": status}
