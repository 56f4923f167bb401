"""An agent's closing note about a conversation (``handoff_closed``'s ``note``) is free text about the
customer: their name, address, what they said. The erasure blanked it only when it held one of their
numbers, accounts or openids, so a note naming them by name and address stayed in the analytics table
after they asked to be erased (the ticket's own notes were blanked)."""
from __future__ import annotations

import json

import sqlalchemy as sa

from bot.db.repository import engine_for
from bot.db.schema import conversation_events
from bot.outcomes.events import outcome_event
from bot.outcomes.store import write_events
from tests.handoff.conftest import redis_url  # noqa: F401  the real Redis of the handoff tests
from tests.privacy.test_customer_requests import env, kefu, rows  # noqa: F401  the seeded stores

NOTE = "张伟阿姨耳背，住光明大道88号1201，儿子在外地，下次请说慢一点"
OTHERS_NOTE = "李娜要求周末上门，住幸福路2号"


def test_the_erasure_blanks_the_agents_closing_notes_of_the_customers_conversations(env):  # noqa: F811
    settings, _client, _seeded = env
    write_events(engine_for(settings.database_url), [
        outcome_event("w1", "handoff_closed", channel="webchat", customer="customer:1", agent_id="agent1",
                      disposition="resolved", skill="tv", wait_s=3.0, handle_s=120.0, note=NOTE),
        outcome_event("ivr:c1", "handoff_closed", channel="ivr", customer="customer:2", agent_id="agent1",
                      disposition="resolved", skill="broadband", wait_s=2.0, handle_s=60.0, note=OTHERS_NOTE)])

    assert kefu("customer", "erase", "13800000001", "--yes") == 0

    events = rows(settings, sa.select(conversation_events).where(conversation_events.c.kind == "handoff_closed"))
    text = json.dumps([e["data"] for e in events], ensure_ascii=False)
    assert "光明大道" not in text and "张伟" not in text
    erased = [e for e in events if e["customer"].startswith("erased:")]
    assert erased and erased[0]["data"]["handle_s"] == 120.0 and erased[0]["data"]["disposition"] == "resolved"
    assert OTHERS_NOTE in text  # another customer's note stays
