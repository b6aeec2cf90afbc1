"""The deployed artifact, rehearsed: the Lambda package ``make package`` builds, run here.

Fixtures:

- ``artifact``: ``build/package/dev`` (``lambda.zip``, ``template.json``, ``manifest.json``), reused
  when its manifest's source fingerprint is today's, else built by ``infra/package.py`` with the
  infra virtualenv (the same synth as ``make deploy``; ~30 s). xdist workers share one build (a lock).
- ``task_dir``: the zip unzipped, as Lambda unpacks it into ``/var/task``.
- ``runtime_python``: a clean virtualenv of the functions' Python version holding nothing but the
  boto3 the Lambda runtime ships (:data:`LAMBDA_RUNTIME_BOTO3`), cached in ``.cache/lambda-runtime``.
- ``invoke``: runs one function of the template on a list of events in that runtime
  (``lambda_runtime.py``), with the function's environment from the template.

Without the infra virtualenv these tests skip, unless ``CIRRUS_INFRA_PYTHON`` names it (``make test``).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from infra.package import build, fingerprint, functions
from tests.infra.test_template import _infra_python

ROOT = Path(__file__).resolve().parents[2]
STAGE = "dev"
PACKAGE_DIR = ROOT / "build" / "package" / STAGE
RUNTIME_SCRIPT = Path(__file__).with_name("lambda_runtime.py")
#: The SDK the Lambda runtime itself provides, by runtime (AWS lists it per runtime and region at
#: https://docs.aws.amazon.com/lambda/latest/dg/lambda-python.html#python-sdk-included and updates it
#: now and then). The package ships its own botocore (pynamodb's), which shadows the runtime's; boto3
#: (API Gateway's management API, for the websocket) comes from the runtime. The runtime's botocore
#: carries the same version number.
LAMBDA_RUNTIME_BOTO3 = {"python3.11": "1.34.145", "python3.12": "1.34.145", "python3.13": "1.34.145"}
#: What every function runs with besides its template environment (Lambda sets these itself).
LAMBDA_ENV = {
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_EXECUTION_ENV": "AWS_Lambda_python",
    "LAMBDA_RUNTIME_DIR": "/var/runtime",
    "TZ": ":UTC",
}


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _fresh(directory: Path) -> bool:
    manifest = directory / "manifest.json"
    return manifest.is_file() and json.loads(manifest.read_text()).get("fingerprint") == fingerprint()


@pytest.fixture(scope="session")
def artifact() -> dict[str, Any]:
    """``{"zip": Path, "template": dict, "manifest": dict}`` of the stage's package, fresh."""
    with _locked(PACKAGE_DIR.parent / ".lock"):
        if not _fresh(PACKAGE_DIR):
            build(STAGE, PACKAGE_DIR, python=str(_infra_python()))
    return {
        "zip": PACKAGE_DIR / "lambda.zip",
        "template": json.loads((PACKAGE_DIR / "template.json").read_text()),
        "manifest": json.loads((PACKAGE_DIR / "manifest.json").read_text()),
    }


