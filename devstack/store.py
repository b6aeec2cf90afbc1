"""The local stack's DynamoDB: which store it uses, where its data lives, and starting it.

- ``CIRRUS_DYNAMODB_ENDPOINT`` set: that endpoint (``external``); nothing is started.
- Otherwise, with Java and the pinned DynamoDB Local installed (``make dynamodb-local``, which
  ``make run`` runs): DynamoDB Local with ``-dbPath`` in a git-ignored folder of the checkout
  (``.local-stack/dynamodb``), so flows, deployments and runs survive a restart.
- Otherwise moto's server with :mod:`devstack.moto_shim` applied: state in memory only.

``CIRRUS_LOCAL_DYNAMODB=local|moto`` forces either (``auto``, the default, prefers DynamoDB Local).
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from devstack import dynamodb_local
from devstack.processes import Child, StartupError, wait_for_http
from devstack.settings import LocalSettings

DYNAMODB_LOCAL = "dynamodb-local"
MOTO = "moto"
EXTERNAL = "external"


@dataclass(frozen=True)
class Store:
    """The chosen store: ``kind`` is one of ``dynamodb-local``, ``moto``, ``external``."""

    kind: str
    endpoint: str
    #: DynamoDB Local's ``-dbPath`` (None for moto and external).
    data_dir: Path | None = None
    #: Why ``auto`` fell back to moto (None otherwise).
    fallback_reason: str | None = None

    @property
    def embedded(self) -> bool:
        return self.kind != EXTERNAL

    def describe(self) -> str:
        """One line for the banner: what the store is and whether its state survives a restart."""
        if self.kind == DYNAMODB_LOCAL:
            return (
                f"DynamoDB Local {dynamodb_local.DYNAMODB_LOCAL_VERSION}, data in {self.data_dir} "
                "(kept across restarts; `make reset` wipes it)"
            )
        if self.kind == MOTO:
            why = f": {self.fallback_reason}" if self.fallback_reason else ""
            return f"moto server, state in memory only (lost when the stack stops){why}"
        return f"external DynamoDB at {self.endpoint} (CIRRUS_DYNAMODB_ENDPOINT)"


def data_dir(local: LocalSettings, project_dir: Path) -> Path:
    """DynamoDB Local's data folder: ``CIRRUS_LOCAL_DYNAMODB_DIR``, relative to the checkout."""
    return (project_dir / local.dynamodb_dir).resolve()


def choose_store(local: LocalSettings, project_dir: Path) -> Store:
    """Which DynamoDB the stack uses (see the module doc); raises :class:`StartupError` when
    ``CIRRUS_LOCAL_DYNAMODB=local`` cannot be honoured."""
    if local.external_endpoint is not None:
        return Store(EXTERNAL, local.external_endpoint)
    endpoint = f"http://{local.host}:{local.dynamodb_port}"
    if local.dynamodb == MOTO:
        return Store(MOTO, endpoint)
    reason = dynamodb_local.unavailable_reason()
    if reason is None:
        return Store(DYNAMODB_LOCAL, endpoint, data_dir=data_dir(local, project_dir))
    if local.dynamodb == "local":
        raise StartupError(f"CIRRUS_LOCAL_DYNAMODB=local, but {reason}")
    return Store(MOTO, endpoint, fallback_reason=reason)


def start_store(
    store: Store, local: LocalSettings, *, python: str, env: Mapping[str, str], cwd: str
) -> tuple[Child | None, str]:
    """Start the embedded store (nothing for an external one); return its process and the URL that
    answers once it is ready (for :func:`wait_for_store`)."""
    if store.kind == DYNAMODB_LOCAL:
        instance = dynamodb_local.DynamoDBLocal(local.dynamodb_port, host=local.host, db_path=store.data_dir)
        return instance.launch(), store.endpoint
    if store.kind == MOTO:
        argv = [python, "-m", "devstack.moto_server", "--host", local.host, "--port", str(local.dynamodb_port)]
        return Child("moto server", argv, env=env, cwd=cwd), f"{store.endpoint}/moto-api/"
    return None, store.endpoint


def wait_for_store(child: Child | None, url: str, *, deadline: float, stop: threading.Event) -> None:
    if child is not None:
        wait_for_http(url, child=child, deadline=deadline, stop=stop)


def is_loopback(endpoint: str) -> bool:
    host = urlsplit(endpoint).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def reset(local: LocalSettings, project_dir: Path) -> str:
    """Wipe DynamoDB Local's data folder; say what was done."""
    folder = data_dir(local, project_dir)
    if dynamodb_local.reset_db_path(folder):
        return f"deleted the local DynamoDB data in {folder}"
    return f"no local DynamoDB data in {folder}: nothing to delete"
