"""End to end: the local stack (``python -m devstack``) driven by the real Prefect client.

Prefect is not a dependency of Cirrus: it lives in its own virtualenv, ``.venv-e2e`` (built by the
Makefile; see tests/e2e/requirements-prefect.txt), so the driver (tests/e2e/prefect_driver.py) runs
as a subprocess under that interpreter. Without ``.venv-e2e`` the test is skipped, saying so.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# `make test` names the interpreter (and builds it): then a missing one is a failure, not a skip.
_REQUIRED = os.environ.get("CIRRUS_E2E_PYTHON")
E2E_PYTHON = Path(_REQUIRED) if _REQUIRED else ROOT / ".venv-e2e" / "bin" / "python"
DRIVER = Path(__file__).with_name("prefect_driver.py")
STARTUP_TIMEOUT_S = 90.0
DRIVER_TIMEOUT_S = 180.0

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:  # noqa: S310 (loopback only)
            return response.read().strip() == b"true"
    except (OSError, urllib.error.URLError):
        return False


def _prerequisites() -> str | None:
    """Why the test cannot run here, or None."""
    if _REQUIRED:
        return None
    if not E2E_PYTHON.exists():
        return "no .venv-e2e with prefect 3.9.1 (build it with the Makefile's e2e venv recipe)"
    return None


@pytest.fixture
def stack_url(tmp_path: Path) -> Iterator[str]:
    """Start the local stack on free ports (schedules off: only the API is under test); stop it after."""
    port, dynamodb_port = _free_port(), _free_port()
    env = {
        **os.environ,
        "CIRRUS_LOCAL_API_PORT": str(port),
        "CIRRUS_LOCAL_DYNAMODB_PORT": str(dynamodb_port),
        "CIRRUS_LOCAL_DYNAMODB_DIR": str(tmp_path / "dynamodb"),  # DynamoDB Local's data: not the checkout's
        "CIRRUS_LOCAL_SCHEDULES": "false",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("CIRRUS_DYNAMODB_ENDPOINT", None)
    log = (tmp_path / "stack.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not _healthy(url):
            if process.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail(f"the local stack did not start:\n{(tmp_path / 'stack.log').read_text()[-4000:]}")
            time.sleep(0.5)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


_SKIP_REASON = _prerequisites()


@pytest.mark.skipif(_SKIP_REASON is not None, reason=_SKIP_REASON or "")
def test_prefect_client_drives_the_local_stack(stack_url: str) -> None:
    with tempfile.TemporaryDirectory() as prefect_home:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": prefect_home,
            "PREFECT_HOME": prefect_home,
            "PREFECT_API_URL": stack_url,
            "PREFECT_SERVER_ALLOW_EPHEMERAL_MODE": "false",
            "PREFECT_CLIENT_MAX_RETRIES": "0",
        }
        result = subprocess.run(
            [str(E2E_PYTHON), str(DRIVER)],
            env=env,
            capture_output=True,
            text=True,
            timeout=DRIVER_TIMEOUT_S,
        )
    assert result.returncode == 0, f"driver failed:\n{result.stdout}\n{result.stderr[-6000:]}"
    assert "e2e: ok" in result.stdout
