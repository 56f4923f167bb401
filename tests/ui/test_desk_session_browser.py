"""The desk's edges of a shift in a real Chromium: signing in again, signing out while serving."""
from __future__ import annotations

import threading
import uuid

import pytest

from tests.handoff.stack_client import desk, desk_login, desk_page, only_waiting, say, sign_in, tracker

pytestmark = [pytest.mark.slow, pytest.mark.browser]

DESK = {"width": 1366, "height": 768}


def claimed_on_the_page(stack, page, sender: str) -> None:
    """``sender`` asks for a person and the signed-in demo agent takes them with 接入下一位."""
    say(stack, sender, "宽带连不上了")
    say(stack, sender, "转人工")
    only_waiting(stack, sender, stack.settings.demo_agent_name)
    page.locator("#claim").click()
    page.locator("#conversation").wait_for(state="visible", timeout=10000)


def test_after_signing_in_again_the_open_conversation_keeps_showing_new_messages(browser, running_kefu):
    """Found by a tester: after the session ended and the agent signed in again, the conversation on
    screen never showed the customer's new messages, and the login form gave no reason."""
    stack = running_kefu
    sender = f"relogin-{uuid.uuid4().hex[:6]}"
    errors: list[str] = []
    context, page = desk_page(browser, stack, errors, DESK)
    try:
        claimed_on_the_page(stack, page, sender)
        context.clear_cookies()  # the session ends (12-h expiry, or signed out in another tab)
        page.locator("#reply-input").fill("您好，我来看一下")
        page.locator("#reply-send").click()
        page.locator("#login").wait_for(state="visible", timeout=10000)
        assert page.locator("#login-error").inner_text() == "登录已过期，请重新登录。", "the reason, where it is seen"

        sign_in(page, stack)
        assert page.locator("#reply-input").input_value() == "您好，我来看一下", "the draft is kept"
        threading.Thread(target=say, args=(stack, sender, "喂，您好？还在吗")).start()
        page.locator("#transcript .turn.customer", has_text="还在吗").wait_for(timeout=10000)
        assert page.locator("#desk-error").inner_text() == "", "no stale 登录已过期 on the desk"
    finally:
        context.close()
    assert not errors, errors


def waiting(stack, sender: str) -> bool:
    view = desk(desk_login(stack), stack, "GET", "supervisor").json()
    return any(e["conversation_id"] == sender for q in view["queues"] for e in q["entries"])


def test_signing_out_while_serving_asks_first_and_puts_the_customer_back_in_the_queue(browser, running_kefu):
    """Found by a tester: 退出 with a conversation open said nothing and left the customer with nobody."""
    stack = running_kefu
    sender = f"signout-{uuid.uuid4().hex[:6]}"
    errors: list[str] = []
    context, page = desk_page(browser, stack, errors, DESK)
    try:
        claimed_on_the_page(stack, page, sender)
        page.locator("#logout").click()
        confirm = page.locator("#logout-confirm")
        confirm.wait_for(state="visible", timeout=10000)
        assert "还有 1 个会话正在服务" in confirm.inner_text() and "回到原来的队列" in confirm.inner_text()
        page.locator("#logout-confirm-no").click()
        assert confirm.is_hidden() and page.locator("#conversation").is_visible(), "still serving"
        assert tracker(stack, sender)["paused"] is True and not waiting(stack, sender)

        page.locator("#logout").click()
        page.locator("#logout-confirm-yes").click()
        page.locator("#login").wait_for(state="visible", timeout=10000)
        assert page.locator("#login-error").inner_text() == ""
    finally:
        context.close()
    assert not errors, errors
    assert waiting(stack, sender), "back in the queue for the next agent"
    only_waiting(stack, "", stack.settings.demo_agent_name)


def test_the_supervisor_puts_a_conversation_an_agent_holds_back_in_the_queue(browser, running_kefu):
    from bot.handoff.accounts import AccountStore

    stack = running_kefu
    name, sender = f"holder-{uuid.uuid4().hex[:6]}", f"held-{uuid.uuid4().hex[:6]}"
    AccountStore(stack.settings.database_url).add(name, "holder-pass-1", ["tv"], known_skills=["tv"])
    holder = desk_login(stack, name, "holder-pass-1")
    say(stack, sender, "电视没信号")
    say(stack, sender, "转人工")
    only_waiting(stack, sender, name)
    assert desk(holder, stack, "POST", "claim").json()["conversation"]["conversation_id"] == sender
    errors: list[str] = []
    context, page = desk_page(browser, stack, errors, DESK)
    try:
        page.goto(f"{stack.settings.rasa_url}/agent/supervisor/")
        held = page.locator(f"#agents tr[data-agent='{name}'] li[data-conversation='{sender}']")
        held.wait_for(timeout=10000)
        page.once("dialog", lambda dialog: dialog.accept())
        held.locator("button.requeue", has_text="放回队列").click()
        held.wait_for(state="detached", timeout=10000)
        page.locator(f"#queues tr[data-conversation='{sender}']").wait_for(timeout=10000)
    finally:
        context.close()
    assert not errors, errors
    assert desk(holder, stack, "GET", f"conversations/{sender}").status_code == 404, "no longer the agent's"
    only_waiting(stack, "", stack.settings.demo_agent_name)
