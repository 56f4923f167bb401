"""`kefu outbox list` during a long gateway outage: tens of thousands of texts wait. The list shows the
oldest 1000; its summary counted only those, so an operator read "1000 message(s): 0 failed, 1000
pending" while more were waiting and some had been given up — and was not told to resend them."""
from __future__ import annotations

import sqlalchemy as sa

from bot.cli import main
from bot.db.repository import Repository
from bot.db.schema import outbox


def test_the_summary_counts_every_undelivered_message_not_only_those_listed(kefu_env, capsys):
    repository = Repository(kefu_env.database_url)
    repository.create_schema()
    with repository.engine.begin() as conn:
        conn.execute(outbox.insert(), [{"channel": "sms", "recipient": "13800000001", "kind": "ticket_notice",
                                        "payload": {"text": "您的报修单已受理。"}, "status": "pending"}] * 1003)
        conn.execute(outbox.insert(), [{"channel": "sms", "recipient": "13800000001", "kind": "ticket_notice",
                                        "payload": {"text": "您的报修单已受理。", "last_error": "HTTP 401"},
                                        "status": "failed"}] * 2)
    assert main(["outbox", "list"]) == 0
    out = capsys.readouterr().out
    assert "1005 message(s): 2 failed, 1003 pending, 0 sending" in out
    assert "the oldest 1000 listed" in out
    assert "kefu outbox resend" in out  # what to do with the given-up ones, although none of them is listed
    with repository.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(outbox)).scalar() == 1005
