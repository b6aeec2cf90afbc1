"""Child processes of the local stack: start them in their own session, wait for them, stop them."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence

LOG = logging.getLogger("devstack")


class StartupError(RuntimeError):
    """The stack could not start; the message says what to do."""


class StartupInterrupted(StartupError):
    """Ctrl-C or SIGTERM arrived while the stack was still starting."""


def port_is_free(host: str, port: int) -> bool:
    """Nobody listens on ``port``. Like the servers, ignore connections lingering in TIME_WAIT."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    # Runs in the child before exec: if the stack is killed outright (SIGKILL), Linux still
    # sends its children SIGTERM instead of leaving a moto or chalice server behind.
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


class Child:
    """A child process in its own session, so the terminal's Ctrl-C reaches only the stack,
    which then stops its children in order."""

    def __init__(
        self, name: str, argv: Sequence[str], *, env: Mapping[str, str], cwd: str, quiet: bool = False
    ) -> None:
        self.name = name
        self.process = subprocess.Popen(
            list(argv),
            env=dict(env),
            cwd=cwd,
            stdout=subprocess.DEVNULL if quiet else None,  # quiet: its banner only; errors still reach stderr
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        LOG.info("started %s pid=%d", name, self.process.pid)

    @property
    def pid(self) -> int:
        return self.process.pid

    def exit_code(self) -> int | None:
        """None while the process runs."""
        return self.process.poll()

    def stop(self, timeout_s: float = 5.0) -> int:
        """SIGTERM, then SIGKILL after ``timeout_s``; returns the exit code (idempotent)."""
        if self.process.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                LOG.warning("%s pid=%d ignored SIGTERM for %.0f s; killing it", self.name, self.pid, timeout_s)
                self._signal(signal.SIGKILL)
                self.process.wait()
            LOG.info("stopped %s pid=%d", self.name, self.pid)
        return int(self.process.returncode)

    def _signal(self, signum: int) -> None:
        try:
            os.killpg(self.process.pid, signum)  # the whole session: grandchildren too
        except ProcessLookupError:
            pass


def http_get(url: str, timeout_s: float = 2.0) -> tuple[int, str] | None:
    """``(status, body)`` of a GET, error statuses included; None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError):
        return None


def wait_for_http(
    url: str,
    *,
    child: Child | None,
    deadline: float,
    stop: threading.Event,
    body: str | None = None,
    interval_s: float = 0.1,
) -> None:
    """Poll ``url`` until it answers (with ``body``, if given); fail fast if ``child`` exits.

    ``deadline`` is a :func:`time.monotonic` value. Raises :class:`StartupInterrupted` when
    ``stop`` is set and :class:`StartupError` on timeout or a dead child.
    """
    while True:
        if stop.is_set():
            raise StartupInterrupted("interrupted while starting")
        if child is not None and child.exit_code() is not None:
            raise StartupError(f"{child.name} exited with code {child.exit_code()} before answering {url}")
        answer = http_get(url, timeout_s=1.0)
        if answer is not None and (body is None or (answer[0] == 200 and answer[1].strip() == body)):
            return
        if time.monotonic() >= deadline:
            raise StartupError(f"{url} did not answer in time (last answer: {answer!r})")
        stop.wait(interval_s)
