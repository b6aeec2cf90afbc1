"""Prefect's UI Blocks pages in a real browser against the local stack (as test_browser.py): the
catalog, a Secret created from the form, its page showing the value masked, its edit form; no
console error and no failed request on any of them."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.local.test_stack import RunningStack, cleanup, start_stack, stop_stack  # noqa: F401 - fixture
from tests.ui.test_browser import PAGE_TIMEOUT_MS, PageWatch, _missing, browser, visit

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

BLANK_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)


@pytest.fixture
def stack(tmp_path: Path, cleanup: list[RunningStack]) -> Iterator[RunningStack]:  # noqa: F811
    reason = _missing()
    if reason is not None:
        pytest.skip(reason)
    running = start_stack(tmp_path, {"CIRRUS_LOCAL_SCHEDULES": "false"})
    cleanup.append(running)
    yield running
    stop_stack(running)


def _secret(stack: RunningStack, name: str, include_secrets: bool = True) -> dict:
    flag = "true" if include_secrets else "false"
    status, doc = stack.request("GET", f"/block_types/slug/secret/block_documents/name/{name}?include_secrets={flag}")
    assert status == 200, doc
    return doc


def test_blocks_catalog_create_view_masked_and_edit(stack: RunningStack) -> None:
    with browser(stack) as context:
        base = stack.api_url
        # The catalog's logos live on GitHub and Contentful (Prefect's data): this machine may
        # have no internet, so requests leaving the stack get a blank image.
        context.route(lambda url: not url.startswith(base), lambda route: route.fulfill(
            status=200, content_type="image/png", body=BLANK_PNG
        ))  # fmt: skip
        page = context.new_page()
        watch = PageWatch(page)
        visit(page, watch, base, "/blocks/catalog", ["AWS Credentials", "Secret"], "blocks-catalog")
        visit(page, watch, base, "/blocks/catalog/secret", ["Secret"], "blocks-catalog-secret")

        # Create a Secret from the form.
        visit(page, watch, base, "/blocks/catalog/secret/create", ["Block Name"], "blocks-create")
        page.locator("input").first.fill("ui-password")  # "Block Name"
        page.locator("textarea").first.fill("from-the-form")  # the value (its "password" mode)
        page.get_by_role("button", name="Create").click()
        page.wait_for_url("**/blocks/block/**", timeout=PAGE_TIMEOUT_MS)
        created = _secret(stack, "ui-password")
        assert created["data"] == {"value": "from-the-form"}, created

        # Its page: the value masked.
        visit(page, watch, base, f"/blocks/block/{created['id']}", ["ui-password"], "blocks-secret")
        assert "from-the-form" not in page.content()
        visit(page, watch, base, "/blocks", ["ui-password"], "blocks")

        # Edit it: a new value is stored.
        visit(page, watch, base, f"/blocks/block/{created['id']}/edit", ["ui-password"], "blocks-edit")
        page.locator("textarea").first.fill("edited-in-the-form")
        page.get_by_role("button", name="Save").click()
        page.wait_for_url(f"**/blocks/block/{created['id']}", timeout=PAGE_TIMEOUT_MS)
        assert _secret(stack, "ui-password")["data"] == {"value": "edited-in-the-form"}
        page.wait_for_load_state("networkidle", timeout=PAGE_TIMEOUT_MS)
        problems = watch.take()
        assert not problems, "\n".join(problems)
