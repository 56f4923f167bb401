"""A conversation two customers proved themselves in (a household's phone call: one verifies, then
hands the phone over) holds events of both: the export of one holds only theirs, and the erasure of
one leaves the other's events theirs."""
from __future__ import annotations

import json

import sqlalchemy as sa

from bot.db.repository import engine_for
from bot.db.schema import conversation_events
from bot.outcomes.events import outcome_event
from bot.outcomes.store import write_events
from tests.handoff.conftest import redis_url  # noqa: F401  the real Redis of the handoff tests
from tests.privacy.test_customer_requests import env, kefu, rows  # noqa: F401  the seeded stores

OTHERS_BILL = "李娜本月账单58.00元"


def test_the_export_leaves_out_another_customers_events_of_a_shared_call(env, tmp_path):  # noqa: F811
    settings, _client, _seeded = env
    write_events(engine_for(settings.database_url), [
        outcome_event("ivr:f1", "customer_identified", channel="ivr", customer="customer:2"),
        outcome_event("ivr:f1", "answer_given", channel="ivr", customer="customer:2", topic="bill",
                      said=OTHERS_BILL)])
    folder = tmp_path / "export"
    assert kefu("customer", "export", "13800000001", "--out", str(folder)) == 0
    exported = json.loads((folder / "customer.json").read_text(encoding="utf-8"))["database"]["conversation_events"]
    assert exported and "ivr:f1" in {e["conversation_id"] for e in exported}  # their own events of the call
    assert not [e for e in exported if e["customer"] == "customer:2"]
    assert OTHERS_BILL not in json.dumps(exported, ensure_ascii=False)

    assert kefu("customer", "erase", "13800000001", "--yes") == 0
    others = rows(settings, sa.select(conversation_events).where(conversation_events.c.customer == "customer:2"))
    assert OTHERS_BILL in [e["data"].get("said") for e in others]
    assert "ivr:f1" not in {e["conversation_id"] for e in rows(settings, sa.select(conversation_events))}
