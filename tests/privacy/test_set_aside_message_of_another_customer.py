"""A web chat message set aside unanswered is a customer's when its conversation is theirs or their
number is in it. The export took the second rule for another customer's conversation too: customer 2,
identified in their own chat, typing their neighbour's number, had that message — their words and
address — handed to customer 1 in customer 1's export."""
from __future__ import annotations

import json

from bot.db.repository import engine_for
from bot.outcomes.events import outcome_event
from bot.outcomes.store import write_events
from tests.handoff.conftest import redis_url  # noqa: F401  the real Redis of the handoff tests
from tests.privacy.test_customer_requests import env, kefu, set_aside  # noqa: F401  the seeded stores

OTHERS_WORDS = "隔壁13800000001家也没信号，我家光明大道88号1201也断了"


def test_a_message_set_aside_in_another_customers_chat_is_not_in_the_export_of_the_customer_it_quotes(
        env, redis_url, tmp_path):  # noqa: F811
    settings, _client, _seeded = env
    write_events(engine_for(settings.database_url), [
        outcome_event("w-li", "customer_identified", channel="webchat", customer="customer:2")])
    set_aside(redis_url, "w-li", OTHERS_WORDS)
    set_aside(redis_url, "w-anon", "我的号码13800000001，宽带断了")  # nobody identified in that chat

    mine, theirs = tmp_path / "one", tmp_path / "two"
    assert kefu("customer", "export", "13800000001", "--out", str(mine)) == 0
    assert kefu("customer", "export", "13800000002", "--out", str(theirs)) == 0
    assert [m["conversation_id"] for m in json.loads((mine / "customer.json").read_text(encoding="utf-8"))[
        "webchat_set_aside"]] == ["w-anon"]
    assert OTHERS_WORDS not in (mine / "customer.json").read_text(encoding="utf-8")
    assert [m["text"] for m in json.loads((theirs / "customer.json").read_text(encoding="utf-8"))[
        "webchat_set_aside"]] == [OTHERS_WORDS]
