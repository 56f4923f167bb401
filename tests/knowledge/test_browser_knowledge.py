"""The knowledge panel in a real browser: suggestions for the claimed customer, search, one-click push."""
from __future__ import annotations

import uuid

import pytest

from bot.knowledge.index import index_for
from tests.handoff.stack_client import desk_page, only_waiting, say, tracker, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_the_panel_suggests_searches_and_pushes_an_article(browser, running_kefu):
    stack = running_kefu
    sender = f"kb-browser-{uuid.uuid4().hex[:8]}"
    say(stack, sender, "电视没信号")
    say(stack, sender, "转人工")
    errors: list[str] = []
    context, page = desk_page(browser, stack, errors)
    try:
        panel = page.locator("#knowledge-panel")
        panel.get_by_role("heading", name="知识库").wait_for(timeout=10000)

        only_waiting(stack, sender, stack.settings.demo_agent_name)
        page.locator("#claim").click()
        page.locator("#conversation").wait_for(state="visible", timeout=10000)
        article = index_for(stack.settings).article("tv_no_signal")
        first = panel.locator(".kb-article").first
        first.locator(".kb-title", has_text=article.title).wait_for(timeout=10000)
        assert article.summary in first.locator(".kb-summary").inner_text()

        first.locator(".kb-push").click()
        panel.locator(".kb-status", has_text=article.title).wait_for(timeout=10000)
        wait_for(lambda: any(article.summary in (e.get("text") or "")
                             for e in tracker(stack, sender)["events"] if e["event"] == "bot"))

        page.locator("#knowledge-query").fill("公司报销要开发票")
        page.locator("#knowledge-query").press("Enter")
        invoice = index_for(stack.settings).article("invoice")
        panel.locator(".kb-article").first.locator(".kb-title", has_text=invoice.title).wait_for(timeout=10000)
        page.locator("#disposition").select_option("resolved")
        page.locator("#close-submit").click()
        page.locator("#close-confirm-yes").click()  # the desk asks before closing
        page.locator("#conversation").wait_for(state="hidden", timeout=10000)
    finally:
        context.close()
    assert not errors, errors
