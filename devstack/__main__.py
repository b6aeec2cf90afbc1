"""``python -m devstack`` (``make run``): the whole stack in one command; Ctrl-C stops it.

Settings come from the environment (``CIRRUS_LOCAL_*``, see :mod:`devstack.settings`);
``CIRRUS_DYNAMODB_ENDPOINT`` points the stack at an external DynamoDB instead of the embedded one
(:mod:`devstack.store`). ``--reset`` wipes the embedded DynamoDB Local's data first;
``--reset-only`` (``make reset``) wipes it and exits.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from types import FrameType

from devstack.settings import LocalSettings

# Not "cirrus.…": Chalice(app_name="cirrus") caps the "cirrus" logger tree at ERROR.
LOG = logging.getLogger("devstack")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    parser.add_argument("--reset", action="store_true", help="wipe the local DynamoDB data, then start")
    parser.add_argument("--reset-only", action="store_true", help="wipe the local DynamoDB data and exit")
    args = parser.parse_args(argv)
    stop = threading.Event()
    received: list[str] = []

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        # No logging here: a handler that writes to stderr while the main thread does raises.
        received.append(signal.Signals(signum).name)
        stop.set()

    # First thing, before the heavy imports below: a shell starts background jobs with SIGINT
    # ignored, and a signal that arrives before a handler exists is lost.
    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    try:
        local = LocalSettings.from_env(os.environ)
    except ValueError as exc:
        print(f"cirrus local: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=local.log_level, stream=sys.stderr, format="%(asctime)s %(levelname)-5s %(name)s: %(message)s"
    )
    for chatty in ("botocore", "pynamodb"):  # "Found credentials …" once per table, settings-file notices
        logging.getLogger(chatty).setLevel(logging.WARNING)

    from chalicelib.config import reset_settings
    from devstack.processes import StartupError, StartupInterrupted
    from devstack.stack import PROJECT_DIR, LocalStack
    from devstack.store import reset

    if args.reset or args.reset_only:
        print(f"cirrus local: {reset(local, PROJECT_DIR)}", flush=True)
        if args.reset_only:
            return 0

    try:
        stack = LocalStack(local, os.environ, stop=stop)
    except StartupError as exc:
        LOG.error("the local stack did not start: %s", exc)
        return 1
    # The jobs run in this process, as in their Lambda: they see the same environment as the API.
    for name in set(os.environ) - set(stack.environment):
        del os.environ[name]
    os.environ.update(stack.environment)
    reset_settings()
    try:
        stack.start()
        code = stack.watch()
    except StartupInterrupted:
        code = 0
    except StartupError as exc:
        LOG.error("the local stack did not start: %s", exc)
        code = 1
    finally:
        if received:
            LOG.info("%s received: stopping", received[0])
        stack.close()
    LOG.info("stopped")
    return code


if __name__ == "__main__":
    sys.exit(main())
