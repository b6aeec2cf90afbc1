"""The ``cirrus`` command: operator tasks against a stage's tables.

``cirrus api-key create NAME`` prints the new key once (it is stored only as a hash);
``list`` shows names, display prefixes and creation times; ``revoke NAME`` deletes a key at once.
``cirrus migrate-runs`` rewrites the flow and task runs an older version stored, once, after an
upgrade (so they enter this version's indexes), and enters every stored run into the run counts
(runs the counts hold already are skipped); idempotent, safe while the service runs.
Output is one JSON document on stdout; errors go to stderr with exit status 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from chalicelib.config import Settings, get_settings
from chalicelib.errors import ConflictError, InvalidRequestError, NotFoundError
from chalicelib.schemas.common import iso_z, utcnow
from chalicelib.services import api_keys
from chalicelib.services.blocks import types as block_types
from chalicelib.storage import open_repositories
from chalicelib.storage.api_keys import ApiKeyRecord
from chalicelib.storage.tables import create_tables


def _create_tables(_: argparse.Namespace) -> int:
    created = create_tables(get_settings())
    # Prefect's block catalog (idempotent; the API would also install it on its first block request).
    catalog = block_types.install_catalog(open_repositories(get_settings()), utcnow())
    print(json.dumps({"created": created, "block_catalog": catalog}))
    return 0


def _key_json(record: ApiKeyRecord) -> dict[str, str]:
    return {"name": record.name, "prefix": record.prefix, "created": iso_z(record.created)}


def _api_key_create(args: argparse.Namespace) -> int:
    issued = api_keys.create_api_key(open_repositories(get_settings()), args.name, utcnow())
    print(json.dumps({**_key_json(issued.record), "key": issued.key}))
    print("Store this key now: it cannot be shown again. Clients send it as PREFECT_API_KEY.", file=sys.stderr)
    return 0


def _api_key_list(_: argparse.Namespace) -> int:
    records = api_keys.list_api_keys(open_repositories(get_settings()))
    print(json.dumps([_key_json(r) for r in records]))
    return 0


def _api_key_revoke(args: argparse.Namespace) -> int:
    record = api_keys.revoke_api_key(open_repositories(get_settings()), args.name)
    print(json.dumps({"revoked": _key_json(record)}))
    return 0


def _migrate_runs(_: argparse.Namespace) -> int:
    print(json.dumps(migrate_runs(get_settings())))
    return 0


def migrate_runs(settings: Settings) -> dict[str, object]:
    """What ``cirrus migrate-runs`` does, for ``settings``' tables; returns its report."""
    repos = open_repositories(settings)
    report: dict[str, object] = {}
    for name, store in (("flow_runs", repos.flow_runs), ("task_runs", repos.task_runs)):
        rewritten = kept = 0
        cursor = None
        while True:
            done, left, cursor = store.rewrite_outdated(cursor)
            rewritten, kept = rewritten + done, kept + left
            if cursor is None:
                break
        report[name] = {"rewritten": rewritten, "current": kept}
    for kind in ("fr", "tr"):
        entered, cursor = 0, None
        while True:
            done, cursor = repos.run_counts.rebuild_page(kind, cursor)
            entered += done
            if cursor is None:
                break
        report[f"counted_{kind}"] = entered
    return report


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cirrus", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-tables", help="create the stage's DynamoDB tables if missing")
    create.set_defaults(handler=_create_tables)

    migrate = commands.add_parser("migrate-runs", help="rewrite flow runs stored by an older version (once)")
    migrate.set_defaults(handler=_migrate_runs)

    keys = commands.add_parser("api-key", help="create, list and revoke API keys")
    key_commands = keys.add_subparsers(dest="api_key_command", required=True)
    key_create = key_commands.add_parser("create", help="issue a key and print it (once)")
    key_create.add_argument("name", help="a unique name for the key's holder, e.g. 'ci' or 'worker-eu'")
    key_create.set_defaults(handler=_api_key_create)
    key_list = key_commands.add_parser("list", help="list keys (names, prefixes, creation times)")
    key_list.set_defaults(handler=_api_key_list)
    key_revoke = key_commands.add_parser("revoke", help="revoke a key by name; it stops working at once")
    key_revoke.add_argument("name")
    key_revoke.set_defaults(handler=_api_key_revoke)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except NotFoundError as exc:
        print(f"cirrus: {exc}: {exc.key}", file=sys.stderr)
        return 1
    except (ConflictError, InvalidRequestError) as exc:
        print(f"cirrus: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
