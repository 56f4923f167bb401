"""`kefu dispatch events` with a long backlog: the list shows the oldest 1000 events, and its summary
counted only those — a failed event further down (holding its ticket's later events) was neither
counted nor followed by the hint to resend or drop it."""
from __future__ import annotations

import datetime as dt

from bot.cli import main
from bot.db.repository import Repository
from bot.db.schema import outbox
from bot.dispatch.events import CHANNEL


def event(ticket_id: str, status: str) -> dict:
    occurred = dt.datetime.utcnow().replace(microsecond=0).isoformat() + "Z"
    return {"channel": CHANNEL, "recipient": ticket_id, "kind": "ticket_status_changed", "status": status,
            "payload": {"event": {"type": "ticket_status_changed", "occurred_at": occurred}, "attempts": 0}}


def test_the_summary_counts_every_event_not_only_those_listed(kefu_env, capsys):
    repository = Repository(kefu_env.database_url)
    repository.create_schema()
    with repository.engine.begin() as conn:
        conn.execute(outbox.insert(), [event(f"TK{i:06d}", "pending") for i in range(1001)])
        conn.execute(outbox.insert(), [event("TK999999", "failed"), event("TK999999", "pending")])
    assert main(["dispatch", "events"]) == 0
    out = capsys.readouterr().out
    assert "1003 event(s): 1 failed, 1 held, 1001 pending, 0 sending (the oldest 1000 listed)" in out
    assert "kefu dispatch resend ID" in out
