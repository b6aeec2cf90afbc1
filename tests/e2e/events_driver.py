"""Run under .venv-e2e (real Prefect 3.9.1) against ``PREFECT_API_URL``: the events stream.

1. ``prefect events stream`` subscribes; an event posted after it subscribed is printed (the time
   from the POST to the line is reported);
2. ``flows.py`` serves ``sleeper`` (a flow that writes its pid and sleeps); ``prefect deployment
   run`` starts a run; once it is RUNNING, CANCELLING is set (as ``prefect flow-run cancel`` does) and the
   flow's process must be gone within 5 seconds (the runner's cancellation observer is pushed the
   ``prefect.flow-run.Cancelling`` event; its fallback poll runs every 10 s);
3. the runner's polls made its deployment READY: ``/events/filter`` holds exactly one
   ``prefect.deployment.ready`` for it, in Prefect's shape;
4. the runner's output has no "failed to connect to the events stream" warning.

Every subprocess runs in its own process group with a hard timeout and is killed at the end.
Prints ``e2e-events: ok`` at the end, and ``e2e-events: measured {...}``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from serve_driver import run  # the same hard-timeout subprocess helper (this script's folder)

BIN = Path(sys.executable).parent
FLOWS = """
import os
import time
from pathlib import Path

from prefect import flow


@flow
def sleeper() -> None:
    Path("sleeper.pid").write_text(str(os.getpid()))
    time.sleep(120)


if __name__ == "__main__":
    sleeper.serve(name="e2e-cancel")
"""
CANCEL_LIMIT_S = 5.0
STREAM_LIMIT_S = 10.0
WARNING = "failed to connect to the events stream"


def post_event(name: str) -> str:
    import httpx

    event_id = str(uuid.uuid4())
    event = {
        "id": event_id,
        "occurred": datetime.now(UTC).isoformat(),
        "event": name,
        "resource": {"prefect.resource.id": "cirrus.e2e"},
    }
    response = httpx.post(os.environ["PREFECT_API_URL"] + "/events", json=[event], timeout=10)
    assert response.status_code == 204, response.text
    return event_id


def wait_for_text(path: Path, text: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in path.read_text(errors="replace"):
            return True
        time.sleep(0.05)
    return False


def stream_receives_a_later_event(workdir: Path) -> float:
    out = workdir / "stream.log"
    with out.open("w") as sink:
        stream = subprocess.Popen(
            [str(BIN / "prefect"), "events", "stream", "--format", "json"],
            stdout=sink, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        assert wait_for_text(out, "Subscribing to event stream", 60), out.read_text()
        time.sleep(3)  # connected, authenticated and filtered by now
        posted = time.monotonic()
        event_id = post_event("cirrus.e2e.after-subscribe")
        assert wait_for_text(out, event_id, STREAM_LIMIT_S), out.read_text()[-3000:]
        return time.monotonic() - posted
    finally:
        os.killpg(stream.pid, signal.SIGKILL)
        stream.wait(timeout=10)


async def wait_state(run_id: str, states: set[str], timeout: float) -> str:
    from prefect.client.orchestration import get_client

    deadline = time.monotonic() + timeout
    async with get_client() as client:
        while True:
            flow_run = await client.read_flow_run(uuid.UUID(run_id))
            state = flow_run.state_type.value if flow_run.state_type else ""
            if state in states:
                return state
            assert time.monotonic() < deadline, (run_id, state)
            await asyncio.sleep(0.25)


def cancel(run_id: str) -> None:
    """What ``prefect flow-run cancel`` asks (without the CLI's start-up time in the measure)."""
    import httpx

    url = f"{os.environ['PREFECT_API_URL']}/flow_runs/{run_id}/set_state"
    response = httpx.post(url, json={"state": {"type": "CANCELLING", "name": "Cancelling"}}, timeout=10)
    assert response.status_code == 201 and response.json()["status"] == "ACCEPT", response.text


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def cancellation_is_pushed(source: str) -> float:
    prefect = str(BIN / "prefect")
    deadline = time.monotonic() + 90
    while True:  # until serve() has registered its deployment
        try:
            out = run([prefect, "deployment", "run", "sleeper/e2e-cancel"], 90)
            break
        except SystemExit:
            assert time.monotonic() < deadline, "the deployment never appeared"
            time.sleep(1)
    run_id = next(line.split("UUID:")[1].strip() for line in out.splitlines() if "UUID:" in line)
    asyncio.run(wait_state(run_id, {"RUNNING"}, 90))
    pid_file = Path(source, "sleeper.pid")
    deadline = time.monotonic() + 30
    while not pid_file.exists():
        assert time.monotonic() < deadline, "the flow never wrote its pid"
        time.sleep(0.1)
    pid = int(pid_file.read_text())
    time.sleep(2)  # the runner's observer has subscribed by now (it did when the runner started)
    asked = time.monotonic()
    cancel(run_id)
    while alive(pid):
        assert time.monotonic() - asked < 30, "the flow's process was never killed"
        time.sleep(0.05)
    killed = time.monotonic() - asked
    asyncio.run(wait_state(run_id, {"CANCELLED"}, 30))
    return killed


def deployment_became_ready_once() -> None:
    """The runner polled ``sleeper/e2e-cancel`` every 10 s: one ``prefect.deployment.ready``."""
    import httpx

    api = os.environ["PREFECT_API_URL"]
    deployment = httpx.get(f"{api}/deployments/name/sleeper/e2e-cancel", timeout=10).json()
    resource_id = f"prefect.deployment.{deployment['id']}"
    body = {"filter": {"event": {"name": ["prefect.deployment.ready"]}, "resource": {"id": [resource_id]}}}
    response = httpx.post(f"{api}/events/filter", json=body, timeout=10)
    assert response.status_code == 200, response.text
    events = response.json()["events"]
    assert len(events) == 1, events
    assert events[0]["resource"] == {"prefect.resource.id": resource_id, "prefect.resource.name": "e2e-cancel"}
    assert events[0]["related"][0]["prefect.resource.role"] == "flow", events[0]
    assert deployment["status"] == "READY", deployment


def main() -> None:
    measured: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as source:
        measured["stream_latency_s"] = round(stream_receives_a_later_event(Path(source)), 3)
        print(
            f"e2e-events: prefect events stream printed a later event in {measured['stream_latency_s']} s", flush=True
        )
        Path(source, "flows.py").write_text(FLOWS)
        log_path = Path(source, "serve.log")
        log = log_path.open("w")
        server = subprocess.Popen(
            [sys.executable, "flows.py"], cwd=source, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            measured["cancel_kill_s"] = round(cancellation_is_pushed(source), 3)
            print(
                f"e2e-events: cancelled run's process killed {measured['cancel_kill_s']} s after CANCELLING", flush=True
            )
            deployment_became_ready_once()
            print("e2e-events: the served deployment's prefect.deployment.ready is in the feed", flush=True)
        except BaseException:
            log.flush()
            print(log_path.read_text()[-6000:], flush=True)
            raise
        finally:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)
            log.close()
        served = log_path.read_text(errors="replace")
    assert WARNING not in served, served[-4000:]
    assert measured["cancel_kill_s"] <= CANCEL_LIMIT_S, measured
    print(f"e2e-events: measured {json.dumps(measured)}", flush=True)
    print("e2e-events: ok")


if __name__ == "__main__":
    main()
