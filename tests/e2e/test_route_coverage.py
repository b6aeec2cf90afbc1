"""The route-coverage table (README.md, docs/routes.md) is what tools/route_coverage.py computes now
from Prefect 3.9.1's OpenAPI document and Cirrus's routes: adding or stubbing a route without
regenerating it fails here."""

import subprocess
import sys

import pytest

from devstack.prefect_api import prefect_openapi
from tests.e2e.local_stack import E2E_PYTHON, ROOT, missing_prefect

pytestmark = [pytest.mark.e2e]


def test_the_route_coverage_table_is_current():
    reason = missing_prefect()
    if reason:
        pytest.skip(reason)
    prefect_openapi(E2E_PYTHON)  # cached for the tool (which reads the same cache)
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "route_coverage.py"), "--check"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_stub_views_are_counted_apart():
    sys.path.insert(0, str(ROOT / "tools"))
    import route_coverage

    routes = route_coverage.cirrus_routes()
    assert routes[("POST", "/saved_searches/filter")] == "stub"
    assert routes[("POST", "/flows/filter")] == "served"
    assert ("PATCH", "/flows/filter") not in routes  # the fallbacks' 405 is no route served