@pytest.fixture(scope="session")
def task_dir(artifact: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("var-task")
    with zipfile.ZipFile(artifact["zip"]) as archive:
        archive.extractall(target)
    return target


def _interpreter(version: str) -> Path | None:
    """An interpreter of ``version`` (``3.11``) on this machine: on PATH, or one of pyenv's."""
    found = shutil.which(f"python{version}")
    if found:
        return Path(found)
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates = sorted(pyenv.glob(f"{version}.*/bin/python{version}")) if pyenv.is_dir() else []
    return candidates[-1] if candidates else None


@pytest.fixture(scope="session")
def runtime_python(artifact: dict[str, Any]) -> Path:
    """The clean interpreter standing in for the functions' runtime (see the module doc)."""
    (runtime,) = artifact["manifest"]["runtime"]
    version = runtime.removeprefix("python")
    boto3_version = LAMBDA_RUNTIME_BOTO3.get(runtime)
    if boto3_version is None:
        pytest.fail(f"{runtime}: add the boto3 its Lambda runtime ships to LAMBDA_RUNTIME_BOTO3")
    base = _interpreter(version)
    if base is None:
        pytest.fail(f"no Python {version} on this machine for the {runtime} runtime")
    return tool_venv(f"lambda-runtime/{runtime}-boto3-{boto3_version}", base, [f"boto3=={boto3_version}",
                     f"botocore=={boto3_version}"])  # fmt: skip


def tool_venv(name: str, base: Path, requirements: list[str]) -> Path:
    """The interpreter of a virtualenv holding only ``requirements`` (pinned), cached in ``.cache/<name>``
    and built once (under a lock) from the interpreter ``base``."""
    venv = ROOT / ".cache" / name
    python = venv / "bin" / "python"
    with _locked(venv.parent / f".{venv.name}.lock"):
        if not (venv / ".installed").exists():
            shutil.rmtree(venv, ignore_errors=True)
            subprocess.run([str(base), "-m", "venv", str(venv)], check=True, timeout=300)
            subprocess.run([str(python), "-m", "pip", "install", "-q", *requirements], check=True, timeout=600)
            (venv / ".installed").touch()
    return python


def resolve_env(variables: dict[str, Any]) -> dict[str, str]:
    """A template's environment with its intrinsics resolved as CloudFormation would, with stand-ins:
    pseudo-parameters, a ``Ref`` to a resource (its logical id), a ``Fn::GetAtt`` of an ``Arn`` (an
    ARN naming the logical id; a KMS key's is never called here)."""
    pseudo = {"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws"}
    resolved = {}
    for name, value in variables.items():
        if isinstance(value, dict) and set(value) == {"Ref"}:
            value = pseudo.get(value["Ref"], value["Ref"])
        elif isinstance(value, dict) and set(value) == {"Fn::GetAtt"} and value["Fn::GetAtt"][1] == "Arn":
            value = f"arn:aws:kms:us-east-1:123456789012:key/{value['Fn::GetAtt'][0]}"
        assert isinstance(value, str), f"{name}: unresolved {value!r}"
        resolved[name] = value
    return resolved


Invoke = Callable[..., dict[str, Any]]


@pytest.fixture(scope="session")
def invoke(artifact: dict[str, Any], task_dir: Path, runtime_python: Path, tmp_path_factory) -> Invoke:
    """``invoke(function, events, extra_env=None)``: the runtime's answer (``lambda_runtime.py``)."""
    answers = tmp_path_factory.mktemp("answers")
    by_id = functions(artifact["template"])

    def run(function: str, events: list[Any], extra_env: dict[str, str] | None = None) -> dict[str, Any]:
        props = by_id[function]
        env = {**LAMBDA_ENV, **resolve_env(props["Environment"]["Variables"]), **(extra_env or {})}
        env |= {"AWS_LAMBDA_FUNCTION_NAME": function, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(props["MemorySize"])}
        request = {"handler": props["Handler"], "env": env, "timeout_s": props["Timeout"], "events": events}
        request["function_name"] = function
        answer = answers / f"{function}-{len(list(answers.iterdir()))}.json"
        done = subprocess.run(
            [str(runtime_python), "-I", str(RUNTIME_SCRIPT), str(task_dir), str(answer)],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            timeout=120,
            env={"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8"},
            cwd=task_dir,
        )
        assert done.returncode == 0 and answer.exists(), f"{function} crashed:\n{done.stderr[-4000:]}"
        result = json.loads(answer.read_text())
        result["log"] = done.stdout + done.stderr
        return result

    return run


@pytest.fixture(scope="session")
def ddb_endpoint() -> Iterator[str]:
    """A DynamoDB Local of these tests' own (the suite's shared one holds the models' test tables)."""
    from devstack import dynamodb_local as ddb

    if not ddb.available():
        pytest.fail(f"DynamoDB Local: {ddb.unavailable_reason()} (make dynamodb-local)", pytrace=False)
    with ddb.DynamoDBLocal() as instance:
        yield instance.endpoint


def dynamodb_client(endpoint: str, service: str = "dynamodb") -> Any:
    import boto3

    from devstack.dynamodb_local import DUMMY_CREDENTIALS

    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )
