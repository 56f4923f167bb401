"""Callbacks and an agent's self-help on the real servers (REST channel, desk API, contact worker): a
booked callback an agent takes is handed off like any waiting customer, and the customer's answer
to the agent's self-help reaches the agent and counts in the report."""
from __future__ import annotations

import asyncio
import uuid

import pytest
import redis

from bot.analytics.contacts import split_contacts
from bot.db.repository import Repository
from bot.handoff.desk_push import changes_channel
from tests.conftest import PROJECT_ROOT
from tests.handoff.stack_client import Desk, only_waiting, say, tracker, wait_for

pytestmark = pytest.mark.slow


def bot_texts(state: dict) -> list[str]:
    return [e.get("text") or "" for e in state["events"] if e["event"] == "bot"]


def offer_due_callbacks(stack) -> None:
    """One pass of the contact worker: due callbacks join their skill's queue (bot/contacts/offer.py)."""
    import redis.asyncio as aioredis

    from bot.contacts.rules import load_rules
    from bot.contacts.worker import ContactWorker
    from bot.handoff.queue import HandoffQueue
    from bot.ledger.rules import load_rules as load_ledger_rules

    async def run():
        client = aioredis.Redis.from_url(stack.redis_url)
        worker = ContactWorker(Repository(stack.settings.database_url),
                               rules=lambda: load_rules(PROJECT_ROOT / "content" / "contacts.yml"),
                               ledger_rules=lambda: load_ledger_rules(PROJECT_ROOT / "content" / "ledger.yml"),
                               queue=HandoffQueue(client))
        await worker.run_pass()
        await client.close()

    asyncio.run(run())


def kinds(stack, sender: str) -> list[str]:
    return [e["kind"] for e in Repository(stack.settings.database_url).events_for(sender)]


def book_callback_while_waiting(stack, sender: str, phone: str) -> None:
    """转人工, then the waiting room's 预约回电 with ``phone``, until the booking is confirmed."""
    say(stack, sender, "转人工")
    say(stack, sender, "/leave_message")  # 预约回电 while waiting
    wait_for(lambda: any("手机号" in t for t in bot_texts(tracker(stack, sender))))
    say(stack, sender, phone)
    wait_for(lambda: any("已为您预约回电" in t for t in bot_texts(tracker(stack, sender))))


def test_a_callback_the_agent_takes_hears_the_customer_not_the_bot(running_kefu):
    """Found by a tester: the customer's 解决了 to the agent's self-help on a booked callback got
    "抱歉，我没太明白" seven times (Rasa's circuit breaker), and their next message never reached
    the agent's screen."""
    stack = running_kefu
    sender = f"callback-{uuid.uuid4().hex[:10]}"
    book_callback_while_waiting(stack, sender, "13900001234")
    assert tracker(stack, sender)["paused"] is False, "the assistant has the chat while the callback waits"

    offer_due_callbacks(stack)
    desk = Desk(stack)
    only_waiting(stack, sender, desk.agent_id)
    claimed = desk.call("POST", "claim").json()["conversation"]
    assert claimed["conversation_id"] == sender
    assert desk.call("POST", f"conversations/{sender}/selfhelp", entry_id="remote_no_response").ok

    client = redis.Redis.from_url(stack.redis_url)
    pushes = client.pubsub()
    pushes.subscribe(changes_channel(sender, client))
    pushes.get_message(timeout=1)  # the subscription's own confirmation
    assert say(stack, sender, "/affirm") == [], "the agent answers, not the bot"
    assert pushes.get_message(timeout=5) is not None, "the desk is told at once"
    assert say(stack, sender, "按了还是没反应，换了电池也不行") == []
    turns = desk.call("GET", f"conversations/{sender}/messages?after=-1").json()["turns"]
    assert [t["text"] for t in turns if t["who"] == "customer"][-1] == "按了还是没反应，换了电池也不行"
    assert not any("没太明白" in t for t in bot_texts(tracker(stack, sender)))
    assert "nlu_fallback" not in kinds(stack, sender)
    pushes.close()
    client.close()
    # 解决了 to the agent's push counts as self-help that worked.
    wait_for(lambda: "selfhelp_resolved" in kinds(stack, sender))
    assert desk.call("POST", f"conversations/{sender}/close", disposition="resolved").ok
    contact = split_contacts(Repository(stack.settings.database_url).events_for(sender))[-1]
    assert ("remote_no_response", "resolved") in contact.selfhelp


def test_a_callback_booked_while_waiting_leaves_the_line_and_its_agent_rings_rather_than_joins_the_chat(running_kefu):
    """Found by a supervisor: a customer told "已为您预约回电…您可以先离开了" was greeted in the chat moments
    later "人工客服 … 已为您接入，请问有什么可以帮您？" by the agent who took the callback, as if still waiting."""
    stack = running_kefu
    sender = f"booked-{uuid.uuid4().hex[:10]}"
    book_callback_while_waiting(stack, sender, "13900004321")
    desk = Desk(stack)
    waiting = [e["conversation_id"] for q in desk.call("GET", "supervisor").json()["queues"] for e in q["entries"]]
    assert sender not in waiting, "the customer's wait ended when they booked"

    offer_due_callbacks(stack)  # the callback is offered to the agents at once: the customer chose no time
    only_waiting(stack, sender, desk.agent_id)
    assert desk.call("POST", "claim").json()["conversation"]["conversation_id"] == sender
    told = bot_texts(tracker(stack, sender))
    assert not any("已为您接入" in t for t in told), told
    assert "139****4321" in told[-1], "the customer hears the agent is ringing them, on which number"


