"""DynamoDB Local (AWS's own emulator): install it, pinned, into a git-ignored cache; start and stop it.

One helper for the three users: the tests (``--dynamodb local``), the benchmarks
(``--dynamodb local``) and the local stack (``make run``, with ``-dbPath``).

The emulator comes from the npm registry package ``amplify-dynamodb-simulator`` (``npm pack``
fetches it without its Node dependencies); its ``emulator/`` folder holds ``DynamoDBLocal.jar``
(DynamoDB Local 1.25.1) and ``DynamoDBLocal_lib/`` (sqlite4java natives). The tarball is checked
against the registry's published SHA-512. The jar is licensed by AWS (``LICENSE.txt`` next to it):
use on your own machines for your own work with AWS, no redistribution, so it is fetched by each
checkout and never committed.

``python -m devstack.dynamodb_local install [--optional]`` installs it (``make dynamodb-local``);
``--optional`` turns "cannot install" into a warning (``make run`` then falls back to moto).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from devstack.processes import Child, free_port, wait_for_http

#: The npm package that ships the emulator, pinned, and the registry's integrity of its tarball.
PACKAGE = "amplify-dynamodb-simulator"
PACKAGE_VERSION = "2.9.30"
PACKAGE_INTEGRITY = "sha512-xTeeRLvzEfqyd5lh3bH4c0kHvSHHmmhD5ZDsHFKAQ5g2Zl6JqlFdutaQhCLHzxEp6Ry1o7TB6niIoXuQAnSewQ=="
#: The DynamoDB Local release inside it (``java -jar DynamoDBLocal.jar -version``).
DYNAMODB_LOCAL_VERSION = "1.25.1"

#: The repository root (the cache lives in the checkout, ignored by git).
PROJECT_DIR = Path(__file__).resolve().parents[1]
#: Where installs go; ``CIRRUS_DYNAMODB_LOCAL_CACHE`` overrides it.
CACHE_VARIABLE = "CIRRUS_DYNAMODB_LOCAL_CACHE"
DEFAULT_CACHE = PROJECT_DIR / ".cache" / "dynamodb-local"

#: DynamoDB Local keeps tables per access key and region unless ``-sharedDb``; every client of ours
#: uses these dummies anyway, so a stray real key cannot reach it either.
DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_SECURITY_TOKEN": "testing",
}
#: Seconds it may take to answer after the JVM starts (it usually takes 1-3 s).
STARTUP_TIMEOUT_S = 60.0


class NotInstalled(RuntimeError):
    """DynamoDB Local cannot run here; the message says why and what to do."""


def cache_dir(environ: Mapping[str, str] = os.environ) -> Path:
    return Path(environ.get(CACHE_VARIABLE) or DEFAULT_CACHE)


def install_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """The emulator folder of the pinned version (it holds ``DynamoDBLocal.jar``)."""
    return cache_dir(environ) / f"{PACKAGE}-{PACKAGE_VERSION}"


def jar_path(environ: Mapping[str, str] = os.environ) -> Path:
    return install_dir(environ) / "DynamoDBLocal.jar"


def java_executable() -> str | None:
    """The ``java`` that would run the emulator (``JAVA_HOME`` first), or None."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


def is_installed(environ: Mapping[str, str] = os.environ) -> bool:
    return jar_path(environ).is_file() and (install_dir(environ) / "DynamoDBLocal_lib").is_dir()


def available(environ: Mapping[str, str] = os.environ) -> bool:
    """Java is present and the pinned emulator is installed: DynamoDB Local can start."""
    return java_executable() is not None and is_installed(environ)


def unavailable_reason(environ: Mapping[str, str] = os.environ) -> str | None:
    if java_executable() is None:
        return "no Java runtime (java not on PATH, JAVA_HOME unset)"
    if not is_installed(environ):
        return f"DynamoDB Local is not installed in {install_dir(environ)}: run `make dynamodb-local`"
    return None


def _check_integrity(tarball: Path) -> None:
    algorithm, _, expected = PACKAGE_INTEGRITY.partition("-")
    digest = hashlib.new(algorithm)
    with tarball.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    actual = base64.b64encode(digest.digest()).decode()
    if actual != expected:
        raise NotInstalled(f"{tarball.name}: {algorithm} {actual} is not the pinned {expected}")


def install(environ: Mapping[str, str] = os.environ) -> Path:
    """Fetch the pinned package with ``npm pack``, check it, unpack ``emulator/`` into the cache.

    Idempotent and atomic: an existing install is kept; a new one appears whole or not at all.
    """
    target = install_dir(environ)
    if is_installed(environ):
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise NotInstalled("npm is not on PATH: it fetches DynamoDB Local from the npm registry")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".install-") as scratch:
        work = Path(scratch)
        command = [npm, "pack", "--silent", f"{PACKAGE}@{PACKAGE_VERSION}"]
        done = subprocess.run(command, cwd=work, capture_output=True, text=True, timeout=600, check=False)
        if done.returncode != 0:
            raise NotInstalled(f"`{' '.join(command)}` failed ({done.returncode}): {done.stderr.strip()[-500:]}")
        tarball = work / f"{PACKAGE}-{PACKAGE_VERSION}.tgz"
        _check_integrity(tarball)
        with tarfile.open(tarball) as archive:
            members = [m for m in archive.getmembers() if m.name.startswith("package/emulator/")]
            safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}  # Python >= 3.11.4
            archive.extractall(work / "unpacked", members=members, **safe)
        unpacked = work / "unpacked" / "package" / "emulator"
        if not (unpacked / "DynamoDBLocal.jar").is_file():
            raise NotInstalled(f"{tarball.name} has no emulator/DynamoDBLocal.jar")
        try:
            unpacked.rename(target)
        except OSError:
            if not is_installed(environ):  # not another install that finished first
                raise
    return target


