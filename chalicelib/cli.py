"""The ``cirrus`` command: operator tasks against a stage's tables.

``cirrus api-key create NAME`` prints the new key once (it is stored only as a hash);
``list`` shows names, display prefixes and creation times; ``revoke NAME`` deletes a key at once.
``cirrus schedule ls DEPLOYMENT`` lists a deployment's schedules with Cirrus's policies (DEPLOYMENT:
its id or ``flow-name/deployment-name``); ``cirrus schedule set DEPLOYMENT SCHEDULE --catchup-window
600 --start-at 2027-01-01T00:00:00Z --end-at none --pause-on-failure on`` changes them (SCHEDULE:
its id or slug; ``none`` clears a policy).
``cirrus migrate-runs`` copies the flow runs of the runs table before this version's
(``<prefix>flow_runs``, keyed by id; ``--from-table NAME`` names another) into this version's
(``flow_runs_v2``), rewrites the flow and task runs an older version stored, once, after an upgrade
(so they enter this version's indexes), gives deployments of a work pool's queue stored before
``by-queue`` their entry, and enters every stored run into the run counts (runs the counts hold
already are skipped); idempotent, safe while the service runs.
Output is one JSON document on stdout; errors go to stderr with exit status 1.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections.abc import Sequence

from pydantic import ValidationError

from chalicelib.config import Settings, get_settings
from chalicelib.errors import ConflictError, InvalidRequestError, NotFoundError
from chalicelib.schemas.common import iso_z, utcnow
from chalicelib.schemas.deployments import DeploymentSchedule, DeploymentScheduleUpdate
from chalicelib.services import api_keys, blocks, deployments
from chalicelib.storage import ApiKeyRecord, create_tables, open_repositories


def _create_tables(_: argparse.Namespace) -> int:
    created = create_tables(get_settings())
    # Prefect's block catalog (idempotent; the API would also install it on its first block request).
    catalog = blocks.install_catalog(open_repositories(get_settings()), utcnow())
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


def _deployment_id(text: str) -> uuid.UUID:
    """A deployment named by its id or ``flow-name/deployment-name``."""
    try:
        return uuid.UUID(text)
    except ValueError:
        flow, _, name = text.partition("/")
        if not name:
            raise InvalidRequestError(
                ("deployment",), "name a deployment by its id or as flow-name/deployment-name"
            ) from None
        return deployments.read_deployment_by_name(open_repositories(get_settings()), flow, name, utcnow()).id


#: ``cirrus schedule set`` options → policy fields; "none" clears one.
_POLICY_OPTIONS = ("start_at", "end_at", "catchup_window", "pause_on_failure", "jitter", "overlap")


def _schedule_json(schedule: DeploymentSchedule) -> dict[str, object]:
    return schedule.model_dump(
        mode="json",
        include={
            "id",
            "slug",
            "active",
            "schedule",
            "start_at",
            "end_at",
            "catchup_window",
            "pause_on_failure",
            "jitter",
            "overlap",
            "paused_by_failure",
        },
    )


def _schedule_ls(args: argparse.Namespace) -> int:
    schedules = deployments.list_schedules(open_repositories(get_settings()), _deployment_id(args.deployment))
    print(json.dumps([_schedule_json(s) for s in schedules]))
    return 0


def _schedule_set(args: argparse.Namespace) -> int:
    settings = get_settings()
    repos = open_repositories(settings)
    deployment_id = _deployment_id(args.deployment)
    schedules = deployments.list_schedules(repos, deployment_id)
    chosen = next((s for s in schedules if str(s.id) == args.schedule or s.slug == args.schedule), None)
    if chosen is None:
        raise InvalidRequestError(("schedule",), f"no schedule {args.schedule!r} in deployment {deployment_id}")
    given = {name: getattr(args, name) for name in _POLICY_OPTIONS if getattr(args, name) is not None}
    values = {name: None if raw == "none" else {"on": True, "off": False}.get(raw, raw) for name, raw in given.items()}
    for name in ("catchup_window", "jitter"):
        if values.get(name) is not None:
            try:
                values[name] = float(values[name])  # type: ignore[arg-type]
            except ValueError:
                raise InvalidRequestError((name,), f"--{name.replace('_', '-')} takes seconds or 'none'") from None
    if isinstance(values.get("overlap"), str):
        values["overlap"] = values["overlap"].upper()
    try:
        body = DeploymentScheduleUpdate.model_validate(values)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        option = "--" + str(error["loc"][0]).replace("_", "-") if error["loc"] else "a policy"
        raise InvalidRequestError(tuple(error["loc"]), f"{option}: {error['msg']}") from exc
    deployments.update_schedule(repos, settings, deployment_id, chosen.id, body, utcnow())
    (updated,) = [s for s in deployments.list_schedules(repos, deployment_id) if s.id == chosen.id]
    print(json.dumps(_schedule_json(updated)))
    return 0


def _migrate_runs(args: argparse.Namespace) -> int:
    print(json.dumps(migrate_runs(get_settings(), args.from_table)))
    return 0


#: The flow runs table of the versions before 2026-12-06 (keyed by id alone).
PREVIOUS_RUNS_TABLE = "flow_runs"


def migrate_runs(settings: Settings, from_table: str | None = None) -> dict[str, object]:
    """What ``cirrus migrate-runs`` does, for ``settings``' tables; returns its report."""
    repos = open_repositories(settings)
    report: dict[str, object] = {}
    source = from_table or f"{settings.tables_prefix}{PREVIOUS_RUNS_TABLE}"
    # Changes made there just before the upgrade that the counts have not applied (their consumer
    # went with it); its deletes in particular, which the copy cannot bring.
    drained = repos.run_counts.drain_previous_runs(source)
    copied = present = 0
    cursor = None
    while True:
        done, there, cursor = repos.flow_runs.copy_from(source, cursor)
        copied, present = copied + done, present + there
        if cursor is None:
            break
    report["copied_flow_runs"] = {"from": source, "copied": copied, "present": present, "stream_records": drained}
    entered, kept = repos.deployments.enter_queue_index()
    report["deployments_by_queue"] = {"entered": entered, "current": kept}
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

    migrate = commands.add_parser("migrate-runs", help="copy and rewrite runs stored by an older version (once)")
    migrate.add_argument("--from-table", help="the runs table to copy from (default: the stage's flow_runs)")
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

    schedules = commands.add_parser("schedule", help="list and change a deployment's schedule policies")
    schedule_commands = schedules.add_subparsers(dest="schedule_command", required=True)
    schedule_ls = schedule_commands.add_parser("ls", help="a deployment's schedules, with Cirrus's policies")
    schedule_ls.add_argument("deployment", help="the deployment's id or flow-name/deployment-name")
    schedule_ls.set_defaults(handler=_schedule_ls)
    schedule_set = schedule_commands.add_parser("set", help="set or clear ('none') a schedule's policies")
    schedule_set.add_argument("deployment", help="the deployment's id or flow-name/deployment-name")
    schedule_set.add_argument("schedule", help="the schedule's id or slug")
    schedule_set.add_argument("--start-at", dest="start_at", help="ISO 8601 time, or none")
    schedule_set.add_argument("--end-at", dest="end_at", help="ISO 8601 time, or none")
    schedule_set.add_argument("--catchup-window", dest="catchup_window", help="seconds, or none")
    schedule_set.add_argument("--pause-on-failure", dest="pause_on_failure", choices=("on", "off"))
    schedule_set.add_argument("--jitter", dest="jitter", help="seconds, or none")
    schedule_set.add_argument(
        "--overlap", dest="overlap", help="ALLOW_ALL, SKIP, BUFFER_ONE, BUFFER_ALL, CANCEL_OTHER, or none"
    )
    schedule_set.set_defaults(handler=_schedule_set)
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
