"""The run counts equal a brute-force recount of the stored runs, after racing writers and racing
stream drains, and after the stream is applied again from its start (``storage.run_counts``)."""

from __future__ import annotations

import random
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.errors import ConcurrentUpdateError, FlowRunNotFoundError
from chalicelib.schemas.flow_runs import FlowRunCreate
from chalicelib.schemas.flows import FlowCreate
from chalicelib.schemas.states import SetStateBody
from chalicelib.schemas.task_runs import TaskRunCreate
from chalicelib.services import flow_runs, flows, task_runs
from chalicelib.storage import aggregates, run_counts
from chalicelib.storage.flow_runs._queries import SCAN, AccessPath
from chalicelib.storage.models import RunCountModel
from chalicelib.storage.run_counts import EXPECTED, FLOW_RUNS, STARTED, TASK_RUNS, Window

T0 = datetime(2026, 11, 28, 12, 0, 7, tzinfo=UTC)
STATES = ["PENDING", "RUNNING", "COMPLETED", "FAILED", "CRASHED", "CANCELLED", "SCHEDULED", "PAUSED"]


def _state(kind: str, at: datetime) -> dict:
    body: dict = {"type": kind, "timestamp": at.isoformat()}
    if kind == "SCHEDULED":
        body["state_details"] = {"scheduled_time": (at + timedelta(minutes=3)).isoformat()}
    return body


def _seed(repos, n: int, rng: random.Random) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    flow_ids = [flows.create_flow(repos, FlowCreate(name=f"f{i}"), T0)[0].id for i in range(3)]
    run_ids = []
    for _ in range(n):
        at = T0 + timedelta(seconds=rng.randint(0, 3 * 3600))
        body = FlowRunCreate.model_validate({"flow_id": str(rng.choice(flow_ids)), "state": _state("SCHEDULED", at)})
        run_ids.append(flow_runs.create_flow_run(repos, body, at)[0].id)
    return flow_ids, run_ids


def _writer(repos, run_ids, seed: int, steps: int, errors: list) -> None:
    rng = random.Random(seed)
    try:
        for _ in range(steps):
            run_id = rng.choice(run_ids)
            at = T0 + timedelta(seconds=rng.randint(0, 4 * 3600), microseconds=rng.randint(0, 999_999))
            try:
                if rng.random() < 0.05:
                    flow_runs.delete_flow_run(repos, run_id)
                    continue
                body = SetStateBody.model_validate({"state": _state(rng.choice(STATES), at), "force": True})
                flow_runs.set_flow_run_state(repos, run_id, body, at)
            except (ConcurrentUpdateError, FlowRunNotFoundError):
                pass
    except Exception as exc:  # noqa: BLE001 - reported by the test
        errors.append(exc)


def _drainer(settings, stop: threading.Event, errors: list) -> None:
    try:
        while not stop.is_set():
            aggregates.drain(settings)
    except Exception as exc:  # noqa: BLE001 - reported by the test
        errors.append(exc)


def _stored_runs(repos):
    return list(repos.flow_runs.find([AccessPath(SCAN)]))


def _windows(rng: random.Random) -> list[Window]:
    out = [Window(), Window(T0, None), Window(None, T0 + timedelta(hours=2))]
    for _ in range(25):
        a = T0 + timedelta(seconds=rng.randint(-600, 4 * 3600), microseconds=rng.choice([0, 250_000]))
        out.append(Window(a, a + timedelta(seconds=rng.randint(0, 3 * 3600))))
    return out


def _recount(runs, dim: str, window: Window, types) -> int:
    n = 0
    for run in runs:
        when = (run.expected_start_time or run.created) if dim == EXPECTED else run.start_time
        state = run.state_type.value if run.state_type else "NONE"
        if when is not None and window.holds(when) and (types is None or state in types):
            n += 1
    return n


