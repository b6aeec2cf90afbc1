"""The local stack (``make run``): its environment and settings, then the real thing as a subprocess."""

from __future__ import annotations

import http.client
import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from chalicelib.config import Settings
from devstack import dynamodb_local
from devstack.processes import Child, StartupError, free_port, http_get, port_is_free, wait_for_http
from devstack.settings import LocalSettings
from devstack.stack import DUMMY_CREDENTIALS, load_chalice_config, stack_environment
from devstack.store import DYNAMODB_LOCAL, EXTERNAL, MOTO, choose_store

REPO = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
HEALTH_BUDGET_S = 90.0  # a loaded 2-core machine (four pytest workers, a JVM each) has taken 30+ s


def test_local_settings_defaults_and_overrides() -> None:
    assert LocalSettings.from_env({}) == LocalSettings()
    assert LocalSettings().api_url == "http://127.0.0.1:8000"
    assert LocalSettings().dynamodb_endpoint == "http://127.0.0.1:5005"

    local = LocalSettings.from_env(
        {
            "CIRRUS_LOCAL_API_PORT": "8123",
            "CIRRUS_LOCAL_DYNAMODB_PORT": "5123",
            "CIRRUS_LOCAL_TICK_SCALE": "0.01",
            "CIRRUS_LOCAL_SCHEDULES": "off",
            "CIRRUS_LOCAL_LOG_LEVEL": "debug",
            "CIRRUS_DYNAMODB_ENDPOINT": " ",
        }
    )
    assert (local.api_port, local.dynamodb_port, local.tick_scale, local.schedules) == (8123, 5123, 0.01, False)
    assert local.log_level == "DEBUG" and local.external_endpoint is None
    assert local.dynamodb_endpoint == "http://127.0.0.1:5123"


@pytest.mark.parametrize(
    "env", [{"CIRRUS_LOCAL_API_PORT": "eighty"}, {"CIRRUS_LOCAL_SCHEDULES": "maybe"}, {"CIRRUS_LOCAL_TICK_SCALE": "0"}]
)
def test_local_settings_reject_bad_values(env: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="CIRRUS_LOCAL_"):
        LocalSettings.from_env(env)


def test_embedded_stack_environment_beats_the_stage_and_the_developers_credentials() -> None:
    stage = load_chalice_config().environment_variables
    process = {"AWS_ACCESS_KEY_ID": "AKIAREAL", "AWS_PROFILE": "prod", "CIRRUS_STAGE": "dev", "HOME": "/home/me"}
    local = LocalSettings(dynamodb_port=5999)

    env, kept = stack_environment(process, local, stage)

    assert env["CIRRUS_STAGE"] == "local"  # the stage's config.json, as chalice local applies it
    assert env["CIRRUS_DYNAMODB_ENDPOINT"] == "http://127.0.0.1:5999"  # not config.json's port
    assert env["AWS_ACCESS_KEY_ID"] == DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"] and "AWS_PROFILE" not in env
    assert env["HOME"] == "/home/me"
    assert set(kept) == {"CIRRUS_DYNAMODB_ENDPOINT", *DUMMY_CREDENTIALS}
    settings = Settings.from_env(env)
    assert (settings.stage, settings.dynamodb_endpoint) == ("local", "http://127.0.0.1:5999")


def test_external_endpoint_keeps_the_developers_credentials() -> None:
    process = {"CIRRUS_DYNAMODB_ENDPOINT": "http://localhost:8001", "AWS_ACCESS_KEY_ID": "AKIAREAL", "AWS_PROFILE": "p"}
    local = LocalSettings.from_env(process)

    env, kept = stack_environment(process, local, {"CIRRUS_DYNAMODB_ENDPOINT": "http://127.0.0.1:5005"})

    assert local.external_endpoint == "http://localhost:8001"
    assert env["CIRRUS_DYNAMODB_ENDPOINT"] == "http://localhost:8001"
    assert (env["AWS_ACCESS_KEY_ID"], env["AWS_PROFILE"]) == ("AKIAREAL", "p")
    assert kept == ["CIRRUS_DYNAMODB_ENDPOINT"]


