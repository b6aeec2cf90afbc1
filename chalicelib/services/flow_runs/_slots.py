"""Deployment concurrency limits in set_state: what a proposal into PENDING must secure first.

The rule itself is :mod:`chalicelib.domain.deployment_concurrency`; the slot is taken or given
back by the same transaction that writes the state (:mod:`chalicelib.storage.deployment_slots`),
so this module only reads the deployment's limit for a proposal that needs one.
"""

from __future__ import annotations

from chalicelib.domain import deployment_concurrency as rule
from chalicelib.domain.orchestration import Decision
from chalicelib.errors import DeploymentNotFoundError
from chalicelib.schemas.flow_runs import FlowRun
from chalicelib.storage import Repositories


def secure_slot(
    repos: Repositories, run: FlowRun, decision: Decision, *, force: bool
) -> tuple[Decision, rule.SlotLimit | None]:
    """``decision`` as the deployment's limit amends it, and that limit when the write must take a
    slot (``None``: it takes none). One GetItem of the deployment, only for a proposal into
    PENDING of a deployment's run. A limit of 0 aborts (the run would wait forever). A deleted
    deployment limits nothing: Prefect's runs lose their ``deployment_id`` with the deployment
    (its foreign key is set null), Cirrus's keep it (PREFECT_CONTRACT.md), so they run free."""
    if run.deployment_id is None or not rule.needs_slot(run, decision, force=force):
        return decision, None
    try:
        deployment = repos.deployments.get(run.deployment_id)
    except DeploymentNotFoundError:
        return decision, None
    if deployment.concurrency_limit is None:
        return decision, None
    if deployment.concurrency_limit <= 0:
        return rule.zero_limit(), None
    options = deployment.concurrency_options
    strategy = options.collision_strategy if options is not None else rule.ENQUEUE
    return rule.taking(decision), rule.SlotLimit(deployment.concurrency_limit, strategy)
