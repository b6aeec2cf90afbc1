"""End to end: automations with Prefect 3.9.1's own runner, client and events websocket
(tests/e2e/automations_driver.py: serve(triggers=...), a custom-event automation, a proactive
trigger, an automation that cancels long runs). One stack start; its proactive tick runs every
6 s (``CIRRUS_LOCAL_TICK_SCALE=0.1``)."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest

from tests.e2e.local_stack import E2E_PYTHON, local_stack, missing_prefect, prefect_env, run_driver

DRIVER = Path(__file__).with_name("automations_driver.py")
DRIVER_TIMEOUT_S = 420.0

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.mark.skipif(missing_prefect() is not None, reason=missing_prefect() or "")
def test_automations_run_deployments_fire_proactively_and_cancel_long_runs(tmp_path: Path) -> None:
    with local_stack(tmp_path, {"CIRRUS_LOCAL_TICK_SCALE": "0.1"}) as (url, _), tempfile.TemporaryDirectory() as home:
        env = prefect_env(url, Path(home), PREFECT_RUNNER_POLL_FREQUENCY="2", PREFECT_CLIENT_MAX_RETRIES="2")
        code, out = run_driver([str(E2E_PYTHON), str(DRIVER)], env, DRIVER_TIMEOUT_S)
    stack_log = (tmp_path / "stack.log").read_text()
    assert code is not None, f"the automations driver timed out:\n{out[-8000:]}\n{stack_log[-4000:]}"
    assert code == 0, f"driver failed:\n{out[-8000:]}\n{stack_log[-4000:]}"
    assert "e2e-automations: ok" in out
    latency = float(re.search(r"latency_s=([0-9.]+)", out).group(1))
    print(f"\nevent → run created: {latency:.2f} s", out[-600:])
    assert latency < 5.0
