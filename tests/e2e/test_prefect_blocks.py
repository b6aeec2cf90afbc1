"""End to end: Prefect 3.9.1's blocks against the local stack — ``Secret.save`` then
``Secret.load(...).get()`` in a fresh process (a string and a JSON value), a user-defined block
saved, refused without ``overwrite``, overwritten and loaded, a flow that loads both completes (run
directly, and served by a ``serve()`` runner),
``prefect block ls`` and ``prefect block type ls`` show them and Prefect's catalog, and the API
never shows a secret unasked."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.e2e.local_stack import E2E_PYTHON, Processes, api, local_stack, missing_prefect, prefect_env

DRIVER = Path(__file__).with_name("blocks_driver.py")
STEP_TIMEOUT_S = 180.0

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.skipif(missing_prefect() is not None, reason="no prefect")]


def _run(argv: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=STEP_TIMEOUT_S)
    out = done.stdout + done.stderr
    assert done.returncode == 0, f"{argv} failed:\n{out[-6000:]}"
    return out


def test_secret_and_json_blocks_with_prefects_client_and_cli(tmp_path: Path) -> None:
    with local_stack(tmp_path, {"CIRRUS_LOCAL_SCHEDULES": "false"}) as (url, _):
        env = prefect_env(url, tmp_path / "prefect-home", PREFECT_LOGGING_TO_API_ENABLED="false")
        assert "blocks-driver: save ok" in _run([str(E2E_PYTHON), str(DRIVER), "save"], env)
        assert "blocks-driver: load ok" in _run([str(E2E_PYTHON), str(DRIVER), "load"], env)

        masked = api(url, "GET", "/block_types/slug/secret/block_documents/name/db-password")
        assert masked[0] == 200 and masked[1]["data"] == {"value": "********"}
        listing = str(api(url, "POST", "/block_documents/filter", {}))
        assert "s3cr3t-e2e" not in listing and "pw-e2e" not in listing and "app-config" in listing

        prefect = [str(E2E_PYTHON), "-m", "prefect"]
        listed = _run([*prefect, "block", "ls"], {**env, "COLUMNS": "250"})
        assert "db-password" in listed and "db-login" in listed and "app-config" in listed, listed
        types = _run([*prefect, "block", "type", "ls"], {**env, "COLUMNS": "250"})
        for slug in ("secret", "aws-credentials", "s3-bucket", "slack-webhook", "appconfig"):
            assert slug in types, (slug, types)

        # A served flow that loads both blocks: the runner runs it in a process of its own.
        processes = Processes()
        try:
            processes.start([str(E2E_PYTHON), str(DRIVER), "serve"], env, tmp_path / "serve.log")
            assert "blocks-driver: run-served ok" in _run([str(E2E_PYTHON), str(DRIVER), "run-served"], env)
        finally:
            processes.reap()
