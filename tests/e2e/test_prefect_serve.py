"""End to end: Prefect 3.9.1's own runner (``serve()``) and flow engine execute Cirrus's runs.

The driver (tests/e2e/serve_driver.py) runs under .venv-e2e; see its docstring for the steps. The
local stack runs with its schedules (the scheduler plans the served deployment's runs).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from tests.e2e.local_stack import local_stack, missing_prefect, prefect_env, run_driver

DRIVER = Path(__file__).with_name("serve_driver.py")
DRIVER_TIMEOUT_S = 200.0

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.mark.skipif(missing_prefect() is not None, reason=missing_prefect() or "")
def test_served_flow_runs_scheduled_and_manual_runs_with_logs_subflows_tags_and_variables(tmp_path: Path) -> None:
    with local_stack(tmp_path, {}) as (url, _), tempfile.TemporaryDirectory() as home:
        env = prefect_env(url, Path(home), PREFECT_RUNNER_POLL_FREQUENCY="2", PREFECT_CLIENT_MAX_RETRIES="2")
        out = run_driver(DRIVER, env, DRIVER_TIMEOUT_S, tmp_path)
    assert "e2e-serve: ok" in out