def test_an_agents_callback_asks_for_a_number_and_is_a_work_item_not_a_place_in_line(running_kefu):
    """Found by a tester: 预约回电 for a customer who gave no number made an item reading just
    "callback", told the customer "客服会按约定时间联系您" with no time agreed, and put them back
    in the queue at once, where the next agent greeted them "已为您接入" again."""
    stack = running_kefu
    sender = f"agent-callback-{uuid.uuid4().hex[:10]}"
    say(stack, sender, "我想办理宽带升级到千兆")
    say(stack, sender, "转人工")
    desk = Desk(stack)
    only_waiting(stack, sender, desk.agent_id)
    assert desk.call("POST", "claim").json()["conversation"]["conversation_id"] == sender

    refused = desk.call("POST", f"conversations/{sender}/close", disposition="callback")
    assert refused.status_code == 400 and refused.json()["error"] == "error_callback_number"
    assert tracker(stack, sender)["paused"] is True, "still the agent's: nothing was closed"
    closed = desk.call("POST", f"conversations/{sender}/close", disposition="callback", phone="139 0000 5678")
    assert closed.ok, closed.text
    ticket_id = closed.json()["ticket_id"]

    told = bot_texts(tracker(stack, sender))
    booked = next(t for t in told if ticket_id in t)
    assert "139****5678" in booked and "前" in booked and "约定" not in booked, booked
    offer_due_callbacks(stack)  # the contact worker's next pass
    waiting = [e["conversation_id"] for q in desk.call("GET", "supervisor").json()["queues"] for e in q["entries"]]
    assert sender not in waiting, "the callback is the agents' work, not a place in the live queue"
    assert sum("已为您接入" in t for t in bot_texts(tracker(stack, sender))) == 1
    item = next(i for i in desk.call("GET", "overview").json()["work_items"] if i["ticket_id"] == ticket_id)
    assert item["phone"] == "*******5678" and item["callback_by"] and item["summary"] != "callback"
    assert desk.call("POST", f"tickets/{ticket_id}/reveal").json()["value"] == "13900005678", "masked until revealed"


def test_a_follow_up_ticket_for_a_customer_nobody_knows_asks_the_agent_for_a_number(running_kefu):
    """Found by a tester: 转工单跟进 for a chat that never gave a number made a ticket with no customer
    and no number, which nobody could follow up, while the customer was told to query it."""
    stack = running_kefu
    sender = f"agent-ticket-{uuid.uuid4().hex[:10]}"
    say(stack, sender, "转人工")
    desk = Desk(stack)
    only_waiting(stack, sender, desk.agent_id)
    assert desk.call("POST", "claim").json()["conversation"]["conversation_id"] == sender

    note = "机顶盒红灯，需上门检测"
    refused = desk.call("POST", f"conversations/{sender}/close", disposition="ticket", note=note)
    assert refused.status_code == 400 and refused.json()["error"] == "error_ticket_number"
    assert tracker(stack, sender)["paused"] is True, "still the agent's: nothing was closed"
    closed = desk.call("POST", f"conversations/{sender}/close", disposition="ticket", note=note, phone="139 0000 2468")
    assert closed.ok, closed.text
    ticket = Repository(stack.settings.database_url).get_ticket(closed.json()["ticket_id"])
    assert ticket["details"]["callback_phone"] == "13900002468" and ticket["summary"] == note
    assert any(ticket["ticket_id"] in t for t in bot_texts(tracker(stack, sender))), "the customer keeps the number"


def test_a_yes_the_assistant_cannot_place_gets_one_answer_not_a_loop(running_kefu):
    """Rasa's core fallback runs ``action_fallback`` again and again for one message unless it listens
    (Rasa's own fallback reverts the message instead): the tester's seven apologies. Here the state
    the unpaused callback left: the bot's last word a question, not a listen."""
    import requests

    from bot.security.secrets import load_secrets

    stack = running_kefu
    sender = f"loop-{uuid.uuid4().hex[:10]}"
    say(stack, sender, "你好")
    asked = [{"event": "action", "name": "utter_ask_selfhelp_worked"},
             {"event": "bot", "text": "按上面的步骤操作后，问题解决了吗？"}]
    requests.post(f"{stack.settings.rasa_url}/conversations/{sender}/tracker/events", json=asked, timeout=30,
                  params={"token": load_secrets(stack.settings).rasa_token}).raise_for_status()
    replies = [m.get("text") or "" for m in say(stack, sender, "/affirm")]
    assert len(replies) <= 1, replies
    assert kinds(stack, sender).count("nlu_fallback") <= 1
