"""``chalice local --stage <stage> --no-autoreload``, except that chosen variables of the process
environment win over the stage's ``environment_variables``.

Chalice applies ``.chalice/config.json``'s stage environment over the process environment, so plain
``chalice local --stage local`` always talks to the DynamoDB endpoint written there. The stack runs
DynamoDB on a port it chooses (or uses an external endpoint), so it starts the API with this module:
the steps of ``chalice local`` (config, app, route validation, Chalice's own dev server), with the
variables named by ``--keep`` put back over the stage's before the app is imported.

Run as ``python -m chalicelib.local.api_server --stage local --port 8000 --keep CIRRUS_DYNAMODB_ENDPOINT``.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from chalice.cli.factory import CLIFactory
from chalice.deploy.validate import validate_routes

from chalicelib.local.gateway import create_local_server
from chalicelib.local.ui import UiSettings, UiSite


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.local.api_server", description=__doc__)
    parser.add_argument("--project-dir", default=os.getcwd())
    parser.add_argument("--stage", default="local")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--keep", action="append", default=[], metavar="NAME", help="variable that beats the stage's")
    parser.add_argument("--ui-dir", type=Path, default=None, help="serve Prefect's UI from this folder at /")
    args = parser.parse_args(argv)

    project_dir = os.path.abspath(args.project_dir)
    kept = {name: os.environ[name] for name in args.keep if name in os.environ}
    os.environ["AWS_CHALICE_CLI_MODE"] = "true"  # as the chalice CLI does
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")  # as `chalice local` does
    for chatty in ("botocore", "pynamodb"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    os.chdir(project_dir)

    # A scratch copy: chalice writes the stage environment into the mapping it is given.
    factory = CLIFactory(project_dir, environ=dict(os.environ))
    config = factory.create_config_obj(chalice_stage_name=args.stage)
    os.environ.update(config.environment_variables)
    os.environ.update(kept)
    app = config.chalice_app
    validate_routes(app.routes)
    server = create_local_server(app, config, args.host, args.port, ui_site=ui_site(args.ui_dir))

    def shut_down(*_: object) -> None:
        # LocalDevServer.shutdown() deadlocks when called from the serving thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, shut_down)
    sys.stdout.flush()
    server.serve_forever()
    return 0


def ui_site(folder: Path | None) -> UiSite | None:
    """Prefect's UI from ``folder`` (None: the API alone); it asks for a key when the API wants one."""
    if folder is None:
        return None
    from chalicelib.config import get_settings

    return UiSite(folder, UiSettings(auth="BASIC" if get_settings().auth_required else None))


if __name__ == "__main__":
    sys.exit(main())
