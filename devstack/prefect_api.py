"""Prefect's own OpenAPI document, for the tools and tests that compare Cirrus with Prefect's server.

Generated from the pinned ``prefect`` package of the e2e virtualenv (``make e2e-venv``; prefect is
not a Cirrus dependency) with ``create_api_app().openapi()`` (paths without ``/api``), once per
version, and cached in the git-ignored ``.cache/``.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache"
PREFECT_VERSION = "3.9.1"
E2E_PYTHON = ROOT / ".venv-e2e" / "bin" / "python"


def prefect_openapi(e2e_python: Path = E2E_PYTHON) -> dict[str, Any]:
    """Prefect's OpenAPI document (the API app, paths without ``/api``), generated once per version."""
    cached = CACHE / f"prefect-{PREFECT_VERSION}-openapi.json"
    if not cached.exists():
        cached.parent.mkdir(parents=True, exist_ok=True)
        script = (
            "import json, sys; import prefect; assert prefect.__version__ == sys.argv[2], prefect.__version__\n"
            "from prefect.server.api.server import create_api_app\n"
            "json.dump(create_api_app().openapi(), open(sys.argv[1] + '.tmp', 'w'))"
        )
        subprocess.run([str(e2e_python), "-c", script, str(cached), PREFECT_VERSION], check=True, timeout=300,
                       cwd=CACHE, capture_output=True)  # fmt: skip
        Path(f"{cached}.tmp").replace(cached)
    return json.loads(cached.read_text())
