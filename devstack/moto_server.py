"""The embedded DynamoDB without Java: moto's server in its own process, quiet, stopped by SIGTERM or
SIGINT, with :mod:`devstack.moto_shim` applied (thread-safe, item-level transactions).

Run by the stack as ``python -m devstack.moto_server --host 127.0.0.1 --port 5005``. A separate
process keeps moto's request handling off the stack's GIL (the schedule emulator runs jobs there).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence

from moto.server import ThreadedMotoServer

from devstack.moto_shim import installed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.moto_server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5005)
    args = parser.parse_args(argv)

    # werkzeug logs every request at INFO: one line per DynamoDB call would drown the stack's output.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    stopped = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopped.set())

    with installed(server=True):
        server = ThreadedMotoServer(ip_address=args.host, port=args.port, verbose=False)
        server.start()
        while not stopped.wait(0.1):
            pass
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
