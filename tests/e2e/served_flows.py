"""For the drivers (run under .venv-e2e, so standard library only): a ``flows.py`` served in its
own process group while a block runs, its log printed if the block fails, the group killed after."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def served(source: str, flows: str) -> Iterator[None]:
    """Write ``flows`` to ``<source>/flows.py`` and run it (``serve()``) for the ``with`` block."""
    Path(source, "flows.py").write_text(flows)
    log = Path(source, "serve.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "flows.py"], cwd=source, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        yield
    except BaseException:
        log.flush()
        print(Path(source, "serve.log").read_text()[-6000:], flush=True)
        raise
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=10)
        log.close()
