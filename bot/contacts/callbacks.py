"""Callbacks customers book while waiting (chat, WeChat, the phone) go into the contact schedule
with the handoff's context packet, so at their time they reach an agent with everything the
customer already said (:mod:`bot.contacts.offer`)."""
from __future__ import annotations

import datetime as dt

from bot.contacts.planner import callback_key
from bot.contacts.schedule import Schedule
from bot.db.repository import Repository

CALLBACK_RULE = "waiting_callback"


def schedule_callback(repository: Repository, *, ticket_id: str, phone: str, customer_id: int | None,
                      conversation_id: str, channel: str, skill: str, priority: int, context: dict,
                      at: dt.datetime | None = None) -> int | None:
    """Schedule the callback of ``ticket_id`` for ``at`` (naive UTC; None: as soon as an agent is free)."""
    return Schedule(repository).add(
        dedupe_key=callback_key(ticket_id), purpose="callback", rule=CALLBACK_RULE,
        due_at=at or dt.datetime.utcnow(), channels=["agent"], customer_id=customer_id, phone=phone,
        ticket_id=ticket_id, details={"conversation_id": conversation_id, "channel": channel, "skill": skill,
                                      "priority": priority, "context": context})
