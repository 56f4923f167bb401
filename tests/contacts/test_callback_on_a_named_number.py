"""A callback booked on a number the customer only named reaches the desk as that number, not as its
account holder. Found by a cross-channel journey tester: a web-chat customer who typed a number (no code,
no password) and asked for a callback showed on the desk as that number's account holder — name, VIP
tier, address, account, open tickets — and the desk treated the conversation as verified."""
from __future__ import annotations

import dataclasses
import json

from rasa_sdk.executor import CollectingDispatcher

from actions.chain import find_action
from bot.handoff.glance import customer_glance
from bot.handoff.masking import masked_packet
from bot.handoff.queue import HandoffQueue
from bot.ledger.rules import load_rules as load_ledger_rules
from tests.action_tests.trackers import entity, load_tracker

NAMED = "13800000002"  # 李娜's registered number, typed by someone in a web chat


async def leave_message(sender: str, number: str, **slots) -> str:
    """The chat's "请给我回电" answered with a number: the bot's callback ticket (actions/tickets.py)."""
    tracker = load_tracker("query_bill", text=number, intent="inform", entities=[entity("phone_number", number)],
                           sender=sender, pending_request="action_leave_message", awaiting="identity", **slots)
    events = await find_action("action_identify_customer").run(CollectingDispatcher(), tracker, {})
    return next(e["value"] for e in events if e.get("name") == "last_ticket_id")


async def offered_callback(make_worker, redis):
    queue = HandoffQueue(redis)
    worker = make_worker(queue=queue)
    await worker.run_pass()
    await worker.run_pass()
    offered = await queue.claim_next("agent-1")
    assert offered is not None
    return offered


async def test_a_callback_on_a_number_only_named_shows_the_number_not_its_account(kefu_env, repository,
                                                                                  make_worker, redis):
    owner = repository.find_customer(phone=NAMED)
    theirs = repository.create_ticket(kind="complaint", customer_id=owner.id, summary="李娜的投诉", details={},
                                      channel="wechat", conversation_id="wechat-owner")
    ticket_id = await leave_message("web-named-1", NAMED)
    assert repository.get_ticket(ticket_id)["customer_id"] == owner.id, "filed where the number's owner finds it"

    offered = await offered_callback(make_worker, redis)

    assert offered.conversation_id == "web-named-1" and offered.context["callback"]["ticket_id"] == ticket_id
    assert offered.customer_id is None, "the desk treats the conversation as verified"
    packet = offered.context
    assert packet["customer"] is None, "the number's account holder shown as the customer"
    assert packet["callback"]["phone"] == NAMED and packet["callback"]["proven"] is False
    shown = json.dumps(masked_packet(packet), ensure_ascii=False)
    assert owner.name not in shown and owner.address not in shown and theirs not in shown
    glance = customer_glance(repository, load_ledger_rules(kefu_env.content_dir / "ledger.yml"), packet)
    assert glance["verified"] is False and "customer" not in glance


async def test_a_proven_customers_callback_still_shows_the_customer(kefu_env, repository, make_worker, redis):
    owner = repository.find_customer(phone=NAMED)
    proven = {"customer_id": str(owner.id), "verified_customer_id": str(owner.id), "verified_by": "sms_code",
              "verified_channel": "rest"}
    await leave_message("web-proven-1", NAMED, **proven)

    offered = await offered_callback(make_worker, redis)

    assert offered.customer_id == str(owner.id)
    assert offered.context["customer"] == dataclasses.asdict(owner) and offered.context["callback"]["proven"] is True
