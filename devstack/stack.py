"""The local stack: embedded DynamoDB, tables, the API front (Chalice app + ``/events/in``), the schedule emulator.

:class:`LocalStack` owns the child processes and stops them in reverse order; the entry point
(``python -m devstack``) owns signals and the process environment.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from chalice.cli.factory import CLIFactory
from chalice.config import Config

from chalicelib.config import Settings
from chalicelib.schemas.common import utcnow
from chalicelib.services.blocks import ensure_installed as ensure_block_catalog
from chalicelib.storage import open_repositories
from chalicelib.storage.models import ALL_MODELS
from chalicelib.storage.tables import create_tables
from devstack import ui_bundle
from devstack.dynamodb_local import DUMMY_CREDENTIALS
from devstack.processes import Child, StartupError, port_is_free, wait_for_http
from devstack.schedule_emulator import ScheduleEmulator, discover_jobs
from devstack.settings import CHALICE_STAGE, ENDPOINT_VARIABLE, LocalSettings
from devstack.store import choose_store, is_loopback, start_store, wait_for_store

LOG = logging.getLogger("devstack")

#: The repository root: where app.py and .chalice/ live.
PROJECT_DIR = Path(__file__).resolve().parents[1]

#: Dropped with the embedded DynamoDB: a profile would be looked up (and might not exist).
_PROFILE_VARIABLES = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE")
#: Credentials the developer chose; without any, a loopback endpoint gets the dummies.
_CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", *_PROFILE_VARIABLES)


def load_chalice_config(project_dir: Path = PROJECT_DIR, stage: str = CHALICE_STAGE) -> Config:
    """The project's ``.chalice/config.json`` for ``stage`` (it does not import the app yet)."""
    return CLIFactory(str(project_dir), environ={}).create_config_obj(chalice_stage_name=stage)


def stack_environment(
    environ: Mapping[str, str], local: LocalSettings, stage_environment: Mapping[str, str]
) -> tuple[dict[str, str], list[str]]:
    """The environment of the API, the jobs and the stack itself, and the names that must beat the stage's.

    Like Lambda: the process environment, then the stage's ``environment_variables``; then the
    stack's own choices (the DynamoDB endpoint; dummy credentials for the embedded DynamoDB, and
    for an external one on this machine when none are set), which
    ``chalice local`` would otherwise overwrite with config.json's values.
    """
    env = dict(environ)
    env.update(stage_environment)
    overrides = {ENDPOINT_VARIABLE: local.dynamodb_endpoint}
    if local.external_endpoint is None:
        overrides.update(DUMMY_CREDENTIALS)
        for name in _PROFILE_VARIABLES:
            env.pop(name, None)
    elif is_loopback(local.external_endpoint) and not any(env.get(name) for name in _CREDENTIAL_VARIABLES):
        overrides.update(DUMMY_CREDENTIALS)  # an emulator on this machine: any key does
    env.update(overrides)
    return env, sorted(overrides)


def holds_kept_data(created: Sequence[str]) -> bool:
    """Whether the store held tables before this start (``created``: the tables this start created).
    Only a store created whole is new; one where this version added a table (``flow_runs_v2`` next
    to an older version's ``flow_runs``) holds data to migrate."""
    return len(created) < len(ALL_MODELS)


