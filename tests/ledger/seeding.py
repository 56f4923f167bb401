"""Putting tickets into a test database at chosen ages."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from bot.db.repository import Repository
from bot.db.schema import tickets


def backdate(repo: Repository, ticket_id: str, by: dt.timedelta) -> dt.datetime:
    """Make a ticket registered ``by`` earlier than it was; returns its new registration time."""
    with repo.engine.begin() as conn:
        created = conn.execute(sa.select(tickets.c.created_at).where(tickets.c.ticket_id == ticket_id)).scalar_one()
        conn.execute(tickets.update().where(tickets.c.ticket_id == ticket_id).values(created_at=created - by))
    return created - by
