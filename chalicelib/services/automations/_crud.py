"""The ``/automations`` routes' use cases: create, read, replace (PUT), enable/disable (PATCH),
delete, filter, count, related-to and owned-by.

An automation relates to the resource that owns it (``owner_resource``, a deployment's triggers)
and to the deployments its ``run-deployment`` actions select (Prefect's related resources); those
are pointer items written in the automation's transaction, so ``related-to`` and ``owned-by`` read
one partition. Every write bumps the catalog version the evaluators cache the automations by.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from chalicelib.errors import AutomationNotFoundError, ConcurrentUpdateError
from chalicelib.schemas.automations import (
    Automation,
    AutomationCreate,
    AutomationFilterBody,
    AutomationSort,
    AutomationUpdate,
    RunDeployment,
    with_fresh_trigger_ids,
)
from chalicelib.storage import Repositories

#: How many times a replace re-reads after losing its optimistic lock.
ATTEMPTS = 8


def _refs(automation: Automation, owner: str | None) -> dict[str, bool]:
    refs = {
        f"prefect.deployment.{action.deployment_id}": False
        for action in automation.actions
        if isinstance(action, RunDeployment) and action.source == "selected"
    }
    if owner:
        refs[owner] = True
    return refs


def _check_run_deployments(repos: Repositories, actions: Sequence[object]) -> None:
    """As Prefect: a run-deployment action's job variables must make a valid run of its deployment
    (404 for an unknown deployment, 422 naming the variable), so that firing cannot fail on them."""
    from chalicelib import services

    for index, action in enumerate(actions):
        if isinstance(action, RunDeployment) and action.deployment_id is not None and action.job_variables:
            deployment = repos.deployments.get(action.deployment_id)
            loc = ("body", "actions", index, "job_variables")
            services.deployments.check_run_job_variables(repos, deployment, action.job_variables, loc)


def create_automation(repos: Repositories, body: AutomationCreate, now: datetime) -> Automation:
    fields = body.model_dump(exclude={"owner_resource", "trigger"})
    automation = Automation(
        id=uuid.uuid4(), created=now, updated=now, trigger=with_fresh_trigger_ids(body.trigger), **fields
    )
    automation = Automation.model_validate(automation.model_dump(mode="json"))
    _check_run_deployments(repos, automation.actions)
    repos.automations.create(automation, _refs(automation, body.owner_resource))
    return automation


def read_automation(repos: Repositories, automation_id: uuid.UUID) -> Automation:
    return repos.automations.get(str(automation_id))


def _rewrite(repos: Repositories, automation_id: uuid.UUID, change: object, now: datetime) -> None:
    for attempt in range(ATTEMPTS):
        current, rev, old_refs = repos.automations.read_for_update(str(automation_id))
        new = change(current)  # type: ignore[operator]
        new = Automation.model_validate({**new.model_dump(mode="json"), "updated": now.isoformat()})
        owner = next((resource for resource, owned in old_refs.items() if owned), None)
        try:
            repos.automations.replace(new, _refs(new, owner), rev, old_refs)
            return
        except ConcurrentUpdateError:
            if attempt == ATTEMPTS - 1:
                raise


def update_automation(repos: Repositories, automation_id: uuid.UUID, body: AutomationUpdate, now: datetime) -> None:
    """PUT: every field replaced (the trigger with new ids, as Prefect does)."""

    def change(current: Automation) -> Automation:
        fields = body.model_dump(exclude={"trigger"})
        return Automation(
            id=current.id, created=current.created, updated=now, trigger=with_fresh_trigger_ids(body.trigger), **fields
        )

    _check_run_deployments(repos, body.actions)
    _rewrite(repos, automation_id, change, now)


def set_enabled(repos: Repositories, automation_id: uuid.UUID, enabled: bool, now: datetime) -> None:
    _rewrite(repos, automation_id, lambda current: current.model_copy(update={"enabled": enabled}), now)


def delete_automation(repos: Repositories, automation_id: uuid.UUID) -> None:
    for attempt in range(ATTEMPTS):
        try:
            repos.automations.delete(str(automation_id))
            return
        except ConcurrentUpdateError:
            if attempt == ATTEMPTS - 1:
                raise


_SORTS = {
    AutomationSort.NAME_ASC: (lambda a: (a.name, str(a.id)), False),
    AutomationSort.NAME_DESC: (lambda a: (a.name, str(a.id)), True),
    AutomationSort.CREATED_DESC: (lambda a: (a.created, str(a.id)), True),
    AutomationSort.UPDATED_DESC: (lambda a: (a.updated, str(a.id)), True),
}


def _matching(repos: Repositories, body: AutomationFilterBody | None) -> list[Automation]:
    automations = repos.automations.all()
    if body is not None and body.automations is not None:
        automations = [a for a in automations if body.automations.includes(a)]
    return automations


def filter_automations(repos: Repositories, body: AutomationFilterBody) -> list[Automation]:
    """One Query of the automations' partition (their number is small: a workspace's automations),
    filtered and sorted in memory."""
    key, reverse = _SORTS[body.sort]
    found = sorted(_matching(repos, body), key=key, reverse=reverse)
    return found[body.offset : body.offset + body.limit]


def count_automations(repos: Repositories, body: AutomationFilterBody | None) -> int:
    return len(_matching(repos, body))


def related_to(repos: Repositories, resource_id: str) -> list[Automation]:
    return repos.automations.related_to(resource_id)


def delete_owned_by(repos: Repositories, resource_id: str, created_by: datetime | None = None) -> list[uuid.UUID]:
    """Delete the automations ``resource_id`` owns (those created by ``created_by`` when given:
    Prefect's rule, so a redeploy deletes the old triggers' automations, then creates the new)."""
    deleted = []
    for automation in repos.automations.related_to(resource_id, owned_only=True):
        if created_by is not None and automation.created > created_by:
            continue
        try:
            delete_automation(repos, automation.id)
        except AutomationNotFoundError:
            continue  # deleted concurrently
        deleted.append(automation.id)
    return deleted