@pytest.mark.parametrize("endpoint", ["http://localhost:8001", "http://127.0.0.1:8001", "http://[::1]:8001"])
def test_a_loopback_endpoint_without_credentials_gets_the_dummies(endpoint: str) -> None:
    process = {"CIRRUS_DYNAMODB_ENDPOINT": endpoint, "HOME": "/home/me"}

    env, kept = stack_environment(process, LocalSettings.from_env(process), {})

    assert {name: env[name] for name in DUMMY_CREDENTIALS} == DUMMY_CREDENTIALS
    assert set(kept) == {"CIRRUS_DYNAMODB_ENDPOINT", *DUMMY_CREDENTIALS}


def test_a_remote_endpoint_gets_no_dummy_credentials() -> None:
    process = {"CIRRUS_DYNAMODB_ENDPOINT": "https://dynamodb.eu-west-1.amazonaws.com"}

    env, kept = stack_environment(process, LocalSettings.from_env(process), {})

    assert "AWS_ACCESS_KEY_ID" not in env and kept == ["CIRRUS_DYNAMODB_ENDPOINT"]


def test_the_store_is_dynamodb_local_when_installed_else_moto_unless_forced(tmp_path: Path) -> None:
    from devstack import dynamodb_local

    auto = choose_store(LocalSettings(dynamodb_port=5123), REPO)
    if dynamodb_local.available():
        assert (auto.kind, auto.data_dir) == (DYNAMODB_LOCAL, REPO / ".local-stack" / "dynamodb")
        assert "kept across restarts" in auto.describe()
        assert choose_store(LocalSettings(dynamodb_dir=str(tmp_path)), REPO).data_dir == tmp_path
    forced = choose_store(LocalSettings(dynamodb="moto"), REPO)
    assert forced.kind == MOTO and forced.describe().startswith("moto server, state in memory only")
    external = choose_store(LocalSettings.from_env({"CIRRUS_DYNAMODB_ENDPOINT": "http://localhost:8001"}), REPO)
    assert external.kind == EXTERNAL and external.data_dir is None


def test_local_dynamodb_setting_is_checked() -> None:
    assert LocalSettings.from_env({"CIRRUS_LOCAL_DYNAMODB": "Local"}).dynamodb == "local"
    with pytest.raises(ValueError, match="CIRRUS_LOCAL_DYNAMODB='sqlite' is not one of auto, local, moto"):
        LocalSettings.from_env({"CIRRUS_LOCAL_DYNAMODB": "sqlite"})


def test_child_that_ignores_sigterm_is_killed() -> None:
    ignores_sigterm = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"
    )
    child = Child("stubborn", [sys.executable, "-c", ignores_sigterm], env=os.environ, cwd=str(REPO))
    time.sleep(0.3)  # let it install its handler

    assert child.stop(timeout_s=0.5) == -signal.SIGKILL
    assert not pid_alive(child.pid)


def test_wait_for_http_fails_fast_when_the_child_dies() -> None:
    child = Child("quitter", [sys.executable, "-c", "raise SystemExit(3)"], env=os.environ, cwd=str(REPO))
    started = time.monotonic()

    with pytest.raises(StartupError, match="quitter exited with code 3"):
        wait_for_http(f"http://{HOST}:{free_port(HOST)}/", child=child, deadline=started + 20, stop=threading.Event())
    assert time.monotonic() - started < 5


# --- the stack as `make run` starts it ---------------------------------------------------------


