"""Prefect's web UI, taken from the pinned ``prefect`` wheel into a git-ignored cache.

Prefect ships its UI as built static files inside the package (``prefect/server/ui``, Apache-2.0).
``python -m devstack.ui_bundle install`` (``make ui``, which ``make run`` depends on) runs
``pip download --no-deps prefect==<pinned>``, checks the wheel's SHA-256, and extracts
``prefect/server/ui`` into ``.cache/prefect-ui/prefect-<version>/ui`` with Prefect's base-URL
placeholder replaced by the base the UI is served at (``/``), as ``prefect server start`` does on
its first start. Nothing of it is committed. The same folder is what the CDK stack uploads to S3.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

#: The Prefect release whose client the e2e tests drive and whose UI is served (one pin).
PREFECT_VERSION = "3.9.1"
WHEEL = f"prefect-{PREFECT_VERSION}-py3-none-any.whl"
WHEEL_SHA256 = "0c662e26e971b617993eed1f3d02fb8bc3c2dd47bee521b495f6e4dfeb38ae74"
#: The folder of the built UI inside the wheel.
WHEEL_UI_PREFIX = "prefect/server/ui/"
#: What Prefect's build writes where the serving base URL goes (prefect/server/api/server.py).
BASE_PLACEHOLDER = "/PREFECT_UI_SERVE_BASE_REPLACE_PLACEHOLDER"
#: Text files that may hold the placeholder.
TEXT_SUFFIXES = (".html", ".js", ".css", ".json", ".webmanifest", ".txt", ".map")

PROJECT_DIR = Path(__file__).resolve().parents[1]
#: ``CIRRUS_UI_DIR`` points at an already built UI folder instead of the cache (it must hold index.html).
UI_DIR_VARIABLE = "CIRRUS_UI_DIR"
DEFAULT_CACHE = PROJECT_DIR / ".cache" / "prefect-ui"
STAMP = ".cirrus-ui-stamp"


class NotInstalled(RuntimeError):
    """The UI cannot be served: the message says why and what to run."""


def install_dir(cache: Path = DEFAULT_CACHE) -> Path:
    return cache / f"prefect-{PREFECT_VERSION}" / "ui"


def _stamp_text(base_url: str) -> str:
    return f"{WHEEL_SHA256} base={base_url}"


def ui_dir(environ: Mapping[str, str] = os.environ, cache: Path = DEFAULT_CACHE) -> Path:
    """The folder to serve: ``CIRRUS_UI_DIR``, else the installed cache; raises :class:`NotInstalled`."""
    chosen = environ.get(UI_DIR_VARIABLE)
    folder = Path(chosen) if chosen else install_dir(cache)
    if not (folder / "index.html").is_file():
        hint = f"{UI_DIR_VARIABLE}={chosen}" if chosen else "run `make ui`"
        raise NotInstalled(f"no Prefect UI at {folder} ({hint})")
    return folder


def extract(wheel: Path, target: Path, base_url: str = "/", *, sha256: str = WHEEL_SHA256) -> int:
    """Unpack the wheel's UI into ``target`` (replaced whole), placeholder → ``base_url``; files written."""
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != sha256:
        raise NotInstalled(f"{wheel.name}: SHA-256 {digest} is not the pinned {sha256}")
    replacement = "" if base_url.rstrip("/") == "" else "/" + base_url.strip("/")
    scratch = Path(tempfile.mkdtemp(prefix=".ui-", dir=target.parent))
    written = 0
    try:
        with zipfile.ZipFile(wheel) as archive:
            for name in archive.namelist():
                if not name.startswith(WHEEL_UI_PREFIX) or name.endswith("/"):
                    continue
                relative = Path(name[len(WHEEL_UI_PREFIX) :])
                if relative.is_absolute() or ".." in relative.parts:
                    raise NotInstalled(f"{wheel.name}: unsafe member {name}")
                data = archive.read(name)
                if relative.suffix in TEXT_SUFFIXES:
                    data = data.replace(BASE_PLACEHOLDER.encode(), replacement.encode())
                out = scratch / relative
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(data)
                written += 1
        if not (scratch / "index.html").is_file():
            raise NotInstalled(f"{wheel.name} holds no {WHEEL_UI_PREFIX}index.html")
        (scratch / STAMP).write_text(_stamp_text(base_url))
        shutil.rmtree(target, ignore_errors=True)
        scratch.rename(target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return written


def install(cache: Path = DEFAULT_CACHE, python: str = sys.executable) -> Path:
    """Download (pip, pinned, no dependencies) and extract unless the cache already holds this version."""
    target = install_dir(cache)
    stamp = target / STAMP
    if stamp.is_file() and stamp.read_text() == _stamp_text("/"):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    wheel = target.parent / WHEEL
    if not wheel.is_file() or hashlib.sha256(wheel.read_bytes()).hexdigest() != WHEEL_SHA256:
        with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
            command = [python, "-m", "pip", "download", "-q", "--no-deps", f"prefect=={PREFECT_VERSION}", "-d", scratch]
            done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
            downloaded = Path(scratch) / WHEEL
            if done.returncode != 0 or not downloaded.is_file():
                raise NotInstalled(f"pip download prefect=={PREFECT_VERSION} failed: {done.stderr.strip()[-500:]}")
            shutil.move(str(downloaded), wheel)
    count = extract(wheel, target)
    print(f"Prefect {PREFECT_VERSION} UI: {count} files in {target}", flush=True)
    return target


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.ui_bundle", description=__doc__)
    parser.add_argument("command", choices=["install", "path"])
    args = parser.parse_args(argv)
    try:
        print(install() if args.command == "install" else ui_dir())
    except NotInstalled as exc:
        print(f"cirrus ui: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
