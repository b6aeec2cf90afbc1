"""Run under .venv-e2e (real Prefect 3.9.1) against ``PREFECT_API_URL``: background tasks.

Starts ``background_tasks.py`` (``add.serve()``, a task worker subscribed to
``/task_runs/subscriptions/scheduled``) in its own process group, waits until
``POST /task_workers/filter`` lists it, then calls ``add.delay(...)`` several times and waits for
each result: every run is handed to the worker once, runs and completes. Measures the time from
``delay()`` to the result. Prints ``e2e-background: ok`` at the end.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from background_tasks import add

HERE = Path(__file__).parent
RUNS = 5


def wait_for_worker(api: str, process: subprocess.Popen[bytes], deadline: float) -> list[dict]:
    while time.monotonic() < deadline:
        assert process.poll() is None, "the task worker exited"
        workers = httpx.post(f"{api}/task_workers/filter", json={"task_worker_filter": {"task_keys": [add.task_key]}})
        workers.raise_for_status()
        if workers.json():
            return workers.json()
        time.sleep(0.5)
    raise AssertionError("the task worker never subscribed")


def main() -> None:
    api = os.environ["PREFECT_API_URL"]
    log = open(Path(os.environ["PREFECT_HOME"]) / "task-worker.log", "wb")  # noqa: SIM115 - closed below
    worker = subprocess.Popen(
        [sys.executable, str(HERE / "background_tasks.py")],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        workers = wait_for_worker(api, worker, time.monotonic() + 60)
        print("background: task worker subscribed:", workers)
        timings = []
        for n in range(RUNS):
            started = time.monotonic()
            future = add.delay(n, 40)
            assert future.result(timeout=60) == n + 40
            timings.append(time.monotonic() - started)
        print("background: delay() -> result, seconds:", ", ".join(f"{t:.2f}" for t in timings))
        runs = httpx.post(f"{api}/task_runs/filter", json={}).json()
        completed = [run for run in runs if run["task_key"] == add.task_key and run["state_type"] == "COMPLETED"]
        assert len(completed) == RUNS, [(run["name"], run["state_type"]) for run in runs]
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
        log.close()
        print((Path(os.environ["PREFECT_HOME"]) / "task-worker.log").read_text()[-3000:])
    print("e2e-background: ok")


if __name__ == "__main__":
    main()
