"""A booked callback on the desk page, in a real Chromium: the number to ring and the ticket, as README promises."""
from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.db.repository import Repository
from tests.handoff.stack_client import desk_page, offer_callback, only_waiting
from tests.handoff.test_stack_callback_masking import book_callback, revealed

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_the_desk_shows_a_callbacks_masked_number_and_ticket_and_reveals_the_number_on_request(browser, running_kefu):
    """Found by a tester: a claimed callback showed 手机号 "-" and no ticket; nothing said whom to ring."""
    stack = running_kefu
    sender = f"cb-page-{uuid.uuid4().hex[:8]}"
    with ThreadPoolExecutor(1) as thread:  # Playwright's sync API keeps an event loop running in this one
        thread.submit(book_callback, stack, sender, "13912345678").result()
    errors: list[str] = []
    context, page = desk_page(browser, stack, errors, {"width": 1366, "height": 768})
    try:
        only_waiting(stack, sender, stack.settings.demo_agent_name)
        page.locator("#claim").click()
        number = page.locator("#profile dd[data-field=callback_phone]")
        number.wait_for(timeout=10000)
        assert number.inner_text().startswith("*******5678")
        ticket_id = page.locator("#profile dd[data-field=callback_ticket]").inner_text()
        assert Repository(stack.settings.database_url).get_ticket(ticket_id)["conversation_id"] == sender
        assert revealed(stack, sender) == []
        number.locator("button.reveal").click()
        page.locator("#profile dd[data-field=callback_phone]", has_text="13912345678").wait_for(timeout=10000)
        assert [r["field"] for r in revealed(stack, sender)] == ["callback_phone"]
    finally:
        context.close()
    assert not errors, errors


def test_a_callback_on_a_number_only_named_shows_the_number_not_its_account_holder(browser, running_kefu):
    """Found by a cross-channel journey tester: a callback booked by someone who only typed a number showed
    that number's account holder (name, address) as the customer on the desk."""
    import datetime as dt

    stack = running_kefu
    repository = Repository(stack.settings.database_url)
    owner = repository.find_customer(phone="13800000002")
    conversation_id = f"web-named-{uuid.uuid4().hex[:6]}"
    ticket_id = repository.create_ticket(kind="callback", customer_id=owner.id, summary="请给我回电",
                                         details={"customer_proven": False}, priority=1, needs_human=True,
                                         channel="rest", conversation_id=conversation_id)
    contact = {"id": 990002, "ticket_id": ticket_id, "phone": owner.phone, "purpose": "callback",
               "rule": "waiting_callback", "customer_id": owner.id, "due_at": dt.datetime.utcnow(),
               "details": {"conversation_id": conversation_id, "channel": "rest", "skill": "general", "priority": 1,
                           "customer_proven": False, "context": {"customer_said": ["请给我回电"]}}}

    offer_callback(stack, contact, repository)
    errors: list[str] = []
    context, page = desk_page(browser, stack, errors, {"width": 1366, "height": 768})
    try:
        only_waiting(stack, conversation_id, stack.settings.demo_agent_name)
        page.locator("#claim").click()
        page.locator("#profile dd[data-field=callback_phone]").wait_for(timeout=10000)
        profile = page.locator("#profile").inner_text()
        assert "客户自报，身份未验证" in profile, profile
        assert owner.name not in profile and owner.address not in profile, profile
        assert page.locator('#profile dd[data-field="name"]').inner_text() == "-"
    finally:
        context.close()
    assert not errors, errors
