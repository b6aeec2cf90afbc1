"""The ``cirrus`` command: operator tasks against a stage's tables."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from chalicelib.config import get_settings
from chalicelib.storage.tables import create_tables


def _create_tables(_: argparse.Namespace) -> int:
    created = create_tables(get_settings())
    print(json.dumps({"created": created}))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cirrus", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-tables", help="create the stage's DynamoDB tables if missing")
    create.set_defaults(handler=_create_tables)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
