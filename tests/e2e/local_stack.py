"""The local stack (``python -m devstack``) and Prefect processes as subprocesses of an e2e test:
free ports, hard timeouts, and every process group reaped, whatever happens."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
# `make test` names the interpreter (and builds it): then a missing one is a failure, not a skip.
REQUIRED_E2E_PYTHON = os.environ.get("CIRRUS_E2E_PYTHON")
E2E_PYTHON = Path(REQUIRED_E2E_PYTHON) if REQUIRED_E2E_PYTHON else ROOT / ".venv-e2e" / "bin" / "python"
STARTUP_TIMEOUT_S = 90.0


def missing_prefect() -> str | None:
    """Why an e2e test cannot run here, or None."""
    if REQUIRED_E2E_PYTHON or E2E_PYTHON.exists():
        return None
    return "no .venv-e2e with prefect 3.9.1 (build it with the Makefile's e2e venv recipe)"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def api(url: str, method: str, path: str, body: Any = None, timeout_s: float = 10.0) -> tuple[int, Any]:
    """One JSON request; ``(status, decoded body)``, error statuses included; ``(0, None)`` if nothing answers."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url + path, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 (loopback only)
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")
    except (OSError, urllib.error.URLError):
        return 0, None


class Processes:
    """Started process groups; :meth:`reap` SIGKILLs every one still alive (and waits for it)."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[bytes]] = []
        self.groups: set[int] = set()

    def start(self, argv: list[str], env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("ab") as sink:
            process = subprocess.Popen(
                argv, cwd=ROOT, env=dict(env), stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.started.append(process)
        self.groups.add(process.pid)
        return process

    def kill_group(self, pid: int) -> None:
        """SIGKILL the process group led by ``pid`` (a lost node: nothing gets to say goodbye)."""
        self.groups.add(pid)
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def reap(self) -> None:
        for pid in self.groups:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        for process in self.started:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass


#: How many times the stack is started on new ports when one it picked was taken before it bound it
#: (another process on this machine got it in between: a race no free-port choice avoids).
PORT_ATTEMPTS = 3


@contextmanager
def local_stack(log_dir: Path, extra_env: Mapping[str, str]) -> Iterator[tuple[str, str]]:
    """The stack on free ports: ``(API URL, DynamoDB endpoint)`` once ``/health`` answers; SIGTERM
    (then SIGKILL) after. A port taken before the stack bound it is retried on new ones."""
    base = {name: value for name, value in os.environ.items() if not name.startswith("CIRRUS_")}
    log = log_dir / "stack.log"
    for attempt in range(1, PORT_ATTEMPTS + 1):
        port, dynamodb_port = free_port(), free_port()
        env = {
            **base,
            "CIRRUS_LOCAL_API_PORT": str(port),
            "CIRRUS_LOCAL_DYNAMODB_PORT": str(dynamodb_port),
            "CIRRUS_LOCAL_DYNAMODB_DIR": str(log_dir / "dynamodb"),  # DynamoDB Local's data: not the checkout's
            "PYTHONUNBUFFERED": "1",
            **extra_env,
        }
        offset = log.stat().st_size if log.exists() else 0
        processes = Processes()
        process = processes.start([sys.executable, "-m", "devstack"], env, log)
        url = f"http://127.0.0.1:{port}"
        started = False
        try:
            deadline = time.monotonic() + STARTUP_TIMEOUT_S
            while api(url, "GET", "/health", timeout_s=2) != (200, True):
                if process.poll() is not None or time.monotonic() > deadline:
                    text = log.read_text()
                    if "address already in use" in text[offset:] and attempt < PORT_ATTEMPTS:
                        break
                    raise AssertionError(f"the local stack did not start:\n{text[-4000:]}")
                time.sleep(0.5)
            else:
                started = True
            if started:
                yield url, f"http://127.0.0.1:{dynamodb_port}"
                return
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
            processes.reap()
        with log.open("a") as sink:
            sink.write(f"--- a port was taken before the stack bound it; attempt {attempt + 1} on new ports\n")


def run_driver(args: list[str], env: Mapping[str, str], timeout_s: float) -> tuple[int | None, str]:
    """Run a driver in its own process group: (its exit code, or ``None`` when it was killed after
    ``timeout_s``; its output)."""
    process = subprocess.Popen(
        args, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        out, _ = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, _ = process.communicate()
        return None, out
    return process.returncode, out


def prefect_env(api_url: str, prefect_home: Path, **extra: str) -> dict[str, str]:
    """The environment of a Prefect client process pointed at the stack (no ephemeral server)."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(prefect_home),
        "PREFECT_HOME": str(prefect_home),
        "PREFECT_API_URL": api_url,
        "PREFECT_SERVER_ALLOW_EPHEMERAL_MODE": "false",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def driver_output(driver: Path, env: Mapping[str, str], timeout_s: float, log_dir: Path) -> str:
    """Run a driver script under the e2e interpreter (:func:`run_driver`); its output, or the test
    fails (timed out: the group was killed; or a non-zero exit) with the driver's and the stack's last lines."""
    import pytest

    code, out = run_driver([str(E2E_PYTHON), str(driver)], env, timeout_s)
    stack_log = (log_dir / "stack.log").read_text()
    if code is None:
        pytest.fail(f"{driver.name} timed out:\n{out[-8000:]}\n{stack_log[-4000:]}")
    assert code == 0, f"{driver.name} failed:\n{out[-8000:]}\n{stack_log[-3000:]}"
    return out
