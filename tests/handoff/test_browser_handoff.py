"""Two browsers: a customer on the web chat asks for a human, an agent serves them at /agent/."""
from __future__ import annotations


import pytest

from bot.selfhelp import load_catalogue
from tests.handoff.stack_client import (customer_queues_with_a_tv_fault, desk, desk_login, only_waiting, open_page,
                                        sign_in)

pytestmark = [pytest.mark.slow, pytest.mark.browser]

HOSTILE = '<img src=x onerror="window.pwned=1">还是不行'


def test_customer_and_agent_talk_then_the_bot_takes_over_again(browser, running_kefu):
    stack = running_kefu
    errors: list[str] = []
    viewport = {"width": 1100, "height": 900}
    customer_context, customer = open_page(browser, f"{stack.settings.rasa_url}/chat/", errors, viewport)
    agent_context, agent = open_page(browser, f"{stack.settings.rasa_url}/agent/", errors, viewport)
    try:
        somebody = desk_login(stack)  # an agent is signed in and available: the customer gets a real estimate
        assert desk(somebody, stack, "POST", "status", status="available").ok
        composer = customer_queues_with_a_tv_fault(customer)
        assert "分钟" in customer.locator(".notice.queue").last.inner_text()
        session_id = customer.evaluate("window.kefuChat.session()")

        # The agent signs in (a wrong password first), and claims the customer.
        agent.locator("#login-name").fill(stack.settings.demo_agent_name)
        agent.locator("#login-password").fill("wrong-password")
        agent.locator("#login-submit").click()
        agent.get_by_text("工号或密码不正确").wait_for(timeout=10000)
        sign_in(agent, stack)
        only_waiting(stack, session_id, stack.settings.demo_agent_name)
        agent.locator(".queue[data-skill=tv] .entry").first.wait_for(timeout=10000)
        agent.locator("#claim").click()
        agent.locator("#conversation").wait_for(state="visible", timeout=10000)

        title = load_catalogue(stack.settings.selfhelp_catalogue).get("tv_no_signal").title
        assert title in agent.locator("#selfhelp-tried").inner_text()
        assert title in agent.locator("#summary").inner_text()
        agent.locator("#transcript .turn.customer", has_text="转人工").wait_for(timeout=10000)

        # Both see each other's messages; the customer's markup stays text on the desk.
        customer.locator(".msg.bot", has_text="已为您接入").wait_for(timeout=15000)
        composer.fill(HOSTILE)
        composer.press("Enter")
        relayed = agent.locator("#transcript .turn.customer .text", has_text="还是不行")
        relayed.wait_for(timeout=15000)
        assert relayed.inner_text() == HOSTILE
        assert agent.locator("img").count() == 0 and agent.evaluate("window.pwned") is None

        agent.locator("#reply-input").fill("您好，请把机顶盒电源拔掉十秒再插上")
        agent.locator("#reply-send").click()
        reply = customer.locator(".msg.agent .agent-text", has_text="机顶盒电源")
        reply.wait_for(timeout=15000)
        assert stack.settings.demo_agent_name in customer.locator(".msg.agent .agent-name").last.inner_text()

        agent.locator("#disposition").select_option("resolved")
        agent.locator("#close-submit").click()
        agent.locator("#close-confirm-yes").click()
        agent.locator("#conversation").wait_for(state="hidden", timeout=10000)
        customer.locator(".msg.bot", has_text="人工客服已结束本次服务").wait_for(timeout=15000)

        composer.fill("谢谢")
        composer.press("Enter")
        customer.locator(".msg.bot", has_text="不客气").wait_for(timeout=30000)
    finally:
        customer_context.close()
        agent_context.close()
    assert not errors, errors


WAITING_BUTTONS = ("自助服务", "预约回电", "留言", "取消排队")


def waiting_buttons_enabled(page) -> list[str]:
    """The waiting room's buttons a customer can still press."""
    return page.evaluate("names => Array.from(document.querySelectorAll('.replies button'))"
                         ".filter(b => !b.disabled && names.includes(b.textContent)).map(b => b.textContent)",
                         list(WAITING_BUTTONS))


