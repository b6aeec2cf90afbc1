"""Cold start of the deployed artifact: ``python bench/package_cold_start.py [--runs N]`` prints one JSON line.

Times each distinct handler's import (its module, as Lambda's runtime does at init) in fresh
interpreters of the functions' runtime (the clean virtualenv of ``tests/package``: Python of the
runtime, the runtime's boto3 only), with ``make package``'s zip unzipped as ``/var/task`` first on
``sys.path``. Bytecode: Lambda unpacks a zip without ``.pyc`` files, and ``/var/task`` is read-only, so
every cold start compiles; ``--warm-pyc`` lets a first run write them, as a rough floor. The median
over ``--runs`` (default 7) per handler, with the package's size.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "build" / "package" / "dev"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--python", type=Path, default=None, help="the runtime's interpreter (tests/package's)")
    parser.add_argument("--warm-pyc", action="store_true", help="allow .pyc files (not what Lambda does)")
    args = parser.parse_args()
    manifest = json.loads((PACKAGE / "manifest.json").read_text())
    (runtime,) = manifest["runtime"]
    python = args.python or next((ROOT / ".cache" / "lambda-runtime").glob(f"{runtime}-boto3-*/bin/python"), None)
    if python is None:
        raise SystemExit("no runtime interpreter: run tests/package once (or pass --python)")
    handlers = sorted(set(manifest["handlers"].values()))
    flags = ["-I"] if args.warm_pyc else ["-I", "-B"]
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="var-task-") as task:
        with zipfile.ZipFile(PACKAGE / "lambda.zip") as archive:
            archive.extractall(task)
        for handler in handlers:
            module, _, attr = handler.rpartition(".")
            code = (
                f"import sys; sys.path.insert(0, {task!r}); import {module}; getattr(sys.modules[{module!r}], {attr!r})"
            )
            if args.warm_pyc:
                subprocess.run([str(python), "-I", "-c", code], check=True, timeout=120)
            times = []
            for _ in range(args.runs):
                started = time.perf_counter()
                subprocess.run([str(python), *flags, "-c", code], check=True, timeout=120, cwd=task)
                times.append(time.perf_counter() - started)
            results[handler] = round(statistics.median(times), 3)
        baseline = []
        for _ in range(args.runs):
            started = time.perf_counter()
            subprocess.run([str(python), *flags, "-c", "pass"], check=True, timeout=60)
            baseline.append(time.perf_counter() - started)
    print(
        json.dumps(
            {
                "runtime": runtime,
                "pyc": "warm" if args.warm_pyc else "none (as on Lambda)",
                "interpreter_start_s": round(statistics.median(baseline), 3),
                "import_s": results,
                "zipped_mb": round(manifest["zipped_bytes"] / 1e6, 1),
                "unzipped_mb": round(manifest["unzipped_bytes"] / 1e6, 1),
                "runs": args.runs,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
