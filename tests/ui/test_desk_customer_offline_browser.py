"""The desk in a real Chromium shows that a customer closed the chat page (the real chat page, also in Chromium)."""
from __future__ import annotations

import pytest

from tests.handoff.stack_client import (customer_queues_with_a_tv_fault, desk_page, only_waiting, open_page)

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_the_desk_shows_a_customer_who_closed_the_page_as_offline(browser, running_kefu):
    """Found by a tester: agents greeted customers who had closed the page, with nothing to tell them so."""
    stack, errors = running_kefu, []
    chat_context, customer = open_page(browser, f"{stack.settings.rasa_url}/chat/", errors, {"width": 375, "height": 740})
    desk_context, agent = desk_page(browser, stack, errors)
    try:
        agent.locator("#status-select").select_option("available")
        customer_queues_with_a_tv_fault(customer)
        sender = customer.evaluate("window.kefuChat.session()")
        only_waiting(stack, sender, stack.settings.demo_agent_name)
        agent.locator("#claim").click()
        agent.locator("#conversation").wait_for(state="visible", timeout=10000)
        assert agent.locator("#customer-offline").is_hidden(), "the customer is there"

        chat_context.close()  # the customer closes the page
        agent.locator("#customer-offline").wait_for(state="visible", timeout=15000)  # the overview polls every 2 s
        assert "客户已离线" in agent.locator("#customer-offline").inner_text()
        assert "客户已离线" in agent.locator("#serving").inner_text()
    finally:
        desk_context.close()
        chat_context.close()  # closing twice is harmless
    assert not errors, errors
