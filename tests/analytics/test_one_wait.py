"""A customer's conversations read together (the desk's glance): a phone call back in line after a hold key takes
back its own leaving only, not another conversation's cancel (found in review)."""
from __future__ import annotations

from bot.analytics.waits import one_wait


def test_coming_back_in_line_takes_back_only_its_own_conversations_leaving():
    events = [
        {"conversation_id": "ivr:b", "kind": "handoff_queued", "data": {}},
        {"conversation_id": "ivr:b", "kind": "handoff_abandoned", "data": {"reason": "caller_chose_notify"}},
        {"conversation_id": "web-a", "kind": "handoff_abandoned", "data": {"reason": "cancelled"}},
        {"conversation_id": "ivr:b", "kind": "handoff_queued", "data": {"back_in_line": True}},
    ]
    assert [(e["conversation_id"], e["kind"]) for e in one_wait(events)] == [
        ("ivr:b", "handoff_queued"), ("web-a", "handoff_abandoned")]
