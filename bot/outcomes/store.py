"""Reading and writing the ``conversation_events`` table (synchronous SQLAlchemy Core).

Writes are idempotent by ``event_id``, so the recorder may retry a batch whose commit it could
not confirm. The table is the migrations' (bot/db/migrate.py; the baseline adds the ``event_id`` and
``customer`` columns a database made before the record lacks): a database never upgraded gets
``SchemaNotReady``, which the recorder treats like a database that is down (it keeps the events).
"""
from __future__ import annotations

import datetime as dt
from typing import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.db.schema import conversation_events
from bot.db.schema_ready import require_tables
from bot.outcomes.events import OutcomeEvent


def write_events(engine: Engine, events: Iterable[OutcomeEvent]) -> int:
    """Insert the events not already stored; returns how many were new."""
    rows = [event.row() for event in events]
    if not rows:
        return 0
    require_tables(engine, conversation_events)
    with engine.begin() as conn:
        known = set(conn.execute(sa.select(conversation_events.c.event_id).where(
            conversation_events.c.event_id.in_([r["event_id"] for r in rows]))).scalars())
        new = [r for r in rows if r["event_id"] not in known]
        if new:
            conn.execute(conversation_events.insert(), new)
    return len(new)


def read_events(engine: Engine, start: dt.datetime | None = None, end: dt.datetime | None = None) -> list[dict]:
    """Events with ``start <= at < end`` (naive UTC), oldest first."""
    require_tables(engine, conversation_events)
    query = sa.select(conversation_events)
    if start is not None:
        query = query.where(conversation_events.c.at >= start)
    if end is not None:
        query = query.where(conversation_events.c.at < end)
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query.order_by(conversation_events.c.at, conversation_events.c.id)).mappings()]
