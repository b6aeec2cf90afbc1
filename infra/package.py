"""``make package``: the Lambda artifact that ``make deploy`` uploads, built here and described.

It runs the very synth ``make deploy`` runs (``infra/app.py``: the Chalice construct packages the app
with Chalice's own packager, for the functions' runtime and architecture, from ``requirements.txt``)
and keeps what CloudFormation would deploy as the functions' code: the CDK asset that the template's
``CodeUri`` names, copied byte for byte. Into ``OUT`` (default ``build/package/<stage>``) it writes

- ``lambda.zip``: the functions' code (one package for every function of the stage);
- ``template.json``: the stage's synthesized CloudFormation template;
- ``manifest.json``: runtime, architecture, handlers, sizes (zipped, unzipped), SHA-256, and the
  fingerprint of the sources it was built from (``fingerprint()``: tests reuse a fresh build).

Usage: ``infra/.venv/bin/python infra/package.py [--stage dev] [--out DIR]``; prints the zip's path last.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

INFRA_DIR = Path(__file__).resolve().parent
REPO_ROOT = INFRA_DIR.parent
#: What the artifact is built from: a change to any of these makes a build stale.
SOURCES = ("app.py", "requirements.txt", ".chalice/config.json", "chalicelib", "infra")
_SKIP_PARTS = {"__pycache__", ".venv", "cdk.out", "chalice.out"}


def fingerprint(root: Path = REPO_ROOT) -> str:
    """SHA-256 over the paths and bytes of the sources the artifact is built from."""
    digest = hashlib.sha256()
    for source in SOURCES:
        path = root / source
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for file in files:
            relative = file.relative_to(root)
            if _SKIP_PARTS & set(relative.parts) or file.suffix == ".pyc":
                continue
            digest.update(str(relative).encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()


def functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The template's Chalice functions (SAM), by logical id."""
    return {
        name: resource["Properties"]
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def describe(zip_path: Path, template: dict[str, Any]) -> dict[str, Any]:
    """The manifest of a built artifact: what runs it, what is in it, how big it is."""
    props = list(functions(template).values())
    with zipfile.ZipFile(zip_path) as archive:
        infos = archive.infolist()
    return {
        "runtime": sorted({p["Runtime"] for p in props}),
        "architectures": sorted({a for p in props for a in p.get("Architectures", ["x86_64"])}),
        "handlers": {name: p["Handler"] for name, p in functions(template).items()},
        "zipped_bytes": zip_path.stat().st_size,
        "unzipped_bytes": sum(i.file_size for i in infos),
        "files": len(infos),
        "sha256": hashlib.sha256(zip_path.read_bytes()).hexdigest(),
    }


def build(stage: str, out: Path, python: str = sys.executable) -> Path:
    """Synthesize ``stage`` as ``make deploy`` does and keep its functions' code asset in ``out``."""
    source_fingerprint = fingerprint()
    with tempfile.TemporaryDirectory(prefix="cirrus-package-") as scratch:
        outdir = Path(scratch) / "cdk.out"
        env = {
            **os.environ,
            "CDK_OUTDIR": str(outdir),
            "CDK_CONTEXT_JSON": json.dumps({"stages": stage}),
            "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        }
        subprocess.run([python, str(INFRA_DIR / "app.py")], cwd=REPO_ROOT, env=env, check=True, timeout=900)
        template = json.loads((outdir / f"{stage}.template.json").read_text())
        keys = {json.dumps(p["CodeUri"]["Key"]) for p in functions(template).values()}
        if len(keys) != 1:
            raise SystemExit(f"expected one code asset for every function, found {sorted(keys)}")
        asset = outdir / f"asset.{json.loads(keys.pop())}"
        out.mkdir(parents=True, exist_ok=True)
        zip_path = out / "lambda.zip"
        shutil.copyfile(asset, zip_path)
        (out / "template.json").write_text(json.dumps(template, indent=1))
    manifest = {"stage": stage, "fingerprint": source_fingerprint, **describe(zip_path, template)}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return zip_path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or REPO_ROOT / "build" / "package" / args.stage
    zip_path = build(args.stage, out)
    manifest = json.loads((out / "manifest.json").read_text())
    print(
        f"{manifest['runtime']} {manifest['architectures']}: {manifest['zipped_bytes'] / 1e6:.1f} MB zipped, "
        f"{manifest['unzipped_bytes'] / 1e6:.1f} MB unzipped, {manifest['files']} files",
        file=sys.stderr,
    )
    print(zip_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
