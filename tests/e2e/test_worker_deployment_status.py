"""End to end: a real Prefect 3.9.1 process worker's poll makes its queue's deployments READY, and
the maintenance tick (every 3 s here, ``CIRRUS_LOCAL_TICK_SCALE=0.05``) emits one
``prefect.deployment.ready`` per deployment (``services/deployments/_status_events.py``,
``watch_queue``). The pool and deployments are made over HTTP; the only Prefect process is
``prefect worker start --run-once``."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pytest

from tests.e2e.local_stack import E2E_PYTHON, api, local_stack, missing_prefect, prefect_env, run_driver

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TICK_S = 3.0  # the zombie killer's rate(1 minute) x 0.05


@pytest.mark.skipif(missing_prefect() is not None, reason=missing_prefect() or "")
def test_a_workers_poll_gives_each_deployment_of_its_queue_one_ready_event(tmp_path: Path) -> None:
    with local_stack(tmp_path, {"CIRRUS_LOCAL_TICK_SCALE": "0.05"}) as (url, _), tempfile.TemporaryDirectory() as home:
        started = time.monotonic()
        assert api(url, "POST", "/work_pools/", {"name": "ready-pool", "type": "process"})[0] == 201
        _, flow = api(url, "POST", "/flows/", {"name": "f"})
        names = ["a", "b"]
        for name in names:
            body = {"name": name, "flow_id": flow["id"], "work_pool_name": "ready-pool"}
            assert api(url, "POST", "/deployments/", body)[0] in (200, 201)
        worker = [str(E2E_PYTHON.parent / "prefect"), "worker", "start", "--pool", "ready-pool", "--run-once"]
        code, out = run_driver(worker, prefect_env(url, Path(home)), 90)
        assert code == 0, out[-4000:]
        polled = time.monotonic()
        print(f"worker done after {polled - started:.1f} s")
        body = {"filter": {"event": {"prefix": ["prefect.deployment."]}, "order": "ASC"}}
        events: list[dict] = []
        while time.monotonic() < polled + 3 * TICK_S and len(events) < len(names):
            time.sleep(0.5)
            status, page = api(url, "POST", "/events/filter", body)
            assert status == 200, page
            events = page["events"]
        print(f"events after the poll: {time.monotonic() - polled:.1f} s")
    named = sorted((e["event"], e["resource"]["prefect.resource.name"]) for e in events)
    assert named == [("prefect.deployment.ready", name) for name in names], events
    related = events[0]["related"]
    assert {r["prefect.resource.role"] for r in related} == {"flow", "work-queue", "work-pool"}
