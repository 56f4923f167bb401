"""The ticket events queued for the dispatch system carry the whole ticket (the customer's words,
number and account): an export includes those of the customer's tickets, and an erasure deletes them,
never another customer's."""
from __future__ import annotations

import json

import sqlalchemy as sa

from bot import settings as settings_module
from bot.db.repository import Repository
from bot.db.schema import outbox
from tests.handoff.conftest import redis_url  # noqa: F401  the real Redis of the handoff tests
from tests.privacy.test_customer_requests import env, kefu, rows  # noqa: F401  the seeded stores


def dispatch_rows(settings) -> list[dict]:
    return rows(settings, sa.select(outbox).where(outbox.c.channel == "dispatch").order_by(outbox.c.id))


def test_the_customers_ticket_events_are_exported_and_erased(env, monkeypatch, tmp_path):  # noqa: F811
    settings, _client, _seeded = env
    monkeypatch.setenv("KEFU_DISPATCH_EVENTS_URL", "http://127.0.0.1:9/events")
    monkeypatch.setenv("KEFU_DISPATCH_EVENTS_SECRET", "s3cret")
    settings_module.get_settings.cache_clear()
    repository = Repository(settings.database_url)
    theirs = repository.create_ticket(kind="visit", customer_id=1, summary="张伟约周六上门，光明大道88号",
                                      details={"callback_phone": "13800000001"}, channel="webchat",
                                      conversation_id="w1")
    repository.update_ticket_details(theirs, {"visit_time": "周六上午"}, "visit_time (webchat): 周六上午")
    others = repository.create_ticket(kind="visit", customer_id=2, summary="李娜约周日上门", channel="ivr",
                                      conversation_id="ivr:c1")
    assert [r["recipient"] for r in dispatch_rows(settings)] == [theirs, theirs, others]

    folder = tmp_path / "export"
    assert kefu("customer", "export", "13800000001", "--out", str(folder)) == 0
    exported = json.loads((folder / "customer.json").read_text(encoding="utf-8"))["database"]["outbox"]
    assert [o["recipient"] for o in exported if o["channel"] == "dispatch"] == [theirs, theirs]

    assert kefu("customer", "erase", "13800000001", "--yes") == 0
    left = dispatch_rows(settings)
    assert [r["recipient"] for r in left] == [others]
    assert "13800000001" not in json.dumps(left, default=str) and "张伟" not in json.dumps(
        left, default=str, ensure_ascii=False)