class LocalStack:
    """Start with :meth:`start`, block with :meth:`watch`, always finish with :meth:`close`."""

    def __init__(
        self,
        local: LocalSettings,
        environ: Mapping[str, str],
        *,
        stop: threading.Event,
        project_dir: Path = PROJECT_DIR,
        python: str = sys.executable,
    ) -> None:
        self.local = local
        self.stop = stop
        self.project_dir = project_dir
        self.python = python
        self.chalice_config = load_chalice_config(project_dir)
        self.environment, self._kept = stack_environment(environ, local, self.chalice_config.environment_variables)
        self.settings = Settings.from_env(self.environment)
        self.store = choose_store(local, project_dir)
        self._children: list[Child] = []
        self._emulator: ScheduleEmulator | None = None
        self._ui: Path | None = None

    def start(self) -> None:
        """Bring everything up; raises :class:`StartupError` (or its ``StartupInterrupted``).

        When ``/health`` answers, the tables exist and the schedules are about to fire.
        """
        started = time.monotonic()
        deadline = started + self.local.startup_timeout_s
        self._check_ports()
        LOG.info("DynamoDB: %s", self.store.describe())
        store, ready_url = start_store(
            self.store, self.local, python=self.python, env=self._child_env(), cwd=str(self.project_dir)
        )
        if store is not None:
            self._children.append(store)
        schedules = "off (CIRRUS_LOCAL_SCHEDULES=false)"
        if self.local.schedules:  # imports the app here while the store boots
            jobs = discover_jobs(self.chalice_config.chalice_app, self.chalice_config)
            self._emulator = ScheduleEmulator(jobs, region=self.settings.region, tick_scale=self.local.tick_scale)
            schedules = f"{len(jobs)} @app.schedule job(s), tick scale {self.local.tick_scale:g}"
        wait_for_store(store, ready_url, deadline=deadline, stop=self.stop)
        try:
            created = create_tables(self.settings)
        except Exception as exc:  # whatever pynamodb raises, the fix is at the endpoint
            raise StartupError(f"cannot create the tables at {self.local.dynamodb_endpoint}: {exc}") from exc
        LOG.info("tables: %s", f"created {', '.join(created)}" if created else "all present")
        # Prefect's block catalog (~1 s the first time; a marker read later), before the API serves, so
        # no request sees it being written.
        ensure_block_catalog(open_repositories(self.settings).blocks, utcnow())
        if holds_kept_data(created):  # bring runs an older version stored into this version's tables
            threading.Thread(target=self._migrate_runs, name="migrate-runs", daemon=True).start()

        keep = [arg for name in self._kept for arg in ("--keep", name)]
        args = ["--stage", CHALICE_STAGE, "--port", str(self.local.api_port), "--project-dir", str(self.project_dir)]
        ui = self._ui = self._ui_dir()
        if ui is not None:
            args += ["--ui-dir", str(ui)]
        api = self._spawn("api", "devstack.api_server", *args, *keep)
        wait_for_http(f"{self.local.api_url}/health", child=api, deadline=deadline, stop=self.stop, body="true")
        if self._emulator is not None:
            self._emulator.start()
        self._banner(time.monotonic() - started, schedules)

    def _migrate_runs(self) -> None:
        """``cirrus migrate-runs`` on the kept data (idempotent; quick when nothing is outdated)."""
        from chalicelib.cli import migrate_runs

        try:
            LOG.info("migrate-runs: %s", json.dumps(migrate_runs(self.settings)))
        except Exception:  # noqa: BLE001 - the stack serves on; the command can be run by hand
            LOG.exception("migrate-runs failed; run `cirrus migrate-runs` against the stack")

    def watch(self) -> int:
        """Block until asked to stop (0) or until a child dies on its own (1)."""
        while not self.stop.wait(0.5):
            for child in self._children:
                if child.exit_code() is not None:
                    LOG.error("%s pid=%d exited on its own with code %s", child.name, child.pid, child.exit_code())
                    return 1
        return 0

    def close(self) -> None:
        """Stop the emulator, then the children in reverse order of start (idempotent)."""
        if self._emulator is not None:
            self._emulator.stop()
            self._emulator = None
        while self._children:
            self._children.pop().stop()

    def _ui_dir(self) -> Path | None:
        """Prefect's UI (``make ui``), or None with a warning: the API runs without it."""
        try:
            return ui_bundle.ui_dir(self.environment)
        except ui_bundle.NotInstalled as exc:
            LOG.warning("serving the API without Prefect's UI: %s", exc)
            return None

    def _check_ports(self) -> None:
        wanted = {"CIRRUS_LOCAL_API_PORT": self.local.api_port}
        if self.local.external_endpoint is None:
            wanted["CIRRUS_LOCAL_DYNAMODB_PORT"] = self.local.dynamodb_port
        for variable, port in wanted.items():
            if not port_is_free(self.local.host, port):
                raise StartupError(f"port {port} on {self.local.host} is in use: stop what holds it or set {variable}")

    def _child_env(self) -> dict[str, str]:
        return {**self.environment, "PYTHONUNBUFFERED": "1"}

    def _spawn(self, name: str, module: str, *args: str) -> Child:
        argv = [self.python, "-m", module, "--host", self.local.host, *args]
        child = Child(name, argv, env=self._child_env(), cwd=str(self.project_dir))
        self._children.append(child)
        return child

    def _banner(self, elapsed_s: float, schedules: str) -> None:
        lines = [
            "",
            f"  Cirrus local stack is up ({elapsed_s:.1f} s)",
            f"    API         {self.local.api_url} (and {self.local.api_url}/api)",
            f"    UI          {self.local.api_url}/" if self._ui else "    UI          none (make ui)",
            f"    DynamoDB    {self.local.dynamodb_endpoint}, tables {self.settings.tables_prefix}*",
            f"                {self.store.describe()}",
            f"    schedules   {schedules}",
            "  Point Prefect at it:",
            f"    export PREFECT_API_URL={self.local.api_url}",
            "  Ctrl-C stops everything.",
            "",
        ]
        print("\n".join(lines), flush=True)
