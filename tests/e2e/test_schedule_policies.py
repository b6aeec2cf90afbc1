"""End to end: Cirrus's schedule policies with Prefect 3.9.1's own ``serve()`` runner (issue 28):
a one-time schedule runs once; a run past its catch-up window is skipped, never run.

The driver (tests/e2e/schedule_policy_driver.py) runs under .venv-e2e; the local stack runs its
scheduled jobs (the late-runs job skips the stale run within a minute).
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.e2e.local_stack import E2E_PYTHON, local_stack, missing_prefect, prefect_env

DRIVER = Path(__file__).with_name("schedule_policy_driver.py")
DRIVER_TIMEOUT_S = 240.0

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.mark.skipif(missing_prefect() is not None, reason=missing_prefect() or "")
def test_a_one_time_schedule_runs_once_and_a_stale_run_is_skipped(tmp_path: Path) -> None:
    with local_stack(tmp_path, {}) as (url, _), tempfile.TemporaryDirectory() as home:
        env = prefect_env(url, Path(home), PREFECT_RUNNER_POLL_FREQUENCY="2", PREFECT_CLIENT_MAX_RETRIES="2")
        process = subprocess.Popen(
            [str(E2E_PYTHON), str(DRIVER)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
        )  # fmt: skip
        try:
            out, _ = process.communicate(timeout=DRIVER_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            out, _ = process.communicate()
            pytest.fail(f"the policy driver timed out:\n{out[-8000:]}\n{(tmp_path / 'stack.log').read_text()[-4000:]}")
    assert process.returncode == 0, f"driver failed:\n{out[-8000:]}\n{(tmp_path / 'stack.log').read_text()[-3000:]}"
    assert "e2e-policies: ok" in out
