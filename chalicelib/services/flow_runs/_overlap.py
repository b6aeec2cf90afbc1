"""Schedule overlap policies in set_state (:mod:`chalicelib.domain.schedule_overlap`): a proposal
that starts a run of a schedule with a policy must take the schedule's active token with its state;
when another run holds it, the policy's state is written instead.

Nothing here runs for other runs: the policy is stamped on the run when it is planned, so a run
without one costs no read and no transaction more than before.
"""

from __future__ import annotations

from datetime import datetime

from chalicelib.domain import schedule_overlap as rule
from chalicelib.domain.orchestration import Decision
from chalicelib.errors import ConcurrentUpdateError, FlowRunNotFoundError, OverlapTokenTakenError
from chalicelib.schemas.flow_runs import FlowRun
from chalicelib.storage import Repositories


def securing(run: FlowRun, decision: Decision, *, force: bool) -> Decision:
    """``decision``, written only with the schedule's active token when it starts ``run``."""
    return rule.taking(decision) if rule.starts(run, decision, force=force) else decision


def instead(
    repos: Repositories, run: FlowRun, decision: Decision, now: datetime, taken: OverlapTokenTakenError
) -> tuple[Decision, str | None]:
    """What to write when the token ``decision`` needed is taken: the policy's state, naming the
    schedule's active run (returned too: CANCEL_OTHER cancels it). A token still named for a run
    that is gone or has ended (deleted while it held it) is given back first and the proposal
    judged again (:class:`ConcurrentUpdateError`)."""
    schedule_id = str(run.schedule_id)
    names = repos.schedule_overlap.holders(schedule_id)
    holder = names.get(taken.token)
    if holder is None:  # given back since the write: judge the proposal again
        raise ConcurrentUpdateError("Flow run", run.id)
    if holder and holder != str(run.id) and _stale(repos, holder, taken.token):
        repos.schedule_overlap.release_stale(schedule_id, taken.token, holder)
        raise ConcurrentUpdateError("Flow run", run.id)
    active = names.get(rule.ACTIVE)
    if taken.token == rule.WAITING:  # BUFFER_ONE: a run waits already
        return rule.skipped(run, decision, now, active), active
    return rule.collision(run, decision, now, active), active


def _stale(repos: Repositories, holder: str, token: str) -> bool:
    try:
        return repos.flow_runs.get(holder).overlap_slot != token  # type: ignore[arg-type]
    except FlowRunNotFoundError:
        return True
