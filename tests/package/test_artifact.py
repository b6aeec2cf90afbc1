"""The Lambda package ``make deploy`` uploads: complete, lean, and importable on Lambda's runtime alone.

Size budget (stated here, checked below): **32 MB zipped, 56 MB unzipped**. Lambda's own limits are
50 MB zipped for a direct upload and 250 MB unzipped; the budget keeps the package close to what it
measured (27.2 MB zipped, 2026-12-05: botocore 21.9 MB unzipped, which pynamodb requires, and
``cryptography`` 15.3 MB, which seals block documents), so that an accidental dependency shows up
here rather than in cold starts.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import zipfile
from collections import Counter
from email.parser import HeaderParser
from pathlib import Path
from typing import Any

from infra.package import functions
from tests.package.conftest import LAMBDA_RUNTIME_BOTO3, ROOT

ZIPPED_BUDGET_BYTES = 32 * 1000 * 1000
UNZIPPED_BUDGET_BYTES = 56 * 1000 * 1000
#: The product's own top-level entries; Chalice adds its runtime module (``chalice/app.py``).
PRODUCT = {"app.py", "chalicelib", "chalice"}
#: Never in a Lambda: the repository's dev-only folders and the test/dev tools by import name.
NEVER = {
    "devstack", "tests", "bench", "infra", "docs", "build", ".chalice", ".venv",
    "moto", "pytest", "_pytest", "xdist", "hypothesis", "aiohttp", "playwright", "ruff", "importlinter",
    "werkzeug", "flask", "responses", "cfn_lint", "aws_cdk", "jsii", "boto3", "awscli",
}  # fmt: skip


def _top_levels(names: list[str]) -> set[str]:
    return {name.split("/", 1)[0] for name in names}


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _dists(archive: zipfile.ZipFile) -> dict[str, dict[str, Any]]:
    """The distributions in the package (their ``*.dist-info``): version, requirements, top levels."""
    out = {}
    for name in archive.namelist():
        if name.endswith(".dist-info/METADATA") and name.count("/") == 1:
            info = name.split("/", 1)[0]
            metadata = HeaderParser().parsestr(archive.read(name).decode())
            record = archive.read(f"{info}/RECORD").decode().splitlines()
            out[_normal(metadata["Name"])] = {
                "version": metadata["Version"],
                "requires": [
                    _normal(re.split(r"[ ;<>=!~\[(]", r, maxsplit=1)[0])
                    for r in metadata.get_all("Requires-Dist") or []
                    if "extra ==" not in r
                ],
                "top_levels": _top_levels([line.split(",", 1)[0] for line in record if line]) - {info},
            }
    return out


def _requirements() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[_normal(name)] = version.strip()
    return pins


def test_the_package_is_the_code_every_function_deploys(artifact):
    """One code asset for every function (``make package`` copies it from the synth), as built."""
    template, manifest = artifact["template"], artifact["manifest"]
    assert hashlib.sha256(artifact["zip"].read_bytes()).hexdigest() == manifest["sha256"]
    assert {json.dumps(p["CodeUri"]) for p in functions(template).values()} and len(
        {p["CodeUri"]["Key"] for p in functions(template).values()}
    ) == 1
    assert manifest["handlers"] == {name: p["Handler"] for name, p in functions(template).items()}
    (runtime,) = manifest["runtime"]
    assert re.fullmatch(r"python3\.1[1-4]", runtime), runtime
    assert manifest["architectures"] == ["x86_64"]  # Chalice's default: the wheels below are manylinux x86_64


def test_the_package_keeps_within_its_size_budget(artifact):
    manifest = artifact["manifest"]
    with zipfile.ZipFile(artifact["zip"]) as archive:
        sizes: Counter[str] = Counter()
        for info in archive.infolist():
            sizes[info.filename.split("/", 1)[0]] += info.file_size
    biggest = ", ".join(f"{name} {size / 1e6:.1f} MB" for name, size in sizes.most_common(6))
    assert manifest["zipped_bytes"] <= ZIPPED_BUDGET_BYTES, f"{manifest['zipped_bytes'] / 1e6:.1f} MB: {biggest}"
    assert manifest["unzipped_bytes"] <= UNZIPPED_BUDGET_BYTES, f"{manifest['unzipped_bytes'] / 1e6:.1f} MB: {biggest}"


def test_the_package_holds_the_product_and_its_runtime_requirements_only(artifact):
    """Every top-level entry is the product, Chalice's runtime module, or a file of a distribution
    that requirements.txt pins (or one they require, transitively); each pin at its pinned version;
    nothing dev-only (the dev stack, tests, test tools, boto3 which the runtime provides)."""
    with zipfile.ZipFile(artifact["zip"]) as archive:
        names = archive.namelist()
        dists = _dists(archive)
    pins = _requirements()
    for name, version in pins.items():
        assert name in dists and dists[name]["version"] == version, (name, dists.get(name, {}).get("version"))

    closure, todo = set(), list(pins)
    while todo:
        name = todo.pop()
        if name not in closure and name in dists:
            closure.add(name)
            todo.extend(dists[name]["requires"])
    assert set(dists) == closure, f"not required by requirements.txt: {sorted(set(dists) - closure)}"

    owned = {top for dist in dists.values() for top in dist["top_levels"]}
    infos = {name.split("/", 1)[0] for name in names if name.split("/", 1)[0].endswith(".dist-info")}
    stray = _top_levels(names) - PRODUCT - owned - infos
    assert not stray, f"in the package but neither the product nor a runtime requirement: {sorted(stray)}"
    assert not _top_levels(names) & NEVER
    assert not [n for n in names if n.startswith("chalicelib/") and ("/tests/" in n or "/local/" in n)]
    assert "chalice" not in dists  # Chalice's runtime is one module it adds, not the CLI's distribution
    assert sorted(n for n in names if n.startswith("chalice/") and n.endswith(".py")) == [
        "chalice/__init__.py",
        "chalice/app.py",
    ]


def test_every_handler_imports_from_the_package_alone(artifact, invoke):
    """Each function's handler imports on a clean interpreter of its runtime with the package first on
    sys.path and the runtime's boto3 behind it: nothing it loads comes from outside the package and the
    standard library (boto3 is only imported when the websocket answers)."""
    imported = {}
    for function, handler in artifact["manifest"]["handlers"].items():
        if handler in imported:
            continue
        answer = invoke(function, [])
        origins = answer["modules"].items()
        outside = {name: origin for name, origin in origins if origin not in ("task", "stdlib", "builtin")}
        assert not outside, f"{handler} imports from outside the package: {sorted(outside)}"
        assert "app" in answer["modules"] or handler.startswith("chalicelib."), handler
        imported[handler] = answer["import_s"]
    assert len(imported) == len(set(artifact["manifest"]["handlers"].values()))


def test_the_runtime_boto3_works_over_the_packaged_botocore(artifact, task_dir, runtime_python):
    """On Lambda the package's botocore (pynamodb's) shadows the runtime's, under the runtime's boto3:
    the clients the code makes (DynamoDB, API Gateway's management API) must build with that pair."""
    (runtime,) = artifact["manifest"]["runtime"]
    script = (
        "import sys, json; sys.path.insert(0, sys.argv[1]); import boto3, botocore; "
        "s = boto3.session.Session(region_name='us-east-1', aws_access_key_id='x', aws_secret_access_key='y'); "
        "s.client('dynamodb'); "
        "s.client('apigatewaymanagementapi', endpoint_url='https://abc123.execute-api.us-east-1.amazonaws.com/api'); "
        "print(json.dumps([boto3.__version__, botocore.__version__, botocore.__file__, boto3.__file__]))"
    )
    done = subprocess.run(
        [str(runtime_python), "-I", "-c", script, str(task_dir)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    boto3_version, botocore_version, botocore_file, boto3_file = json.loads(done.stdout)
    assert boto3_version == LAMBDA_RUNTIME_BOTO3[runtime]
    assert Path(botocore_file).resolve().is_relative_to(task_dir.resolve())
    assert not Path(boto3_file).resolve().is_relative_to(task_dir.resolve())
    with zipfile.ZipFile(artifact["zip"]) as archive:
        assert _dists(archive)["botocore"]["version"] == botocore_version
