"""Hostile requests over real HTTP against the local stack (issue 16), on DynamoDB Local when it is
installed (``make test`` installs it; it enforces the item and key limits moto does not): every
route, bodies from Prefect's OpenAPI request schemas with one field made hostile plus whole-body
attacks, OPTIONS on every path and HEAD on every GET on one kept-alive connection. No answer is a
5xx or a broken connection, a refused write leaves the store as it was, and every JSON answer
conforms to Prefect 3.9.1's own response schemas (the document generated from ``.venv-e2e``).

Then Prefect's own client reads back every list (``read_back_driver.py``): whatever was accepted
must validate in its models.

``CIRRUS_FUZZ_FIELDS`` (default 100) is how many one-hostile-field bodies are sampled; two
whole-body attacks go to each route. bench/hostile_http.py sends every case.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from devstack import dynamodb_local
from devstack.prefect_api import CACHE, PREFECT_VERSION, prefect_openapi
from tests.e2e import http_fuzz
from tests.e2e.local_stack import E2E_PYTHON, REQUIRED_E2E_PYTHON, missing_prefect

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

FIELDS = int(os.environ.get("CIRRUS_FUZZ_FIELDS", "100"))
CONFORMANCE = Path(__file__).with_name("openapi_conformance.py")
READ_BACK = Path(__file__).with_name("read_back_driver.py")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> http_fuzz.Report:
    reason = missing_prefect()
    if reason:
        pytest.skip(reason)
    doc = prefect_openapi(E2E_PYTHON)
    # `make test` installs DynamoDB Local: there the fuzz must run on it, not fall back to moto.
    store = "local" if REQUIRED_E2E_PYTHON or dynamodb_local.available() else "auto"
    with http_fuzz.fuzz_stack(tmp_path_factory.mktemp("fuzz"), dynamodb=store) as stack:
        result = http_fuzz.fuzz(stack, doc, fields=FIELDS, per_route=2)
        env = {"PATH": os.environ.get("PATH", ""), "PREFECT_API_URL": stack.url, "PREFECT_CLIENT_MAX_RETRIES": "0"}
        home = tmp_path_factory.mktemp("prefect-home")
        env.update(HOME=str(home), PREFECT_HOME=str(home), PREFECT_SERVER_ALLOW_EPHEMERAL_MODE="false")
        out = subprocess.run([str(E2E_PYTHON), str(READ_BACK)], env=env, capture_output=True, text=True,
                             timeout=180, check=True)  # fmt: skip
        result.read_back = json.loads(out.stdout.strip().splitlines()[-1])
    print(json.dumps(result.summary()))
    return result


def test_no_hostile_request_gets_a_5xx(report):
    assert report.sent >= 200
    assert not report.server_errors, "\n".join(report.server_errors[:20])


def test_everything_accepted_reads_back_through_prefects_client(report):
    assert report.read_back["objects"] >= 10, report.read_back
    assert not report.read_back["refused"], json.dumps(report.read_back["refused"], indent=1)


def test_no_connection_is_broken_by_head_or_options(report):
    assert not report.broken, "\n".join(report.broken[:20])
    assert report.statuses[0] == 0


def test_a_refused_write_leaves_nothing_behind(report):
    assert not report.left_behind, "\n".join(report.left_behind[:20])


def test_bodies_the_edge_policy_refuses_are_4xx_on_every_route(report):
    assert not report.edge_accepted, "\n".join(report.edge_accepted[:20])
    assert report.statuses[413] >= 1 and report.statuses[422] >= 100


def test_answers_conform_to_prefects_response_schemas(report, tmp_path):
    samples = tmp_path / "samples.json"
    samples.write_text(json.dumps(report.samples))
    openapi = CACHE / f"prefect-{PREFECT_VERSION}-openapi.json"
    out = subprocess.run(
        [str(E2E_PYTHON), str(CONFORMANCE), str(openapi), str(samples)],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    result = json.loads(out.stdout)
    assert result["checked"] >= 20
    assert not result["failures"], json.dumps(result["failures"][:10], indent=1)
