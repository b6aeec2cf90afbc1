"""Generate ``chalicelib/services/blocks/catalog.json``: the block types and schemas a fresh Prefect
server lists, read from a real Prefect server of the pinned version.

Usage (the pinned Prefect in its own virtualenv, e.g. the end-to-end tests' ``.venv-e2e``)::

    python scripts/generate_block_catalog.py .venv-e2e/bin/python

It starts ``prefect server start`` from that interpreter on a free port with a throw-away home and
SQLite database, reads ``/api/block_types/filter`` and ``/api/block_schemas/filter`` (what the UI's
catalog shows), and writes them without Prefect's ids and timestamps (Cirrus derives its own ids
from the slugs and checksums), sorted, so a re-run on the same version changes nothing.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "chalicelib" / "services" / "blocks" / "catalog.json"
_TYPE_FIELDS = ("name", "slug", "logo_url", "documentation_url", "description", "code_example", "is_protected")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(base: str, path: str, body: dict) -> object:
    request = urllib.request.Request(
        f"{base}{path}", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        return json.loads(reply.read())


def _get(base: str, path: str) -> object:
    with urllib.request.urlopen(f"{base}{path}", timeout=30) as reply:
        return json.loads(reply.read())


def _all(base: str, path: str) -> list[dict]:
    found: list[dict] = []
    while True:
        page = _post(base, path, {"limit": 200, "offset": len(found)})
        assert isinstance(page, list)
        found.extend(page)
        if len(page) < 200:
            return found


def read_catalog(python: str) -> dict:
    port = _free_port()
    with tempfile.TemporaryDirectory() as home:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")},
            "PREFECT_HOME": home,
            "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home}/prefect.db",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_UI_ENABLED": "false",
        }
        command = [python, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)]
        server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}/api"
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    version = _get(base, "/admin/version")
                    break
                except OSError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise RuntimeError("the Prefect server did not start") from None
                    time.sleep(0.5)
            types = _all(base, "/block_types/filter")
            schemas = _all(base, "/block_schemas/filter")
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    slugs = {t["id"]: t["slug"] for t in types}
    return {
        "prefect_version": version,
        "block_types": sorted(({k: t[k] for k in _TYPE_FIELDS} for t in types), key=lambda t: t["slug"]),
        "block_schemas": sorted(
            (
                {
                    "block_type_slug": slugs[s["block_type_id"]],
                    "checksum": s["checksum"],
                    "version": s["version"],
                    "capabilities": s["capabilities"],
                    "fields": s["fields"],
                }
                for s in schemas
            ),
            key=lambda s: (s["block_type_slug"], s["version"], s["checksum"]),
        ),
    }


def main(argv: list[str]) -> int:
    python = argv[1] if len(argv) > 1 else ".venv-e2e/bin/python"
    catalog = read_catalog(python)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(catalog, indent=1, sort_keys=True) + "\n")
    print(f"{OUT}: {len(catalog['block_types'])} block types, {len(catalog['block_schemas'])} block schemas")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
