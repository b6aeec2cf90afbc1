"""Check Cirrus's answers against Prefect's published response schemas (run by the e2e interpreter).

``python openapi_conformance.py OPENAPI.json SAMPLES.json`` reads Prefect's OpenAPI document and a
list of ``{method, path, status, body}`` answers (``path`` is the template in that document) and
prints one JSON object: ``{"checked": n, "failures": [{method, path, status, error}, ...]}``. A
failure is an answer Prefect's own schema forbids: Prefect's client may refuse to parse it.

It runs under ``.venv-e2e`` (prefect's ``jsonschema``), not Cirrus's virtualenv.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from jsonschema import Draft202012Validator


def response_schema(doc: dict[str, Any], method: str, path: str, status: int) -> dict[str, Any] | None:
    responses = doc["paths"].get(path, {}).get(method.lower(), {}).get("responses", {})
    answer = responses.get(str(status)) or next((r for code, r in responses.items() if code.startswith("2")), None)
    if answer is None:
        return None
    return answer.get("content", {}).get("application/json", {}).get("schema")


def check(doc: dict[str, Any], samples: list[dict[str, Any]]) -> dict[str, Any]:
    failures = []
    checked = 0
    for sample in samples:
        schema = response_schema(doc, sample["method"], sample["path"], sample["status"])
        if not schema:
            continue
        checked += 1
        validator = Draft202012Validator(
            {**schema, "components": doc["components"]}, format_checker=Draft202012Validator.FORMAT_CHECKER
        )
        errors = sorted(validator.iter_errors(sample["body"]), key=lambda e: list(e.absolute_path))
        for error in errors[:3]:
            failures.append({
                "method": sample["method"], "path": sample["path"], "status": sample["status"],
                "at": list(error.absolute_path), "error": error.message[:300],
            })  # fmt: skip
    return {"checked": checked, "failures": failures}


def main(argv: list[str]) -> int:
    doc = json.loads(open(argv[1]).read())
    samples = json.loads(open(argv[2]).read())
    print(json.dumps(check(doc, samples)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
