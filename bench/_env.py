"""What a benchmark sets up before importing Cirrus: the project root on ``sys.path`` (a script in
``bench/`` runs with ``bench/`` there instead) and AWS credentials for DynamoDB Local and moto,
which accept any (set only where none are)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
for _name, _value in {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
}.items():
    os.environ.setdefault(_name, _value)
