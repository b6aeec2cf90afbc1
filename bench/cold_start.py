"""Lambda init cost: ``python bench/cold_start.py [--runs N]`` prints one JSON line.

A cold start imports ``app`` (Chalice, the blueprints, everything they import at module level).
Its wall time is compared with a floor no DynamoDB-backed Lambda avoids, ``import pynamodb.models,
boto3``, in fresh interpreters of this venv, the two commands alternating so that load on the
machine hits both alike. Each median is over ``--runs`` runs (default 7); the ratio is
app / baseline and should stay at or below 1.5 (nothing heavy imported at init).

Bytecode is cached first (one untimed run of each command with writing allowed), as on a machine
that has run the code before; both sides then read ``.pyc`` files.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP = "import app"
BASELINE = "import pynamodb.models, boto3"
TARGET_RATIO = 1.5


def timed_import(statement: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", statement], cwd=ROOT, env=env, check=True)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    env = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
    for statement in (APP, BASELINE):  # warm the bytecode cache and the OS page cache
        timed_import(statement, env)
    app_times, baseline_times = [], []
    for _ in range(args.runs):
        app_times.append(timed_import(APP, env))
        baseline_times.append(timed_import(BASELINE, env))

    app_s, baseline_s = statistics.median(app_times), statistics.median(baseline_times)
    result = {
        "import_app_s": round(app_s, 4),
        "import_baseline_s": round(baseline_s, 4),
        "ratio": round(app_s / baseline_s, 3),
        "runs": args.runs,
        "target_ratio": TARGET_RATIO,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
