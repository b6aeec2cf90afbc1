"""The API process of the local stack: the app of stage ``<stage>`` behind the local front
(:mod:`devstack.front`: REST through Chalice's gateway, the ``/events/in`` websocket, and
Prefect's UI at ``/`` with ``--ui-dir``).

As ``chalice local --stage <stage> --no-autoreload`` would, it reads ``.chalice/config.json``, applies
the stage's ``environment_variables`` before importing the app and validates the routes; except that
the variables named by ``--keep`` are put back over the stage's (the stack runs DynamoDB on a port it
chooses, or uses an external endpoint). SIGTERM or SIGINT stops it cleanly: open websockets are
closed with 1001, in-flight requests get ``shutdown_timeout`` to finish.

Run as ``python -m devstack.api_server --stage local --port 8000 --keep CIRRUS_DYNAMODB_ENDPOINT``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from chalice.cli.factory import CLIFactory
from chalice.deploy.validate import validate_routes

from devstack.ui import UiSettings, UiSite


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.api_server", description=__doc__)
    parser.add_argument("--project-dir", default=os.getcwd())
    parser.add_argument("--stage", default="local")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--keep", action="append", default=[], metavar="NAME", help="variable that beats the stage's")
    parser.add_argument("--ui-dir", type=Path, default=None, help="serve Prefect's UI from this folder at /")
    args = parser.parse_args(argv)

    stop = asyncio.Event()
    loop = asyncio.new_event_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):  # first, before the imports below take seconds
        loop.add_signal_handler(signum, stop.set)

    project_dir = os.path.abspath(args.project_dir)
    kept = {name: os.environ[name] for name in args.keep if name in os.environ}
    os.environ["AWS_CHALICE_CLI_MODE"] = "true"  # as the chalice CLI does
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")  # as `chalice local` does
    for chatty in ("botocore", "pynamodb", "aiohttp.access"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    os.chdir(project_dir)

    # A scratch copy: chalice writes the stage environment into the mapping it is given.
    factory = CLIFactory(project_dir, environ=dict(os.environ))
    config = factory.create_config_obj(chalice_stage_name=args.stage)
    os.environ.update(config.environment_variables)
    os.environ.update(kept)
    app = config.chalice_app
    validate_routes(app.routes)

    from devstack.front import Front, serve

    front = Front(app, config, ui_site=ui_site(args.ui_dir))
    try:
        loop.run_until_complete(serve(front, args.host, args.port, stop))
    finally:
        loop.close()
    return 0


def ui_site(folder: Path | None) -> UiSite | None:
    """Prefect's UI from ``folder`` (None: the API alone); it asks for a key when the API wants one."""
    if folder is None:
        return None
    from chalicelib.config import get_settings

    return UiSite(folder, UiSettings(auth="BASIC" if get_settings().auth_required else None))


if __name__ == "__main__":
    sys.exit(main())
