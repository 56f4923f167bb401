"""A customer's SMS reply (TD to stop contacts, ``bot/channels/sms_replies.py``) is recorded under the
conversation ``sms:<their number>`` with no customer key. The erasure found conversations through
customer keys, tickets and contacts only, so that event kept their number in clear as its
conversation id after they were erased, and their export left it out."""
from __future__ import annotations

import json

import sqlalchemy as sa

from bot.db.repository import engine_for
from bot.db.schema import conversation_events
from bot.outcomes.events import outcome_event
from bot.outcomes.store import write_events
from tests.handoff.conftest import redis_url  # noqa: F401  the real Redis of the handoff tests
from tests.privacy.test_customer_requests import env, kefu, rows  # noqa: F401  the seeded stores


def test_their_sms_reply_is_exported_and_its_conversation_renamed_by_the_erasure(env, tmp_path):  # noqa: F811
    settings, _client, _seeded = env
    write_events(engine_for(settings.database_url), [
        outcome_event("sms:13800000001", "contact_opted_out", channel="sms", via="reply", addresses="phone"),
        outcome_event("sms:13800000002", "contact_opted_out", channel="sms", via="reply", addresses="phone")])

    folder = tmp_path / "export"
    assert kefu("customer", "export", "13800000001", "--out", str(folder)) == 0
    exported = json.loads((folder / "customer.json").read_text(encoding="utf-8"))["database"]["conversation_events"]
    assert "sms:13800000001" in {e["conversation_id"] for e in exported}
    assert "sms:13800000002" not in {e["conversation_id"] for e in exported}

    assert kefu("customer", "erase", "13800000001", "--yes") == 0
    left = rows(settings, sa.select(conversation_events).where(conversation_events.c.kind == "contact_opted_out"))
    assert len(left) == 2  # the opt-out still counts
    assert not [e for e in left if "13800000001" in e["conversation_id"]]
    assert "sms:13800000002" in {e["conversation_id"] for e in left}
