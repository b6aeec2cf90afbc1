"""End to end: a process worker of the real Prefect 3.9.1 runs Cirrus's runs from a work pool.

The local stack is started as in test_prefect_client.py (same fixture); the driver
(tests/e2e/worker_driver.py) runs under .venv-e2e and drives Prefect's CLI: create a pool, deploy
into it from local source, ``prefect deployment run``, ``prefect worker start --run-once``.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.e2e.test_prefect_client import _SKIP_REASON, E2E_PYTHON, stack_url  # noqa: F401 (a fixture)

DRIVER = Path(__file__).with_name("worker_driver.py")
DRIVER_TIMEOUT_S = 240.0

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.mark.skipif(_SKIP_REASON is not None, reason=_SKIP_REASON or "")
def test_a_process_worker_runs_a_deployments_manual_and_scheduled_runs(stack_url: str) -> None:  # noqa: F811
    with tempfile.TemporaryDirectory() as prefect_home:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": prefect_home,
            "PREFECT_HOME": prefect_home,
            "PREFECT_API_URL": stack_url,
            "PREFECT_SERVER_ALLOW_EPHEMERAL_MODE": "false",
            "PREFECT_LOGGING_TO_API_ENABLED": "false",
            "PREFECT_WORKER_PREFETCH_SECONDS": "60",
        }
        process = subprocess.Popen(
            [str(E2E_PYTHON), str(DRIVER)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            out, _ = process.communicate(timeout=DRIVER_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            out, _ = process.communicate()
            pytest.fail(f"the worker driver timed out:\n{out[-6000:]}")
    assert process.returncode == 0, f"driver failed:\n{out[-8000:]}"
    assert "e2e-worker: ok" in out
