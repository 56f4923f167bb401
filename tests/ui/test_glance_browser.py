"""The customer at a glance and the supervisor role, in a real Chromium against the running server."""
from __future__ import annotations

import json
import time
import uuid

import jwt
import pytest

from bot.db.repository import Repository
from bot.handoff.accounts import AccountStore
from bot.handoff.contact_details import ContactDetails
from bot.security.secrets import load_secrets
from tests.conftest import PROJECT_ROOT
from tests.handoff.stack_client import desk_page, only_waiting, say, wait_for
from tests.ui.page_checks import screenshot

pytestmark = [pytest.mark.slow, pytest.mark.browser]

LABELS = json.loads((PROJECT_ROOT / "content" / "ui" / "agent_desk.zh.json").read_text(encoding="utf-8"))
LI_NA = {"phone": "13800000002", "account": "8800000002"}


def verified_handoff(stack, sender: str) -> None:
    """李娜 proves who she is with a signed integration token and asks for a person."""
    token = jwt.encode({"aud": "kefu", "sub": LI_NA["account"], "exp": int(time.time()) + 600},
                       load_secrets(stack.settings).jwt_secret, algorithm="HS256")
    say(stack, sender, "转人工", metadata={"auth_token": token})


def plain_agent(stack) -> tuple[str, str]:
    name, password = f"plain-{uuid.uuid4().hex[:6]}", "plain-agent-pass"
    AccountStore(stack.settings.database_url).add(name, password, ["tv"], known_skills=["tv", "broadband",
                                                                                        "billing", "general"])
    return name, password


def test_the_screen_pop_shows_the_customer_masked_and_a_corrected_callback_number_is_recorded(browser, running_kefu):
    stack = running_kefu
    sender = f"glance-{uuid.uuid4().hex[:8]}"
    repo = Repository(stack.settings.database_url)
    customer = repo.find_customer(phone=LI_NA["phone"])
    visit = repo.create_ticket(kind="visit", customer_id=customer.id, summary=f"上门安装，联系{LI_NA['phone']}",
                               channel="wechat", conversation_id=f"wx-{sender}")
    verified_handoff(stack, sender)
    errors: list[str] = []
    context, page = desk_page(browser, stack, errors, {"width": 1366, "height": 768})
    try:
        only_waiting(stack, sender, stack.settings.demo_agent_name)
        page.locator("#claim").click()
        panel = page.locator("#glance[data-verified='1']")
        panel.wait_for(timeout=15000)
        shown = panel.inner_text()
        assert "李娜" in shown and LABELS["glance_vip"].format(tier=2) in shown
        assert LABELS["glance_plan_value_ends"].format(name="全家福融合套餐", fee="159.00", end="2027-06-30") in shown, \
            "the plan with the day her contract ends"
        assert LABELS["glance_arrears"].format(amount="318.00") in shown
        assert panel.locator(".glance-bills li").count() == 2
        assert "*******0002" in shown and "******0002" in shown
        assert LI_NA["phone"] not in shown and LI_NA["account"] not in shown, "numbers are masked"
        assert panel.locator(".glance-contacts li.current").count() == 1, "this contact is among the recent ones"
        assert panel.locator(f".glance-ledger li[data-ticket-id={visit}]").count() == 1, "her open ledger item"
        reply = page.locator("#reply-input").bounding_box()
        assert reply["y"] + reply["height"] <= 768, "the reply box stays on screen below the screen pop"
        screenshot(page, "desk-glance")

        callback = panel.locator("[data-contact-field=callback_phone]")
        callback.locator(".glance-correct").click()
        callback.locator("input").fill("12")
        callback.locator("button[type=submit]").click()
        callback.locator(".error", has_text=LABELS["error_contact_phone"]).wait_for(timeout=10000)
        callback.locator("input").fill("139 1234 5678")
        callback.locator("button[type=submit]").click()
        page.locator("#glance .glance-notice").wait_for(timeout=10000)
        corrected = page.locator("#glance [data-contact-field=callback_phone]")
        assert corrected.locator(".value").inner_text() == "*******5678"
        assert stack.settings.demo_agent_name in corrected.locator(".corrected").inner_text()
        assert "13912345678" not in page.locator("#glance").inner_text()

        page.locator("#disposition").select_option("resolved")
        page.locator("#close-submit").click()
        page.locator("#close-confirm-yes").click()
        page.locator("#conversation").wait_for(state="hidden", timeout=10000)
    finally:
        context.close()
    assert not errors, errors
    [change] = [c for c in ContactDetails(stack.settings.database_url).history(customer.id)
                if c["conversation_id"] == sender]
    assert (change["new_value"], change["changed_by"]) == ("13912345678", stack.settings.demo_agent_name)
    wait_for(lambda: any(e["kind"] == "contact_details_corrected" and e["data"]["field"] == "callback_phone"
                         for e in repo.events_for(sender)), 10)


def test_a_plain_agent_is_told_the_supervisor_page_is_not_for_them(browser, running_kefu):
    stack = running_kefu
    name, password = plain_agent(stack)
    errors: list[str] = []
    context, page = desk_page(browser, stack, errors, name=name, password=password)
    try:
        assert page.locator("#supervisor-link").is_hidden(), "no link to a page they cannot use"
        answer = page.goto(f"{stack.settings.rasa_url}/agent/supervisor/")
        assert answer.status == 403
        page.locator("#error", has_text=LABELS["error_not_supervisor"]).wait_for(timeout=10000)
        assert page.locator("main.supervisor").is_hidden()
        assert page.locator("#agents tbody tr").count() == 0
    finally:
        context.close()
    assert not errors, errors
