"""Hostile requests over real HTTP: ``python bench/hostile_http.py`` prints one JSON line with the
number of hostile requests sent and the number answered with a 5xx (which must be 0).

It starts the local stack (``python -m devstack``) on free ports, on DynamoDB Local when it
is installed (``make dynamodb-local``; it enforces DynamoDB's item and key limits) else on the
embedded moto server, and sends every case of tests/e2e/http_fuzz.py: each whole-body attack to
every route that takes a body, OPTIONS on every path, HEAD on every GET, 1-2 MB bodies to the
create routes, and every Prefect-schema body with one field made hostile (``--fields N`` samples
N of those instead). It also counts refused writes that changed the store and JSON answers that
Prefect 3.9.1's response schemas refuse. Needs ``.venv-e2e`` (Prefect's OpenAPI document).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from _env import ROOT  # noqa: E402  (first: the project root on sys.path)

from tests.e2e import http_fuzz  # noqa: E402
from tests.e2e.local_stack import E2E_PYTHON  # noqa: E402

CONFORMANCE = ROOT / "tests" / "e2e" / "openapi_conformance.py"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fields", type=int, default=None, help="sample this many one-field cases (default: all)")
    parser.add_argument("--dynamodb", choices=("auto", "local", "moto"), default="auto")
    args = parser.parse_args()
    doc = http_fuzz.prefect_openapi(E2E_PYTHON)
    with tempfile.TemporaryDirectory() as tmp:
        with http_fuzz.fuzz_stack(Path(tmp), dynamodb=args.dynamodb) as stack:
            report = http_fuzz.fuzz(stack, doc, fields=args.fields)
        samples = Path(tmp) / "samples.json"
        samples.write_text(json.dumps(report.samples))
        openapi = http_fuzz.CACHE / f"prefect-{http_fuzz.PREFECT_VERSION}-openapi.json"
        out = subprocess.run([str(E2E_PYTHON), str(CONFORMANCE), str(openapi), str(samples)],
                             capture_output=True, text=True, timeout=600, check=True)  # fmt: skip
    conformance = json.loads(out.stdout)
    summary = {
        **report.summary(),
        "answers_checked_against_prefect_schemas": conformance["checked"],
        "nonconforming_answers": len(conformance["failures"]),
    }
    print(json.dumps(summary))
    for line in report.server_errors[:20] + report.left_behind[:20] + report.edge_accepted[:20] + report.broken[:20]:
        print(line, file=sys.stderr)
    for failure in conformance["failures"][:20]:
        print(json.dumps(failure), file=sys.stderr)
    return 1 if report.server_errors or report.left_behind or report.broken or conformance["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
