"""A stand-in for Lambda's Python runtime, run as a script by the clean interpreter of the tests.

``python -I lambda_runtime.py TASK_DIR ANSWER`` reads one JSON request on stdin and writes one JSON
answer to the file ANSWER (stdout and stderr are the function's log). Like Lambda, it puts the
unzipped package (``/var/task``) first on ``sys.path``, ahead of the runtime's own site-packages (its
boto3), sets the function's environment *before* importing its handler, and keeps the module
loaded between invocations (a warm container).

Request: ``{"handler": "module.attr", "env": {...}, "timeout_s": 29, "events": [...]}`` (``events``
may be empty: then it only imports). Answer: ``{"import_s", "modules": {name: origin}, "results":
[{"ok": true, "value": ...} | {"ok": false, "error": type, "message": str, "trace": str}]}``,
where ``origin`` is ``task`` (the package), ``stdlib``, ``runtime`` (the runtime's site-packages).
Nothing here imports anything outside the standard library before the handler does.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import sysconfig
import time
import traceback
import uuid
from pathlib import Path
from typing import Any


class LambdaContext:
    """The attributes of Lambda's context object that handlers (and Chalice) read."""

    def __init__(self, function_name: str, memory_mb: int, timeout_s: float) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = memory_mb
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "2026/12/05/[$LATEST]0123456789abcdef"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _origin(path: str | None, task: Path, stdlib: list[str]) -> str:
    if path is None:
        return "builtin"
    if Path(path).resolve().is_relative_to(task):
        return "task"
    if any(path.startswith(prefix) for prefix in stdlib) and "site-packages" not in path:
        return "stdlib"
    return "runtime"


def main() -> int:
    task = Path(sys.argv[1]).resolve()
    request = json.loads(sys.stdin.read())
    os.environ.update(request.get("env", {}))
    sys.path.insert(0, str(task))
    stdlib = sorted({sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib")})
    already = set(sys.modules)

    module_name, _, attr = request["handler"].rpartition(".")
    started = time.perf_counter()
    handler = getattr(importlib.import_module(module_name), attr)
    import_s = time.perf_counter() - started
    modules = {
        name: _origin(getattr(module, "__file__", None), task, stdlib)
        for name, module in list(sys.modules.items())
        if name not in already
    }

    results: list[dict[str, Any]] = []
    for event in request.get("events", []):
        context = LambdaContext(request.get("function_name", attr), 1024, request.get("timeout_s", 29))
        try:
            value = handler(event, context)
            json.dumps(value)  # Lambda serialises the answer: it must be JSON
            results.append({"ok": True, "value": value})
        except Exception as exc:  # noqa: BLE001 - reported to the test, as Lambda reports a function error
            results.append(
                {"ok": False, "error": type(exc).__name__, "message": str(exc), "trace": traceback.format_exc()}
            )
    loaded_later = {
        name: _origin(getattr(module, "__file__", None), task, stdlib)
        for name, module in list(sys.modules.items())
        if name not in already and name not in modules
    }
    answer = {"import_s": import_s, "modules": modules, "loaded_later": loaded_later, "results": results}
    Path(sys.argv[2]).write_text(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main())