def test_waiting_room_buttons_are_spent_once_an_agent_joins(browser, running_kefu):
    stack = running_kefu
    errors: list[str] = []
    context, customer = open_page(browser, f"{stack.settings.rasa_url}/chat/", errors, {"width": 375, "height": 740})
    try:
        agent = desk_login(stack)
        assert desk(agent, stack, "POST", "status", status="available").ok
        customer_queues_with_a_tv_fault(customer)
        assert waiting_buttons_enabled(customer), "while waiting the customer can cancel, leave a message..."
        session_id = customer.evaluate("window.kefuChat.session()")
        only_waiting(stack, session_id, stack.settings.demo_agent_name)
        claimed = desk(agent, stack, "POST", "claim").json()["conversation"]
        assert claimed["conversation_id"] == session_id

        customer.locator(".msg.bot", has_text="已为您接入").wait_for(timeout=15000)
        customer.wait_for_function(
            "names => !Array.from(document.querySelectorAll('.replies button'))"
            ".some(b => !b.disabled && names.includes(b.textContent))", arg=list(WAITING_BUTTONS), timeout=15000)
        customer.reload()
        customer.get_by_text("在线", exact=True).wait_for(timeout=15000)
        customer.locator(".msg.bot", has_text="已为您接入").wait_for(timeout=15000)
        assert waiting_buttons_enabled(customer) == [], "still spent after a reload"
        assert desk(agent, stack, "GET", f"conversations/{session_id}").ok, "the agent still has the customer"
    finally:
        context.close()
    assert not errors, errors


def test_what_the_agent_says_while_the_chat_page_is_closed_reaches_the_customer_when_they_come_back(
        browser, running_kefu):
    """Found by a tester: the agent's messages sent while the customer's tab was closed were missing when
    they reopened the chat (only what the page had saved itself was there)."""
    stack = running_kefu
    errors: list[str] = []
    chat = f"{stack.settings.rasa_url}/chat/"
    context, customer = open_page(browser, chat, errors, {"width": 375, "height": 740})

    def shown(text: str) -> int:
        return customer.locator(".msg", has_text=text).count()

    try:
        agent = desk_login(stack)
        assert desk(agent, stack, "POST", "status", status="available").ok
        customer_queues_with_a_tv_fault(customer)
        session_id = customer.evaluate("window.kefuChat.session()")
        only_waiting(stack, session_id, stack.settings.demo_agent_name)
        assert desk(agent, stack, "POST", "claim").json()["conversation"]["conversation_id"] == session_id
        customer.locator(".msg.bot", has_text="已为您接入").wait_for(timeout=15000)

        customer.goto("about:blank")  # the customer closes the chat; the browser keeps the session
        for text in ("我这边给您升级处理，稍后主管回电。", "您好，您的投诉我已升级，主管会在今天内联系您。"):
            assert desk(agent, stack, "POST", f"conversations/{session_id}/messages", text=text).ok

        customer.goto(chat)
        customer.get_by_text("在线", exact=True).wait_for(timeout=15000)
        customer.locator(".msg.agent", has_text="主管会在今天内联系您").wait_for(timeout=15000)
        assert customer.evaluate("window.kefuChat.session()") == session_id
        texts = customer.locator(".msg.agent .agent-text").all_inner_texts()
        assert texts == ["我这边给您升级处理，稍后主管回电。", "您好，您的投诉我已升级，主管会在今天内联系您。"], texts
        assert shown("已为您接入") == 1, "what the page showed already is not sent again"

        customer.reload()  # what was sent again is kept like the rest, and not sent a third time
        customer.get_by_text("在线", exact=True).wait_for(timeout=15000)
        assert desk(agent, stack, "POST", f"conversations/{session_id}/messages", text="请问还在吗？").ok
        customer.locator(".msg.agent", has_text="请问还在吗").wait_for(timeout=15000)
        assert shown("稍后主管回电") == 1 and shown("主管会在今天内联系您") == 1 and shown("已为您接入") == 1
    finally:
        context.close()
    assert not errors, errors
