"""Expand the template's SAM transform (``AWS::Serverless-2016-10-31``) offline, as CloudFormation does.

Run by the interpreter of the pinned ``aws-sam-translator`` (its own virtualenv, ``conftest``: it pins
a pydantic the product's cannot share): ``python sam_translate.py < template.json > expanded.json``.
The Chalice functions and REST API become plain Lambda, IAM, Events and API Gateway resources that an
emulator without the transform can create. Managed policies are never looked up (the stack uses none).
"""

from __future__ import annotations

import json
import os
import sys

from samtranslator.translator.transform import transform


class _NoManagedPolicies:
    def load(self) -> dict[str, str]:
        return {}


def main() -> int:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")  # the translator asks boto3 for a region
    template = json.load(sys.stdin)
    parameters = {"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws"}
    expanded = transform(template, parameters, _NoManagedPolicies())
    json.dump(expanded, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
