"""Run under .venv-e2e (Prefect 3.9.1) by test_prefect_blocks.py: ``save`` or ``load`` (each in a
fresh process), printing ``blocks-driver: <step> ok``.

Prefect 3.9.1 has no ``JSON`` block any more (a ``Secret`` holds JSON values): the JSON-shaped
configuration here is a user-defined block, which Prefect's client registers (its type and schema)
on first save, and a ``Secret`` holding an object.
"""

from __future__ import annotations

import sys
import time

from prefect import flow
from prefect.blocks.core import Block
from prefect.blocks.system import Secret


class AppConfig(Block):
    """A user's own block: its type and schema are created by the client."""

    version: int
    hosts: list[str] = []


def save() -> None:
    Secret(value="s3cr3t-e2e").save("db-password")
    Secret(value={"user": "ann", "password": "pw-e2e"}).save("db-login")
    AppConfig(version=1).save("app-config")
    try:
        AppConfig(version=0).save("app-config")
    except ValueError as exc:  # a taken name without overwrite: Prefect's client refuses
        assert "overwrite" in str(exc), exc
    else:
        raise AssertionError("a second save without overwrite was accepted")
    AppConfig(version=2, hosts=["a", "b"]).save("app-config", overwrite=True)


@flow
def uses_blocks() -> str:
    config = AppConfig.load("app-config")
    return f"{Secret.load('db-password').get()}/{config.version}"


def load() -> None:
    assert Secret.load("db-password").get() == "s3cr3t-e2e"
    assert Secret.load("db-login").get() == {"user": "ann", "password": "pw-e2e"}
    config = AppConfig.load("app-config")
    assert (config.version, config.hosts) == (2, ["a", "b"]), config
    state = uses_blocks(return_state=True)
    assert state.is_completed(), state
    assert state.result() == "s3cr3t-e2e/2"


def serve() -> None:
    """Keeps running: a ``serve()`` runner of ``uses_blocks`` (the test kills it)."""
    uses_blocks.serve(name="blocks")


def run_served() -> None:
    from prefect.deployments import run_deployment

    for _ in range(60):  # the runner registers its deployment once it has started
        try:
            run = run_deployment("uses-blocks/blocks", timeout=150)
            break
        except Exception:  # noqa: BLE001 - not registered yet
            time.sleep(2)
    else:
        raise AssertionError("the served deployment never appeared")
    assert run.state is not None and run.state.is_completed(), run.state


if __name__ == "__main__":
    {"save": save, "load": load, "serve": serve, "run-served": run_served}[sys.argv[1]]()
    print(f"blocks-driver: {sys.argv[1]} ok")