class RunningStack:
    def __init__(self, process: subprocess.Popen[bytes], log: Path, ports: tuple[int, int], seconds: float) -> None:
        self.process = process
        self.log = log
        self.api_port, self.dynamodb_port = ports
        self.api_url = f"http://{HOST}:{self.api_port}"
        self.seconds_to_health = seconds

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_output(self, text: str, timeout_s: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while text not in self.output():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def child_pids(self) -> dict[str, int]:
        return {name: int(pid) for name, pid in re.findall(r"started (.+?) pid=(\d+)", self.output())}

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.api_url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")


def start_stack(tmp_path: Path, extra_env: Mapping[str, str], *, args: Sequence[str] = ()) -> RunningStack:
    ports = free_port(HOST), free_port(HOST)
    env = {name: value for name, value in os.environ.items() if not name.startswith("CIRRUS_")}
    env.update({"CIRRUS_LOCAL_API_PORT": str(ports[0]), "CIRRUS_LOCAL_DYNAMODB_PORT": str(ports[1])})
    env["CIRRUS_LOCAL_DYNAMODB_DIR"] = str(tmp_path / "dynamodb")  # never the checkout's own data
    env.update(extra_env)
    log = tmp_path / "stack.log"
    with log.open("ab") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "devstack", *args], cwd=REPO, env=env, stdout=sink, stderr=subprocess.STDOUT
        )
    api_url = f"http://{HOST}:{ports[0]}"
    started = time.monotonic()
    while time.monotonic() - started < HEALTH_BUDGET_S:
        if process.poll() is not None:
            raise AssertionError(f"the stack exited with {process.returncode}:\n{log.read_text()}")
        if http_get(f"{api_url}/health", timeout_s=1) == (200, "true"):
            return RunningStack(process, log, ports, time.monotonic() - started)
        time.sleep(0.1)
    process.kill()
    raise AssertionError(f"/health did not answer true within {HEALTH_BUDGET_S} s:\n{log.read_text()}")


def stop_stack(stack: RunningStack) -> float:
    """SIGINT, as Ctrl-C does; the seconds until the stack exited."""
    started = time.monotonic()
    stack.process.send_signal(signal.SIGINT)
    stack.process.wait(timeout=20)
    return time.monotonic() - started


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def cleanup() -> Iterator[list[RunningStack]]:
    """Kill whatever a failed test left running: only the processes it started, by pid."""
    stacks: list[RunningStack] = []
    yield stacks
    for stack in stacks:
        if stack.process.poll() is None:
            stack.process.kill()
            stack.process.wait()
        for pid in stack.child_pids().values():
            if pid_alive(pid):
                os.killpg(pid, signal.SIGKILL)


def assert_http_answers_like_prefect(port: int) -> None:
    """Unknown path → 404, known path with another method → 405, HEAD without a body — all on one
    kept-alive connection, so a stray body would corrupt the next answer."""
    connection = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        for method, path, status, body in [
            ("DELETE", "/automations-that-do-not-exist/x", 404, {"detail": "Not Found"}),
            ("GET", "/no/such/route", 404, {"detail": "Not Found"}),
            ("DELETE", "/flows/filter", 405, {"detail": "Method Not Allowed"}),
            ("HEAD", "/health", 200, None),
            ("GET", "/health", 200, True),
        ]:
            connection.request(method, path, headers={"Authorization": "Bearer whatever"})
            response = connection.getresponse()
            raw = response.read()
            assert response.status == status, (method, path, response.status, raw)
            assert (json.loads(raw) if raw else None) == body, (method, path, raw)
            if status == 405:
                assert response.getheader("Allow") == "POST"
    finally:
        connection.close()


@pytest.mark.slow
def test_stack_serves_flows_over_http_and_stops_cleanly_on_ctrl_c(tmp_path: Path, cleanup: list[RunningStack]) -> None:
    stack = start_stack(tmp_path, {})
    cleanup.append(stack)
    print(f"/health answered true {stack.seconds_to_health:.1f} s after start")

    status, created = stack.request("POST", "/flows/", {"name": "local-stack-flow"})
    assert status == 201
    status, read = stack.request("GET", f"/flows/{created['id']}")
    assert status == 200 and read["name"] == "local-stack-flow" and read["id"] == created["id"]
    assert stack.wait_for_output(f"export PREFECT_API_URL={stack.api_url}"), stack.output()
    assert_http_answers_like_prefect(stack.api_port)

    children = stack.child_pids()
    store = "DynamoDB Local" if dynamodb_local.available() else "moto server"
    assert set(children) == {store, "api"}
    seconds = stop_stack(stack)
    assert stack.process.returncode == 0, stack.output()
    assert seconds < 10, f"took {seconds:.1f} s to stop"
    assert not [name for name, pid in children.items() if pid_alive(pid)], stack.output()
    assert port_is_free(HOST, stack.api_port) and port_is_free(HOST, stack.dynamodb_port)