def _assert_counts_match(repos, rng: random.Random) -> None:
    runs = _stored_runs(repos)
    type_sets = [None, {"COMPLETED"}, {"FAILED", "CRASHED"}, {"RUNNING", "PENDING", "CANCELLING"}, {"SCHEDULED"}]
    for dim in (EXPECTED, STARTED):
        for window in _windows(rng):
            for types in type_sets:
                got = run_counts.count(FLOW_RUNS, dim, window, types)
                if window.after is None and window.before is None:
                    want = sum(1 for r in runs if types is None or (r.state_type and r.state_type.value in types))
                else:
                    want = _recount(runs, dim, window, types)
                assert got == want, (dim, window, types)
    for window in _windows(rng)[3:8]:
        want = {str(r.flow_id) for r in runs if window.holds(r.expected_start_time or r.created)
                and r.state_type and r.state_type.value in {"FAILED", "CRASHED"}}  # fmt: skip
        assert run_counts.flows_with_runs(window, {"FAILED", "CRASHED"}) == want
    step = timedelta(minutes=43, seconds=11)
    start = T0 - timedelta(minutes=5)
    cells = run_counts.history(FLOW_RUNS, STARTED, start, start + 6 * step, step, None)
    got = {(i, s): c.count for (i, s, _), c in cells.items() if c.count}
    want: dict = {}
    for run in runs:
        if run.start_time is not None and start <= run.start_time < start + 6 * step:
            key = (int((run.start_time - start) // step), run.state_type.value)
            want[key] = want.get(key, 0) + 1
    merged: dict = {}
    for (i, s), c in got.items():
        merged[(i, s)] = merged.get((i, s), 0) + c
    assert merged == want


def test_counts_equal_a_recount_after_racing_writers_and_drains(repos, settings):
    rng = random.Random(7)
    _, run_ids = _seed(repos, 40, rng)
    errors: list = []
    stop = threading.Event()
    drainers = [threading.Thread(target=_drainer, args=(settings, stop, errors)) for _ in range(2)]
    writers = [threading.Thread(target=_writer, args=(repos, run_ids, seed, 25, errors)) for seed in range(4)]
    for thread in drainers + writers:
        thread.start()
    for thread in writers:
        thread.join(timeout=120)
    stop.set()
    for thread in drainers:
        thread.join(timeout=60)
    assert not errors, errors
    aggregates.drain(settings)
    _assert_counts_match(repos, rng)


def test_the_stream_applied_again_changes_nothing(repos, settings):
    rng = random.Random(11)
    _, run_ids = _seed(repos, 15, rng)
    _writer(repos, run_ids, 3, 30, [])
    aggregates.drain(settings)
    before = run_counts.count_by_type(FLOW_RUNS, None, Window())
    client = RunCountModel._get_connection().connection.client
    table = RunCountModel.Meta.table_name
    for item in client.scan(TableName=table)["Items"]:  # forget the checkpoints: read from the start
        if item["pk"]["S"].startswith("stream#"):
            client.delete_item(TableName=table, Key={"pk": item["pk"], "sk": item["sk"]})
    assert aggregates.drain(settings) > 0
    assert run_counts.count_by_type(FLOW_RUNS, None, Window()) == before
    _assert_counts_match(repos, rng)


def test_task_run_counts_follow_their_states(repos, settings):
    flow = flows.create_flow(repos, FlowCreate(name="f"), T0)[0]
    run = flow_runs.create_flow_run(repos, FlowRunCreate.model_validate({"flow_id": str(flow.id)}), T0)[0]
    created = []
    for i in range(6):
        body = TaskRunCreate.model_validate(
            {"flow_run_id": str(run.id), "task_key": "t", "dynamic_key": str(i), "name": f"t-{i}",
             "state": {"type": "RUNNING", "timestamp": (T0 + timedelta(minutes=i)).isoformat()}}
        )  # fmt: skip
        created.append(task_runs.create_task_run(repos, body, T0 + timedelta(minutes=i))[0])
    done = SetStateBody.model_validate({"state": {"type": "COMPLETED"}, "force": True})
    for task in created[:4]:
        task_runs.set_task_run_state(repos, task.id, done, T0 + timedelta(hours=1))
    window = Window(T0 + timedelta(seconds=30), T0 + timedelta(minutes=10))
    assert repos.run_counts.count_by_type(TASK_RUNS, STARTED, window) == {"COMPLETED": 3, "RUNNING": 2}
    assert repos.run_counts.count(TASK_RUNS, None, Window(), None) == 6


@pytest.mark.parametrize("n", [0, 1])
def test_a_window_with_nothing_counts_zero(repos, n):
    assert repos.run_counts.count(FLOW_RUNS, EXPECTED, Window(T0, T0 + timedelta(hours=n)), None) == 0


def test_many_runs_in_one_minute_fit_the_expression_and_item_limits(repos, settings):
    """A scheduler pass plans hundreds of runs for one cron minute: one drain applies them (entries
    spread over the minute's shards, few enough per transaction for DynamoDB's expression limits)."""
    flow = flows.create_flow(repos, FlowCreate(name="f"), T0)[0]
    at = T0.replace(second=0)
    for _ in range(240):
        body = FlowRunCreate.model_validate({"flow_id": str(flow.id), "state": _state("SCHEDULED", at)})
        flow_runs.create_flow_run(repos, body, at)
    aggregates.drain(settings)
    minute = at + timedelta(minutes=3)  # the runs' scheduled time (``_state``)
    assert run_counts.count(FLOW_RUNS, EXPECTED, Window(minute, minute), None) == 240
    assert run_counts.count(FLOW_RUNS, EXPECTED, Window(minute + timedelta(microseconds=1), None), None) == 0


def test_a_history_of_many_intervals_is_exact_to_the_minute(repos, settings):
    """The dashboard's 20 buckets: past the exact cuts' budget, a run counts in the interval holding
    the start of its minute (and nothing is counted twice or lost)."""
    rng = random.Random(5)
    _, run_ids = _seed(repos, 60, rng)
    _writer(repos, run_ids, 9, 60, [])
    aggregates.drain(settings)
    start, step = T0 + timedelta(seconds=6), timedelta(minutes=12, seconds=3)
    cells = run_counts.history(FLOW_RUNS, STARTED, start, start + 20 * step, step, None, exact_cuts=0)
    got: dict = {}
    for (i, s, _), c in cells.items():
        if c.count:
            got[(i, s)] = got.get((i, s), 0) + c.count
    want: dict = {}
    for run in _stored_runs(repos):
        minute = run.start_time.replace(second=0, microsecond=0) if run.start_time else None
        if minute is not None and start <= minute < start + 20 * step:
            key = (int((minute - start) // step), run.state_type.value)
            want[key] = want.get(key, 0) + 1
    assert got == want, (
        {k: (got.get(k), want.get(k)) for k in set(got) | set(want) if got.get(k) != want.get(k)},
        len(cells),
    )
