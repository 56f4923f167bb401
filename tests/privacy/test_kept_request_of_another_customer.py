"""A request kept while the database was down is a customer's when it names them, or when one of their
numbers is anywhere in it (kept before Kefu knew who typed it). The export took the second rule for
requests another, proven customer made too: customer 2, verified, asking about "my neighbour
13800000001", was handed in full — their name, number, words — to customer 1 in customer 1's export."""
from __future__ import annotations

import json
import time

from bot.kept_lists import kept_key
from tests.handoff.conftest import redis_url  # noqa: F401  the real Redis of the handoff tests
from tests.privacy.test_customer_requests import env, kefu  # noqa: F401  the seeded stores

OTHERS_WORDS = "我是李娜，隔壁13800000001家也没信号，我家光明大道88号1201也断了"


def entry(sender: str, text: str, **slots) -> str:
    return json.dumps({"id": sender, "action": "action_complaint", "kept_at": time.time(),
                       "tracker": {"sender_id": sender, "slots": slots, "latest_message": {"text": text},
                                   "events": [{"event": "user", "text": text}]}}, ensure_ascii=False)


def test_a_request_another_proven_customer_made_is_not_in_the_export_of_the_customer_it_quotes(env, tmp_path):  # noqa: F811
    settings, client, _seeded = env
    client.rpush(kept_key(settings.database_url),
                 entry("kept-li", OTHERS_WORDS, customer_id=2, verified_customer_id=2),
                 entry("kept-anon", "宽带断了，我的号码13800000001"))  # typed before anyone knew who

    mine, theirs = tmp_path / "one", tmp_path / "two"
    assert kefu("customer", "export", "13800000001", "--out", str(mine)) == 0
    assert kefu("customer", "export", "13800000002", "--out", str(theirs)) == 0
    exported = json.loads((mine / "customer.json").read_text(encoding="utf-8"))["kept_requests"]
    assert [k["conversation_id"] for k in exported] == ["kept-anon"]
    assert OTHERS_WORDS not in (mine / "customer.json").read_text(encoding="utf-8")
    others = json.loads((theirs / "customer.json").read_text(encoding="utf-8"))["kept_requests"]
    assert [k["conversation_id"] for k in others] == ["kept-li"]
