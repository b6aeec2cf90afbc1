"""End to end: Prefect 3.9.1's rate limits, tag limits and background tasks on one local stack.

The drivers (tests/e2e/limits_driver.py, tests/e2e/background_driver.py) run under .venv-e2e; see
their docstrings for the steps. One stack serves the module.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.local_stack import E2E_PYTHON, local_stack, missing_prefect, prefect_env, run_driver

HERE = Path(__file__).parent
DRIVER_TIMEOUT_S = 180.0

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(missing_prefect() is not None, reason=missing_prefect() or ""),
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    log_dir = tmp_path_factory.mktemp("limits-stack")
    with local_stack(log_dir, {}) as (url, _):
        yield url, log_dir


def _run(stack: tuple[str, Path], driver: str, *args: str) -> str:
    url, log_dir = stack
    with tempfile.TemporaryDirectory() as home:
        env = prefect_env(url, Path(home), PREFECT_CLIENT_MAX_RETRIES="2")
        code, out = run_driver([str(E2E_PYTHON), str(HERE / driver), *args], env, DRIVER_TIMEOUT_S)
    stack_log = (log_dir / "stack.log").read_text()
    assert code is not None, f"{driver} timed out:\n{out[-8000:]}\n{stack_log[-4000:]}"
    assert code == 0, f"{driver} failed:\n{out[-8000:]}\n{stack_log[-3000:]}"
    return out


def test_a_rate_limit_loop_is_throttled(stack: tuple[str, Path]) -> None:
    out = _run(stack, "limits_driver.py", "rate_limit")
    assert "e2e-limits: ok" in out
    print(out)


def test_tagged_tasks_take_turns_under_a_tag_limit(stack: tuple[str, Path]) -> None:
    out = _run(stack, "limits_driver.py", "tags")
    assert "e2e-limits: ok" in out
    print(out)


def test_a_delayed_task_completes_on_a_served_task_worker(stack: tuple[str, Path]) -> None:
    out = _run(stack, "background_driver.py")
    assert "e2e-background: ok" in out
    print(out)
