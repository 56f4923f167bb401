"""Callbacks customers book while waiting (chat, WeChat, the phone) go into the contact schedule
with the handoff's context packet, so at their time they reach an agent with everything the
customer already said (:mod:`bot.contacts.offer`)."""
from __future__ import annotations

import datetime as dt

from bot.contacts.planner import callback_key
from bot.contacts.schedule import Schedule
from bot.db.repository import Repository

CALLBACK_RULE = "waiting_callback"
STEP = dt.timedelta(minutes=15)
SEARCH = dt.timedelta(days=15)  # long holidays included


def next_opening(hours, now: dt.datetime) -> dt.datetime | None:
    """When the agents are next in (naive UTC), for a callback booked while they are not; None when open now.

    ``hours`` is the hotline's ``BusinessHours``; ``now`` is timezone-aware. Steps by a quarter hour, so an
    opening time is found to the quarter (opening hours are whole or half hours in practice).
    """
    if hours.is_open(now):
        return None
    moment = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)
    while moment - now < SEARCH:
        moment += STEP
        if hours.is_open(moment):
            return moment.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return None


def schedule_callback(repository: Repository, *, ticket_id: str, phone: str, customer_id: int | None,
                      conversation_id: str, channel: str, skill: str, priority: int, context: dict,
                      at: dt.datetime | None = None) -> int | None:
    """Schedule the callback of ``ticket_id`` for ``at`` (naive UTC; None: as soon as an agent is free)."""
    return Schedule(repository).add(
        dedupe_key=callback_key(ticket_id), purpose="callback", rule=CALLBACK_RULE,
        due_at=at or dt.datetime.utcnow(), channels=["agent"], customer_id=customer_id, phone=phone,
        ticket_id=ticket_id, details={"conversation_id": conversation_id, "channel": channel, "skill": skill,
                                      "priority": priority, "context": context})
