"""Every orchestration rule, with Prefect's statuses and reasons (pure: no storage, injected clock)."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain.orchestration import RULES, SetStateStatus, commit, orchestrate, with_initial_state
from chalicelib.schemas.flow_runs import EmpiricalPolicy, FlowRun
from chalicelib.schemas.states import TERMINAL_STATES, State, StateDetails, StateType

NOW = datetime(2030, 1, 1, 12, tzinfo=UTC)
EARLIER = NOW - timedelta(hours=1)
S = StateType


def run_in(type_: StateType, name: str | None = None, *, data=None, details: dict | None = None, **fields) -> FlowRun:
    state = State(type=type_, name=name, timestamp=EARLIER, data=data, state_details=StateDetails(**(details or {})))
    return with_initial_state(FlowRun(name="r", flow_id=uuid.uuid4(), **fields), state)


def propose(type_: StateType, name: str | None = None, **details) -> State:
    return State(type=type_, name=name, timestamp=NOW, state_details=StateDetails(**details))


def judge(run: FlowRun, state: State, force: bool = False):
    return orchestrate(run, state, now=NOW, force=force)


def test_rules_run_in_prefects_order():
    assert [r.name for r in RULES] == [
        "PreventDuplicateTransitions",
        "HandleFlowTerminalStateTransitions",
        "EnforceCancellingToCancelledTransition",
        "BypassCancellingFlowRunsWithNoInfra",
        "PreventPendingTransitions",
        "EnsureOnlyScheduledFlowsMarkedLate",
        "HandlePausingFlows",
        "HandleResumingPausedFlows",
        "CopyScheduledTime",
        "WaitForScheduledTime",
        "RetryFailedFlows",
    ]


def test_an_ordinary_transition_is_accepted_with_the_proposed_state():
    proposed = propose(S.RUNNING)
    decision = judge(run_in(S.PENDING), proposed)
    assert decision.status is SetStateStatus.ACCEPT and decision.writes
    assert decision.state.id == proposed.id and decision.details() == {"type": "accept_details"}


def test_a_repeated_transition_id_is_rejected():
    tid = uuid.uuid4()
    run = run_in(S.RUNNING, details={"transition_id": tid})
    decision = judge(run, propose(S.COMPLETED, transition_id=tid))
    assert decision.status is SetStateStatus.REJECT and decision.state is None
    assert decision.reason == "This run has already made this state transition."
    assert judge(run, propose(S.COMPLETED, transition_id=uuid.uuid4())).status is SetStateStatus.ACCEPT


@pytest.mark.parametrize("terminal", sorted(TERMINAL_STATES))
@pytest.mark.parametrize("target", [S.CANCELLING, S.PAUSED, S.CRASHED])
def test_terminal_runs_cannot_be_cancelling_paused_or_crashed(terminal, target):
    decision = judge(run_in(terminal), propose(target))
    assert decision.status is SetStateStatus.ABORT and not decision.writes
    assert decision.reason == f"Run is already in terminal state {terminal.value}."
    assert decision.details() == {"type": "abort_details", "reason": decision.reason}


def test_completed_with_a_persisted_result_cannot_rerun():
    persisted = run_in(S.COMPLETED, data={"type": "s3", "storage_key": "k"})
    decision = judge(persisted, propose(S.RUNNING))
    assert (decision.status, decision.reason, decision.state) == (
        SetStateStatus.REJECT,
        "Run is already COMPLETED.",
        None,
    )
    assert judge(persisted, propose(S.FAILED)).status is SetStateStatus.ACCEPT  # final → final is fine


@pytest.mark.parametrize("data", [None, {"type": "unpersisted"}])
def test_completed_without_a_persisted_result_reruns(data):
    decision = judge(run_in(S.COMPLETED, data=data), propose(S.RUNNING))
    assert decision.status is SetStateStatus.ACCEPT
    assert decision.policy.retry_type is None and decision.policy.pause_keys == []


def test_rescheduling_a_finished_run_needs_a_deployment():
    decision = judge(run_in(S.FAILED), propose(S.SCHEDULED))
    assert decision.status is SetStateStatus.ABORT
    assert decision.reason == "Cannot reschedule a run without an associated deployment."
    policy = EmpiricalPolicy(pause_keys=["k"], resuming=True)
    rescheduled = judge(run_in(S.FAILED, deployment_id=uuid.uuid4(), empirical_policy=policy), propose(S.SCHEDULED))
    assert rescheduled.status is SetStateStatus.ACCEPT
    assert rescheduled.policy.retry_type == "reschedule"
    assert rescheduled.policy.pause_keys == [] and rescheduled.policy.resuming is False


@pytest.mark.parametrize("target", [S.RUNNING, S.COMPLETED, S.FAILED, S.CANCELLING, S.PENDING, S.SCHEDULED])
def test_cancelling_runs_may_only_become_cancelled(target):
    decision = judge(run_in(S.CANCELLING), propose(target))
    assert decision.status is SetStateStatus.REJECT and not decision.writes
    assert decision.reason == "Cannot transition flows that are cancelling to a state other than Cancelled."
    assert judge(run_in(S.CANCELLING), propose(S.CANCELLED)).status is SetStateStatus.ACCEPT


def test_cancelling_a_scheduled_run_without_infrastructure_cancels_it():
    decision = judge(run_in(S.SCHEDULED), propose(S.CANCELLING))
    assert decision.status is SetStateStatus.REJECT and decision.writes
    assert decision.state.type is S.CANCELLED and decision.state.name == "Cancelled"
    assert decision.reason == "Scheduled flow run has no infrastructure to terminate."
    assert judge(run_in(S.SCHEDULED, infrastructure_pid="42"), propose(S.CANCELLING)).status is SetStateStatus.ACCEPT
    resuming = run_in(S.SCHEDULED, "Resuming", infrastructure_pid="42")
    assert judge(resuming, propose(S.CANCELLING)).state.type is S.CANCELLED


def test_cancelling_a_suspended_run_cancels_it():
    suspended = run_in(S.PAUSED, "Suspended", details={"pause_reschedule": True}, deployment_id=uuid.uuid4())
    decision = judge(suspended, propose(S.CANCELLING))
    assert (decision.status, decision.state.type) == (SetStateStatus.REJECT, S.CANCELLED)
    assert decision.reason == "Suspended flow run has no infrastructure to terminate."


@pytest.mark.parametrize("current", [S.PENDING, S.RUNNING, S.CANCELLED])
def test_pending_is_refused_once_submitted(current):
    decision = judge(run_in(current), propose(S.PENDING))
    assert decision.status is SetStateStatus.ABORT
    assert decision.reason == f"This run is in a {current.value} state and cannot transition to a PENDING state."


def test_a_named_pending_sub_state_may_follow_pending():
    scheduled_at = EARLIER - timedelta(minutes=5)
    run = run_in(S.PENDING, details={"scheduled_time": scheduled_at})
    decision = judge(run, propose(S.PENDING, "Submitting"))
    assert decision.status is SetStateStatus.ACCEPT
    assert decision.state.state_details.scheduled_time == scheduled_at
    assert judge(run_in(S.PENDING, "Submitting"), propose(S.PENDING)).status is SetStateStatus.ABORT


def test_only_scheduled_runs_are_marked_late_once():
    wrong = judge(run_in(S.RUNNING), propose(S.SCHEDULED, "Late"))
    assert (wrong.status, wrong.reason) == (SetStateStatus.REJECT, "Only scheduled flows can be marked late.")
    assert judge(run_in(S.SCHEDULED), propose(S.SCHEDULED, "Late")).status is SetStateStatus.ACCEPT
    again = judge(run_in(S.SCHEDULED, "Late"), propose(S.SCHEDULED, "Late"))
    assert (again.status, again.reason, again.state) == (SetStateStatus.REJECT, "Run is already Late.", None)


def test_only_running_runs_pause_and_each_pause_fires_once():
    refused = judge(run_in(S.PENDING), propose(S.PAUSED))
    assert (refused.status, refused.reason) == (
        SetStateStatus.REJECT,
        "Cannot pause flows that are not currently running.",
    )
    suspend = judge(run_in(S.PENDING), propose(S.PAUSED, "Suspended"))
    assert suspend.reason == "Cannot suspend flows that are not currently running."
    paused = judge(run_in(S.RUNNING), propose(S.PAUSED, pause_key="k1"))
    assert paused.status is SetStateStatus.ACCEPT and paused.policy.pause_keys == ["k1"]
    fired = run_in(S.RUNNING, empirical_policy=EmpiricalPolicy(pause_keys=["k1"]))
    again = judge(fired, propose(S.PAUSED, pause_key="k1"))
    assert (again.status, again.reason) == (SetStateStatus.REJECT, "This pause has already fired.")


def test_pausing_with_reschedule_needs_a_deployment_and_a_top_level_run():
    no_deployment = judge(run_in(S.RUNNING), propose(S.PAUSED, pause_reschedule=True))
    assert (no_deployment.status, no_deployment.reason) == (
        SetStateStatus.ABORT,
        "Cannot pause flows without a deployment.",
    )
    subflow = run_in(S.RUNNING, parent_task_run_id=uuid.uuid4(), deployment_id=uuid.uuid4())
    decision = judge(subflow, propose(S.PAUSED, "Suspended", pause_reschedule=True))
    assert (decision.status, decision.reason) == (SetStateStatus.ABORT, "Cannot suspend subflows.")


def test_paused_runs_resume_only_to_running_scheduled_or_final():
    decision = judge(run_in(S.PAUSED), propose(S.PENDING))
    assert decision.status is SetStateStatus.REJECT
    assert decision.reason == "This run cannot transition to the PENDING state from the PAUSED state."
    resumed = judge(run_in(S.PAUSED), propose(S.RUNNING))
    assert resumed.status is SetStateStatus.ACCEPT and resumed.mark_resuming


def test_resuming_a_rescheduled_pause_needs_a_deployment():
    decision = judge(run_in(S.PAUSED, details={"pause_reschedule": True}), propose(S.RUNNING))
    assert (decision.status, decision.reason) == (
        SetStateStatus.REJECT,
        "Cannot reschedule a running flow run without a deployment.",
    )


def test_a_pause_that_timed_out_fails_the_run():
    run = run_in(S.PAUSED, details={"pause_timeout": NOW - timedelta(seconds=1)})
    decision = judge(run, propose(S.RUNNING))
    assert decision.status is SetStateStatus.REJECT and decision.state.type is S.FAILED
    assert decision.state.message == "The flow was running and never resumed."
    assert decision.reason == "The flow run pause has timed out and can no longer resume."


def test_scheduled_to_pending_copies_the_scheduled_time():
    at = NOW + timedelta(minutes=3)
    decision = judge(run_in(S.SCHEDULED, details={"scheduled_time": at}), propose(S.PENDING))
    assert decision.state.state_details.scheduled_time == at
    own = NOW + timedelta(minutes=9)
    kept = judge(run_in(S.SCHEDULED, details={"scheduled_time": at}), propose(S.PENDING, scheduled_time=own))
    assert kept.state.state_details.scheduled_time == own


@pytest.mark.parametrize(
    ("ahead", "delay"),
    [
        (timedelta(seconds=30), 30),
        (timedelta(seconds=1.6), 2),
        (timedelta(seconds=1.4), 1),
        (timedelta(seconds=0.4), None),
    ],
)
def test_running_before_the_scheduled_time_waits(ahead, delay):
    for current in (S.SCHEDULED, S.PENDING):
        decision = judge(run_in(current, details={"scheduled_time": NOW + ahead}), propose(S.RUNNING))
        if delay is None:
            assert decision.status is SetStateStatus.ACCEPT
            continue
        assert (decision.status, decision.delay_seconds, decision.state) == (SetStateStatus.WAIT, delay, None)
        assert decision.details() == {
            "type": "wait_details",
            "delay_seconds": delay,
            "reason": "Scheduled time is in the future",
        }


def test_a_failure_with_retries_left_awaits_a_retry():
    policy = EmpiricalPolicy(retries=2, retry_delay=10)
    run = run_in(S.RUNNING, empirical_policy=policy)
    assert run.run_count == 1
    failed = propose(S.FAILED).model_copy(update={"message": "boom", "data": {"type": "unpersisted"}})
    decision = judge(run, failed)
    assert (decision.status, decision.reason) == (SetStateStatus.REJECT, "Retrying")
    retry = decision.state
    assert (retry.type, retry.name, retry.message, retry.data) == (S.SCHEDULED, "AwaitingRetry", "boom", failed.data)
    assert retry.state_details.scheduled_time == NOW + timedelta(seconds=10)
    assert decision.policy.retry_type == "in_process"
    moved = commit(run, decision, now=NOW)
    assert moved.next_scheduled_start_time == NOW + timedelta(seconds=10) and moved.state_name == "AwaitingRetry"


def test_a_failure_without_retries_left_fails():
    exhausted = run_in(S.RUNNING, empirical_policy=EmpiricalPolicy(retries=0, retry_type="in_process"))
    decision = judge(exhausted, propose(S.FAILED))
    assert decision.status is SetStateStatus.ACCEPT and decision.policy.retry_type is None
    assert judge(run_in(S.RUNNING), propose(S.FAILED)).status is SetStateStatus.ACCEPT  # retries unset


def test_deprecated_max_retries_still_counts():
    run = run_in(S.RUNNING, empirical_policy=EmpiricalPolicy(max_retries=1, retry_delay_seconds=5))
    decision = judge(run, propose(S.FAILED))
    assert decision.state.name == "AwaitingRetry"
    assert decision.state.state_details.scheduled_time == NOW + timedelta(seconds=5)


def test_force_skips_every_rule():
    decision = judge(run_in(S.CANCELLED), propose(S.PENDING), force=True)
    assert decision.status is SetStateStatus.ACCEPT and decision.state.type is S.PENDING
    forced = judge(run_in(S.RUNNING, empirical_policy=EmpiricalPolicy(retries=3)), propose(S.FAILED), force=True)
    assert forced.state.type is S.FAILED


def test_orchestrate_changes_neither_argument():
    run = run_in(S.SCHEDULED, details={"scheduled_time": NOW})
    proposed = propose(S.PENDING)
    before = (run.model_dump(), proposed.model_dump())
    judge(run, proposed)
    assert (run.model_dump(), proposed.model_dump()) == before


def test_commit_refuses_a_decision_without_a_state():
    decision = judge(run_in(S.RUNNING), propose(S.PENDING))
    with pytest.raises(ValueError):
        commit(run_in(S.RUNNING), decision, now=NOW)
