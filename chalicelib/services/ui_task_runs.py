"""What Prefect's UI asks about task runs beyond ``/task_runs/filter|count``: counts per flow run,
per state and per time bucket, a history of intervals, and pages (prefect/server/api/ui/task_runs.py,
``/task_runs/history``, ``/task_runs/paginate``).

Every answer reads the task runs the ``/task_runs/filter`` planner reads
(:func:`chalicelib.services.task_runs.matching_task_runs`): one ``by-flow-run`` Query per named flow
run, else a Scan of ``task_runs`` (the dashboard's time windows; an operator's path).
``/ui/flow_runs/count-task-runs`` is one ``by-flow-run`` Query per flow run (≤ 200).
"""

from __future__ import annotations

import math
import uuid
from datetime import datetime, timedelta

from chalicelib.errors import InvalidRequestError
from chalicelib.schemas.states import StateType
from chalicelib.schemas.task_runs import TaskRun, TaskRunCountBody, TaskRunFilterBody
from chalicelib.schemas.ui import HistoryInterval, HistoryState, TaskRunHistoryBody, TaskRunPaginateBody
from chalicelib.services import task_runs
from chalicelib.services.paging import Page
from chalicelib.storage import STARTED, TASK_RUNS, Repositories, Window

FAILED_TYPES = frozenset({StateType.FAILED, StateType.CRASHED})
TERMINAL_TYPES = frozenset({StateType.COMPLETED, StateType.FAILED, StateType.CRASHED, StateType.CANCELLED})
DASHBOARD_BUCKETS = 20
MAX_INTERVALS = 500


def count_by_flow_run(repos: Repositories, flow_run_ids: list[uuid.UUID]) -> dict[str, int]:
    """The run page header's count: each run's task runs but those standing for a subflow (as
    Prefect counts them; such a task run's state names its ``child_flow_run_id``)."""
    return {
        str(fid): sum(1 for run in repos.task_runs.for_flow_run(fid) if not run.stands_for_subflow())
        for fid in dict.fromkeys(flow_run_ids)
    }


def counts_by_state(repos: Repositories, body: TaskRunFilterBody) -> dict[str, int]:
    """``/ui/task_runs/count``: the matching runs per state type (every type present, 0 or more)."""
    counts = {t.value: 0 for t in StateType}
    counted = task_runs.counted_window(body)
    if counted is not None:
        dim, window, types = counted
        by_type = repos.run_counts.count_by_type(TASK_RUNS, dim, window)
        return {t: (n if types is None or t in types else 0) for t, n in {**counts, **by_type}.items() if t in counts}
    for run in task_runs.matching_task_runs(repos, body):
        if run.state_type is not None:
            counts[run.state_type.value] += 1
    return counts


def dashboard_counts(repos: Repositories, body: TaskRunFilterBody, now: datetime) -> list[dict[str, int]]:
    """``/ui/task_runs/dashboard/counts``: terminal task runs in 20 equal buckets of the window
    ``task_runs.start_time`` (after_ required; before_ defaults to now), completed vs failed."""
    window = body.task_runs.start_time if body.task_runs is not None else None
    if window is None or window.after_ is None:
        raise InvalidRequestError(
            ("body", "task_runs", "start_time", "after_"), "task_runs.start_time.after_ is required"
        )
    start = window.after_.replace(second=0, microsecond=0)
    end = (window.before_ or now).replace(second=0, microsecond=0) + timedelta(minutes=1)
    width = (end - start) / DASHBOARD_BUCKETS
    buckets = [{"completed": 0, "failed": 0} for _ in range(DASHBOARD_BUCKETS)]
    counted = task_runs.counted_window(body)
    if counted is not None and counted[0] == STARTED and width > timedelta(0):
        types = {t.value for t in TERMINAL_TYPES} & (counted[2] or {t.value for t in TERMINAL_TYPES})
        within = Window(counted[1].after, counted[1].before)
        cells = repos.run_counts.history(TASK_RUNS, STARTED, start, end, width, types, within)
        for (index, state, _), cell in cells.items():
            if 0 <= index < DASHBOARD_BUCKETS:
                buckets[index]["failed" if state in {t.value for t in FAILED_TYPES} else "completed"] += cell.count
        return buckets
    for run in task_runs.matching_task_runs(repos, body):
        if run.state_type not in TERMINAL_TYPES or run.start_time is None or width <= timedelta(0):
            continue
        index = math.floor((run.start_time - start) / width)
        if 0 <= index < DASHBOARD_BUCKETS:
            buckets[index]["failed" if run.state_type in FAILED_TYPES else "completed"] += 1
    return buckets


def history(repos: Repositories, body: TaskRunHistoryBody) -> list[HistoryInterval]:
    """``/task_runs/history``: intervals of ``history_interval_seconds`` from ``history_start`` to
    ``history_end``; a run counts in the interval holding its start (else expected start) time,
    under its current state."""
    step = timedelta(seconds=body.history_interval_seconds)
    count = math.ceil((body.history_end - body.history_start) / step) if body.history_end > body.history_start else 0
    if count > MAX_INTERVALS:
        raise InvalidRequestError(("body", "history_interval_seconds"), f"At most {MAX_INTERVALS} intervals")
    intervals = [
        HistoryInterval(interval_start=body.history_start + i * step, interval_end=body.history_start + (i + 1) * step)
        for i in range(count)
    ]
    groups: dict[tuple[int, str, str], HistoryState] = {}
    counted = task_runs.counted_window(body)
    if counted is not None and counted[0] == STARTED:
        _, within, types = counted
        cells = repos.run_counts.history(TASK_RUNS, STARTED, body.history_start, body.history_end, step, types, within)
        for (index, state_type, state_name), cell in sorted(cells.items()):
            if 0 <= index < count and cell.count:
                intervals[index].states.append(
                    HistoryState(
                        state_type=StateType(state_type),
                        state_name=state_name,
                        count_runs=cell.count,
                        sum_estimated_run_time=timedelta(seconds=cell.run_time),
                    )
                )
        return intervals
    for run in task_runs.matching_task_runs(repos, body):
        when = run.start_time or run.expected_start_time
        if when is None or run.state_type is None or not body.history_start <= when < body.history_end:
            continue
        index = int((when - body.history_start) / step)
        key = (index, run.state_type.value, run.state_name or run.state_type.value.title())
        state = groups.setdefault(key, HistoryState(state_type=run.state_type, state_name=key[2]))
        state.count_runs += 1
        state.sum_estimated_run_time += timedelta(seconds=run.estimated_run_time or run.total_run_time)
        state.sum_estimated_lateness += timedelta(seconds=run.estimated_start_time_delta)
    for (index, _, _), state in sorted(groups.items()):
        intervals[index].states.append(state)
    return intervals


def paginate_task_runs(repos: Repositories, body: TaskRunPaginateBody) -> Page[TaskRun]:
    """One page (the runs up to it read in the sort's order) and the count (from the run counts
    when they answer the filter)."""
    runs = task_runs.select_task_runs(repos, body, body.sort, body.page * body.limit)
    count = task_runs.count_task_runs(repos, TaskRunCountBody.model_validate(body.model_dump(include=_COUNT_FIELDS)))
    start = (body.page - 1) * body.limit
    pages = math.ceil(count / body.limit) if body.limit else 0
    return Page(results=runs[start : start + body.limit], count=count, limit=body.limit, pages=pages, page=body.page)


_COUNT_FIELDS = {"task_runs", "flow_runs", "flows", "deployments"}
