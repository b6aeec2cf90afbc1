"""End to end: Cirrus's schedule policies with Prefect 3.9.1's own ``serve()`` runner (issue 28):
a one-time schedule runs once; a run past its catch-up window is skipped, never run; a short-interval
SKIP schedule whose flow outlasts the interval never has two runs active at once; a CANCEL_OTHER
schedule's active run is killed by the runner when the next is due, and the due run runs; a paused,
then resumed deployment runs no occurrence of its paused span.

The driver (tests/e2e/schedule_policy_driver.py) runs under .venv-e2e; the local stack runs its
scheduled jobs (the late-runs job skips the stale run within a minute).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from tests.e2e.local_stack import driver_output, local_stack, missing_prefect, prefect_env

DRIVER = Path(__file__).with_name("schedule_policy_driver.py")
DRIVER_TIMEOUT_S = 420.0  # ~80 s on a quiet machine; its phases may wait up to 75 + 135 + 120 + 150 s

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.mark.skipif(missing_prefect() is not None, reason=missing_prefect() or "")
def test_a_one_time_schedule_runs_once_and_a_stale_run_is_skipped(tmp_path: Path) -> None:
    with local_stack(tmp_path, {}) as (url, _), tempfile.TemporaryDirectory() as home:
        env = prefect_env(url, Path(home), PREFECT_RUNNER_POLL_FREQUENCY="2", PREFECT_CLIENT_MAX_RETRIES="2")
        out = driver_output(DRIVER, env, DRIVER_TIMEOUT_S, tmp_path)
    assert "e2e-policies: SKIP never overlapped" in out, out
    assert "e2e-policies: CANCEL_OTHER killed" in out, out
    assert "e2e-policies: paused then resumed: no backlog ran" in out, out
    print("\n".join(line for line in out.splitlines() if line.startswith("e2e-policies")))
    assert "e2e-policies: ok" in out
