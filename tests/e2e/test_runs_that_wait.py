"""End to end: Prefect 3.9.1's runner against deployment concurrency limits and pause with input.

The driver (tests/e2e/waiting_driver.py) runs under .venv-e2e; see its docstring for the steps.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from tests.e2e.local_stack import E2E_PYTHON, local_stack, missing_prefect, prefect_env, run_driver

DRIVER = Path(__file__).with_name("waiting_driver.py")
DRIVER_TIMEOUT_S = 240.0

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.mark.skipif(missing_prefect() is not None, reason=missing_prefect() or "")
@pytest.mark.parametrize("part", ["concurrency", "pause", "suspend"])
def test_runs_that_wait(tmp_path: Path, part: str) -> None:
    with local_stack(tmp_path, {}) as (url, _), tempfile.TemporaryDirectory() as home:
        env = prefect_env(url, Path(home), PREFECT_RUNNER_POLL_FREQUENCY="2", PREFECT_CLIENT_MAX_RETRIES="2")
        code, out = run_driver([str(E2E_PYTHON), str(DRIVER), part], env, DRIVER_TIMEOUT_S)
    stack_log = (tmp_path / "stack.log").read_text()
    assert code is not None, f"the waiting driver timed out:\n{out[-8000:]}\n{stack_log[-4000:]}"
    assert code == 0, f"driver failed:\n{out[-8000:]}\n{stack_log[-3000:]}"
    assert "e2e-waiting: ok" in out
