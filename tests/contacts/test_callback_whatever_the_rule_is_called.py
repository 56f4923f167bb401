"""A callback a customer booked while waiting is scheduled under the rule name ``waiting_callback``
(bot/contacts/callbacks.py). An editor who renamed that rule in content/contacts.yml — to "callback",
say, a file `kefu validate` accepts — left every callback booked from then on waiting, "no channel",
looked at again hourly for ever: the customer was promised a call and never got one. A booked callback
goes to the agents whatever its rule is called now."""
from __future__ import annotations

import datetime as dt

import yaml

from bot.contacts.rules import load_rules
from bot.contacts.schedule import Schedule
from bot.contacts.worker import ContactWorker
from bot.handoff.queue import HandoffQueue, HandoffRequest
from bot.handoff.waiting_tickets import waiting_room_ticket
from bot.ledger.rules import load_rules as load_ledger_rules


async def test_a_booked_callback_reaches_the_agents_after_its_rule_was_renamed(kefu_env, repository, redis, clock,
                                                                               tmp_path):
    raw = yaml.safe_load((kefu_env.content_dir / "contacts.yml").read_text(encoding="utf-8"))
    raw["rules"]["callback"] = raw["rules"].pop("waiting_callback")
    renamed = tmp_path / "contacts.yml"
    renamed.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    load_rules(renamed)  # a file the editors' checks accept

    queue = HandoffQueue(redis)
    request = HandoffRequest(conversation_id="webchat-cb-renamed", channel="webchat", skill="tv", priority=0,
                             customer_id=None, context={"transcript": [{"who": "customer", "text": "请回电"}]})
    ticket_id, _ = await waiting_room_ticket(request, kind="callback", phone="13900000078", within_hours=4,
                                             callback_at=clock.now - dt.timedelta(minutes=1))
    worker = ContactWorker(repository, rules=lambda: load_rules(renamed),
                           ledger_rules=lambda: load_ledger_rules(kefu_env.content_dir / "ledger.yml"),
                           queue=queue, clock=clock)
    await worker.run_pass()
    await worker.run_pass()
    offered = await queue.claim_next("agent-1")
    assert offered is not None and offered.conversation_id == "webchat-cb-renamed"
    [contact] = [c for c in Schedule(repository).listing(purpose="callback") if c["ticket_id"] == ticket_id]
    assert contact["status"] == "offered"
