"""kill -9, end to end: real Prefect 3.9.1 runners against the local stack, heartbeats over ``/events/in``.

Settings shortened as far as Prefect allows: heartbeats every 30 s (``PREFECT_FLOWS_HEARTBEAT_FREQUENCY``'s
minimum), so the zombie threshold is 3 x 30 = 90 s; the jobs tick 20 x faster than deployed (the zombie
killer every 3 s, Lazarus every 15 s). Two runners serve one sleeping flow as two deployments:

- ``doomed``: its run is RUNNING with fresh heartbeats; then its runner and its flow-run process are
  SIGKILLed (a lost node: nobody reports anything) → within the threshold plus one tick the run is
  CRASHED with the zombie message → Lazarus reschedules it → a restarted runner runs it to COMPLETED;
- ``steady``: its run sleeps past the threshold while heart-beating, and is never touched;
- the task runs of the completed run are readable through ``/task_runs/filter``.

About three minutes; marked slow and e2e.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from chalicelib.config import Settings
from chalicelib.domain.sweeps import ZOMBIE_MESSAGE
from chalicelib.storage import open_repositories
from tests.e2e.local_stack import E2E_PYTHON, Processes, api, local_stack, missing_prefect, prefect_env

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

FLOW_SCRIPT = Path(__file__).with_name("zombie_flow.py")
HEARTBEAT_S = 30
THRESHOLD_S = 3 * HEARTBEAT_S  # CIRRUS_ZOMBIE_MISSED_HEARTBEATS (3) x CIRRUS_HEARTBEAT_FREQUENCY_S
TICK_SCALE = 0.05  # rate(1 minute) -> 3 s (zombie killer); rate(5 minutes) -> 15 s (Lazarus)
ZOMBIE_TICK_S = 60 * TICK_SCALE
LAZARUS_TICK_S = 300 * TICK_SCALE
#: Request latency, moto, a tick landing late on a busy 2-core machine.
SLACK_S = 20.0


def wait_for(what: str, check: Callable[[], Any], timeout_s: float, interval_s: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what} (last: {result!r})")
        time.sleep(interval_s)


@pytest.mark.skipif(missing_prefect() is not None, reason=missing_prefect() or "")
def test_a_killed_run_is_crashed_rescheduled_and_run_again_while_a_live_one_is_left_alone(tmp_path: Path) -> None:
    stack_env = {"CIRRUS_HEARTBEAT_FREQUENCY_S": str(HEARTBEAT_S), "CIRRUS_LOCAL_TICK_SCALE": str(TICK_SCALE)}
    processes = Processes()
    markers = tmp_path / "markers"
    markers.mkdir()
    with local_stack(tmp_path, stack_env) as (url, dynamodb_endpoint), tempfile.TemporaryDirectory() as home:
        runs = open_repositories(Settings(stage="local", dynamodb_endpoint=dynamodb_endpoint)).flow_runs
        env = prefect_env(
            url,
            Path(home),
            PREFECT_FLOWS_HEARTBEAT_FREQUENCY=str(HEARTBEAT_S),
            PREFECT_RUNNER_POLL_FREQUENCY="2",
            PREFECT_LOGGING_TO_API_ENABLED="false",
        )

        def serve(name: str) -> int:
            log = tmp_path / f"runner-{name}.log"
            return processes.start([str(E2E_PYTHON), str(FLOW_SCRIPT), name], env, log).pid

        def deployment(name: str) -> str:
            status, body = wait_for(
                f"deployment {name}", lambda: _ok(api(url, "GET", f"/deployments/name/cirrus-sleeper/{name}")), 120
            )
            return str(body["id"])

        def start_run(deployment_id: str, first_s: float, again_s: float) -> str:
            parameters = {"marker_dir": str(markers), "first_s": first_s, "again_s": again_s}
            status, run = api(url, "POST", f"/deployments/{deployment_id}/create_flow_run", {"parameters": parameters})
            assert status == 201, run
            return str(run["id"])

        def state(run_id: str) -> tuple[str, str, str | None]:
            _, run = api(url, "GET", f"/flow_runs/{run_id}")
            return run["state"]["type"], run["state"]["name"], run["state"]["message"]

        def beating(run_id: str) -> datetime | None:
            heartbeat = runs.get(uuid.UUID(run_id)).heartbeat
            fresh = heartbeat is not None and (datetime.now(UTC) - heartbeat).total_seconds() < HEARTBEAT_S + SLACK_S
            return heartbeat if state(run_id)[0] == "RUNNING" and fresh else None

        try:
            serve("steady")
            doomed_runner = serve("doomed")
            steady = start_run(deployment("steady"), first_s=THRESHOLD_S + 45, again_s=1)
            doomed = start_run(deployment("doomed"), first_s=600, again_s=2)

            # RUNNING, with heartbeats arriving over /events/in.
            first_pid = markers / f"{doomed}.1.pid"
            wait_for("the doomed run's process", first_pid.exists, 120)
            wait_for("the doomed run's first heartbeat", lambda: beating(doomed), 60)
            wait_for("the steady run's first heartbeat", lambda: beating(steady), 60)

            # A lost node: the runner and the flow-run process die at once; nothing reports.
            processes.kill_group(doomed_runner)
            processes.kill_group(int(first_pid.read_text()))
            killed = time.monotonic()
            last_heartbeat = runs.get(uuid.UUID(doomed)).heartbeat
            assert state(doomed)[0] == "RUNNING"

            crashed = wait_for(
                "the zombie killer",
                lambda: state(doomed)[0] == "CRASHED" and state(doomed),
                THRESHOLD_S + ZOMBIE_TICK_S + SLACK_S,
            )
            after_s = time.monotonic() - killed
            assert crashed[2] == ZOMBIE_MESSAGE
            print(f"crashed {after_s:.0f} s after the kill (threshold {THRESHOLD_S} s, tick {ZOMBIE_TICK_S:g} s)")
            assert (datetime.now(UTC) - last_heartbeat).total_seconds() > THRESHOLD_S
            # The live run kept beating through the same ticks and was not touched.
            assert state(steady)[0] == "RUNNING" and beating(steady)

            wait_for(
                "Lazarus",
                lambda: state(doomed)[:2] in {("SCHEDULED", "Rescheduled"), ("PENDING", "Pending")},
                LAZARUS_TICK_S + ZOMBIE_TICK_S + SLACK_S,
            )
            serve("doomed")  # a new node
            wait_for("the rescheduled run to complete", lambda: state(doomed)[0] == "COMPLETED", 120)
            assert (markers / f"{doomed}.2.pid").exists()

            wait_for("the steady run to complete", lambda: state(steady)[0] == "COMPLETED", THRESHOLD_S + 60)
            _, history = api(url, "GET", f"/flow_run_states?flow_run_id={steady}")
            assert "CRASHED" not in {s["type"] for s in history}, history
            _, doomed_history = api(url, "GET", f"/flow_run_states?flow_run_id={doomed}")
            types = [s["type"] for s in doomed_history]
            assert types.index("CRASHED") < types.index("SCHEDULED", types.index("CRASHED")) < len(types) - 1
            assert types[-1] == "COMPLETED"

            # The task runs, recorded from the engine's task-run events: one per attempt.
            status, task_runs = api(url, "POST", "/task_runs/filter", {"flow_runs": {"id": {"any_": [doomed]}}})
            assert status == 200 and len(task_runs) == 2, task_runs
            assert {(t["task_key"].split("-")[0], t["state"]["type"]) for t in task_runs} == {("count", "COMPLETED")}
        finally:
            for pidfile in markers.glob("*.pid"):
                processes.kill_group(int(pidfile.read_text()))
            processes.reap()


def _ok(answer: tuple[int, Any]) -> tuple[int, Any] | None:
    return answer if answer[0] == 200 else None
