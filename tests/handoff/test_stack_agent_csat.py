"""After an agent resolves a conversation at the desk the customer is asked for a score, once, and
the answer counts for the agent-handled contact (the real Rasa server, the REST channel, the desk API)."""
from __future__ import annotations

import asyncio
import uuid

import pytest

from bot.analytics.contacts import split_contacts
from bot.db.repository import Repository
from tests.handoff.stack_client import Desk, desk, desk_login, only_waiting, say, tracker, wait_for
from tests.ivr.conftest import ivr_url  # noqa: F401 - fixture
from tests.ivr.simulator import PhoneCall
from tests.speech import spoken_on_the_phone

pytestmark = pytest.mark.slow

SCORE_4 = '/csat_score{"csat_score": "4"}'


def bot_messages(state: dict) -> list[dict]:
    return [e for e in state["events"] if e["event"] == "bot"]


def asks_for_a_score(message: dict) -> bool:
    buttons = (message.get("data") or {}).get("buttons") or message.get("buttons") or []
    return any(b.get("payload", "").startswith("/csat_score") for b in buttons)


def claim_and_close(stack, session, sender: str, disposition: str, **close) -> None:
    say(stack, sender, "转人工")
    assert tracker(stack, sender)["paused"] is True
    only_waiting(stack, sender, stack.settings.demo_agent_name)
    assert desk(session, stack, "POST", "claim").json()["conversation"]["conversation_id"] == sender
    closed = desk(session, stack, "POST", f"conversations/{sender}/close", disposition=disposition, note="ok", **close)
    assert closed.ok, closed.text


def test_the_customer_scores_the_agent_once_and_the_score_counts_for_the_agents_contact(running_kefu):
    stack = running_kefu
    repository = Repository(stack.settings.database_url)
    sender = f"agent-csat-{uuid.uuid4().hex[:10]}"
    session = desk_login(stack)

    claim_and_close(stack, session, sender, "resolved")
    said = bot_messages(tracker(stack, sender))
    assert "人工客服已结束" in said[-2]["text"] and asks_for_a_score(said[-1]), said[-2:]
    # A REST integration collects what is said outside its own requests from the outbox: the question
    # arrives there with its buttons.
    outbox = repository.outbound(status="pending", channel="rest", limit=1000)
    assert any(r["recipient"] == sender and asks_for_a_score(r["payload"]) for r in outbox)

    thanks = say(stack, sender, SCORE_4)
    assert any("感谢您的评价" in (m.get("text") or "") for m in thanks), thanks
    events = wait_for(lambda: (lambda es: es if "csat_given" in {e["kind"] for e in es} else None)(
        repository.events_for(sender)))
    asked = [e["data"] for e in events if e["kind"] == "csat_asked"]
    assert asked == [{"after": "agent", "agent_id": "demo"}]
    contact, = split_contacts(events)
    assert (contact.how, contact.csat) == ("agent", 4)

    # Helped by an agent again in the same conversation: resolved, but not asked a second time.
    claim_and_close(stack, session, sender, "resolved")
    again = bot_messages(tracker(stack, sender))
    assert "人工客服已结束" in again[-1]["text"] and not asks_for_a_score(again[-1])
    assert [e["kind"] for e in repository.events_for(sender)].count("csat_asked") == 1


def test_a_conversation_the_agent_turns_into_a_ticket_is_not_asked_for_a_score(running_kefu):
    stack = running_kefu
    sender = f"agent-ticket-{uuid.uuid4().hex[:10]}"
    claim_and_close(stack, desk_login(stack), sender, "ticket", phone="13900001357")  # nobody known: a number
    said = bot_messages(tracker(stack, sender))
    assert "人工客服已结束" in said[-1]["text"] and not any(asks_for_a_score(m) for m in said)


async def test_a_caller_the_agent_helped_presses_a_score_once_handed_back(running_kefu, ivr_url):  # noqa: F811
    from bot.security.secrets import load_secrets

    trunk = {"kefuTrunkToken": load_secrets(running_kefu.settings).ivr_trunk_token}
    desk_session = await asyncio.to_thread(Desk, running_kefu)
    assert (await desk_session("POST", "status", status="available")).ok  # no "nobody is free" notice to sit through
    try:
        async with PhoneCall(ivr_url, caller="13800000002", flow="t_csat", parameters=trunk) as call:
            conversation_id = f"ivr:{call.stream_sid}"
            await call.wait_mark("ask", 30)
            await call.say_and_wait(spoken_on_the_phone("转人工"))
            await call.wait_mark("handed_off", 60)
            await desk_session.claim(conversation_id)
            closed = await desk_session("POST", f"conversations/{conversation_id}/close", disposition="resolved")
            assert closed.ok, closed.text
            await call.wait_mark("line:utter_agent_handback", 60)
            await call.wait_mark("survey", 60)  # the caller stays quiet: the flow asks for a score by keys
            await call.press("4")
            await call.wait_closed(30)
    finally:
        await desk_session("POST", "status", status="away")

    repository = Repository(running_kefu.settings.database_url)

    def scored():
        contacts = split_contacts(repository.events_for(conversation_id))
        return contacts if contacts and contacts[-1].csat is not None else None

    contact, = await asyncio.to_thread(wait_for, scored)
    assert (contact.how, contact.csat) == ("agent", 4)
    # The desk left the question to the phone: the chat's question was not read out as well.
    assert "csat_asked" not in {e["kind"] for e in contact.events}
