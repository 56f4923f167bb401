"""Has the customer been in touch recently? (a repeat contact is served sooner)."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from bot.db.repository import engine_for
from bot.db.schema import conversation_events, tickets


def repeat_contact(database_url: str, customer_id: int, hours: float, *, exclude_conversation: str = "") -> bool:
    """A ticket or a handoff for this customer in another conversation within ``hours``."""
    since = dt.datetime.utcnow() - dt.timedelta(hours=hours)
    engine = engine_for(database_url)
    with engine.connect() as conn:
        ticket = conn.execute(
            sa.select(tickets.c.id).where(tickets.c.customer_id == customer_id, tickets.c.created_at >= since,
                                          tickets.c.conversation_id != exclude_conversation).limit(1)
        ).first()
        if ticket:
            return True
        handoffs = conn.execute(
            sa.select(conversation_events.c.data).where(
                conversation_events.c.kind == "handoff_queued", conversation_events.c.at >= since,
                conversation_events.c.conversation_id != exclude_conversation)
        ).scalars()
        return any(str((data or {}).get("customer_id")) == str(customer_id) for data in handoffs)
