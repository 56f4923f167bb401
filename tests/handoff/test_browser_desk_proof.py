"""请客户验证身份 in two browsers: the agent presses it, the customer answers on the web chat's keypad,
and the desk shows the outcome and the proven customer, never the password (tester's HIGH 2)."""
from __future__ import annotations

import pytest

from tests.handoff.stack_client import customer_queues_with_a_tv_fault, only_waiting, open_page, sign_in

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_the_agent_has_the_bot_verify_the_customer_and_sees_only_the_outcome(browser, running_kefu):
    stack = running_kefu
    errors: list[str] = []
    customer_context, customer = open_page(browser, f"{stack.settings.rasa_url}/chat/", errors)
    agent_context, agent = open_page(browser, f"{stack.settings.rasa_url}/agent/", errors)
    try:
        composer = customer_queues_with_a_tv_fault(customer)
        session_id = customer.evaluate("window.kefuChat.session()")
        sign_in(agent, stack)
        only_waiting(stack, session_id, stack.settings.demo_agent_name)
        agent.locator(".queue[data-skill=tv] .entry").first.wait_for(timeout=10000)
        agent.locator("#claim").click()
        agent.locator("#conversation").wait_for(state="visible", timeout=10000)

        agent.get_by_role("button", name="请客户验证身份").click()
        agent.locator("#proof-state", has_text="手机号").wait_for(timeout=15000)
        customer.locator(".msg.bot", has_text="手机号").last.wait_for(timeout=15000)
        composer.fill("13800000001")
        composer.press("Enter")
        customer.locator(".msg.bot", has_text="验证码").last.wait_for(timeout=15000)
        assert composer.get_attribute("inputmode") == "numeric", "the answer goes on the numeric keypad"
        composer.fill("135790")
        composer.press("Enter")
        customer.locator(".msg.bot", has_text="已核实您的身份").wait_for(timeout=15000)

        agent.locator("#transcript .turn .proof-passed", has_text="客户已验证身份").wait_for(timeout=15000)
        agent.locator("#proof-state", has_text="客户已验证身份").wait_for(timeout=15000)
        agent.get_by_text("张伟").first.wait_for(timeout=15000)  # the screen pop shows the proven customer
        assert "135790" not in agent.locator("body").inner_text()
        assert "******" in agent.locator("#transcript").inner_text()
    finally:
        customer_context.close()
        agent_context.close()
    assert not errors, errors
