"""A flow that sleeps, served by a real Prefect runner (run under .venv-e2e, not the project venv).

``python zombie_flow.py <deployment name>`` serves the flow as that deployment until killed. Each
execution writes ``<marker_dir>/<flow run id>.<n>.pid`` (n = 1, 2, ...: the attempt) holding the pid of
the flow-run process, runs one task, then sleeps ``first_s`` on its first attempt and ``again_s`` on
the later ones (a rescheduled run finishes quickly).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from prefect import flow, task
from prefect.runtime import flow_run


@task
def count(n: int) -> int:
    return n + 1


@flow(name="cirrus-sleeper")
def sleeper(marker_dir: str, first_s: float, again_s: float) -> int:
    attempt = 1
    while (marker := Path(marker_dir) / f"{flow_run.id}.{attempt}.pid").exists():
        attempt += 1
    marker.write_text(str(os.getpid()))
    total = count(attempt)
    time.sleep(first_s if attempt == 1 else again_s)
    return total


if __name__ == "__main__":
    sleeper.serve(name=sys.argv[1], pause_on_shutdown=False)
