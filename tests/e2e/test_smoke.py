"""``make smoke`` against ``make run``'s stack, its local stand-in for a deployed one.

The stack runs as ``make run`` runs it, with API keys required as on every deployed stage
(``CIRRUS_AUTH_REQUIRED=true``); a key is issued with ``cirrus api-key create`` against its DynamoDB
Local, and ``infra/smoke.py`` runs with Prefect's interpreter exactly as ``make smoke`` does. Every
step must pass, and nothing it created may remain.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.local_stack import E2E_PYTHON, ROOT, local_stack, missing_prefect

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _issue_key(dynamodb: str) -> str:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "CIRRUS_STAGE": "local",
        "CIRRUS_DYNAMODB_ENDPOINT": dynamodb,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    done = subprocess.run(
        [sys.executable, "-m", "chalicelib.cli", "api-key", "create", "smoke"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["key"]


def test_make_smoke_passes_against_the_local_stack(tmp_path: Path) -> None:
    reason = missing_prefect()
    if reason:
        pytest.skip(reason)
    with local_stack(tmp_path, {"CIRRUS_AUTH_REQUIRED": "true"}) as (url, dynamodb):
        key = _issue_key(dynamodb)
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "PREFECT_HOME": str(tmp_path / "prefect")}
        done = subprocess.run(
            [str(E2E_PYTHON), str(ROOT / "infra" / "smoke.py"), "--url", f"{url}/api", "--key", key],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        output = done.stdout + done.stderr[-3000:]
        print(done.stdout)  # the smoke test's own report (pytest -rP shows it)
        assert done.returncode == 0, output
        for step in ("health", "auth refused without the key", "flow and deployment created",
                     "the scheduler planned runs", "an event over the websocket", "Prefect's UI settings"):  # fmt: skip
            assert f"ok   {step}" in done.stdout, output
        assert "smoke test passed" in done.stdout
        # Nothing left behind: no flow of the smoke test's, hence none of its deployments or runs.
        request = urllib.request.Request(
            f"{url}/flows/filter", data=b"{}", method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback only)
            flows = json.loads(response.read())
        assert not [f for f in flows if f["name"].startswith("cirrus-smoke-")], flows
