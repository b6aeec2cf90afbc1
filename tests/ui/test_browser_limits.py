"""Prefect's UI in headless Chromium against the local stack (fixtures of ``test_browser.py``): the
Resume button of a paused run resumes it, and the Concurrency page's Task Run tab shows a tag limit
with the task run holding its slot (taken through v1's ``/concurrency_limits/increment``)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.local.test_stack import RunningStack, cleanup  # noqa: F401 - fixture
from tests.ui import test_browser
from tests.ui.test_browser import PAGE_TIMEOUT_MS, SCREENSHOTS, PageWatch, browser, visit

pytestmark = [pytest.mark.slow, pytest.mark.e2e]
stack = test_browser.stack  # the fixture: the local stack, skipped (failed on CI) without Chromium or the UI


def _seed(stack: RunningStack) -> dict[str, Any]:
    """A run PAUSED (no input asked) and a task run holding the one slot of the tag ``db``."""
    _, flow = stack.request("POST", "/flows/", {"name": "waits"})
    _, run = stack.request("POST", "/flow_runs/", {"flow_id": flow["id"], "name": "the-paused-run"})
    stack.request("POST", f"/flow_runs/{run['id']}/set_state", {"state": {"type": "RUNNING"}})
    timeout = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    paused = {"type": "PAUSED", "state_details": {"pause_timeout": timeout, "pause_key": "1"}}
    status, _ = stack.request("POST", f"/flow_runs/{run['id']}/set_state", {"state": paused})
    assert status == 201
    body = {"task_key": "load", "dynamic_key": "0", "flow_run_id": run["id"], "name": "load-0", "tags": ["db"]}
    _, task_run = stack.request("POST", "/task_runs/", body)
    stack.request("POST", "/concurrency_limits/", {"tag": "db", "concurrency_limit": 1})
    status, _ = stack.request("POST", "/concurrency_limits/increment", {"names": ["db"], "task_run_id": task_run["id"]})
    assert status == 200
    return {"run": run, "task_run": task_run}


def test_resume_button_and_the_task_run_tab_with_an_active_slot(stack: RunningStack) -> None:
    data = _seed(stack)
    run, task_run = data["run"], data["task_run"]
    with browser(stack) as context:
        page = context.new_page()
        watch = PageWatch(page)
        base = stack.api_url
        visit(page, watch, base, f"/runs/flow-run/{run['id']}", ["the-paused-run", "Paused"], "paused-run")
        page.get_by_role("button", name="Resume").first.click()
        page.get_by_text("Resume Flow Run").first.wait_for(state="visible", timeout=PAGE_TIMEOUT_MS)
        page.get_by_role("button", name="Submit").first.click()
        deadline = time.monotonic() + 20
        while stack.request("GET", f"/flow_runs/{run['id']}")[1]["state_type"] != "RUNNING":
            assert time.monotonic() < deadline, "the Resume button did not resume the run"
            time.sleep(0.3)
        page.get_by_text("Running").first.wait_for(state="visible", timeout=PAGE_TIMEOUT_MS)
        page.screenshot(path=str(SCREENSHOTS / "resumed-run.png"))
        problems = watch.take()
        assert not problems, "resume:\n" + "\n".join(problems)

        visit(page, watch, base, "/concurrency-limits", ["Concurrency"], "concurrency-limits")
        page.get_by_text("Task Run", exact=True).first.click()
        row = page.get_by_role("row").filter(has_text="db")
        row.first.wait_for(state="visible", timeout=PAGE_TIMEOUT_MS)
        page.wait_for_load_state("networkidle", timeout=PAGE_TIMEOUT_MS)
        cells = [text.strip() for text in row.first.get_by_role("cell").all_inner_texts()]
        assert cells[:3] == ["db", "1", "1"], cells  # tag, slots, active task runs
        page.screenshot(path=str(SCREENSHOTS / "concurrency-task-run-active-slot.png"))
        # The limit's own page lists the task run holding the slot.
        _, limit = stack.request("GET", "/concurrency_limits/tag/db")
        assert limit["active_slots"] == [task_run["id"]]
        visit(page, watch, base, f"/concurrency-limits/concurrency-limit/{limit['id']}", ["db"], "tag-limit")
        page.get_by_text("load-0").first.wait_for(state="visible", timeout=PAGE_TIMEOUT_MS)
        problems = watch.take()
        assert not problems, "concurrency, Task Run tab:\n" + "\n".join(problems)
