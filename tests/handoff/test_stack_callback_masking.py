"""A booked callback's number on the desk: masked like every number, the full one only through the recorded reveal."""
from __future__ import annotations

import uuid

import pytest

from bot.db.repository import Repository
from tests.handoff.stack_client import Desk, only_waiting, say, tracker, wait_for
from tests.handoff.test_stack_callback import bot_texts, offer_due_callbacks

pytestmark = pytest.mark.slow


def book_callback(stack, sender: str, phone: str) -> None:
    """``sender`` asks for a person, books 预约回电 on ``phone`` while waiting; the callback is offered to agents."""
    say(stack, sender, "转人工")
    say(stack, sender, "/leave_message")
    wait_for(lambda: any("手机号" in t for t in bot_texts(tracker(stack, sender))))
    say(stack, sender, phone)
    wait_for(lambda: any("已为您预约回电" in t for t in bot_texts(tracker(stack, sender))))
    offer_due_callbacks(stack)


def revealed(stack, sender: str) -> list[dict]:
    return [e["data"] for e in Repository(stack.settings.database_url).events_for(sender)
            if e["kind"] == "handoff_pii_revealed"]


def test_a_booked_callbacks_number_is_masked_and_its_reveal_recorded(running_kefu):
    """Found by a tester: GET /agent/api/conversations/<id> gave callback.phone in full, with no reveal recorded."""
    stack = running_kefu
    sender = f"cb-mask-{uuid.uuid4().hex[:8]}"
    book_callback(stack, sender, "13912345678")
    desk = Desk(stack)
    only_waiting(stack, sender, desk.agent_id)
    claim = desk.call("POST", "claim")
    assert claim.ok and claim.json()["conversation"]["callback"]["phone"] == "*******5678"
    view = desk.call("GET", f"conversations/{sender}")
    assert view.json()["callback"]["phone"] == "*******5678" and view.json()["callback"]["ticket_id"]
    assert "13912345678" not in claim.text + view.text
    assert revealed(stack, sender) == []
    nothing = desk.call("POST", f"conversations/{sender}/reveal", field="account_number")
    assert nothing.json() == {"value": None}
    assert revealed(stack, sender) == [], "a reveal that showed nothing is no disclosure (privacy audit)"

    shown = desk.call("POST", f"conversations/{sender}/reveal", field="callback_phone")
    assert shown.json() == {"value": "13912345678"}
    assert revealed(stack, sender) == [{"agent_id": desk.agent_id, "field": "callback_phone"}]
    assert desk.call("POST", f"conversations/{sender}/close", disposition="resolved").ok