@pytest.mark.slow
def test_stack_uses_an_external_endpoint_instead_of_moto(
    tmp_path: Path, cleanup: list[RunningStack], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="werkzeug")  # the in-process moto logs every request
    port = free_port(HOST)
    external = ThreadedMotoServer(ip_address=HOST, port=port, verbose=False)
    external.start()
    try:
        endpoint = f"http://{HOST}:{port}"
        # No credentials at all (a new user's shell): the loopback endpoint gets dummies.
        no_credentials = {name: "" for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")}
        stack = start_stack(
            tmp_path,
            {"CIRRUS_DYNAMODB_ENDPOINT": endpoint, "CIRRUS_LOCAL_SCHEDULES": "false", **no_credentials},
        )
        cleanup.append(stack)

        status, _ = stack.request("POST", "/flows/", {"name": "external-flow"})
        assert status == 201
        assert set(stack.child_pids()) == {"api"}
        assert f"DynamoDB: external DynamoDB at {endpoint}" in stack.output()
        dynamodb = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
        assert "cirrus-local-flows" in dynamodb.list_tables()["TableNames"]
        assert dynamodb.scan(TableName="cirrus-local-flows", Select="COUNT")["Count"] >= 1

        stop_stack(stack)
        assert stack.process.returncode == 0, stack.output()
    finally:
        external.stop()


@pytest.mark.slow
@pytest.mark.skipif(not dynamodb_local.available(), reason=dynamodb_local.unavailable_reason() or "available")
def test_dynamodb_local_keeps_the_flows_across_a_restart_until_reset(
    tmp_path: Path, cleanup: list[RunningStack]
) -> None:
    quiet = {"CIRRUS_LOCAL_SCHEDULES": "false"}
    first = start_stack(tmp_path, quiet)
    cleanup.append(first)
    assert "DynamoDB Local" in first.child_pids(), first.output()
    assert f"data in {tmp_path / 'dynamodb'} (kept across restarts" in first.output()
    status, created = first.request("POST", "/flows/", {"name": "survives-restarts"})
    assert status == 201
    stop_stack(first)
    assert first.process.returncode == 0, first.output()

    second = start_stack(tmp_path, quiet)
    cleanup.append(second)
    assert "tables: all present" in second.output()
    assert second.request("GET", f"/flows/{created['id']}") == (200, created)
    stop_stack(second)

    third = start_stack(tmp_path, quiet, args=["--reset"])
    cleanup.append(third)
    assert f"deleted the local DynamoDB data in {tmp_path / 'dynamodb'}" in third.output()
    assert third.request("POST", "/flows/count", {}) == (200, 0)
    stop_stack(third)


@pytest.mark.slow
def test_without_dynamodb_local_the_stack_says_its_moto_state_is_in_memory(
    tmp_path: Path, cleanup: list[RunningStack]
) -> None:
    stack = start_stack(tmp_path, {"CIRRUS_DYNAMODB_LOCAL_CACHE": str(tmp_path / "nothing-installed")})
    cleanup.append(stack)
    assert "moto server" in stack.child_pids()
    lines = [line for line in stack.output().splitlines() if "state in memory only" in line]
    assert lines and "DynamoDB Local is not installed" in lines[0], stack.output()
    flow = stack.request("POST", "/flows/", {"name": "in-memory"})[1]
    body = {"name": "d", "flow_id": flow["id"], "schedules": [{"schedule": {"interval": 3600}}]}
    assert stack.request("POST", "/deployments/", body)[0] == 201  # a transaction, through the shim
    stop_stack(stack)
    assert stack.process.returncode == 0, stack.output()


def test_a_store_with_tables_from_before_is_migrated_at_start() -> None:
    """``make run`` migrates kept data whenever the store had tables before this start, also when
    this version added one (``flow_runs_v2`` beside an older version's ``flow_runs``); a store it
    created whole has nothing to migrate."""
    from chalicelib.storage.models import ALL_MODELS
    from devstack.stack import holds_kept_data

    every = [m.Meta.table_name for m in ALL_MODELS]
    assert not holds_kept_data(every)
    assert holds_kept_data([])
    assert holds_kept_data(["cirrus-local-flow_runs_v2"])
