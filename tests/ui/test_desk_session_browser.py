"""The desk's edges of a shift in a real Chromium: signing in again, signing out while serving."""
from __future__ import annotations

import threading
import uuid

import pytest

from tests.handoff.stack_client import desk_page, only_waiting, say, sign_in

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