def reset_db_path(db_path: Path) -> bool:
    """Delete the persistent data folder of ``make run``; True when there was one."""
    if not db_path.exists():
        return False
    shutil.rmtree(db_path)
    return True


def command(port: int, *, db_path: Path | None = None) -> list[str]:
    """The emulator's command line: in memory unless ``db_path``; one database for every key and
    region (``-sharedDb``); no telemetry. (It has no bind option: it listens on every interface.)"""
    java = java_executable()
    if java is None:
        raise NotInstalled(unavailable_reason() or "no Java")
    lib = install_dir() / "DynamoDBLocal_lib"
    storage = ["-dbPath", str(db_path)] if db_path is not None else ["-inMemory"]
    return [
        java,
        f"-Djava.library.path={lib}",
        "-Xss1m",
        "-XX:TieredStopAtLevel=1",  # C1 only: faster to warm up, which a test run and make run need most
        "-jar",
        str(jar_path()),
        "-port",
        str(port),
        "-sharedDb",
        "-disableTelemetry",
        *storage,
    ]


class DynamoDBLocal:
    """A DynamoDB Local process: ``with DynamoDBLocal() as ddb: ddb.endpoint``.

    ``port`` None picks a free one; ``db_path`` None keeps everything in memory. :meth:`start`
    returns once it answers HTTP (a 400 "missing token" to a bare GET is an answer).
    """

    def __init__(self, port: int | None = None, *, host: str = "127.0.0.1", db_path: Path | None = None) -> None:
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.db_path = db_path
        self._child: Child | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def child(self) -> Child | None:
        return self._child

    def launch(self) -> Child:
        """Start the process and return at once (:meth:`start` also waits for it to answer)."""
        if self.db_path is not None:
            self.db_path.mkdir(parents=True, exist_ok=True)
        argv = command(self.port, db_path=self.db_path)
        env = {**os.environ, **DUMMY_CREDENTIALS}
        self._child = Child("DynamoDB Local", argv, env=env, cwd=str(install_dir()), quiet=True)
        return self._child

    def start(self, *, timeout_s: float = STARTUP_TIMEOUT_S, stop: threading.Event | None = None) -> DynamoDBLocal:
        self.launch()
        try:
            wait_for_http(
                self.endpoint, child=self._child, deadline=time.monotonic() + timeout_s, stop=stop or threading.Event()
            )
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._child is not None:
            self._child.stop()
            self._child = None

    def __enter__(self) -> DynamoDBLocal:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()


#: ``--dynamodb`` of the benchmarks: AWS's emulator or in-process moto (with the shim).
BACKENDS = ("local", "moto")


def default_backend() -> str:
    """``local`` when DynamoDB Local can start here, else ``moto``."""
    return "local" if available() else "moto"


def add_backend_option(parser: argparse.ArgumentParser) -> None:
    """``--dynamodb local|moto`` (default: local when available) on a benchmark's command line."""
    default = default_backend()
    parser.add_argument(
        "--dynamodb", choices=BACKENDS, default=default, help=f"DynamoDB backend (default here: {default})"
    )


@contextmanager
def backend(name: str) -> Iterator[str | None]:
    """A script's DynamoDB for the block: the endpoint of a fresh in-memory DynamoDB Local, or None
    for in-process moto with :mod:`devstack.moto_shim` (pass it as ``dynamodb_endpoint``).
    Sets the dummy credentials in the process environment either way."""
    os.environ.update(DUMMY_CREDENTIALS)
    if name == "moto":
        from moto import mock_aws

        from devstack.moto_shim import installed

        with mock_aws(), installed():
            yield None
        return
    reason = unavailable_reason()
    if reason is not None:
        raise NotInstalled(reason)
    with DynamoDBLocal() as instance:
        yield instance.endpoint


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.dynamodb_local", description=__doc__)
    sub = parser.add_subparsers(dest="action", required=True)
    installing = sub.add_parser("install", help="install the pinned DynamoDB Local into the cache")
    installing.add_argument("--optional", action="store_true", help="warn instead of failing when it cannot")
    sub.add_parser("where", help="print the install folder")
    args = parser.parse_args(argv)
    if args.action == "where":
        print(install_dir())
        return 0
    if java_executable() is None:
        print("dynamodb-local: no Java runtime: not installing DynamoDB Local (make run falls back to moto)")
        return 0 if args.optional else 1
    already = is_installed()
    try:
        where = install()
    except (NotInstalled, OSError, subprocess.SubprocessError) as exc:
        print(f"dynamodb-local: cannot install DynamoDB Local: {exc}", file=sys.stderr)
        return 0 if args.optional else 1
    if not already:
        print(f"dynamodb-local: DynamoDB Local {DYNAMODB_LOCAL_VERSION} ({PACKAGE}@{PACKAGE_VERSION}) in {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
