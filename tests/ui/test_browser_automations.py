"""Prefect's UI Automations pages in a real browser against the local stack (as test_browser.py):
the empty list, an automation created with the wizard (custom trigger, "Cancel a flow run"),
disabled from the list's toggle, its page, renamed through its edit form (PUT); no console error
and no failed request."""

from __future__ import annotations

import pytest

from tests.local.test_stack import RunningStack, cleanup  # noqa: F401 - fixture
from tests.ui.test_browser import PAGE_TIMEOUT_MS, PageWatch, browser, visit
from tests.ui.test_browser_blocks import stack  # noqa: F401 - fixture: the stack without schedules

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def _choose(page, select_class: str, option: str) -> None:
    """Open one of the design system's selects (from the keyboard: a headless click does not open
    it) and pick ``option``."""
    button = page.locator(f".{select_class} button").first
    button.focus()
    for key in ("Enter", "ArrowDown", "Space"):
        page.keyboard.press(key)
        page.wait_for_timeout(300)
        if page.get_by_role("option").count():
            break
    page.get_by_role("option", name=option).click(timeout=PAGE_TIMEOUT_MS)


def _automations(running: RunningStack) -> list[dict]:
    status, found = running.request("POST", "/automations/filter", {})
    assert status == 200, found
    return found


def test_automations_list_wizard_toggle_page_and_edit(stack: RunningStack) -> None:  # noqa: F811
    with browser(stack) as context:
        base = stack.api_url
        page = context.new_page()
        watch = PageWatch(page)
        visit(page, watch, base, "/automations", ["Create an automation to get started"], "automations-empty")

        # The wizard: a custom trigger, a "Cancel a flow run" action, a name.
        visit(page, watch, base, "/automations/create", ["Trigger Template"], "automations-create")
        _choose(page, "automation-trigger-template-select", "Custom")
        page.get_by_text("Any event matching").wait_for(timeout=PAGE_TIMEOUT_MS)
        page.get_by_role("button", name="Next").click()
        _choose(page, "automation-action-type-select", "Cancel a flow run")
        page.get_by_role("button", name="Next").click()
        page.locator(".automation-wizard-step-details input").first.fill("ui automation")
        page.get_by_role("button", name="Save").click()
        page.get_by_text("Automation created").first.wait_for(timeout=PAGE_TIMEOUT_MS)
        (created,) = _automations(stack)
        assert created["name"] == "ui automation" and created["enabled"] is True, created
        assert created["actions"] == [{"type": "cancel-flow-run"}], created
        assert created["trigger"]["type"] == "event" and created["trigger"]["posture"] in ("Reactive", "Proactive")

        # Disable it from the list's toggle.
        visit(page, watch, base, "/automations", ["ui automation"], "automations-list")
        toggled = lambda r: "/automations/" in r.url and r.request.method in ("PATCH", "PUT")  # noqa: E731
        with page.expect_response(toggled, timeout=PAGE_TIMEOUT_MS) as answer:
            page.get_by_role("switch").first.click()
        assert answer.value.status < 300, answer.value.status
        assert _automations(stack)[0]["enabled"] is False

        # Its page and its edit form.
        visit(page, watch, base, f"/automations/automation/{created['id']}", ["ui automation"], "automation")
        edit = f"/automations/automation/{created['id']}/edit"
        visit(page, watch, base, edit, ["Trigger"], "automation-edit")
        page.get_by_role("button", name="Next").click()
        page.get_by_role("button", name="Next").click()
        page.locator(".automation-wizard-step-details input").first.fill("ui automation, edited")
        page.get_by_role("button", name="Save").click()
        page.get_by_text("Automation updated").first.wait_for(timeout=PAGE_TIMEOUT_MS)
        (edited,) = _automations(stack)
        assert edited["name"] == "ui automation, edited" and edited["id"] == created["id"], edited
        assert edited["actions"] == [{"type": "cancel-flow-run"}], edited
        problems = watch.take()
        assert not problems, "\n".join(problems)
