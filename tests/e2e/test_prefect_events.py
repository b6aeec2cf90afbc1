"""End to end: Prefect 3.9.1's events subscriber against ``make run``'s stack: ``prefect events
stream`` prints an event posted after it subscribed; a ``serve()`` runner connects to
``/events/out`` (no fallback warning) and kills a cancelled run's process within 5 s (push).
The driver (tests/e2e/events_driver.py) runs under .venv-e2e; see its docstring."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from tests.e2e.local_stack import driver_output, local_stack, missing_prefect, prefect_env

DRIVER = Path(__file__).with_name("events_driver.py")
DRIVER_TIMEOUT_S = 240.0

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.mark.skipif(missing_prefect() is not None, reason=missing_prefect() or "")
def test_events_stream_and_a_pushed_cancellation(tmp_path: Path) -> None:
    with local_stack(tmp_path, {}) as (url, _), tempfile.TemporaryDirectory() as home:
        env = prefect_env(url, Path(home), PREFECT_CLIENT_MAX_RETRIES="2")
        out = driver_output(DRIVER, env, DRIVER_TIMEOUT_S, tmp_path)
    assert "e2e-events: ok" in out
    print(next(line for line in out.splitlines() if "measured" in line))
