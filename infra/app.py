"""The CDK app: one ``cirrus-<stage>`` stack per deployed stage (``dev``, ``prod``).

Run by ``make synth`` (offline: ``app.synth()`` needs Node, not the cdk CLI or an AWS account) and by
the cdk CLI for ``make deploy``/``make destroy`` (``infra/cdk.json``). The context value ``stages``
(``-c stages=dev``, or ``CDK_CONTEXT_JSON``) picks the stacks: ``dev,prod`` when unset, ``dev`` under
the cdk CLI (``cdk.json``). The cloud assembly goes to ``$CDK_OUTDIR`` (set by the cdk CLI) or
``infra/cdk.out``. Prints the path of each synthesized template, the last one on the last line.
"""

from __future__ import annotations

import importlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

INFRA_DIR = Path(__file__).resolve().parent
REPO_ROOT = INFRA_DIR.parent

# `chalice package` imports the Chalice application as the module `app`: the repository root must
# come first on sys.path, ahead of this script's directory, whose app.py is this file.
sys.path[:] = [str(REPO_ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != INFRA_DIR]
# jsii prints a large end-of-life banner under Node 20 unless told not to.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
# Every deployed stage requires API keys. The routes pick up the gateway authorizer when the app is
# imported (chalicelib.api.auth.route_authorizer), whichever import in this process comes first.
os.environ["CIRRUS_AUTH_REQUIRED"] = "true"
# `chalice package` resolves service principals through a botocore client, which needs a region
# (no credentials, no call): the deploy's region under the cdk CLI, else us-east-1.
os.environ.setdefault("AWS_DEFAULT_REGION", os.environ.get("CDK_DEFAULT_REGION") or "us-east-1")

import aws_cdk as cdk  # noqa: E402

from devstack import ui_bundle  # noqa: E402
from infra.cirrus_stack import DEPLOYED_STAGES, CirrusStack  # noqa: E402


def requested_stages(app: cdk.App) -> list[str]:
    raw = app.node.try_get_context("stages") or ",".join(DEPLOYED_STAGES)
    stages = [s.strip() for s in str(raw).split(",") if s.strip()]
    unknown = sorted(set(stages) - set(DEPLOYED_STAGES))
    if unknown:
        raise SystemExit(f"unknown stage(s) {unknown}: choose from {list(DEPLOYED_STAGES)}")
    return stages


def check_app(app_module: str = "app") -> None:
    """Fail clearly where `chalice package` would fail obscurely: routes using an unregistered authorizer."""
    chalice_app = importlib.import_module(app_module).app
    if not any(auth.name == "api_key_authorizer" for auth in chalice_app.builtin_auth_handlers):
        raise SystemExit("app.py must register chalicelib.api.auth.bp (the routes use its authorizer)")


def main() -> int:
    check_app()
    # Prefect's UI (static files of the pinned prefect wheel, uploaded to S3): `make ui`'s folder,
    # fetched here when absent so that a synth works from a fresh clone.
    ui_dir = ui_bundle.install()
    outdir = None if os.environ.get("CDK_OUTDIR") else str(INFRA_DIR / "cdk.out")
    app = cdk.App(outdir=outdir)
    # The Chalice construct packages the app into ./chalice.out/<uuid>/ (~17 MB a stage): do it in a
    # scratch directory, removed once the assembly (which holds its own copy of the code) is written.
    scratch = tempfile.mkdtemp(prefix="cirrus-chalice-")
    cwd = os.getcwd()
    try:
        os.chdir(scratch)
        stacks = [CirrusStack(app, stage, source_dir=REPO_ROOT, ui_dir=ui_dir) for stage in requested_stages(app)]
        assembly = app.synth()
    finally:
        os.chdir(cwd)
        shutil.rmtree(scratch, ignore_errors=True)
    sys.stderr.flush()
    for stack in stacks:
        print(assembly.get_stack_by_name(stack.stack_name).template_full_path, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
